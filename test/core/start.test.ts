// start(fn): Trio's nursery.start / task_status.started, following Trio's test_nursery_start
// (trio/_core/tests/test_run.py) where corio has the same construct.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  CancelledError,
  currentTask,
  currentTime,
  moveOnAfter,
  type Operation,
  scope,
  shield,
  sleep,
  spawn,
  start,
  suspend,
  timeout,
} from "../../src/index.ts";
import { runVirtual, VirtualTestError } from "../../src/testing/index.ts";
import { checkLeaks, rejectsOp, resultAndCancelInOneTurn } from "../_helpers.ts";

checkLeaks();

function* sleepThenStart(seconds: number, started: (value: number) => void): Operation<void> {
  yield* sleep(seconds);
  started(seconds);
  yield* sleep(seconds);
}

describe("start", () => {
  it("waits until the task calls started(), returns its value, and the caller then waits for the task as for any child", async () => {
    await runVirtual(function* () {
      for (const seconds of [1, 2]) {
        const t0 = currentTime();
        yield* scope(function* () {
          const { value, task } = yield* start((started: (value: number) => void) => sleepThenStart(seconds, started));
          assert.equal(value, seconds);
          assert.equal(currentTime() - t0, seconds);
          assert.equal(task.state, "running");
        });
        assert.equal(currentTime() - t0, 2 * seconds);
      }
    });
  });

  it("rejects a function that is not one, before making a task", async () => {
    await runVirtual(function* () {
      yield* rejectsOp(start(42 as never), TypeError);
    });
  });

  it("started() twice throws in the task; the first call counts", async () => {
    await runVirtual(function* () {
      let second: unknown;
      const { value } = yield* start(function* (started: (value: string) => void) {
        started("first");
        try {
          started("second");
        } catch (error) {
          second = error;
        }
      });
      assert.equal(value, "first");
      assert.match((second as Error).message, /Cannot call started\(\) twice/);
    });
  });

  it("a task that fails before started(): start throws its error, and the caller's other children go on", async () => {
    await runVirtual(function* () {
      const log: string[] = [];
      yield* scope(function* () {
        yield* spawn(function* () {
          yield* sleep(10);
          log.push("sibling finished");
        });
        const error = yield* rejectsOp(
          start(function* (_started: () => void) {
            yield* sleep(1);
            throw new Error("bind failed");
          }),
          Error,
        );
        log.push(`start threw ${error.message} at ${currentTime()}`);
      });
      assert.deepEqual(log, ["start threw bind failed at 1", "sibling finished"]);
    });
  });

  it("a task that ends without calling started(): start throws an Error saying so", async () => {
    await runVirtual(function* () {
      const error = yield* rejectsOp(
        start(function* (_started: () => void) {
          yield* sleep(1);
        }),
        Error,
      );
      assert.match(error.message, /ended without calling started\(\)/);
      const cancelled = yield* rejectsOp(
        start(function* (_started: () => void) {
          currentTask().cancel();
          yield* sleep(1);
        }),
        Error,
      );
      assert.match(cancelled.message, /was cancelled before it called started\(\)/);
      assert.ok(cancelled.cause instanceof CancelledError);
    });
  });

  it("entered with a cancel pending, throws it before the task is made (decided case 11; Trio runs the task to started())", async () => {
    await runVirtual(function* () {
      let made = false;
      const caller = yield* spawn(function* () {
        currentTask().cancel();
        yield* start(function* (started: () => void) {
          made = true;
          started();
        });
      });
      yield* rejectsOp(caller, CancelledError);
      assert.equal(made, false);
    });
  });

  it("cancelled while it waits: the task is cancelled and its cleanup awaited; a started() in that cleanup does nothing; the cleanup's error is thrown over the cancel", async () => {
    await runVirtual(function* () {
      const log: string[] = [];
      const limited = yield* moveOnAfter(
        5,
        start(function* (started: (value: string) => void) {
          try {
            yield* sleep(100);
          } finally {
            yield* sleep(3);
            started("too late");
            log.push(`cleanup done at ${currentTime()}`);
          }
        }),
      );
      assert.equal(limited.cancelled, true);
      assert.equal(currentTime(), 8);
      assert.deepEqual(log, ["cleanup done at 8"]);

      let callerGot: unknown;
      const error = yield* rejectsOp(
        scope(function* () {
          const caller = yield* spawn(function* () {
            try {
              yield* start(function* (_started: () => void) {
                try {
                  yield* suspend();
                } finally {
                  yield* sleep(1);
                  // biome-ignore lint/correctness/noUnsafeFinally: the cleanup failure under test
                  throw new Error("cleanup failed");
                }
              });
            } catch (thrown) {
              callerGot = thrown;
              throw thrown;
            }
          });
          yield* sleep(1);
          caller.cancel();
        }),
        Error,
      );
      assert.equal(error.message, "cleanup failed");
      assert.equal(callerGot, error, "start threw the cleanup's error, not the cancel");
    });
  });

  it("cancelled while it waits, with the task's cleanup running first: its error is thrown over the cancel, and a started() there does nothing", async () => {
    await runVirtual(function* () {
      // The cleanup throws without suspending: the task ends before the caller runs again.
      const error = yield* rejectsOp(
        moveOnAfter(
          5,
          start(function* (_started: () => void) {
            try {
              yield* suspend();
            } finally {
              // biome-ignore lint/correctness/noUnsafeFinally: the cleanup failure under test
              throw new Error("cleanup failed at once");
            }
          }),
        ),
        Error,
      );
      assert.equal(error.message, "cleanup failed at once");
      // started() in the cleanup, which then suspends and fails: start still waits for it and throws its error.
      for (const priority of [1, 50]) {
        const log: string[] = [];
        const failure = yield* rejectsOp(
          scope(function* () {
            const caller = yield* spawn(function* () {
              try {
                yield* start(
                  function* (started: () => void) {
                    try {
                      yield* suspend();
                    } finally {
                      started();
                      yield* sleep(1);
                      // biome-ignore lint/correctness/noUnsafeFinally: the cleanup failure under test
                      throw new Error("cleanup failed");
                    }
                  },
                  { priority },
                );
              } catch (thrown) {
                log.push(`start threw ${(thrown as Error).message} at ${currentTime()}`);
                throw thrown;
              }
            });
            yield* sleep(1);
            caller.cancel();
          }),
          Error,
        );
        assert.equal(failure.message, "cleanup failed");
        assert.deepEqual(log, [`start threw cleanup failed at ${currentTime()}`], `task priority ${priority}`);
      }
    });
  });

  it("a time limit around start limits the start-up only: the started task belongs to the task that entered the limit", async () => {
    await runVirtual(function* () {
      const me = currentTask();
      const { value, task } = yield* timeout(
        1000,
        start(function* (started: (port: number) => void) {
          yield* sleep(10);
          started(8080);
          yield* sleep(5000);
        }),
      );
      assert.equal(value, 8080);
      assert.equal(currentTime(), 10, "returned as the task was ready, not at the limit");
      assert.equal(task.parent, me);
      assert.equal(task.state, "running");
      task.cancel();
      // In a scope (a nursery), the task is the scope's: the scope waits for it.
      const t0 = currentTime();
      yield* scope(function* () {
        yield* start(function* (started: () => void) {
          started();
          yield* sleep(7);
        });
      });
      assert.equal(currentTime() - t0, 7);
    });
  });

  it("inside a shield, the start-up is shielded: the caller's cancel, pending or arriving, does not reach the task before started()", async () => {
    await runVirtual(function* () {
      for (const pending of [false, true]) {
        const log: string[] = [];
        const outer = yield* spawn(function* () {
          if (pending) currentTask().cancel();
          const { value } = yield* shield(
            start(function* (started: (value: number) => void) {
              yield* sleep(5);
              started(1);
              log.push(`started at ${currentTime()}`);
            }),
          );
          log.push(`start gave ${value}`);
        });
        yield* sleep(2);
        outer.cancel();
        yield* rejectsOp(outer, CancelledError);
        assert.deepEqual(log.slice(0, 2), [`started at ${currentTime()}`, "start gave 1"], `pending: ${pending}`);
      }
    });
  });

  it("shield(start(serve)) shields the start-up only: it returns as the task is ready, and the caller's cancel reaches the task from then on", async () => {
    await runVirtual(function* () {
      const log: string[] = [];
      function serve(n: number) {
        return function* (started: (value: number) => void): Operation<void> {
          try {
            yield* sleep(5);
            started(n);
            yield* sleep(100);
          } finally {
            log.push(`service ${n} ended at ${currentTime()}`);
          }
        };
      }
      const t0 = currentTime();
      const { value, task } = yield* shield(start(serve(1)));
      assert.equal(value, 1);
      assert.equal(currentTime() - t0, 5, "returned as the task was ready, not as it ended");
      assert.equal(task.state, "running");
      task.cancel();
      yield* rejectsOp(task, CancelledError);
      // The caller cancelled during the shielded start-up: the task starts, then the cancel reaches it.
      const outer = yield* spawn(function* () {
        yield* shield(start(serve(2)));
        yield* sleep(1); // the caller's cancel, held by the shield, is thrown here
        log.push("BUG: the caller went on");
      });
      yield* sleep(2);
      outer.cancel();
      yield* rejectsOp(outer, CancelledError);
      assert.deepEqual(log, [`service 1 ended at ${t0 + 5}`, `service 2 ended at ${t0 + 10}`]);
    });
  });

  it("after started(), the task is an ordinary child: its failure fails the caller", async () => {
    await runVirtual(function* () {
      const error = yield* rejectsOp(
        scope(function* () {
          yield* start(function* (started: () => void) {
            started();
            yield* sleep(1);
            throw new Error("later failure");
          });
          yield* sleep(10);
          assert.fail("the caller's body should have been cancelled");
        }),
        Error,
      );
      assert.equal(error.message, "later failure");
      assert.equal(currentTime(), 1);
    });
  });

  it("a started() that comes in the turn the caller is cancelled gives its value; the cancel comes at the next suspension", async () => {
    await runVirtual(function* () {
      yield* resultAndCancelInOneTurn(function* (makeResult) {
        return function* () {
          const { value } = yield* start(function* (started: (value: string) => void) {
            started(yield* makeResult());
            yield* suspend();
          });
          return value;
        };
      });
    });
  });

  it("options reach the task: a daemon does not keep the caller alive, and the name is in its path", async () => {
    await runVirtual(function* () {
      const { task } = yield* scope(function* () {
        return yield* start(
          function* (started: () => void) {
            started();
            yield* suspend();
          },
          { daemon: true, name: "service" },
        );
      });
      assert.equal(task.state, "cancelled");
      assert.match(task.path, /\/service$/);
    });
  });

  it("the wait for started() is named in deadlock reports and the inspector: the task and what it must call", async () => {
    await assert.rejects(
      runVirtual(function* () {
        yield* start(
          function* () {
            yield* suspend();
          },
          { name: "never-ready" },
        );
      }),
      (error: unknown) => {
        assert.ok(error instanceof VirtualTestError);
        assert.match(error.message, /test \[running\] waits on task test\/never-ready to call started\(\) \(start\)\n/);
        return true;
      },
    );
  });
});
