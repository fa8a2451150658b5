import assert from "node:assert/strict";
import { describe, it, mock } from "node:test";
import { threadId as mainThreadId, Worker } from "node:worker_threads";
import {
  all,
  CancelledError,
  ClosedResourceError,
  type Operation,
  QueueFull,
  race,
  run,
  sleep,
  spawn,
  suspend,
  TimeoutError,
  timeout,
  until,
} from "../../src/index.ts";
import { runVirtual, waitAllTasksBlocked } from "../../src/testing/index.ts";
import {
  callFromThread,
  callInThread,
  exposeToThreads,
  type ThreadContext,
  ThreadPool,
  toThread,
  transfer,
  WorkerCrashedError,
  WorkerTerminatedError,
} from "../../src/threads/index.ts";
import { checkLeaks, collectReports, rejectsOp } from "../_helpers.ts";

checkLeaks();

const MODULE = new URL("../fixtures/thread-module.ts", import.meta.url);

/** Shared memory a job can write to, so the test sees what ran even when its result is dropped. */
function counter(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(12));
}

/** A job that spins until the test lets it go (or it is aborted, if it checks). */
function spin(this: ThreadContext, gate: Int32Array, checkAbort: boolean): string {
  Atomics.add(gate, 1, 1);
  Atomics.notify(gate, 1);
  for (;;) {
    if (Atomics.load(gate, 0) === 1) return "released";
    if (checkAbort && this.aborted) return "aborted";
  }
}

/** The worker's thread id: tells whether a worker was replaced. */
function threadId(): number {
  return require("node:worker_threads").threadId;
}

/** Atomics.waitAsync is in Node 20, not in the ES2023 lib this project compiles against. */
type WaitAsync = { waitAsync(a: Int32Array, i: number, v: number): { async: boolean; value: Promise<unknown> } };

/** Waits until the spinning job has started in its worker (woken by its Atomics.notify, no polling). */
function* started(gate: Int32Array, count = 1): Operation<void> {
  for (let seen = Atomics.load(gate, 1); seen < count; seen = Atomics.load(gate, 1)) {
    const wait = (Atomics as unknown as WaitAsync).waitAsync(gate, 1, seen);
    if (wait.async) yield* until(wait.value);
  }
}

/**
 * An async job: counts its runs in `runs[0]`, says it started like `spin`,
 * and ends when the test releases `gate[0]`, saying so in `gate[2]`.
 */
async function waitForRelease(gate: Int32Array, runs: Int32Array): Promise<string> {
  Atomics.add(runs, 0, 1);
  Atomics.add(gate, 1, 1);
  Atomics.notify(gate, 1);
  // Waits without blocking the worker.
  await (Atomics as unknown as WaitAsync).waitAsync(gate, 0, 0).value;
  Atomics.store(gate, 2, 1);
  Atomics.notify(gate, 2);
  return "released";
}

/** A job that ends once `waitForRelease` on the same worker has ended, and a turn later, so that its answer comes after that job's. */
async function afterRelease(gate: Int32Array): Promise<void> {
  while (Atomics.load(gate, 2) === 0) await (Atomics as unknown as WaitAsync).waitAsync(gate, 2, 0).value;
  await new Promise((resolve) => setImmediate(resolve));
}

describe("ThreadPool: results and errors", () => {
  it("runs a function in a worker and gives its result", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 2 });
      assert.equal(yield* pool.call((a: number, b: number) => a * b, 6, 7), 42);
      assert.deepEqual(yield* pool.call((o: { xs: number[] }) => ({ sum: o.xs.reduce((a, b) => a + b, 0) }), { xs: [1, 2, 3] }), { sum: 6 });
      assert.equal(yield* pool.call(async (n: number) => n + 1, 1), 2);
      assert.notEqual(yield* pool.call(threadId), mainThreadId);
    });
  });

  it("gives results in order for many concurrent jobs, on at most `size` workers", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 2 });
      const results = yield* all(Array.from({ length: 500 }, (_, i) => pool.call((n: number) => n * 2, i)));
      assert.deepEqual(
        results,
        Array.from({ length: 500 }, (_, i) => i * 2),
      );
      assert.ok(pool.threads <= 2);
      assert.equal(pool.completed, 500);
    });
  });

  it("a job that throws gives the task its error, with the class, the code and the worker's stack", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 1 });
      const error = yield* rejectsOp(
        pool.call(function failing() {
          throw new RangeError("out of range");
        }),
        RangeError,
      );
      assert.equal(error.message, "out of range");
      assert.match(error.stack ?? "", /failing/);
      const coded = yield* rejectsOp(pool.run(MODULE, "throwsWithCode"), Error);
      assert.equal((coded as Error & { code?: string }).code, "ENOTHING");
      assert.match(coded.stack ?? "", /thread-module/);
      // A thrown value that is not an Error arrives as it was.
      try {
        yield* pool.call(() => {
          throw "plain";
        });
        assert.fail("should throw");
      } catch (thrown) {
        assert.equal(thrown, "plain");
      }
      // The pool still serves.
      assert.equal(yield* pool.call(() => "ok"), "ok");
    });
  });

  it("arguments or results that cannot be copied fail that job only", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 1 });
      const bad = yield* rejectsOp(
        pool.call(
          (f: unknown) => typeof f,
          () => 1,
        ),
        TypeError,
      );
      assert.match(bad.message, /cannot be copied/);
      const badResult = yield* rejectsOp(
        pool.call(() => () => 1),
        TypeError,
      );
      assert.match(badResult.message, /cannot be copied/);
      assert.equal(yield* pool.call(() => 5), 5);
    });
  });

  it("runs exported functions of a module, and says clearly when the export is missing", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 1 });
      assert.equal(yield* pool.run<number>(MODULE, "add", 2, 3), 5);
      const missing = yield* rejectsOp(pool.run(MODULE, "nothing"), TypeError);
      assert.match(missing.message, /exports no function of that name/);
    });
  });

  it("transfers moved buffers instead of copying them, both ways", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 1 });
      const bytes = new Uint8Array(1 << 16).fill(3);
      const back = yield* pool.call(function (this: ThreadContext, data: Uint8Array) {
        for (let i = 0; i < data.length; i++) data[i] = (data[i] as number) + 1;
        return this.transfer(data);
      }, transfer(bytes));
      assert.equal(bytes.byteLength, 0, "moved, so detached here");
      assert.equal(back.length, 1 << 16);
      assert.equal(back[100], 4);
      assert.throws(() => transfer(42), /Cannot transfer number/);
    });
  });

  it("runs functions with named functions and classes inside (tsx wraps them in __name calls)", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 1 });
      const names = yield* pool.call(() => {
        class Inner {}
        function helper(): string {
          return "helper";
        }
        const arrow = (): number => 1;
        return [Inner.name, helper(), helper.name, arrow.name];
      });
      assert.deepEqual(names, ["Inner", "helper", "helper", "arrow"]);
    });
  });

  it("compiles shorthand methods and says clearly what cannot be sent", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 1 });
      const methods = {
        triple(n: number) {
          return n * 3;
        },
      };
      assert.equal(yield* pool.call(methods.triple, 3), 9);
      const native = yield* rejectsOp(pool.call(Math.max as never), TypeError);
      assert.match(native.message, /only functions written in JavaScript/);
    });
  });
});

describe("ThreadPool: cancellation", () => {
  it("a queued job that is cancelled never runs", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 1, jobsPerWorker: 1 });
      const gate = counter();
      const ran = counter();
      const first = yield* spawn(() => pool.call(spin, gate, false));
      yield* started(gate);
      const queued = yield* spawn(() => pool.call((c: Int32Array) => Atomics.add(c, 0, 1), ran));
      yield* sleep(1);
      assert.equal(pool.queued, 1);
      queued.cancel();
      yield* sleep(1);
      assert.equal(pool.queued, 0);
      Atomics.store(gate, 0, 1);
      assert.equal(yield* first, "released");
      // Another job after it proves the worker is idle and the cancelled one did not run.
      yield* pool.call(() => 0);
      assert.equal(Atomics.load(ran, 0), 0);
    });
  });

  it("a running job sees this.aborted (even in a busy loop) and the worker is kept", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 1, abortGrace: 60_000 });
      const before = yield* pool.call(threadId);
      const gate = counter();
      const job = yield* spawn(() => pool.call(spin, gate, true));
      yield* started(gate);
      job.cancel();
      yield* sleep(1);
      // The job returned "aborted" in its worker: the same worker serves the next job.
      assert.equal(yield* pool.call(threadId), before);
    });
  });

  it("an async job gets its signal aborted", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 1, abortGrace: 60_000 });
      const job = yield* spawn(() => pool.run(MODULE, "waitForAbort"));
      yield* sleep(20);
      job.cancel();
      yield* sleep(1);
      assert.equal(yield* pool.call(() => "next"), "next");
      assert.equal(pool.running, 0);
    });
  });

  it("a running job that ignores the abort has its worker terminated after the grace; a job sent behind it runs on the new worker", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 1, jobsPerWorker: 4, abortGrace: 20 });
      const before = yield* pool.call(threadId);
      const gate = counter();
      const stuck = yield* spawn(() => pool.call(spin, gate, false));
      // Sent to the same worker, behind the stuck job.
      const innocent = yield* spawn(() => pool.call((n: number) => n + 1, 41));
      yield* started(gate);
      stuck.cancel();
      assert.equal(yield* innocent, 42);
      assert.notEqual(yield* pool.call(threadId), before, "the worker was replaced");
    });
  });

  it("a worker terminated for a cancelled job: jobs begun on it fail with WorkerTerminatedError and are not run again; those not begun run once elsewhere", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 1, jobsPerWorker: 4, abortGrace: 20 });
      const before = yield* pool.call(threadId);
      const gate = counter();
      const runs = counter();
      // Sent in one batch: `waiting` begins (and waits, async), `stuck` spins and ignores the abort, `behind` never begins.
      const waiting = yield* spawn(() => rejectsOp(pool.call(waitForRelease, gate, runs), WorkerTerminatedError));
      const stuck = yield* spawn(() => pool.call(spin, gate, false));
      const behind = yield* spawn(() =>
        pool.call((counts: Int32Array) => {
          Atomics.add(counts, 1, 1);
          return require("node:worker_threads").threadId as number;
        }, runs),
      );
      yield* started(gate, 2);
      assert.equal(pool.running, 3);
      stuck.cancel();
      assert.notEqual(yield* behind, before, "the job not begun ran on the new worker");
      // Had `waiting` been sent again, this would let its second run finish.
      Atomics.store(gate, 0, 1);
      Atomics.notify(gate, 0);
      const error = yield* waiting;
      assert.match(error.message, /another job on it, function spin \(awaited by task [^)]+\), did not stop within abortGrace \(20 ms\)/);
      assert.match(error.message, /had already begun, so it is not run again/);
      assert.deepEqual([Atomics.load(runs, 0), Atomics.load(runs, 1)], [1, 1], "each job ran once");
    });
  });

  it("each cancelled job gets its whole abortGrace, even when another's grace began earlier", async () => {
    mock.timers.enable({ apis: ["setTimeout", "Date"] });
    const terminate = mock.method(Worker.prototype, "terminate");
    try {
      await run(function* () {
        const pool = yield* ThreadPool.start({ size: 1, jobsPerWorker: 4, abortGrace: 1000 });
        const first = counter();
        const second = counter();
        const runs = counter();
        // Two async jobs that ignore the abort and end when released.
        const a = yield* spawn(() => pool.call(waitForRelease, first, runs));
        const b = yield* spawn(() => pool.call(waitForRelease, second, runs));
        yield* started(first);
        yield* started(second);
        a.cancel();
        mock.timers.tick(900);
        b.cancel();
        Atomics.store(first, 0, 1);
        Atomics.notify(first, 0);
        yield* pool.call(afterRelease, first);
        assert.equal(pool.running, 1, "only b is left");
        mock.timers.tick(100);
        assert.equal(terminate.mock.callCount(), 0, "a's grace is over, b's is not");
        mock.timers.tick(899);
        assert.equal(terminate.mock.callCount(), 0);
        mock.timers.tick(1);
        assert.equal(terminate.mock.callCount(), 1, "b's grace is over");
      });
    } finally {
      terminate.mock.restore();
      mock.timers.reset();
    }
  });

  it("timeout() over a thread job interrupts the wait", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 1, abortGrace: 10 });
      const gate = counter();
      yield* rejectsOp(timeout(30, pool.call(spin, gate, false)), TimeoutError);
      assert.equal(yield* pool.call(() => 1), 1);
    });
  });
});

describe("ThreadPool: crashes", () => {
  it("a worker that calls process.exit fails its jobs with WorkerCrashedError and is replaced", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 1 });
      const error = yield* rejectsOp(
        pool.call(() => process.exit(7)),
        WorkerCrashedError,
      );
      assert.equal((error as WorkerCrashedError).exitCode, 7);
      assert.match(error.message, /exited with code 7/);
      assert.equal(yield* pool.call(() => "alive"), "alive");
    });
  });

  it("a job sent to a worker that dies, but not begun there, runs on the new worker", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 1, jobsPerWorker: 4 });
      const runs = counter();
      // Sent in one batch: the first kills the worker before the second begins.
      const crash = yield* spawn(() =>
        rejectsOp(
          pool.call(() => process.exit(7)),
          WorkerCrashedError,
        ),
      );
      const next = yield* spawn(() => pool.call((counts: Int32Array) => Atomics.add(counts, 0, 1) + 1, runs));
      yield* crash;
      assert.equal(yield* next, 1);
      assert.equal(Atomics.load(runs, 0), 1);
    });
  });

  it("a worker that runs out of memory is replaced and the pool keeps serving", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 1, resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4 } });
      const error = yield* rejectsOp(
        pool.call(() => {
          const hoard: number[][] = [];
          for (;;) hoard.push(new Array(100_000).fill(1));
        }),
        WorkerCrashedError,
      );
      assert.match(error.message, /memory/i);
      assert.equal(yield* pool.call(() => "alive"), "alive");
    });
  });

  it("an error thrown outside any job (in a timer) crashes the worker; its job fails and the pool goes on", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 1 });
      const error = yield* rejectsOp(
        pool.call(
          () =>
            new Promise(() => {
              setTimeout(() => {
                throw new Error("stray");
              }, 1);
            }),
        ),
        WorkerCrashedError,
      );
      assert.match(error.message, /stray/);
      assert.equal(yield* pool.call(() => 2), 2);
    });
  });
});

describe("ThreadPool: callFromThread", () => {
  it("a job calls exposed main-thread functions: values, promises, operations and errors", async () => {
    const removers = [
      exposeToThreads("double", (n: number) => n * 2),
      exposeToThreads("later", async (s: string) => `${s}!`),
      exposeToThreads("slowly", function* (n: number) {
        yield* sleep(5);
        return n + 1;
      }),
      exposeToThreads("broken", () => {
        throw new Error("main-side failure");
      }),
    ];
    try {
      await run(function* () {
        const pool = yield* ThreadPool.start({ size: 1 });
        const results = yield* pool.call(async function (this: ThreadContext) {
          const out: unknown[] = [await this.callFromThread("double", 21), await this.callFromThread("later", "hi"), await this.callFromThread("slowly", 1)];
          try {
            await this.callFromThread("broken");
          } catch (error) {
            out.push((error as Error).message);
          }
          try {
            await this.callFromThread("missing");
          } catch (error) {
            out.push((error as Error).message);
          }
          return out;
        });
        assert.deepEqual(results.slice(0, 4), [42, "hi!", 2, "main-side failure"]);
        assert.match(String(results[4]), /no function named "missing" is exposed/);
        // The module-level callFromThread works in module code too.
        assert.equal(yield* pool.run(MODULE, "askMain", "double", 5), 10);
      });
    } finally {
      for (const remove of removers) remove();
    }
  });

  it("an exposed function's error reaches the worker with its class: corio's where the worker loaded corio, built-in ones always, else its name", async () => {
    class PaymentError extends Error {
      override name = "PaymentError";
      status = 402;
    }
    const removers = [
      exposeToThreads("cancelled", () => {
        throw new CancelledError("stop");
      }),
      exposeToThreads("timedOut", function* () {
        yield* timeout(1, suspend());
      }),
      exposeToThreads("full", () => {
        throw new QueueFull("no room");
      }),
      exposeToThreads("coded", () => {
        throw Object.assign(new RangeError("bad range", { cause: new TypeError("inner") }), { code: "EBAD" });
      }),
      exposeToThreads("custom", () => {
        throw new PaymentError("no money");
      }),
    ];
    try {
      await run(function* () {
        const pool = yield* ThreadPool.start({ size: 1 });
        // The module imports corio: the worker has its classes.
        assert.deepEqual(yield* pool.run(MODULE, "catchFromMain", "cancelled"), {
          instanceOf: "CancelledError",
          name: "CancelledError",
          message: 'Task was cancelled: "stop"',
          code: undefined,
          reason: "stop",
          ms: undefined,
          status: undefined,
          cause: undefined,
        });
        assert.deepEqual(yield* pool.run(MODULE, "catchFromMain", "timedOut"), {
          instanceOf: "TimeoutError",
          name: "TimeoutError",
          message: "Operation timed out after 1 ms",
          code: undefined,
          reason: undefined,
          ms: 1,
          status: undefined,
          cause: undefined,
        });
        assert.equal((yield* pool.run<{ instanceOf: string }>(MODULE, "catchFromMain", "full")).instanceOf, "QueueFull");
        assert.deepEqual(yield* pool.run(MODULE, "catchFromMain", "coded"), {
          instanceOf: "RangeError",
          name: "RangeError",
          message: "bad range",
          code: "EBAD",
          reason: undefined,
          ms: undefined,
          status: undefined,
          cause: { instanceOf: "TypeError", message: "inner" },
        });
        assert.deepEqual(yield* pool.run(MODULE, "catchFromMain", "custom"), {
          instanceOf: "Error",
          name: "PaymentError",
          message: "no money",
          code: undefined,
          reason: undefined,
          ms: undefined,
          status: 402,
          cause: undefined,
        });
      });
      await run(function* () {
        // A fresh worker that never loaded corio: the error keeps its name.
        const pool = yield* ThreadPool.start({ size: 1 });
        const seen = yield* pool.call(async function (this: ThreadContext) {
          try {
            await this.callFromThread("cancelled");
          } catch (error) {
            return [error instanceof Error, (error as Error).name, (error as Error).message];
          }
          return ["did not fail"];
        });
        assert.deepEqual(seen, [true, "CancelledError", 'Task was cancelled: "stop"']);
      });
    } finally {
      for (const remove of removers) remove();
    }
  });

  it("a job's error reaches its task with its class: corio's error made in the worker, and a main-thread error the job let through", async () => {
    const remove = exposeToThreads("cancelled", () => {
      throw new CancelledError("stop");
    });
    try {
      await run(function* () {
        const pool = yield* ThreadPool.start({ size: 1 });
        // Made in a worker that never loaded corio: it comes back as what it was.
        const roundTrip = yield* rejectsOp(
          pool.call(async function (this: ThreadContext) {
            await this.callFromThread("cancelled");
          }),
          CancelledError,
        );
        assert.equal((roundTrip as CancelledError).reason, "stop");
        // An Error that only has a corio name is not taken for the class.
        const named = yield* rejectsOp(
          pool.call(() => {
            throw Object.assign(new Error("only a name"), { name: "CancelledError" });
          }),
          Error,
        );
        assert.ok(!(named instanceof CancelledError));
        assert.equal(named.name, "CancelledError");
        // A subclass of a built-in class arrives as that class, with its name.
        const subclass = yield* rejectsOp(
          pool.call(() => {
            class ParseError extends SyntaxError {
              override name = "ParseError";
            }
            throw new ParseError("unexpected token");
          }),
          SyntaxError,
        );
        assert.equal(subclass.name, "ParseError");
        // Made in a worker that loaded corio.
        const made = yield* rejectsOp(pool.run(MODULE, "throwsTimeout"), TimeoutError);
        assert.equal((made as TimeoutError).ms, 5);
        assert.equal(made.message, "too slow in the worker");
        assert.match(made.stack ?? "", /thread-module/);
        yield* rejectsOp(pool.run(MODULE, "rethrowFromMain", "cancelled"), CancelledError);
      });
    } finally {
      remove();
    }
  });

  it("on the main thread, callFromThread schedules the function on the loop", async () => {
    await runVirtual(function* () {
      const calls: number[] = [];
      callFromThread((n: number) => calls.push(n), 1);
      assert.deepEqual(calls, []);
      yield* sleep(0);
      assert.deepEqual(calls, [1]);
      assert.throws(() => callFromThread("double" as never), /only workers call/);
    });
  });

  it("exposeToThreads refuses a name in use and bad arguments", () => {
    const remove = exposeToThreads("taken", () => 1);
    try {
      assert.throws(() => exposeToThreads("taken", () => 2), /already exposed/);
      assert.throws(() => exposeToThreads("", () => 2), /non-empty string/);
      assert.throws(() => exposeToThreads("x", 3 as never), /expected a function/);
    } finally {
      remove();
    }
  });
});

describe("ThreadPool: limits and closing", () => {
  it("maxQueue: one job too many throws QueueFull", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 1, jobsPerWorker: 1, maxQueue: 1 });
      const gate = counter();
      const first = yield* spawn(() => pool.call(spin, gate, false));
      yield* started(gate);
      const second = yield* spawn(() => pool.call(() => 2));
      yield* sleep(1);
      const error = yield* rejectsOp(
        pool.call(() => 3),
        QueueFull,
      );
      assert.match(error.message, /maxQueue 1/);
      Atomics.store(gate, 0, 1);
      assert.equal(yield* first, "released");
      assert.equal(yield* second, 2);
    });
  });

  it("close() fails queued jobs with ClosedResourceError, stops the workers, and refuses new jobs", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 1, jobsPerWorker: 1 });
      const gate = counter();
      const running = yield* spawn(() => rejectsOp(pool.call(spin, gate, false), ClosedResourceError));
      yield* started(gate);
      const queued = yield* spawn(() =>
        rejectsOp(
          pool.call(() => 2),
          ClosedResourceError,
        ),
      );
      yield* sleep(1);
      yield* pool.close();
      assert.equal(pool.threads, 0);
      yield* queued;
      yield* running;
      yield* rejectsOp(
        pool.call(() => 1),
        ClosedResourceError,
      );
    });
  });

  it("the pool closes with its owner task, which ends only after the workers exited", async () => {
    let pool: ThreadPool | undefined;
    await run(function* () {
      pool = yield* ThreadPool.start({ size: 2 });
      yield* all([pool.call(() => 1), pool.call(() => 2)]);
    });
    assert.equal(pool?.threads, 0);
    assert.equal(pool?.closed, true);
  });

  it("a pool started by a task that returns at once is still closed", async () => {
    let pool: ThreadPool | undefined;
    await run(function* () {
      pool = yield* ThreadPool.start({ size: 1 });
    });
    assert.equal(pool?.closed, true);
  });

  it("an idle worker stops after idleTimeout", async () => {
    mock.timers.enable({ apis: ["setTimeout", "Date"] });
    try {
      await run(function* () {
        const pool = yield* ThreadPool.start({ size: 1, idleTimeout: 1000 });
        const before = yield* pool.call(threadId);
        mock.timers.tick(999);
        assert.equal(yield* pool.call(threadId), before, "not idle long enough yet");
        mock.timers.tick(1000);
        // The idle worker is stopping: the next job starts a new one.
        assert.notEqual(yield* pool.call(threadId), before);
        assert.equal(pool.threads, 1);
      });
    } finally {
      mock.timers.reset();
    }
  });

  it("idleTimeout and abortGrace beyond 2^31-1 ms (or Infinity) are not cut to 1 ms", async () => {
    // Node turns a longer setTimeout delay into 1 ms, and warns.
    const warnings: string[] = [];
    const onWarning = (warning: Error): void => {
      warnings.push(warning.name);
    };
    process.on("warning", onWarning);
    try {
      for (const long of [2 ** 32, Infinity]) {
        await run(function* () {
          const pool = yield* ThreadPool.start({ size: 1, idleTimeout: long, abortGrace: long });
          // Idle after this job: the idle timer is armed.
          const before = yield* pool.call(threadId);
          const gate = counter();
          const job = yield* spawn(() => pool.call(spin, gate, true));
          yield* started(gate);
          // The grace timer is armed.
          job.cancel();
          assert.equal(yield* pool.call(threadId), before, "the worker was kept");
          // Warnings are emitted on the next tick.
          yield* until(new Promise((resolve) => setImmediate(resolve)));
        });
      }
      assert.deepEqual(warnings, []);
    } finally {
      process.off("warning", onWarning);
    }
  });

  it("rejects bad options", async () => {
    await run(function* () {
      yield* rejectsOp(ThreadPool.start({ size: 0 }), RangeError);
      yield* rejectsOp(ThreadPool.start({ size: Infinity }), RangeError);
      yield* rejectsOp(ThreadPool.start({ jobsPerWorker: 1.5 }), RangeError);
      yield* rejectsOp(ThreadPool.start({ idleTimeout: -1 }), RangeError);
    });
  });
});

describe("toThread and callInThread (the default pool)", () => {
  it("toThread runs on the default pool of the root task, which closes with it", async () => {
    const first = await run(function* () {
      return yield* toThread((n: number) => n + 1, 1);
    });
    const second = await run(function* () {
      return yield* all([toThread(() => "a"), toThread(() => "b")]);
    });
    assert.equal(first, 2);
    assert.deepEqual(second, ["a", "b"]);
  });

  it("callInThread runs without being awaited; its caller ends after it; errors are reported, not thrown", async () => {
    const { reports, onError } = collectReports();
    const seen = counter();
    await runVirtual(
      function* () {
        void callInThread((c: Int32Array) => Atomics.add(c, 0, 1), seen);
        void callInThread(function broken() {
          throw new Error("in the thread");
        });
      },
      { onError },
    );
    assert.equal(Atomics.load(seen, 0), 1);
    assert.equal(reports.length, 1);
    assert.match(String(reports[0]?.error), /in the thread/);
    assert.match(reports[0]?.path ?? "", /callInThread broken/);
  });

  it("on the virtual clock, time stands still while a thread works", async () => {
    await runVirtual(function* () {
      const winner = yield* race([
        toThread(() => {
          const end = Date.now() + 30;
          while (Date.now() < end);
          return "thread";
        }),
        function* () {
          yield* sleep(1);
          return "timer";
        },
      ]);
      assert.equal(winner, "thread");
      yield* waitAllTasksBlocked();
    });
  });
});
