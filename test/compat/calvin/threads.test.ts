import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { callFromThread, callInThread, deferToThread } from "../../../src/compat/calvin/index.ts";
// Twisted's CancelledError (an ordinary error), which a cancelled Deferred fails with, not corio's.
import { CancelledError, type Failure } from "../../../src/compat/twisted/index.ts";
import { Future, run, sleep, spawn } from "../../../src/index.ts";
import { exposeToThreads, type ThreadContext } from "../../../src/threads/index.ts";
import { checkLeaks, collectReports } from "../../_helpers.ts";
import { reported } from "./_actor.ts";

checkLeaks();

/** Self-contained, so it can run in a worker. */
function fib(n: number): number {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

describe("deferToThread", () => {
  it("fires the Deferred with the result, on the loop; callbacks chain as in Twisted", async () => {
    const log: unknown[] = [];
    await run(function* () {
      const done = new Future<void>();
      const d = deferToThread(fib, 20);
      d.addCallback((value: number) => value + 1)
        .addCallback((value: number) => log.push(`result ${value}`))
        .addBoth(() => done.resolve());
      yield* done;
    });
    assert.deepEqual(log, ["result 6766"]);
  });

  it("an error in the thread goes down the errback track; addBoth still runs (Post.py's pattern)", async () => {
    const log: unknown[] = [];
    await run(function* () {
      const done = new Future<void>();
      deferToThread((status: number) => {
        if (status >= 400) throw new RangeError(`HTTP ${status}`);
        return status;
      }, 503)
        .addCallback(() => log.push("not called"))
        .addErrback((failure: Failure) => {
          log.push(`${(failure.value as Error).name}: ${failure.getErrorMessage()}`);
        })
        .addBoth(() => {
          log.push("reset");
          done.resolve();
        });
      yield* done;
    });
    assert.deepEqual(log, ["RangeError: HTTP 503", "reset"]);
  });

  it("cancel() errbacks with CancelledError at once and aborts the job", async () => {
    const log: unknown[] = [];
    await run(function* () {
      const d = deferToThread(function (this: ThreadContext) {
        const end = Date.now() + 5000;
        while (Date.now() < end && !this.signal.aborted) {}
        return this.signal.aborted ? "aborted" : "ran to the end";
      });
      d.addErrback((failure: Failure) => {
        log.push(failure.value instanceof CancelledError);
      });
      yield* sleep(50);
      d.cancel();
    });
    assert.deepEqual(log, [true]);
  });

  it("belongs to the calling task, which finishes after the job; a cancelled caller errbacks it", async () => {
    const log: unknown[] = [];
    await run(function* () {
      const caller = yield* spawn(function* () {
        deferToThread((ms: number) => {
          const end = Date.now() + ms;
          while (Date.now() < end) {}
          return "slow";
        }, 50).addCallback((value: string) => log.push(value));
      });
      yield* caller;
      assert.deepEqual([...log], ["slow"]);
      const cancelled = yield* spawn(function* () {
        deferToThread(function (this: ThreadContext) {
          while (!this.signal.aborted) {}
        }).addErrback((failure: Failure) => {
          log.push(failure.check(CancelledError) === CancelledError);
        });
        yield* sleep(10_000);
      });
      yield* sleep(50);
      cancelled.cancel();
      try {
        yield* cancelled;
      } catch {}
    });
    assert.deepEqual(log, ["slow", true]);
  });

  it("needs a corio task and a function", async () => {
    assert.throws(() => deferToThread(() => 1), { message: /^Cannot defer to a thread: no corio task is running/ });
    await run(function* () {
      assert.throws(() => deferToThread("f" as never), { name: "TypeError" });
    });
  });
});

describe("callInThread", () => {
  it("runs the function in a thread without waiting; its error is reported", async () => {
    const { reports, onError } = collectReports();
    await run(
      function* () {
        const job = callInThread((n: number) => n * 2, 4);
        const failing = callInThread(() => {
          throw new Error("worker failed");
        });
        yield* job;
        yield* failing;
        assert.equal(job.state, "done");
      },
      { onError },
    );
    assert.equal(reported(reports).message, "worker failed");
  });
});

describe("callFromThread", () => {
  it("on the main thread, queues the call on the loop (like DelayedCall(0, ...))", async () => {
    const log: string[] = [];
    await run(function* () {
      callFromThread((what: string) => log.push(what), "queued");
      log.push("first");
      yield* sleep(1);
    });
    assert.deepEqual(log, ["first", "queued"]);
  });

  it("from a worker, calls a main-thread function exposed by name, and gives its result", async () => {
    const seen: string[] = [];
    const unexpose = exposeToThreads("calvin-update", (state: string) => {
      seen.push(state);
      return state.length;
    });
    try {
      const result = await run(function* () {
        return yield* deferToThread(async function (this: ThreadContext) {
          return (await this.callFromThread("calvin-update", "from the worker")) as number;
        });
      });
      assert.equal(result, 15);
      assert.deepEqual(seen, ["from the worker"]);
    } finally {
      unexpose();
    }
  });
});
