// After CPython's test_asyncio/test_tasks.py wait tests (test_wait, test_wait_first_completed,
// test_wait_first_exception, test_wait_first_exception_in_wait, test_wait_with_exception,
// test_wait_with_timeout, test_wait_errors, test_wait_really_done), plus corio's structured rules.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CancelledError, currentTime, type Operation, scope, sleep, spawn, suspend, wait } from "../../src/index.ts";
import { runVirtual, waitAllTasksBlocked } from "../../src/testing/index.ts";
import { cancelledAsItEnds, checkLeaks, rejectsOp, resultAndCancelInOneTurn } from "../_helpers.ts";

checkLeaks();

function after<T>(ms: number, value: T): () => Operation<T> {
  return function* () {
    yield* sleep(ms);
    return value;
  };
}

function failAfter(ms: number, message: string): () => Operation<never> {
  return function* () {
    yield* sleep(ms);
    throw new TypeError(message);
  };
}

describe("wait", () => {
  it("the operations end in the turn the caller is cancelled: the caller gets the result, then its cancel (decided case 12)", async () => {
    const reports: unknown[] = [];
    await runVirtual(
      function* () {
        for (const mode of ["all", "first-completed", "first-error"] as const) {
          const { got, later } = yield* cancelledAsItEnds(function* () {
            const { done, pending } = yield* wait([after(10, "v")], { return: mode });
            return { done: done.map((task) => task.result()), pending: pending.length };
          });
          assert.deepEqual(got, { done: ["v"], pending: 0 }, mode);
          assert.equal(later, "CancelledError", mode);
        }
      },
      { onError: (error) => reports.push(error) },
    );
    assert.deepEqual(reports, []);
  });

  it("the condition met and the caller's cancel in one turn: the caller gets the result only if it came first, whatever its priority (decided case 12)", async () => {
    await runVirtual(function* () {
      yield* resultAndCancelInOneTurn(function* (makeResult) {
        return function* () {
          const { done } = yield* wait([makeResult]);
          return done[0]?.result();
        };
      });
    });
  });

  it("cancelled while nothing had ended: CancelledError, and what it started is cancelled", async () => {
    await runVirtual(function* () {
      let cleaned = false;
      const caller = yield* spawn(function* () {
        yield* wait([
          function* () {
            try {
              yield* sleep(100);
            } finally {
              cleaned = true;
            }
          },
        ]);
      });
      yield* sleep(5);
      caller.cancel();
      yield* rejectsOp(caller, CancelledError);
      assert.ok(cleaned);
    });
  });

  it("an operation that failed before the caller was cancelled: its error reaches the caller, not lost", async () => {
    await runVirtual(function* () {
      try {
        yield* scope(function* () {
          const caller = yield* spawn(() =>
            wait([
              function* () {
                yield* sleep(10);
                throw new Error("failed at t=10");
              },
              after(100, 1),
            ]),
          );
          yield* sleep(50);
          caller.cancel();
        });
        assert.fail("the scope returned");
      } catch (error) {
        assert.equal((error as Error).message, "failed at t=10");
      }
    });
  });

  it("a bad element after good ones: the TypeError comes before any operation starts (test_wait_errors)", async () => {
    const events: string[] = [];
    await runVirtual(function* () {
      const error = yield* rejectsOp(
        wait([
          function* () {
            events.push("started");
            yield* sleep(10);
            throw new Error("ran on unowned");
          },
          42 as never,
        ]),
        TypeError,
      );
      assert.match(error.message, /^Cannot wait: /);
      yield* sleep(20);
    });
    assert.deepEqual(events, []);
  });

  it("waits for all by default", async () => {
    await runVirtual(function* () {
      const { done, pending } = yield* wait([after(10, "a"), after(20, "b")]);
      assert.equal(currentTime(), 20);
      assert.deepEqual(
        done.map((task) => task.result()),
        ["a", "b"],
      );
      assert.deepEqual(pending, []);
    });
  });

  it("first-completed returns as soon as one has finished; the rest keep running", async () => {
    const log: string[] = [];
    await runVirtual(function* () {
      const { done, pending } = yield* wait([after(20, "slow"), after(10, "fast")], { return: "first-completed" });
      assert.equal(currentTime(), 10);
      assert.deepEqual(
        done.map((task) => task.result()),
        ["fast"],
      );
      assert.equal(pending.length, 1);
      assert.equal(yield* pending[0] as Operation<string>, "slow");
      log.push(`slow joined at ${currentTime()}`);
    });
    assert.deepEqual(log, ["slow joined at 20"]);
  });

  it("first-completed with operations that finish at once does not suspend", async () => {
    await runVirtual(function* () {
      const { done, pending } = yield* wait(
        [
          after(10, "later"),
          function* () {
            return "now";
          },
        ],
        { return: "first-completed" },
      );
      assert.equal(currentTime(), 0);
      assert.equal(done.length, 1);
      assert.equal(pending.length, 1);
      (pending[0] as { cancel(): boolean }).cancel();
    });
  });

  it("first-error returns at the first failure, without throwing it", async () => {
    await runVirtual(function* () {
      const { done, pending } = yield* wait([after(50, "a"), failAfter(10, "bad"), after(5, "b")], { return: "first-error" });
      assert.equal(currentTime(), 10);
      assert.deepEqual(
        done.map((task) => task.state),
        ["failed", "done"],
      );
      assert.ok(done[0]?.error instanceof TypeError);
      assert.equal(pending.length, 1);
      for (const task of pending) task.cancel();
    });
  });

  it("first-error without errors waits for all; a cancelled task is not an error", async () => {
    await runVirtual(function* () {
      const victim = yield* spawn(function* () {
        yield* suspend();
      });
      yield* waitAllTasksBlocked();
      victim.cancel();
      const { done, pending } = yield* wait([after(10, 1), victim as never], { return: "first-error" });
      assert.equal(currentTime(), 10);
      assert.deepEqual(
        done.map((task) => task.state),
        ["done", "cancelled"],
      );
      assert.deepEqual(pending, []);
    });
  });

  it("all: failures are in done, not thrown", async () => {
    await runVirtual(function* () {
      const { done } = yield* wait([failAfter(10, "x"), after(20, "y")]);
      assert.deepEqual(
        done.map((task) => task.state),
        ["failed", "done"],
      );
      yield* rejectsOp(done[0] as Operation<unknown>, TypeError);
    });
  });

  it("a timeout returns what has not finished as pending, not an error", async () => {
    await runVirtual(function* () {
      const { done, pending } = yield* wait([after(10, "a"), after(100, "b")], { timeout: 50 });
      assert.equal(currentTime(), 50);
      assert.equal(done.length, 1);
      assert.equal(pending.length, 1);
      for (const task of pending) task.cancel();
    });
  });

  it("accepts tasks and only watches them", async () => {
    await runVirtual(function* () {
      const task = yield* spawn(after(10, "spawned"));
      const { done, pending } = yield* wait([task, after(100, "other")], { return: "first-completed" });
      assert.equal(done[0], task);
      for (const other of pending) other.cancel();
    });
  });

  it("the caller's task waits for the pending ones at its end", async () => {
    const log: string[] = [];
    await runVirtual(function* () {
      const owner = yield* spawn(function* () {
        yield* wait<unknown>(
          [
            after(10, "a"),
            function* () {
              yield* sleep(40);
              log.push("pending finished");
            },
          ],
          { return: "first-completed" },
        );
        log.push("owner body done");
      });
      yield* owner;
      log.push(`owner done at ${currentTime()}`);
    });
    assert.deepEqual(log, ["owner body done", "pending finished", "owner done at 40"]);
  });

  it("a pending operation that fails later fails the caller", async () => {
    await runVirtual(function* () {
      yield* rejectsOp(
        scope(function* () {
          yield* wait([after(10, "a"), failAfter(20, "late")], { return: "first-completed" });
          yield* suspend();
        }),
        TypeError,
      );
    });
  });

  it("cancelling the caller cancels the operations it started", async () => {
    const log: string[] = [];
    await runVirtual(function* () {
      const owner = yield* spawn(function* () {
        yield* wait([
          function* () {
            try {
              yield* suspend();
            } finally {
              yield* sleep(5);
              log.push(`cleanup at ${currentTime()}`);
            }
          },
        ]);
      });
      yield* sleep(10);
      owner.cancel();
      yield* rejectsOp(owner, CancelledError);
      log.push(`owner joined at ${currentTime()}`);
    });
    assert.deepEqual(log, ["cleanup at 15", "owner joined at 15"]);
  });

  it("an error from the cleanup after the caller was cancelled is not dropped", async () => {
    await runVirtual(function* () {
      yield* rejectsOp(
        scope(function* () {
          const owner = yield* spawn(function* () {
            yield* wait([
              function* () {
                try {
                  yield* suspend();
                } finally {
                  // biome-ignore lint/correctness/noUnsafeFinally: an error is never replaced by a cancellation
                  throw new SyntaxError("cleanup failed");
                }
              },
            ]);
          });
          yield* waitAllTasksBlocked();
          owner.cancel();
        }),
        SyntaxError,
      );
    });
  });

  it("rejects an empty list, an unknown return and a bad timeout", async () => {
    await runVirtual(function* () {
      yield* rejectsOp(wait([]), RangeError);
      yield* rejectsOp(wait([after(1, 1)], { return: "first" as never }), RangeError);
      yield* rejectsOp(wait([after(1, 1)], { timeout: -1 }), RangeError);
      yield* rejectsOp(wait("x" as never), TypeError);
    });
  });
});
