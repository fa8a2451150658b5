import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  all,
  allSettled,
  CancelledError,
  currentTask,
  currentTime,
  Future,
  type Operation,
  openMemoryChannel,
  race,
  scope,
  shield,
  sleep,
  spawn,
  suspend,
  TaskGroupError,
  TimeoutError,
  timeout,
} from "../../src/index.ts";
import { runVirtual, waitAllTasksBlocked } from "../../src/testing/index.ts";
import { checkLeaks, rejectsOp } from "../_helpers.ts";

checkLeaks();

function* after<T>(ms: number, value: T) {
  yield* sleep(ms);
  return value;
}

describe("all", () => {
  it("a sibling whose cleanup fails while all() cancels it: a TaskGroupError with the first failure first (decided case 12)", async () => {
    await runVirtual(function* () {
      try {
        yield* all([
          function* (): Operation<never> {
            yield* sleep(10);
            throw new Error("first");
          },
          function* (): Operation<never> {
            try {
              return yield* suspend();
            } finally {
              // biome-ignore lint/correctness/noUnsafeFinally: the cleanup failure under test
              throw new Error("sibling cleanup");
            }
          },
        ]);
        assert.fail("all returned");
      } catch (error) {
        assert.ok(error instanceof TaskGroupError, String(error));
        assert.deepEqual(
          error.errors.map((e) => (e as Error).message),
          ["first", "sibling cleanup"],
        );
      }
    });
  });

  it("runs concurrently and returns values in input order", async () => {
    await runVirtual(function* () {
      const values = yield* all([after(30, "a"), after(10, "b"), after(20, "c")]);
      assert.deepEqual(values, ["a", "b", "c"]);
      assert.equal(currentTime(), 30);
    });
  });

  it("the first failure cancels the others, waits for their cleanup, then throws", async () => {
    const log: string[] = [];
    const boom = new Error("boom");
    await runVirtual(function* () {
      try {
        yield* all([
          function* () {
            try {
              yield* suspend();
            } finally {
              yield* sleep(10);
              log.push(`cleanup at ${currentTime()}`);
            }
          },
          function* () {
            yield* sleep(5);
            throw boom;
          },
        ]);
      } catch (error) {
        assert.equal(error, boom);
        log.push(`threw at ${currentTime()}`);
      }
    });
    assert.deepEqual(log, ["cleanup at 15", "threw at 15"]);
  });

  it("accepts running tasks as well as operations", async () => {
    await runVirtual(function* () {
      const task = yield* spawn(() => after(5, 1));
      assert.deepEqual(yield* all([task, after(1, 2)]), [1, 2]);
    });
  });

  it("an empty list gives an empty array at once", async () => {
    await runVirtual(function* () {
      assert.deepEqual(yield* all([]), []);
    });
  });

  it("cancelling the caller cancels every operation and throws after their cleanup", async () => {
    let cleaned = 0;
    await runVirtual(function* () {
      const task = yield* spawn(function* () {
        yield* all(
          [1, 2, 3].map(() =>
            (function* () {
              try {
                yield* suspend();
              } finally {
                yield* sleep(1);
                cleaned++;
              }
            })(),
          ),
        );
      });
      yield* waitAllTasksBlocked();
      task.cancel();
      try {
        yield* task;
      } catch (error) {
        assert.ok(error instanceof CancelledError);
      }
      assert.equal(cleaned, 3);
    });
  });
});

describe("all: what its caller waits on, in words", () => {
  it("after the caller's cancel, while the operations finish their cleanup: 'N of M tasks', M the group's size (it read '1 of 0') (review)", async () => {
    await runVirtual(function* () {
      const release = new Future<void>();
      const caller = yield* spawn(() => all([shield(release), shield(release), sleep(1)]));
      yield* waitAllTasksBlocked();
      const words = (): string => (caller as typeof caller & { waitDescription(): string }).waitDescription();
      assert.equal(words(), "3 of 3 tasks to finish");
      caller.cancel();
      yield* waitAllTasksBlocked();
      assert.equal(words(), "2 of 3 tasks to finish");
      release.resolve();
      yield* rejectsOp(caller, CancelledError);
    });
  });
});

describe("decided in an operation's first step", () => {
  it("all: once an operation failed in its first step, the later ones never start; a task given is still cancelled", async () => {
    await runVirtual(function* () {
      const started: string[] = [];
      const given = yield* spawn(suspend);
      const error = yield* rejectsOp(
        all([
          function* () {
            started.push("first");
            throw new Error("at once");
          },
          function* () {
            started.push("BUG: second");
            throw new Error("second");
          },
          given,
        ]),
        Error,
      );
      assert.equal(error.message, "at once", "the first failure alone, not a TaskGroupError with an operation that should not have run");
      assert.deepEqual(started, ["first"]);
      assert.equal(given.state, "cancelled");
    });
  });

  it("race: once an operation settled in its first step, the later ones never start (a receive would take a message and lose it)", async () => {
    await runVirtual(function* () {
      const [sendSide, receiveSide] = openMemoryChannel<string>(3);
      for (const message of ["a", "b", "c"]) sendSide.sendNowait(message);
      assert.equal(yield* race([receiveSide.receive(), receiveSide.receive()]), "a");
      assert.equal(receiveSide.statistics().currentBufferUsed, 2, "the second receive never ran");
      // An operation cancelled in its first step does not settle a race: the next one starts.
      const winner = yield* race([
        function* () {
          currentTask().cancel();
          return "cancelled";
        },
        function* () {
          return "next";
        },
      ]);
      assert.equal(winner, "next");
    });
  });
});

describe("decided before any operation runs, or past 64 nested boundaries", () => {
  it("a task given that had already ended decides as an operation would: the later operations never start", async () => {
    await runVirtual(function* () {
      const [sendSide, receiveSide] = openMemoryChannel<string>(2);
      sendSide.sendNowait("a");
      const done = yield* spawn(function* () {
        return "task";
      });
      yield* sleep(1);
      assert.equal(yield* race([done, receiveSide.receive()]), "task");
      assert.equal(receiveSide.receiveNowait(), "a", "the receive never ran");
    });
  });

  it("past 64 nested boundaries (first steps put off), the later operations still never start", async () => {
    function nest<T>(depth: number, op: () => Operation<T>): Operation<T> {
      return depth === 0 ? op() : scope(() => nest(depth - 1, op));
    }
    await runVirtual(function* () {
      for (const depth of [63, 64, 65, 128]) {
        const [sendSide, receiveSide] = openMemoryChannel<string>(2);
        sendSide.sendNowait("a");
        sendSide.sendNowait("b");
        assert.equal(yield* nest(depth, () => race([receiveSide.receive(), receiveSide.receive()])), "a", `depth ${depth}`);
        assert.equal(receiveSide.receiveNowait(), "b", `depth ${depth}: the second receive never ran`);
        const started: string[] = [];
        const error = yield* rejectsOp(
          nest(depth, () =>
            all([
              function* () {
                throw new Error("first");
              },
              function* () {
                started.push("BUG: second");
                throw new Error("second");
              },
            ]),
          ),
          Error,
        );
        assert.equal(error.message, "first", `depth ${depth}`);
        assert.deepEqual(started, [], `depth ${depth}`);
        // An operation before a decider (here a task given after it) still runs its first step, put off or not.
        const ran: string[] = [];
        yield* nest(depth, function* () {
          const given = yield* spawn(
            function* () {
              return "given";
            },
            { priority: 1 },
          );
          return yield* race([
            function* () {
              ran.push("first");
              yield* sleep(5);
            },
            given,
          ]);
        });
        assert.deepEqual(ran, ["first"], `depth ${depth}`);
      }
    });
  });

  it("an operation cancelled by another operation's code ends cancelled even if it returns at once: the cancel is not lost", async () => {
    await runVirtual(function* () {
      yield* rejectsOp(
        all([
          function* () {
            const me = currentTask();
            const [value] = yield* all([
              function* () {
                me.cancel();
                return 1;
              },
            ]);
            return value;
          },
        ]),
        CancelledError,
      );
    });
  });
});

describe("a bad element after good ones", () => {
  for (const [name, combinator] of [
    ["all", all],
    ["race", race],
    ["allSettled", allSettled],
  ] as const) {
    it(`${name}: throws the TypeError before starting any operation, so none runs on unowned`, async () => {
      const events: string[] = [];
      await runVirtual(function* () {
        try {
          yield* (combinator as (ops: unknown[]) => Operation<unknown>)([
            function* () {
              events.push("started");
              yield* sleep(10);
              throw new Error("ran on unowned");
            },
            42,
          ]);
          assert.fail("expected a TypeError");
        } catch (error) {
          assert.ok(error instanceof TypeError, String(error));
          assert.match(error.message, new RegExp(`^Cannot ${name}: `));
        }
        yield* sleep(20);
      });
      assert.deepEqual(events, []);
    });
  }
});

describe("a task's own ancestor given to all, race or allSettled", () => {
  it("is refused with a TypeError: cancelled by the group it would be waited for, and it ends only after the caller", async () => {
    await runVirtual(function* () {
      const parent = currentTask();
      const child = yield* spawn(function* () {
        for (const combinator of [all, race, allSettled] as ((ops: unknown[]) => Operation<unknown>)[]) {
          const error = yield* rejectsOp(combinator([parent, sleep(20)]), TypeError);
          assert.match(error.message, /is this task or one of its parents, which ends only after it/);
        }
        yield* rejectsOp(all([currentTask()]), TypeError);
        return "done";
      });
      assert.equal(yield* child, "done");
      assert.equal(currentTime(), 0);
    });
  });
});

describe("allSettled", () => {
  it("cancelled after an operation failed: throws the cancel, not the failure it would have returned as rejected", async () => {
    await runVirtual(function* () {
      try {
        yield* timeout(
          50,
          allSettled([
            function* (): Operation<never> {
              yield* sleep(1);
              throw new Error("a result, not an error");
            },
            after(100, "late"),
          ]),
        );
        assert.fail("expected a TimeoutError");
      } catch (error) {
        assert.ok(error instanceof TimeoutError, String(error));
      }
      assert.equal(currentTime(), 50);
    });
  });

  it("cancelled after an operation failed, the others completing all the same: the results, rejection included (decided case 12)", async () => {
    const early = new Error("a result");
    await runVirtual(function* () {
      const results = yield* timeout(
        50,
        allSettled([
          function* (): Operation<never> {
            yield* sleep(1);
            throw early;
          },
          shield(after(100, "completed all the same")),
        ]),
      );
      assert.deepEqual(results, [
        { status: "rejected", reason: early },
        { status: "fulfilled", value: "completed all the same" },
      ]);
      assert.equal(currentTime(), 100);
    });
  });

  it("cancelled: an operation that fails in the cleanup the cancel caused is still thrown (decided case 12)", async () => {
    const cleanup = new Error("cleanup failed");
    await runVirtual(function* () {
      try {
        yield* timeout(
          50,
          allSettled([
            function* (): Operation<never> {
              yield* sleep(1);
              throw new Error("a result");
            },
            function* (): Operation<never> {
              try {
                return yield* suspend();
              } finally {
                // biome-ignore lint/correctness/noUnsafeFinally: the cleanup failure under test
                throw cleanup;
              }
            },
          ]),
        );
        assert.fail("expected the cleanup's error");
      } catch (error) {
        assert.equal(error, cleanup);
      }
    });
  });

  it("never cancels and returns Promise.allSettled's shapes", async () => {
    const boom = new Error("boom");
    await runVirtual(function* () {
      const results = yield* allSettled([
        after(10, "late"),
        function* () {
          yield* sleep(1);
          throw boom;
        },
      ]);
      assert.deepEqual(results, [
        { status: "fulfilled", value: "late" },
        { status: "rejected", reason: boom },
      ]);
    });
  });
});

describe("race", () => {
  it("a loser whose cleanup fails makes the race throw that error, not return the winner's value (decided case 12)", async () => {
    await runVirtual(function* () {
      const loser = function* (): Operation<never> {
        try {
          yield* sleep(100);
          throw new Error("unreachable");
        } finally {
          // biome-ignore lint/correctness/noUnsafeFinally: the cleanup failure under test
          throw new Error("loser cleanup");
        }
      };
      try {
        yield* race([after(10, "win"), loser]);
        assert.fail("race returned");
      } catch (error) {
        assert.equal((error as Error).message, "loser cleanup");
      }
    });
  });

  it("the first to finish wins and the others are cancelled and cleaned up", async () => {
    const log: string[] = [];
    await runVirtual(function* () {
      const winner = yield* race([
        function* () {
          try {
            yield* sleep(50);
            return "slow";
          } finally {
            log.push("slow cleaned up");
          }
        },
        after(5, "fast"),
      ]);
      log.push(`winner ${winner}`);
    });
    assert.deepEqual(log, ["slow cleaned up", "winner fast"]);
  });

  it("a failure can win too", async () => {
    const boom = new Error("boom");
    await runVirtual(function* () {
      try {
        yield* race([
          after(50, "slow"),
          function* () {
            yield* sleep(1);
            throw boom;
          },
        ]);
      } catch (error) {
        assert.equal(error, boom);
        return;
      }
      assert.fail("expected the failure to win");
    });
  });

  it("an empty race is a RangeError", async () => {
    await runVirtual(function* () {
      try {
        yield* race([]);
      } catch (error) {
        assert.ok(error instanceof RangeError);
        assert.equal(error.message, "Cannot race: at least one operation is needed, received an empty list");
      }
    });
  });
});
