// After CPython's test_asyncio/test_tasks.py as_completed tests (completion order,
// errors, empty input, results pulled ahead), plus corio's structured early stop.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { TaskImpl } from "../../src/core/task.ts";
import { allSettled, asCompleted, CancelledError, currentTask, currentTime, type Operation, scope, sleep, spawn, suspend } from "../../src/index.ts";
import { runVirtual, waitAllTasksBlocked } from "../../src/testing/index.ts";
import { cancelledAsItEnds, checkLeaks, rejectsOp, resultAndCancelInOneTurn } from "../_helpers.ts";

checkLeaks();

function after<T>(ms: number, value: T, log?: string[]): () => Operation<T> {
  return function* () {
    try {
      yield* sleep(ms);
      return value;
    } finally {
      if (currentTime() < ms) {
        yield* sleep(5);
        log?.push(`${String(value)} cleaned up at ${currentTime()}`);
      }
    }
  };
}

describe("asCompleted", () => {
  it("an operation cancelled by hand (by itself, at once or later) gives its CancelledError to its next, as allSettled reports it; the loop never hangs", async () => {
    const ok = function* (): Operation<number> {
      yield* sleep(5);
      return 1;
    };
    await runVirtual(function* () {
      for (const cancelsItself of [
        function* (): Operation<number> {
          currentTask().cancel();
          return 7;
        },
        function* (): Operation<number> {
          currentTask().cancel();
          yield* sleep(1);
          return 7;
        },
      ]) {
        const outcomes: string[] = [];
        for (const next of yield* asCompleted([cancelsItself, ok])) {
          try {
            outcomes.push(String(yield* next));
          } catch (error) {
            outcomes.push((error as Error).name);
          }
        }
        assert.deepEqual(outcomes, ["CancelledError", "1"]);
      }
    });
  });

  it("a result that comes in the turn the caller is cancelled is given, then the cancel (decided case 12)", async () => {
    const reports: unknown[] = [];
    await runVirtual(
      function* () {
        const { got, later } = yield* cancelledAsItEnds(function* () {
          const results = yield* asCompleted([after(10, "v"), after(50, "w")]);
          return yield* results.next().value as Operation<string>;
        });
        assert.equal(got, "v");
        assert.equal(later, "CancelledError");
      },
      { onError: (error) => reports.push(error) },
    );
    assert.deepEqual(reports, []);
  });

  it("an outcome and the reader's cancel in one turn: the reader gets it only if it came first, whatever its priority (decided case 12)", async () => {
    const reports: unknown[] = [];
    await runVirtual(
      function* () {
        yield* resultAndCancelInOneTurn(function* (makeResult) {
          const results = yield* asCompleted([makeResult]);
          // The reader is not the operations' parent: cancelling it leaves them running.
          return function* () {
            return yield* results.next().value as Operation<string>;
          };
        });
      },
      { onError: (error) => reports.push(error) },
    );
    assert.deepEqual(reports, []);
  });

  it("a reader cancelled in the turn the loop is stopped gets its cancel, not the stopped loop's error", async () => {
    await runVirtual(function* () {
      let got: unknown;
      yield* scope(function* () {
        const results = yield* asCompleted([() => suspend()]);
        const next = results.next().value as Operation<void>;
        const reader = yield* spawn(function* () {
          try {
            yield* next;
          } catch (error) {
            got = error;
            throw error;
          }
        });
        yield* sleep(1);
        results.return?.();
        reader.cancel();
      });
      assert.ok(got instanceof CancelledError);
    });
  });

  it("gives the results in completion order", async () => {
    const order = await runVirtual(function* () {
      const order: string[] = [];
      for (const next of yield* asCompleted([after(30, "c"), after(10, "a"), after(20, "b")])) {
        order.push(`${yield* next}@${currentTime()}`);
      }
      return order;
    });
    assert.deepEqual(order, ["a@10", "b@20", "c@30"]);
  });

  it("a failed operation's next throws its error; the others go on", async () => {
    await runVirtual(function* () {
      const seen: string[] = [];
      for (const next of yield* asCompleted<string>([
        after(20, "ok"),
        function* () {
          yield* sleep(10);
          throw new TypeError("bad");
        },
      ])) {
        try {
          seen.push(yield* next);
        } catch (error) {
          assert.ok(error instanceof TypeError);
          seen.push("error");
        }
      }
      assert.deepEqual(seen, ["error", "ok"]);
    });
  });

  it("an empty list gives nothing", async () => {
    await runVirtual(function* () {
      assert.deepEqual([...(yield* asCompleted([]))], []);
    });
  });

  it("operations that finish at once are given in start order", async () => {
    await runVirtual(function* () {
      const values: number[] = [];
      for (const next of yield* asCompleted(
        [1, 2, 3].map(
          (n) =>
            function* () {
              return n;
            },
        ),
      ))
        values.push(yield* next);
      assert.deepEqual(values, [1, 2, 3]);
    });
  });

  it("nexts may be pulled ahead; each gives the next to finish, and running one again gives the same", async () => {
    await runVirtual(function* () {
      const nexts = [...(yield* asCompleted([after(20, "slow"), after(10, "fast")]))];
      assert.equal(nexts.length, 2);
      const [first, second] = nexts as [Operation<string>, Operation<string>];
      assert.equal(yield* second, "fast");
      assert.equal(yield* first, "slow");
      assert.equal(yield* second, "fast");
    });
  });

  it("breaking out cancels the rest; an enclosing scope waits for their cleanup", async () => {
    const log: string[] = [];
    await runVirtual(function* () {
      yield* scope(function* () {
        for (const next of yield* asCompleted([after(10, "a", log), after(50, "b", log), after(60, "c", log)])) {
          log.push(`got ${yield* next}`);
          break;
        }
      });
      log.push(`scope done at ${currentTime()}`);
    });
    assert.deepEqual(log, ["got a", "b cleaned up at 15", "c cleaned up at 15", "scope done at 15"]);
  });

  it("without a scope, the caller's task waits for the cleanup at its end", async () => {
    const log: string[] = [];
    let state = "";
    await runVirtual(function* () {
      const task = yield* spawn(function* () {
        for (const next of yield* asCompleted([after(10, "a", log), after(50, "b", log)])) {
          yield* next;
          break;
        }
        log.push("body done");
      });
      yield* task;
      log.push(`task done at ${currentTime()}`);
      state = task.state;
    });
    assert.equal(state, "done");
    assert.deepEqual(log, ["body done", "b cleaned up at 15", "task done at 15"]);
  });

  it("throwing out of the loop cancels the rest, and the error goes on", async () => {
    const log: string[] = [];
    await runVirtual(function* () {
      yield* rejectsOp(
        scope(function* () {
          for (const next of yield* asCompleted([after(10, "a", log), after(50, "b", log)])) {
            yield* next;
            throw new RangeError("consumer gave up");
          }
        }),
        RangeError,
      );
    });
    assert.deepEqual(log, ["b cleaned up at 15"]);
  });

  it("cancelling the caller cancels every operation and waits for the cleanup", async () => {
    const log: string[] = [];
    await runVirtual(function* () {
      const task = yield* spawn(function* () {
        for (const next of yield* asCompleted([after(50, "a", log), after(60, "b", log)])) yield* next;
        log.push("not reached");
      });
      yield* sleep(20);
      task.cancel();
      yield* rejectsOp(task, CancelledError);
      log.push(`joined at ${currentTime()}`);
    });
    assert.deepEqual(log, ["a cleaned up at 25", "b cleaned up at 25", "joined at 25"]);
  });

  it("a waiting next that is cancelled loses no result", async () => {
    await runVirtual(function* () {
      const nexts = [...(yield* asCompleted([after(10, "x")]))];
      const next = nexts[0] as Operation<string>;
      const waiter = yield* spawn(function* () {
        yield* next;
      });
      yield* waitAllTasksBlocked();
      waiter.cancel();
      yield* rejectsOp(waiter, CancelledError);
      assert.equal(yield* next, "x");
    });
  });

  it("a next run after the loop stopped throws", async () => {
    await runVirtual(function* () {
      const iterator = yield* asCompleted<unknown>([
        after(10, "a"),
        function* () {
          yield* suspend();
        },
      ]);
      const next = iterator.next().value as Operation<unknown>;
      iterator.return?.();
      yield* rejectsOp(next, Error);
    });
  });

  it("an error from a cancelled operation's cleanup fails the caller", async () => {
    await runVirtual(function* () {
      yield* rejectsOp(
        scope(function* () {
          for (const next of yield* asCompleted<unknown>([
            after(10, "a"),
            function* () {
              try {
                yield* suspend();
              } finally {
                // biome-ignore lint/correctness/noUnsafeFinally: an error is never replaced by a cancellation
                throw new SyntaxError("cleanup failed");
              }
            },
          ])) {
            yield* next;
            break;
          }
        }),
        SyntaxError,
      );
    });
  });

  it("without a stop, the errors of the results nobody took fail the caller as it ends; values are dropped", async () => {
    const fail = (ms: number, message: string) =>
      function* (): Operation<string> {
        yield* sleep(ms);
        throw new Error(message);
      };
    // The first result taken by hand, the rest left: the iterator is never closed.
    const error = await runVirtual(function* () {
      const it = yield* asCompleted([after(10, "first"), fail(20, "later 1"), after(25, "value"), fail(30, "later 2")]);
      const first = yield* it.next().value as Operation<string>;
      assert.equal(first, "first");
      return "returned";
    }).then(
      () => assert.fail("expected the errors not taken"),
      (error: unknown) => error,
    );
    assert.ok(error instanceof AggregateError, String(error));
    assert.deepEqual(
      error.errors.map((e: Error) => e.message),
      ["later 1", "later 2"],
    );
    // One error, taken by nobody, inside a scope: the scope throws it as it ends, at t=20.
    await runVirtual(function* () {
      try {
        yield* scope(function* () {
          const it = yield* asCompleted([after(10, "first"), fail(20, "later")]);
          yield* it.next().value as Operation<string>;
        });
        assert.fail("expected the error not taken");
      } catch (error) {
        assert.equal((error as Error).message, "later");
        assert.equal(currentTime(), 20);
      }
      // Taken, or discarded by a stop: nothing more is thrown.
      yield* scope(function* () {
        const it = yield* asCompleted([fail(5, "taken")]);
        yield* rejectsOp(it.next().value as Operation<string>, Error);
      });
      yield* scope(function* () {
        const it = yield* asCompleted([after(10, "first"), fail(20, "discarded")]);
        yield* it.next().value as Operation<string>;
        yield* sleep(15);
        it.return?.();
      });
    });
  });

  it("rejects what is not an array of operations", async () => {
    await runVirtual(function* () {
      yield* rejectsOp(asCompleted("x" as never), TypeError);
      yield* rejectsOp(asCompleted([5 as never]), TypeError);
    });
  });

  it("in a long-lived task, calls whose failures were all taken, or whose loop stopped, leave no entry on it", async () => {
    await runVirtual(function* () {
      const ops = (): Operation<number>[] => [
        (function* () {
          return 1;
        })(),
        (function* (): Operation<number> {
          throw new Error("taken");
        })(),
      ];
      for (let i = 0; i < 200; i++) {
        for (const next of yield* asCompleted(ops())) {
          try {
            yield* next;
          } catch {}
          if (i % 2 === 1) break;
        }
      }
      assert.deepEqual((currentTask() as TaskImpl<unknown>).resourceNames(), []);
    });
  });
});

describe("asCompleted: review of 51596fa", () => {
  it("an operation cancelled by hand that catches its cancel and returns a value later gives that value (as allSettled)", async () => {
    await runVirtual(
      function* () {
        const swallower = function* (): Operation<number> {
          currentTask().cancel();
          try {
            yield* sleep(1);
          } catch {}
          yield* sleep(1);
          return 7;
        };
        const settled = yield* allSettled([swallower]);
        const outcomes: string[] = [];
        for (const next of yield* asCompleted([swallower])) {
          try {
            outcomes.push(String(yield* next));
          } catch (error) {
            outcomes.push((error as Error).name);
          }
        }
        assert.deepEqual(settled, [{ status: "fulfilled", value: 7 }]);
        assert.deepEqual(outcomes, ["7"]);
      },
      { onError: () => {} },
    );
  });

  it("the owner's body ending with another task's CancelledError (nexts pulled by hand) leaves the owner cancelled, as before", async () => {
    await runVirtual(function* () {
      const victim = yield* spawn(suspend);
      const owner = yield* spawn(function* () {
        const it = yield* asCompleted([
          function* () {
            yield* sleep(100);
            return 1;
          },
        ]);
        void it;
        victim.cancel();
        yield* victim; // throws victim's CancelledError: the owner's body ends with it, its children are cancelled
      });
      try {
        yield* owner;
      } catch {}
      assert.equal(owner.state, "cancelled");
    });
  });

  it("a member that cancels itself and whose cleanup fails, next not taken: the scope fails with that error once, not twice", async () => {
    await runVirtual(function* () {
      const cleanup = new Error("cleanup failed");
      let error: unknown;
      try {
        yield* scope(function* () {
          yield* asCompleted([cancelsItselfThenCleanupFails(cleanup)]);
        });
      } catch (e) {
        error = e;
      }
      assert.equal(error, cleanup, `got ${String(error)} ${(error as { errors?: unknown[] })?.errors?.length}`);
    });
  });

  it("a member that cancels itself and whose cleanup fails, next taken: it is not both given to next and the scope's failure", async () => {
    await runVirtual(function* () {
      const cleanup = new Error("cleanup failed");
      let error: unknown;
      let taken: unknown;
      try {
        yield* scope(function* () {
          for (const next of yield* asCompleted([cancelsItselfThenCleanupFails(cleanup)])) {
            try {
              yield* next;
            } catch (e) {
              taken = e; // handled here...
            }
          }
        });
      } catch (e) {
        error = e; // ...and failing the scope all the same
      }
      // Given to next (handled there) and failing the scope all the same: one error delivered twice.
      assert.ok(!(taken === cleanup && error === cleanup), "the cleanup error was given to next and also failed the scope");
    });
  });
});

/** An operation that cancels its own task, and whose cleanup then throws `cleanup`. */
function* cancelsItselfThenCleanupFails(cleanup: Error): Operation<never> {
  currentTask().cancel();
  try {
    yield* sleep(1);
  } finally {
    // biome-ignore lint/correctness/noUnsafeFinally: the cleanup failing is the case under test
    throw cleanup;
  }
}
