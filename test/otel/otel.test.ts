// corio/otel (issue 16): OpenTelemetry's active span follows corio tasks.
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { after, before, describe, it } from "node:test";
import { context, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { BasicTracerProvider, InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor, type SpanProcessor } from "@opentelemetry/sdk-trace-base";
import { TaskImpl } from "../../src/core/task.ts";
import { CancelledError, callLater, callSoon, Future, type Operation, run, scope, sleep, spawn, suspend, timeout, until } from "../../src/index.ts";
import { instrumentTasks, TaskContextManager, withSpan } from "../../src/otel/index.ts";
import { runVirtual, waitAllTasksBlocked } from "../../src/testing/index.ts";
import { checkLeaks, collectReports } from "../_helpers.ts";

checkLeaks();

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const tracer = provider.getTracer("corio-test");

function activeName(): string | undefined {
  const span = trace.getActiveSpan() as unknown as { name?: string } | undefined;
  return span?.name;
}

describe("corio/otel", () => {
  before(() => {
    trace.setGlobalTracerProvider(provider);
  });
  after(async () => {
    trace.disable();
    context.disable();
    await provider.shutdown();
  });

  it("the AsyncLocalStorage context manager loses the active span at a corio suspension", async () => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    try {
      const seen: (string | undefined)[] = [];
      const wake = new Future<void>();
      const span = tracer.startSpan("request");
      const task = context.with(trace.setSpan(context.active(), span), () =>
        run(function* () {
          seen.push(activeName());
          yield* wake;
          seen.push(activeName());
        }),
      );
      setImmediate(() => wake.resolve());
      await task;
      span.end();
      assert.deepEqual(seen, ["request", undefined]);
    } finally {
      context.disable();
    }
  });

  it("with TaskContextManager, withSpan's span is active after suspensions and parents the spans of children", async () => {
    context.setGlobalContextManager(new TaskContextManager().enable());
    exporter.reset();
    try {
      const seen: string[] = [];
      await runVirtual(function* () {
        yield* withSpan(tracer, "request", function* () {
          yield* sleep(5);
          seen.push(`after sleep: ${activeName()}`);
          const children = [];
          for (const name of ["db", "cache"]) {
            children.push(
              yield* spawn(
                withSpan(tracer, name, function* () {
                  yield* sleep(name === "db" ? 3 : 1);
                  seen.push(`${name}: ${activeName()}`);
                }),
              ),
            );
          }
          for (const child of children) yield* child;
          seen.push(`end: ${activeName()}`);
        });
        seen.push(`outside: ${activeName()}`);
      });
      assert.deepEqual(seen, ["after sleep: request", "cache: cache", "db: db", "end: request", "outside: undefined"]);
      const spans = exporter.getFinishedSpans();
      const request = spans.find((s) => s.name === "request");
      assert.ok(request !== undefined);
      for (const name of ["db", "cache"]) {
        const child = spans.find((s) => s.name === name);
        assert.equal(child?.parentSpanContext?.spanId, request.spanContext().spanId, `${name} is a child of request`);
        assert.equal(child?.spanContext().traceId, request.spanContext().traceId);
      }
      assert.equal(request.attributes["corio.task.path"], "test");
      assert.equal(request.attributes["corio.task"], undefined, "one name for the attribute, as instrumentTasks");
    } finally {
      context.disable();
    }
  });

  it("records a failure as an error status, and a cancellation as corio.cancelled", async () => {
    context.setGlobalContextManager(new TaskContextManager().enable());
    exporter.reset();
    try {
      await runVirtual(function* () {
        try {
          yield* withSpan(tracer, "failing", function* () {
            yield* sleep(1);
            throw new Error("boom");
          });
        } catch {}
        const task = yield* spawn(withSpan(tracer, "cancelled", suspend));
        yield* waitAllTasksBlocked();
        task.cancel();
        try {
          yield* task;
        } catch (error) {
          assert.ok(error instanceof CancelledError);
        }
      });
      const failing = exporter.getFinishedSpans().find((s) => s.name === "failing");
      assert.equal(failing?.status.code, 2);
      assert.equal(failing?.status.message, "boom");
      assert.equal(failing?.events[0]?.name, "exception");
      const cancelled = exporter.getFinishedSpans().find((s) => s.name === "cancelled");
      assert.equal(cancelled?.attributes["corio.cancelled"], true);
      assert.equal(cancelled?.status.code, 0);
    } finally {
      context.disable();
    }
  });

  it("context.with and bind work outside tasks too", () => {
    const manager = new TaskContextManager();
    const span = tracer.startSpan("outside");
    const ctx = trace.setSpan(manager.active(), span);
    const bound = manager.bind(ctx, () => trace.getSpan(manager.active()));
    assert.equal(
      manager.with(ctx, () => trace.getSpan(manager.active())),
      span,
    );
    assert.equal(bound(), span);
    assert.equal(trace.getSpan(manager.active()), undefined);
    span.end();
  });

  it("instrumentTasks gives every task a span, nested as the tasks are, with outcomes recorded", async () => {
    context.setGlobalContextManager(new TaskContextManager().enable());
    exporter.reset();
    const stop = instrumentTasks(tracer);
    const seen: (string | undefined)[] = [];
    try {
      await runVirtual(
        function* () {
          const worker = yield* spawn(
            function* () {
              yield* timeout(100, sleep(5)); // the timeout's internal child gets no span
              seen.push(activeName());
              yield* withSpan(tracer, "query", sleep(1));
            },
            { name: "worker" },
          );
          yield* spawn(suspend, { name: "stuck" }); // cancelled when "failing" fails the root
          yield* worker;
          yield* spawn(
            function* () {
              yield* sleep(2);
              throw new Error("bad job");
            },
            { name: "failing" },
          );
        },
        { name: "root" },
      );
      assert.fail("expected the failure");
    } catch (error) {
      assert.match(String(error), /bad job/);
    } finally {
      stop();
      context.disable();
    }
    assert.deepEqual(seen, ["worker"]);
    const spans = exporter.getFinishedSpans();
    const byName = new Map(spans.map((span) => [span.name, span]));
    assert.deepEqual([...byName.keys()].sort(), ["failing", "query", "root", "stuck", "worker"]);
    const root = byName.get("root");
    for (const name of ["worker", "failing", "stuck"])
      assert.equal(byName.get(name)?.parentSpanContext?.spanId, root?.spanContext().spanId, `${name} under root`);
    assert.equal(byName.get("query")?.parentSpanContext?.spanId, byName.get("worker")?.spanContext().spanId);
    assert.equal(byName.get("worker")?.attributes["corio.task.path"], "root/worker");
    assert.equal(byName.get("failing")?.status.code, 2);
    assert.equal(byName.get("stuck")?.attributes["corio.cancelled"], true);
    // Children end before their parent.
    assert.ok(spans.indexOf(byName.get("worker") as never) < spans.indexOf(root as never));
  });

  it("instrumentTasks over boundaries too: a scope's or timeout's span does not stay active in its caller after it", async () => {
    context.setGlobalContextManager(new TaskContextManager().enable());
    exporter.reset();
    const stop = instrumentTasks(tracer, { filter: () => true });
    const seen: (string | undefined)[] = [];
    try {
      await runVirtual(
        function* () {
          yield* scope(function* () {});
          seen.push(activeName());
          yield* timeout(10, function* () {});
          seen.push(activeName());
          yield* yield* spawn(function* () {}, { name: "job" });
        },
        { name: "main" },
      );
    } finally {
      stop();
      context.disable();
    }
    assert.deepEqual(seen, ["main", "main"]);
    const spans = exporter.getFinishedSpans();
    const byName = new Map(spans.map((span) => [span.name, span]));
    const main = byName.get("main")?.spanContext().spanId;
    for (const name of ["scope", "timeout", "job"]) assert.equal(byName.get(name)?.parentSpanContext?.spanId, main, `${name} under main`);
  });

  it("instrumentTasks: stopping it starts no more spans; a filter narrows it", async () => {
    context.setGlobalContextManager(new TaskContextManager().enable());
    exporter.reset();
    const stop = instrumentTasks(tracer, { filter: (task) => task.name.startsWith("job"), spanName: (task) => `run ${task.name}` });
    try {
      await runVirtual(function* () {
        yield* spawn(function* () {}, { name: "job 1" });
        yield* spawn(function* () {}, { name: "other" });
      });
      stop();
      await runVirtual(function* () {
        yield* spawn(function* () {}, { name: "job 2" });
      });
    } finally {
      stop();
      context.disable();
    }
    assert.deepEqual(
      exporter.getFinishedSpans().map((span) => span.name),
      ["run job 1"],
    );
  });

  describe("TaskContextManager and promise code (H2)", () => {
    /** What an instrumented driver does: some async work, then a span under the active one. */
    async function query(name: string): Promise<void> {
      await new Promise((resolve) => setImmediate(resolve));
      tracer.startSpan(name).end();
      await new Promise((resolve) => setImmediate(resolve));
      tracer.startSpan(`${name} (after a second await)`).end();
    }

    function parentOf(name: string): string | undefined {
      const spans = exporter.getFinishedSpans();
      const span = spans.find((s) => s.name === name);
      assert.ok(span !== undefined, `no span ${name}; spans: ${spans.map((s) => s.name).join(", ")}`);
      const parentId = span.parentSpanContext?.spanId;
      return parentId === undefined ? undefined : (spans.find((s) => s.spanContext().spanId === parentId)?.name ?? `outside ${parentId}`);
    }

    it("promise code a step starts (until) keeps the task's span after its awaits, whichever step starts it", async () => {
      context.setGlobalContextManager(new TaskContextManager().enable());
      exporter.reset();
      try {
        await runVirtual(function* () {
          yield* withSpan(tracer, "request", function* () {
            yield* until(query("first step"));
            yield* sleep(5);
            yield* until(query("after a sleep"));
            yield* withSpan(tracer, "inner", function* () {
              yield* until(query("in inner"));
            });
            // The same step as inner's end: its span is over, the promise code is request's.
            yield* until(query("after inner"));
          });
          yield* until(query("outside every span"));
        });
        for (const name of ["first step", "after a sleep", "after inner"]) {
          assert.equal(parentOf(name), "request", name);
          assert.equal(parentOf(`${name} (after a second await)`), "request", name);
        }
        assert.equal(parentOf("in inner (after a second await)"), "inner");
        assert.equal(parentOf("outside every span (after a second await)"), undefined);
      } finally {
        context.disable();
      }
    });

    it("callLater and callSoon callbacks run in the context of the code that scheduled them", async () => {
      context.setGlobalContextManager(new TaskContextManager().enable());
      try {
        const seen: (string | undefined)[] = [];
        await runVirtual(function* () {
          yield* withSpan(tracer, "request", function* () {
            callLater(1, () => seen.push(`later: ${activeName()}`));
            callSoon(() => seen.push(`soon: ${activeName()}`));
            yield* sleep(5);
          });
          callSoon(() => seen.push(`outside: ${activeName()}`));
          yield* sleep(1);
        });
        assert.deepEqual(seen, ["soon: request", "later: request", "outside: undefined"]);
      } finally {
        context.disable();
      }
    });

    it("outside tasks it is an AsyncLocalStorage manager: async functions, timers and bound emitters keep their context", async () => {
      const manager = new TaskContextManager().enable();
      context.setGlobalContextManager(manager);
      try {
        const span = tracer.startSpan("plain request");
        const ctx = trace.setSpan(context.active(), span);
        const seen = await context.with(ctx, async () => {
          await new Promise((resolve) => setImmediate(resolve));
          const afterAwait = activeName();
          const inTimer = await new Promise((resolve) => setTimeout(() => resolve(activeName()), 0));
          return [afterAwait, inTimer];
        });
        assert.deepEqual(seen, ["plain request", "plain request"]);
        assert.equal(activeName(), undefined);

        const emitter = context.bind(ctx, new EventEmitter());
        const heard: (string | undefined)[] = [];
        const listener = (): void => void heard.push(activeName());
        emitter.on("ping", listener);
        emitter.once("ping", () => void heard.push(`once: ${activeName()}`));
        emitter.emit("ping");
        emitter.emit("ping");
        emitter.off("ping", listener);
        emitter.emit("ping");
        span.end();
        assert.deepEqual(heard, ["plain request", "once: plain request", "plain request"]);
        assert.equal(emitter.listenerCount("ping"), 0);
      } finally {
        context.disable();
      }
    });

    it("enable() wraps task steps and disable() unwraps them: without a manager, the step is corio's own", () => {
      const plain = TaskImpl.prototype.runStep;
      const manager = new TaskContextManager().enable();
      assert.notEqual(TaskImpl.prototype.runStep, plain);
      manager.disable();
      assert.equal(TaskImpl.prototype.runStep, plain);
    });
  });

  describe("the context active where run() is called (H3)", () => {
    function parentName(name: string): string | undefined {
      const spans = exporter.getFinishedSpans();
      const span = spans.find((s) => s.name === name);
      assert.ok(span !== undefined, `no span ${name}`);
      const parentId = span.parentSpanContext?.spanId;
      return parentId === undefined ? undefined : spans.find((s) => s.spanContext().spanId === parentId)?.name;
    }

    it("with TaskContextManager, a root task keeps it after its suspensions: withSpan and instrumentTasks nest under it", async () => {
      context.setGlobalContextManager(new TaskContextManager().enable());
      exporter.reset();
      const request = tracer.startSpan("http request");
      const seen: (string | undefined)[] = [];
      try {
        await context.with(trace.setSpan(context.active(), request), () =>
          run(function* () {
            seen.push(activeName());
            yield* withSpan(tracer, "handler work", sleep(1));
            yield* sleep(1);
            seen.push(activeName());
            yield* withSpan(tracer, "after a suspension", sleep(1));
          }),
        );
        const stop = instrumentTasks(tracer, { filter: (task) => task.name === "job" });
        try {
          await context.with(trace.setSpan(context.active(), request), () => run(sleep(1), { name: "job" }));
        } finally {
          stop();
        }
      } finally {
        request.end();
        context.disable();
      }
      assert.deepEqual(seen, ["http request", "http request"]);
      assert.equal(parentName("handler work"), "http request");
      assert.equal(parentName("after a suspension"), "http request");
      assert.equal(parentName("job"), "http request");
    });

    it("with the usual AsyncLocalStorage manager, withSpan and instrumentTasks take the active span as parent", async () => {
      context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
      exporter.reset();
      const request = tracer.startSpan("http request");
      const stop = instrumentTasks(tracer, { filter: (task) => task.name === "job" });
      try {
        await context.with(trace.setSpan(context.active(), request), () => run(withSpan(tracer, "handler work", sleep(1))));
        await context.with(trace.setSpan(context.active(), request), () => run(sleep(1), { name: "job" }));
      } finally {
        stop();
        request.end();
        context.disable();
      }
      assert.equal(parentName("handler work"), "http request");
      assert.equal(parentName("job"), "http request");
    });

    it("instrumentTasks nests under a root's span whichever of it and the manager was installed first", async () => {
      exporter.reset();
      const stop = instrumentTasks(tracer, { filter: (task) => task.name !== "test" });
      context.setGlobalContextManager(new TaskContextManager().enable());
      const request = tracer.startSpan("http request");
      try {
        await context.with(trace.setSpan(context.active(), request), () =>
          run(
            function* () {
              yield* sleep(1);
              yield* spawn(sleep(1), { name: "child" });
            },
            { name: "root" },
          ),
        );
      } finally {
        stop();
        request.end();
        context.disable();
      }
      assert.equal(parentName("root"), "http request");
      assert.equal(parentName("child"), "root");
    });

    describe("with the usual AsyncLocalStorage manager, never the span of the scheduler's turn (review)", () => {
      // Request A's root waits on a gate that request B's root opens: A resumes in B's turn of the
      // scheduler, where the usual manager's active context is B's.
      async function twoRequests(workOfA: () => Operation<void>): Promise<void> {
        context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
        const a = tracer.startSpan("request A");
        const b = tracer.startSpan("request B");
        try {
          const gate = new Future<void>();
          const first = context.with(trace.setSpan(context.active(), a), () =>
            run(function* () {
              yield* gate;
              yield* workOfA();
            }),
          );
          await new Promise((resolve) => setImmediate(resolve));
          const second = context.with(trace.setSpan(context.active(), b), () =>
            run(function* () {
              yield* sleep(1);
              gate.resolve();
              yield* sleep(1);
            }),
          );
          await Promise.all([first, second]);
        } finally {
          a.end();
          b.end();
          context.disable();
        }
      }

      it("withSpan after a suspension nests under the span active where run() was called", async () => {
        exporter.reset();
        await twoRequests(function* () {
          yield* withSpan(tracer, "work of A", function* () {});
        });
        assert.equal(parentName("work of A"), "request A");
      });

      it("instrumentTasks: a child spawned after a suspension nests under it too", async () => {
        exporter.reset();
        const stop = instrumentTasks(tracer, { filter: (task) => task.name === "child of A" });
        try {
          await twoRequests(function* () {
            yield* yield* spawn(function* () {}, { name: "child of A" });
          });
        } finally {
          stop();
        }
        assert.equal(parentName("child of A"), "request A");
      });

      it("a root run() from a corio callback starts a trace of its own", async () => {
        exporter.reset();
        let fromCallback: PromiseLike<void> | undefined;
        await twoRequests(function* () {
          callSoon(() => {
            fromCallback = run(withSpan(tracer, "run from a callback of A", function* () {}));
          });
          yield* sleep(1);
        });
        await fromCallback;
        const span = exporter.getFinishedSpans().find((s) => s.name === "run from a callback of A");
        assert.equal(span?.parentSpanContext, undefined);
      });
    });
  });

  it("instrumentTasks: the spans started before stop() still end with their tasks (M4)", async () => {
    context.setGlobalContextManager(new TaskContextManager().enable());
    exporter.reset();
    const stop = instrumentTasks(tracer);
    try {
      await runVirtual(
        function* () {
          const gate = new Future<void>();
          yield* spawn(() => gate, { name: "worker" });
          yield* waitAllTasksBlocked();
          stop();
          yield* spawn(sleep(1), { name: "after stop" });
          gate.resolve();
        },
        { name: "server" },
      );
    } finally {
      stop();
      context.disable();
    }
    assert.deepEqual(
      exporter
        .getFinishedSpans()
        .map((span) => span.name)
        .sort(),
      ["server", "worker"],
    );
  });

  describe("a broken tracer never reaches the application (M5)", () => {
    /** A tracer whose span processor throws in `onStart` or `onEnd`; `ended` counts the spans it was told about. */
    function brokenTracer(throwIn: "onStart" | "onEnd"): { tracer: ReturnType<BasicTracerProvider["getTracer"]>; ended: string[] } {
      const ended: string[] = [];
      const processor: SpanProcessor = {
        onStart() {
          if (throwIn === "onStart") throw new Error("processor exploded in onStart");
        },
        onEnd(span: ReadableSpan) {
          ended.push(span.name);
          if (throwIn === "onEnd") throw new Error("processor exploded in onEnd");
        },
        forceFlush: async () => {},
        shutdown: async () => {},
      };
      return { tracer: new BasicTracerProvider({ spanProcessors: [processor] }).getTracer("broken"), ended };
    }

    it("withSpan keeps the operation's value and its own error, and the failure is reported once", async () => {
      const { tracer: broken } = brokenTracer("onEnd");
      const { reports, onError } = collectReports();
      const outcome = await runVirtual(
        function* () {
          const value = yield* withSpan(broken, "work", function* () {
            yield* sleep(1);
            return "the value";
          });
          try {
            yield* withSpan(broken, "failing", function* () {
              throw new TypeError("the operation's own error");
            });
          } catch (error) {
            return [value, String(error)];
          }
          return [value, "no error"];
        },
        { name: "app", onError },
      );
      assert.deepEqual(outcome, ["the value", "TypeError: the operation's own error"]);
      // The second span's failure is not said again.
      assert.deepEqual(
        reports.map((report) => [report.kind, report.path, String(report.error)]),
        [["telemetry", 'span "work" of app (end)', "Error: processor exploded in onEnd"]],
      );
    });

    it("withSpan runs the operation when the span cannot start", async () => {
      const { tracer: broken } = brokenTracer("onStart");
      const { reports, onError } = collectReports();
      const value = await runVirtual(
        withSpan(broken, "work", function* () {
          yield* sleep(1);
          return 7;
        }),
        { name: "app", onError },
      );
      assert.equal(value, 7);
      assert.deepEqual(
        reports.map((report) => [report.kind, report.path, String(report.error)]),
        [["telemetry", 'span "work" of app (start)', "Error: processor exploded in onStart"]],
      );
    });

    it("instrumentTasks on a stopOnError loop: the program runs to its end, every task still gets its span", async () => {
      const { tracer: broken, ended } = brokenTracer("onEnd");
      const { reports, onError } = collectReports();
      const stop = instrumentTasks(broken, { filter: (task) => task.name.startsWith("job") });
      try {
        const result = await run(
          function* () {
            for (let i = 1; i <= 3; i++) yield* yield* spawn(sleep(1), { name: `job ${i}` });
            return "ran to its end";
          },
          { name: "app", stopOnError: true, onError },
        );
        assert.equal(result, "ran to its end");
      } finally {
        stop();
      }
      assert.deepEqual(ended, ["job 1", "job 2", "job 3"]);
      assert.deepEqual(
        reports.map((report) => [report.kind, report.path]),
        [["telemetry", "span of task app/job 1 (end)"]],
      );
    });
  });

  it("withSpan's generator closed from outside any step ends its span and restores its task's context", async () => {
    context.setGlobalContextManager(new TaskContextManager().enable());
    exporter.reset();
    try {
      const closed = await runVirtual(function* () {
        // Driven by hand (as a combinator might): started in this step, closed from a callback.
        const it = withSpan(tracer, "by hand", suspend)[Symbol.iterator]();
        it.next();
        const outcome = new Future<string>();
        callSoon(() => {
          try {
            it.return?.(undefined);
            outcome.resolve("closed");
          } catch (error) {
            outcome.resolve(String(error));
          }
        });
        const result = yield* outcome;
        return [result, activeName()];
      });
      assert.deepEqual(closed, ["closed", undefined]);
      assert.deepEqual(
        exporter.getFinishedSpans().map((span) => span.name),
        ["by hand"],
      );
    } finally {
      context.disable();
    }
  });
});
