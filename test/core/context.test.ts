// Task-local context (issue 16): createContext, after asyncio's contextvars
// (copied at task creation) rather than Effection's (read through the scope).
import assert from "node:assert/strict";
import { AsyncLocalStorage } from "node:async_hooks";
import { describe, it } from "node:test";
import {
  all,
  createContext,
  Future,
  moveOnAfter,
  type Operation,
  run,
  scope,
  shield,
  sleep,
  spawn,
  start,
  suspend,
  type Task,
  timeout,
} from "../../src/index.ts";
import { runVirtual, waitAllTasksBlocked } from "../../src/testing/index.ts";
import { checkLeaks } from "../_helpers.ts";

checkLeaks();

describe("createContext", () => {
  it("a value follows its task through suspensions and does not leak to siblings", async () => {
    const user = createContext<string>("user");
    const seen: string[] = [];
    await runVirtual(function* () {
      for (const [name, delay] of [
        ["ann", 3],
        ["bob", 1],
      ] as const) {
        yield* spawn(function* () {
          user.set(name);
          yield* sleep(delay);
          seen.push(`${name}:${user.get()}`);
          yield* sleep(delay);
          seen.push(`${name}:${user.get()}`);
        });
      }
    });
    assert.deepEqual(seen, ["bob:bob", "bob:bob", "ann:ann", "ann:ann"]);
  });

  it("a child gets a copy at spawn: later sets in the parent or the child stay on their side (asyncio's rule)", async () => {
    const value = createContext<number>("value", 0);
    const log: string[] = [];
    await runVirtual(function* () {
      value.set(1);
      const child = yield* spawn(function* () {
        log.push(`child sees ${value.get()}`);
        value.set(3);
        yield* sleep(2);
        log.push(`child keeps ${value.get()}`);
      });
      value.set(2);
      yield* sleep(1);
      log.push(`parent keeps ${value.get()}`);
      yield* child;
      log.push(`parent after the child ${value.get()}`);
    });
    assert.deepEqual(log, ["child sees 1", "parent keeps 2", "child keeps 3", "parent after the child 2"]);
  });

  it("with(value, op) sets it for the operation and restores it after, also when the operation throws", async () => {
    const span = createContext<string>("span");
    await runVirtual(function* () {
      assert.throws(() => span.get(), /^Error: Cannot read the context span: it has no value here and no default/);
      const inner = yield* span.with("outer", function* () {
        const nested = yield* span.with("inner", function* () {
          yield* sleep(1);
          return span.get();
        });
        return `${nested}/${span.get()}`;
      });
      assert.equal(inner, "inner/outer");
      try {
        yield* span.with("failing", function* () {
          yield* sleep(1);
          throw new Error("boom");
        });
      } catch {}
      assert.throws(() => span.get(), /no value here/);
      // Children spawned inside `with` keep the value they were spawned with.
      const kept = yield* scope(function* () {
        let child: Task<string> | undefined;
        yield* span.with("for the child", function* () {
          child = yield* spawn(function* () {
            yield* sleep(5);
            return span.get();
          });
        });
        return yield* child as Task<string>;
      });
      assert.equal(kept, "for the child");
    });
  });

  it("a value set inside scope, timeout, moveOnAfter or shield is still set after it: they are the caller's code", async () => {
    const value = createContext<string>("value", "outer");
    const seen = await runVirtual(function* () {
      const seen: string[] = [];
      const blocks: [string, (op: () => Operation<void>) => Operation<unknown>][] = [
        ["scope", (op) => scope(op)],
        ["timeout", (op) => timeout(100, op)],
        ["moveOnAfter", (op) => moveOnAfter(100, op)],
        ["shield", (op) => shield(op)],
      ];
      for (const [name, block] of blocks) {
        value.set("outer");
        let child: Task<string> | undefined;
        yield* block(function* () {
          child = yield* spawn(function* () {
            yield* sleep(1);
            return value.get();
          });
          value.set(`set in ${name}`);
          yield* sleep(1);
        });
        seen.push(`${value.get()} (its child: ${yield* child as Task<string>})`);
        // Timed out: what it set before is kept too, as in asyncio's `async with timeout()`.
        if (name === "moveOnAfter") {
          yield* moveOnAfter(1, function* () {
            value.set("set before the limit");
            yield* sleep(10);
          });
          seen.push(value.get());
        }
      }
      // Operations run at once are tasks of their own (asyncio's gather): their sets stay theirs.
      value.set("outer");
      yield* all([
        function* () {
          value.set("set in all");
        },
      ]);
      seen.push(value.get());
      return seen;
    });
    assert.deepEqual(seen, [
      "set in scope (its child: outer)",
      "set in timeout (its child: outer)",
      "set in moveOnAfter (its child: outer)",
      "set before the limit",
      "set in shield (its child: outer)",
      "outer",
    ]);
  });

  it("a task started (start) inside timeout, moveOnAfter or shield starts with what the caller's code set there, though it is the outer task's child", async () => {
    const value = createContext<string>("value", "default");
    const seen = await runVirtual(function* () {
      const seen: string[] = [];
      const blocks: [string, (op: () => Operation<void>) => Operation<unknown>][] = [
        ["timeout", (op) => timeout(100, op)],
        ["moveOnAfter", (op) => moveOnAfter(100, op)],
        ["shield", (op) => shield(op)],
      ];
      const outer: Task<void> = yield* spawn(function* (): Operation<void> {
        value.set("outer");
        for (const [name, block] of blocks) {
          yield* block(function* () {
            value.set(`set in ${name}`);
            const { value: first, task } = yield* start<void, string>(function* (started): Operation<void> {
              started(value.get());
              value.set("set by the started task");
              yield* suspend();
            });
            assert.equal(task.parent, outer, "the started task is the outer task's");
            seen.push(`${first}, the caller then: ${value.get()}`);
            task.cancel();
          });
          value.set("outer");
        }
      });
      yield* outer;
      return seen;
    });
    assert.deepEqual(seen, [
      "set in timeout, the caller then: set in timeout",
      "set in moveOnAfter, the caller then: set in moveOnAfter",
      "set in shield, the caller then: set in shield",
    ]);
  });

  it("reaches grandchildren, and is the default outside any task", async () => {
    const id = createContext("id", "default");
    assert.equal(id.get(), "default");
    const got = await run(function* () {
      id.set("root");
      return yield* yield* spawn(function* () {
        return yield* yield* spawn(function* () {
          return id.get();
        });
      });
    });
    assert.equal(got, "root");
    assert.throws(() => id.set("x"), /^Error: Cannot set the context id: no corio task is running/);
    assert.throws(() => createContext(""), TypeError);
  });

  it("Node's AsyncLocalStorage cannot do this: after a corio suspension its store is whoever flushed the ready queue", async () => {
    const als = new AsyncLocalStorage<string>();
    const wake = new Future<void>();
    const seen: (string | undefined)[] = [];
    const body = function* () {
      seen.push(als.getStore());
      yield* wake;
      seen.push(als.getStore());
    };
    const a = als.run("A", () => run(body));
    const b = als.run("B", () => run(body));
    // Resolved from code outside both stores.
    setImmediate(() => wake.resolve());
    await Promise.all([a, b]);
    // B's first step already ran in A's store (one flush ran both), and after the wait neither has its own.
    assert.deepEqual(seen, ["A", "A", undefined, undefined]);
  });

  it("is cancelled like anything else while inside with(): the value is restored", async () => {
    const mode = createContext("mode", "normal");
    await runVirtual(function* () {
      const task = yield* spawn(function* () {
        try {
          yield* mode.with("special", suspend);
        } finally {
          assert.equal(mode.get(), "normal");
        }
      });
      yield* waitAllTasksBlocked();
      task.cancel();
      try {
        yield* task;
      } catch {}
    });
  });
});
