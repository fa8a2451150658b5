import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CancelledError, currentTask, currentTime, deadline, moveOnAfter, sleep, spawn, suspend, TimeoutError, timeout } from "../../src/index.ts";
import { runVirtual, waitAllTasksBlocked } from "../../src/testing/index.ts";
import { checkLeaks, rejectsOp, start } from "../_helpers.ts";

checkLeaks();

describe("timeout", () => {
  it("returns the value of an operation that finishes in time", async () => {
    const value = await runVirtual(function* () {
      return yield* timeout(100, function* () {
        yield* sleep(99);
        return "ok";
      });
    });
    assert.equal(value, "ok");
  });

  it("cancels a slow operation, waits for its cleanup, then throws TimeoutError", async () => {
    const log: string[] = [];
    await runVirtual(function* () {
      try {
        yield* timeout(100, function* () {
          try {
            yield* sleep(1000);
          } finally {
            yield* sleep(30);
            log.push(`cleanup done at ${currentTime()}`);
          }
        });
        assert.fail("expected a timeout");
      } catch (error) {
        assert.ok(error instanceof TimeoutError);
        assert.equal(error.message, "Operation timed out after 100 ms");
        assert.equal(error.ms, 100);
        log.push(`caught at ${currentTime()}`);
      }
    });
    assert.deepEqual(log, ["cleanup done at 130", "caught at 130"]);
  });

  it("the operation is cancelled with a TimeoutError reason; the TimeoutError thrown shows the caller's generators in its stack and has that cancel as its cause", async () => {
    let reason: unknown;
    let cancel: unknown;
    function* fetchPage() {
      yield* timeout(5, function* () {
        try {
          yield* suspend();
        } catch (error) {
          reason = (error as CancelledError).reason;
          cancel = error;
          throw error;
        }
      });
    }
    function* crawl() {
      yield* fetchPage();
    }
    const error = await runVirtual(function* () {
      try {
        yield* crawl();
      } catch (thrown) {
        return thrown;
      }
      return undefined;
    });
    assert.ok(reason instanceof TimeoutError);
    assert.equal(reason.ms, 5);
    assert.ok(error instanceof TimeoutError);
    assert.match(error.stack ?? "", /at fetchPage [^\n]*\n(.*\n)*\s+at crawl /);
    // Chained to the cancel it replaces, as asyncio raises TimeoutError from the CancelledError (CPython's test_timeout_exception_cause).
    assert.equal(error.cause, cancel);
  });

  it("an operation that finishes without suspending never touches the clock", async () => {
    await runVirtual(function* () {
      assert.equal(
        yield* timeout(0, function* () {
          return 5;
        }),
        5,
      );
      assert.equal(currentTime(), 0);
    });
  });

  it("timeout(0) cancels an operation that suspends", async () => {
    await runVirtual(function* () {
      yield* rejectsOp(timeout(0, sleep(1)), TimeoutError);
    });
  });

  it("nested timeouts with equal deadlines: the outermost owns the cancellation", async () => {
    await runVirtual(function* () {
      let innerSaw: unknown;
      try {
        yield* timeout(50, function* () {
          try {
            yield* timeout(50, sleep(1000));
          } catch (error) {
            innerSaw = error;
            throw error;
          }
        });
        assert.fail("expected a timeout");
      } catch (error) {
        assert.ok(error instanceof TimeoutError, `outer got ${String(error)}`);
      }
      assert.ok(innerSaw instanceof CancelledError, `inner should let the outer cancellation pass, saw ${String(innerSaw)}`);
    });
  });

  it("the inner timeout fires first when it is shorter", async () => {
    await runVirtual(function* () {
      const value = yield* timeout(100, function* () {
        try {
          yield* timeout(10, sleep(1000));
        } catch (error) {
          assert.ok(error instanceof TimeoutError);
          return "inner timed out";
        }
        return "no timeout";
      });
      assert.equal(value, "inner timed out");
    });
  });

  it("inner cleanup that suspends delays the TimeoutError until it is done", async () => {
    await runVirtual(function* () {
      const start = currentTime();
      yield* rejectsOp(
        timeout(10, function* () {
          try {
            yield* suspend();
          } finally {
            yield* sleep(25);
          }
        }),
        TimeoutError,
      );
      assert.equal(currentTime() - start, 35);
    });
  });

  it("inner cleanup that throws: that error wins over the TimeoutError", async () => {
    const cleanupError = new Error("cleanup failed");
    await runVirtual(function* () {
      try {
        yield* timeout(10, function* () {
          try {
            yield* suspend();
          } finally {
            // biome-ignore lint/correctness/noUnsafeFinally: the test needs a failing cleanup
            throw cleanupError;
          }
        });
      } catch (error) {
        assert.equal(error, cleanupError);
        return;
      }
      assert.fail("expected an error");
    });
  });

  it("what the operation spawned is cancelled with it", async () => {
    const log: string[] = [];
    await runVirtual(function* () {
      yield* rejectsOp(
        timeout(10, function* () {
          yield* spawn(function* () {
            try {
              yield* suspend();
            } finally {
              log.push("spawned child cancelled");
            }
          });
          yield* suspend();
        }),
        TimeoutError,
      );
    });
    assert.deepEqual(log, ["spawned child cancelled"]);
  });

  it("cancelling the caller cancels the operation and is not turned into a TimeoutError", async () => {
    const log: string[] = [];
    await runVirtual(function* () {
      const task = yield* spawn(function* () {
        yield* timeout(1000, function* () {
          try {
            yield* suspend();
          } finally {
            yield* sleep(5);
            log.push("op cleaned up");
          }
        });
      });
      yield* waitAllTasksBlocked();
      task.cancel("caller cancelled");
      try {
        yield* task;
      } catch (error) {
        assert.ok(error instanceof CancelledError);
        assert.equal(error.reason, "caller cancelled");
      }
    });
    assert.deepEqual(log, ["op cleaned up"]);
  });

  it("a task given as the operation is cancelled when the time runs out, as asyncio's wait_for(task) does", async () => {
    await runVirtual(function* () {
      const job = yield* spawn(function* () {
        try {
          yield* sleep(100);
          return "late";
        } finally {
          yield* sleep(5); // its cleanup is waited for
        }
      });
      yield* rejectsOp(timeout(10, job), TimeoutError);
      assert.equal(job.state, "cancelled");
      assert.equal(currentTime(), 15);
    });
  });

  it("a task given as the operation is cancelled with the caller", async () => {
    await runVirtual(function* () {
      const job = yield* spawn(function* () {
        yield* sleep(100);
      });
      const caller = yield* spawn(function* () {
        yield* timeout(50, job);
      });
      yield* sleep(10);
      caller.cancel();
      yield* rejectsOp(caller, CancelledError);
      assert.equal(job.state, "cancelled");
      assert.equal(currentTime(), 10);
    });
  });

  it("a task watching its own ancestor with a limit is not deadlocked: the ancestor is not cancelled (it ends only after its children)", async () => {
    await runVirtual(function* () {
      const self = currentTask();
      yield* rejectsOp(timeout(20, self), TimeoutError);
      const watcher = yield* spawn(function* () {
        assert.deepEqual(yield* moveOnAfter(20, self), { value: undefined, cancelled: true });
        yield* rejectsOp(timeout(20, self), TimeoutError);
        // At shutdown: the parent's cancel reaches the watcher, which ends.
        yield* moveOnAfter(60_000, self);
      });
      yield* sleep(100);
      assert.equal(watcher.state, "running");
      watcher.cancel();
      yield* rejectsOp(watcher, CancelledError);
      assert.equal(currentTime(), 120);
    });
  });

  it("errors of the operation pass through", async () => {
    const boom = new Error("boom");
    await runVirtual(function* () {
      try {
        yield* timeout(100, function* () {
          yield* sleep(1);
          throw boom;
        });
      } catch (error) {
        assert.equal(error, boom);
      }
    });
  });

  it("rejects a bad ms with a RangeError", async () => {
    await runVirtual(function* () {
      for (const ms of [-1, Number.NaN, "5" as unknown as number]) {
        assert.throws(() => start(timeout(ms, sleep(1))), RangeError);
      }
      assert.throws(() => start(timeout(-1, sleep(1))), { message: "Cannot set a timeout: ms must be a non-negative number, received -1" });
    });
  });
});

describe("deadline", () => {
  it("cancels at an absolute clock time", async () => {
    await runVirtual(function* () {
      yield* sleep(100);
      try {
        yield* deadline(150, sleep(1000));
      } catch (error) {
        assert.ok(error instanceof TimeoutError);
        assert.equal(currentTime(), 150);
        return;
      }
      assert.fail("expected a timeout");
    });
  });

  it("a deadline in the past cancels an operation that suspends at once", async () => {
    await runVirtual(function* () {
      yield* sleep(10);
      yield* rejectsOp(deadline(5, sleep(1)), TimeoutError);
    });
  });
});
