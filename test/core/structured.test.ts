// Regressions of issue 11 (items 1-3): the structured rules shared by every
// construct built on the one Scope. Scenarios after CPython's
// test_asyncio/test_taskgroups.py and Trio's test_run.py / test_cancel.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { getCurrentTask, type TaskImpl } from "../../src/core/task.ts";
import {
  all,
  allSettled,
  any,
  CancelledError,
  currentTask,
  currentTime,
  deadline,
  ensure,
  Future,
  Lock,
  moveOnAfter,
  moveOnAt,
  type Operation,
  Queue,
  race,
  Semaphore,
  scope,
  shield,
  sleep,
  spawn,
  stop,
  suspend,
  type Task,
  TaskGroupError,
  TimeoutError,
  timeout,
  wait,
} from "../../src/index.ts";
import { runVirtual, waitAllTasksBlocked } from "../../src/testing/index.ts";
import { checkLeaks, collectReports, rejectsOp } from "../_helpers.ts";

/** The boundary's own task, which the body runs in (`currentTask()` names the task that entered the boundary). */
function ownTask(): TaskImpl<unknown> {
  return getCurrentTask() as TaskImpl<unknown>;
}

checkLeaks();

/** The outcome of a finished task as a value, for assertions. */
function* outcome(task: Task<unknown>): Operation<{ value?: unknown; error?: unknown }> {
  try {
    return { value: yield* task };
  } catch (error) {
    return { error };
  }
}

/** The error `op` throws (`undefined` if it returns). */
function* caught(op: Operation<unknown>): Operation<unknown> {
  try {
    yield* op;
  } catch (error) {
    return error;
  }
  return undefined;
}

/**
 * Spawns `body` (inside a scope, so that its failure comes back here instead
 * of failing the test's root), cancels it once everything is blocked, and
 * returns the error that the scope throws with the task.
 */
function* cancelWhenBlocked(body: () => Operation<unknown>, cancelAfter?: number): Operation<{ error: unknown; task: Task<unknown> }> {
  let task: Task<unknown> | undefined;
  const error = yield* caught(
    scope(function* () {
      task = yield* spawn(body);
      if (cancelAfter === undefined) yield* waitAllTasksBlocked();
      else yield* sleep(cancelAfter);
      task.cancel();
    }),
  );
  return { error, task: task as Task<unknown> };
}

/**
 * Runs `body` in a task whose `finally` sleeps 1000 ms, on the virtual clock; the task must end
 * cancelled. Returns when that cleanup finished, or `undefined` if a second cancel cut it short.
 */
async function cleanupEnd(body: (caller: Task<unknown>) => Operation<unknown>): Promise<number | undefined> {
  let done: number | undefined;
  await runVirtual(function* () {
    const task = yield* spawn(function* () {
      try {
        yield* body(currentTask());
      } finally {
        yield* sleep(1000);
        done = currentTime();
      }
    });
    yield* rejectsOp(task, CancelledError);
  });
  return done;
}

/** The operations that take tasks to wait for (and cancel with their caller), by name. */
const GIVEN_TASK_GROUPS: Record<string, (tasks: Task<void>[]) => Operation<unknown>> = {
  all: (tasks) => all(tasks),
  allSettled: (tasks) => allSettled(tasks),
  race: (tasks) => race(tasks),
  any: (tasks) => any(tasks),
  timeout: (tasks) => timeout(1000, tasks[0] as Task<void>),
  deadline: (tasks) => deadline(1000, tasks[0] as Task<void>),
  moveOnAfter: (tasks) => moveOnAfter(1000, tasks[0] as Task<void>),
  moveOnAt: (tasks) => moveOnAt(1000, tasks[0] as Task<void>),
};

/** The first value of a list `op` gives. */
function* first<T>(op: Operation<readonly T[]>): Operation<T> {
  return (yield* op)[0] as T;
}

/** The value of the first outcome of an `allSettled`, which must be fulfilled. */
function* fulfilled<T>(op: Operation<PromiseSettledResult<T>[]>): Operation<T> {
  const [settled] = yield* op;
  assert.equal(settled?.status, "fulfilled");
  return (settled as PromiseFulfilledResult<T>).value;
}

/** A body that waits forever and fails in the `finally` its cancellation runs. */
function failsOnCancel(message: string): () => Operation<never> {
  return function* failing() {
    try {
      yield* suspend();
    } finally {
      // biome-ignore lint/correctness/noUnsafeFinally: the point of the test: cleanup that fails
      throw new Error(message);
    }
  };
}

describe("a pending cancel reaches children spawned later (decided case 11)", () => {
  it("a task that cancelled itself: a child spawned before its next suspension never runs", async () => {
    const ran: string[] = [];
    await runVirtual(function* () {
      const parent = yield* spawn(function* () {
        currentTask().cancel("self");
        yield* spawn(function* () {
          ran.push("child");
          yield* sleep(3000);
        });
        yield* sleep(1);
        ran.push("BUG: parent resumed");
      });
      const result = yield* outcome(parent);
      assert.ok(result.error instanceof CancelledError);
      assert.equal(parent.state, "cancelled");
      assert.equal(currentTime(), 0, "the cancelled child must not keep the parent alive");
    });
    assert.deepEqual(ran, []);
  });

  it("stop() during a step: the root ends cancelled at once instead of waiting for a 3 s child", async () => {
    const ran: string[] = [];
    await assert.rejects(
      runVirtual(function* () {
        stop();
        yield* spawn(function* () {
          ran.push("child");
          yield* sleep(3000);
        });
        yield* timeout(50, sleep(10));
        ran.push("BUG: root resumed");
      }),
      CancelledError,
    );
    assert.deepEqual(ran, []);
  });

  it("a boundary entered while the cancel is pending throws it, delivered: the cleanup that follows is not cancelled again (asyncio's TaskGroup)", async () => {
    const ops: Record<string, () => Operation<unknown>> = {
      scope: () => scope(() => sleep(1)),
      timeout: () => timeout(10, sleep(1)),
      moveOnAfter: () => moveOnAfter(10, sleep(1)),
      all: () => all([() => sleep(1)]),
      allSettled: () => allSettled([() => sleep(1)]),
      race: () => race([() => sleep(1)]),
      wait: () => wait([() => sleep(1)]),
    };
    for (const [name, op] of Object.entries(ops)) {
      let after = false;
      const cleanupDone = await cleanupEnd(function* () {
        currentTask().cancel();
        yield* op();
        after = true;
      });
      assert.equal(cleanupDone, 1000, name);
      assert.equal(after, false, name);
    }
  });

  it("an operation of all/allSettled/race/wait that cancels the caller in its first step: the caller still waits for its cleanup, and its own cleanup is not cancelled again", async () => {
    const groups: Record<string, (ops: (() => Operation<void>)[]) => Operation<unknown>> = {
      all: (ops) => all(ops),
      allSettled: (ops) => allSettled(ops),
      race: (ops) => race(ops),
      wait: (ops) => wait(ops),
    };
    for (const [name, group] of Object.entries(groups)) {
      for (const first of ["suspends", "returns at once"] as const) {
        const log: string[] = [];
        await runVirtual(function* () {
          const task = yield* spawn(function* () {
            const caller = currentTask();
            try {
              yield* group([
                function* () {
                  caller.cancel();
                  if (first === "returns at once") return;
                  try {
                    yield* sleep(100);
                  } finally {
                    yield* sleep(50);
                    log.push(`operation cleaned up at ${currentTime()}`);
                  }
                },
                () => sleep(10),
              ]);
              log.push("after the group");
            } finally {
              log.push(`caller's finally at ${currentTime()}`);
              yield* sleep(1000);
              log.push(`caller's cleanup done at ${currentTime()}`);
            }
          });
          yield* rejectsOp(task, CancelledError);
        });
        const expected =
          first === "suspends"
            ? name === "wait"
              ? // wait throws the cancel at once; its operations' cleanup is awaited as the caller ends.
                ["caller's finally at 0", "operation cleaned up at 50", "caller's cleanup done at 1000"]
              : ["operation cleaned up at 50", "caller's finally at 50", "caller's cleanup done at 1050"]
            : name === "race"
              ? // The first operation won before the cancel reached the caller: its value is given, and the
                // cancel is thrown at the caller's next suspension, its first (decided case 12).
                ["after the group", "caller's finally at 0"]
              : ["caller's finally at 0", "caller's cleanup done at 1000"];
        assert.deepEqual(log, expected, `${name}, the first operation ${first}`);
      }
    }
  });

  it("all/allSettled/race/any and the time limits entered while the cancel is pending cancel the tasks they are given and wait for their cleanup", async () => {
    for (const [name, group] of Object.entries(GIVEN_TASK_GROUPS)) {
      const log: string[] = [];
      await runVirtual(function* () {
        const given = yield* spawn(function* () {
          try {
            yield* sleep(100);
          } finally {
            yield* sleep(5);
            log.push(`given task cleaned up at ${currentTime()}`);
          }
        });
        const caller = yield* spawn(function* () {
          try {
            currentTask().cancel();
            yield* group([given]);
          } finally {
            log.push(`caller's finally at ${currentTime()}`);
          }
        });
        yield* rejectsOp(caller, CancelledError);
        assert.equal(given.state, "cancelled", name);
      });
      assert.deepEqual(log, ["given task cleaned up at 5", "caller's finally at 5"], name);
    }
  });

  it("a scope or time limit whose operation cancels the caller and ends at once gives the caller its cancel, delivered: the caller's cleanup is not cancelled again", async () => {
    const boundaries: Record<string, (body: () => Operation<void>) => Operation<unknown>> = {
      scope: (body) => scope(body),
      timeout: (body) => timeout(100, body),
      moveOnAfter: (body) => moveOnAfter(100, body),
    };
    for (const [name, boundary] of Object.entries(boundaries)) {
      const cleanupDone = await cleanupEnd(function* (caller) {
        yield* boundary(function* () {
          caller.cancel();
          yield* sleep(1);
        });
      });
      assert.equal(cleanupDone, 1000, name);
    }
  });

  it("a scope or timeout whose operation cancels itself, then the caller: the caller gets its own cancel, delivered, whether the operation ended at once or not", async () => {
    const boundaries: Record<string, (body: () => Operation<void>) => Operation<unknown>> = {
      scope: (body) => scope(body),
      timeout: (body) => timeout(10, body),
    };
    for (const [name, boundary] of Object.entries(boundaries)) {
      for (const atOnce of [true, false]) {
        const log: string[] = [];
        await runVirtual(function* () {
          const task = yield* spawn(function* () {
            const caller = currentTask();
            try {
              yield* boundary(function* () {
                if (!atOnce) yield* sleep(1);
                ownTask().cancel("own");
                caller.cancel("caller");
                yield* sleep(0);
              });
            } catch (error) {
              log.push(`threw ${(error as CancelledError).message}`);
              throw error;
            } finally {
              yield* sleep(1);
              log.push("cleanup done");
            }
          });
          yield* rejectsOp(task, CancelledError);
        });
        assert.deepEqual(log, ['threw Task was cancelled: "caller"', "cleanup done"], `${name}, at once: ${atOnce}`);
      }
    }
  });

  it("a shield entered while the cancel is pending gives its operation's own outcome, ended at once or not, and the cancel comes after", async () => {
    for (const atOnce of [true, false]) {
      const log: string[] = [];
      await runVirtual(function* () {
        const task = yield* spawn(function* () {
          currentTask().cancel("caller");
          try {
            yield* shield(function* () {
              if (!atOnce) yield* sleep(1);
              ownTask().cancel("own");
              yield* sleep(0);
            });
          } catch (error) {
            log.push(`shield threw ${(error as CancelledError).message}`);
          }
          try {
            yield* sleep(10);
          } catch (error) {
            log.push(`next suspension threw ${(error as CancelledError).message}`);
            throw error;
          }
        });
        yield* rejectsOp(task, CancelledError);
      });
      assert.deepEqual(log, ['shield threw Task was cancelled: "own"', 'next suspension threw Task was cancelled: "caller"'], `at once: ${atOnce}`);
    }
  });

  it("a task given to allSettled/all/race/any or a time limit that failed before the call is no error of the pending cancel: the cancel is thrown, delivered", async () => {
    for (const [name, group] of Object.entries(GIVEN_TASK_GROUPS)) {
      const log: string[] = [];
      await runVirtual(function* () {
        let failed: Task<void> | undefined;
        yield* caught(
          scope(function* () {
            failed = yield* spawn(function* () {
              throw new Error("failed before");
            });
          }),
        );
        const caller = yield* spawn(function* () {
          try {
            currentTask().cancel();
            yield* group([failed as Task<void>]);
          } catch (error) {
            log.push(`group threw ${(error as Error).name}`);
            throw error;
          } finally {
            yield* sleep(10);
            log.push(`cleanup done at ${currentTime()}`);
          }
        });
        yield* rejectsOp(caller, CancelledError);
      });
      assert.deepEqual(log, ["group threw CancelledError", "cleanup done at 10"], name);
    }
  });

  it("after a shield returned holding the cancel back, a child spawned before the next suspension never runs", async () => {
    const ran: string[] = [];
    await runVirtual(function* () {
      const parent = yield* spawn(function* () {
        yield* shield(sleep(10));
        ran.push("shield returned");
        yield* spawn(function* () {
          ran.push("BUG: child ran");
        });
        yield* sleep(1);
      });
      yield* sleep(5);
      parent.cancel();
      const result = yield* outcome(parent);
      assert.ok(result.error instanceof CancelledError);
      assert.equal(currentTime(), 10);
    });
    assert.deepEqual(ran, ["shield returned"]);
  });

  it("a child spawned with a delay or a period while the cancel is pending ends at once, not after its delay", async () => {
    await runVirtual(function* () {
      let ran = false;
      const parent = yield* spawn(function* () {
        currentTask()?.cancel();
        yield* spawn(
          function* () {
            ran = true;
          },
          { delay: 10_000 },
        );
        yield* spawn(
          function* () {
            ran = true;
          },
          { period: 60_000 },
        );
        yield* sleep(1);
      });
      assert.ok((yield* outcome(parent)).error instanceof CancelledError);
      assert.equal(ran, false);
      assert.equal(currentTime(), 0);
    });
  });

  it("a child spawned under shield while the cancel is pending runs to its end", async () => {
    const ran: string[] = [];
    await runVirtual(function* () {
      const parent = yield* spawn(function* () {
        currentTask().cancel();
        yield* shield(function* () {
          const child = yield* spawn(function* () {
            yield* sleep(5);
            ran.push("shielded child");
          });
          yield* child;
        });
        yield* sleep(1);
      });
      assert.ok((yield* outcome(parent)).error instanceof CancelledError);
    });
    assert.deepEqual(ran, ["shielded child"]);
  });

  it("a child spawned in the finally that the delivered cancel runs is not cancelled (cleanup may spawn)", async () => {
    const ran: string[] = [];
    await runVirtual(function* () {
      const parent = yield* spawn(function* () {
        try {
          yield* suspend();
        } finally {
          const helper = yield* spawn(function* () {
            yield* sleep(5);
            ran.push("cleanup helper");
          });
          yield* helper;
        }
      });
      yield* waitAllTasksBlocked();
      parent.cancel();
      assert.ok((yield* outcome(parent)).error instanceof CancelledError);
    });
    assert.deepEqual(ran, ["cleanup helper"]);
  });
});

describe("an error is never replaced by a cancellation (decided case 12)", () => {
  const boundaries: [string, (body: () => Operation<never>) => Operation<unknown>][] = [
    ["scope", (body) => scope(body)],
    ["all", (body) => all([body, suspend])],
    ["allSettled", (body) => allSettled([body, suspend])],
    ["race", (body) => race([body, suspend])],
    ["timeout", (body) => timeout(1000, body)],
  ];
  for (const [name, wrap] of boundaries) {
    it(`${name}: the caller is cancelled and the operation fails in its cleanup: the caller fails with that error`, async () => {
      await runVirtual(function* () {
        const { error, task } = yield* cancelWhenBlocked(function* () {
          yield* wrap(failsOnCancel(`${name} cleanup failed`));
        });
        assert.ok(error instanceof Error && !(error instanceof CancelledError), `got ${String(error)}`);
        assert.equal(error.message, `${name} cleanup failed`);
        assert.equal(task.state, "failed");
      });
    });
  }

  it("shield: the caller is cancelled while the shielded body fails: the caller gets the error", async () => {
    await runVirtual(function* () {
      const { error } = yield* cancelWhenBlocked(function* () {
        yield* shield(function* () {
          yield* sleep(10);
          throw new Error("shielded failed");
        });
      }, 5);
      assert.equal((error as Error).message, "shielded failed");
    });
  });

  it("a caller that catches the error still ends cancelled: the cancel is due again at its next suspension", async () => {
    const { reports, onError } = collectReports();
    await runVirtual(
      function* () {
        const caller = yield* spawn(function* () {
          try {
            yield* scope(failsOnCancel("cleanup failed"));
          } catch (error) {
            return (error as Error).message;
          }
          return "BUG";
        });
        const second = yield* spawn(function* () {
          try {
            yield* scope(failsOnCancel("cleanup failed"));
          } catch {
            yield* sleep(10);
            return "BUG: ran on after its cancel";
          }
          return "BUG: the scope returned";
        });
        yield* waitAllTasksBlocked();
        caller.cancel();
        second.cancel();
        assert.ok((yield* outcome(caller)).error instanceof CancelledError);
        assert.ok((yield* outcome(second)).error instanceof CancelledError);
        assert.equal(currentTime(), 0);
      },
      { onError },
    );
    assert.deepEqual(reports, []);
  });

  it("several failures in the cleanup become one TaskGroupError (an AggregateError) holding each", async () => {
    await runVirtual(function* () {
      const { error } = yield* cancelWhenBlocked(function* () {
        yield* all([failsOnCancel("first"), failsOnCancel("second")]);
      });
      assert.ok(error instanceof TaskGroupError);
      assert.ok(error instanceof AggregateError);
      assert.deepEqual(
        error.errors.map((e) => (e as Error).message),
        ["first", "second"],
      );
    });
  });

  it("a plain child failing in its cleanup fails its cancelled parent too (the reference behaviour)", async () => {
    await runVirtual(function* () {
      const { error } = yield* cancelWhenBlocked(function* () {
        yield* spawn(failsOnCancel("child cleanup failed"));
        yield* suspend();
      });
      assert.equal((error as Error).message, "child cleanup failed");
    });
  });
});

describe("a value is never dropped by a cancel that came after the operation completed (decided case 12)", () => {
  // The operation inside a boundary finished (it took an item, acquired a lock), then its caller was
  // cancelled before it ran again: the caller gets the value, and the cancel at its next suspension.
  // asyncio's wait_for lost the value there until 3.12 ran it inline (gh-86296); Trio never does.
  const boundaries: [string, (op: Operation<string>) => Operation<string>][] = [
    ["timeout", (op) => timeout(1000, op)],
    ["scope", (op) => scope(() => op)],
    ["all", (op) => first(all([op]))],
    ["race", (op) => race([op, suspend()]) as Operation<string>],
    ["allSettled", (op) => fulfilled(allSettled([op]))],
    ["scope(timeout(...))", (op) => scope(() => timeout(1000, op))],
    [
      "timeout(scope(...))",
      (op) =>
        timeout(
          1000,
          scope(() => op),
        ),
    ],
    ["scope(all([...]))", (op) => scope(() => first(all([op])))],
  ];
  for (const [name, wrap] of boundaries) {
    it(`${name}: an item taken from a queue reaches the caller, which ends cancelled at its next suspension`, async () => {
      await runVirtual(function* () {
        const queue = new Queue<string>();
        const got: string[] = [];
        const caller = yield* spawn(function* () {
          got.push(yield* wrap(queue.get()));
          yield* sleep(1);
          got.push("BUG: ran on past its cancel");
        });
        yield* waitAllTasksBlocked();
        queue.putNowait("item");
        yield* sleep(0); // the operation takes the item and finishes; the caller is woken, not yet run
        caller.cancel();
        assert.ok((yield* outcome(caller)).error instanceof CancelledError);
        assert.deepEqual(got, ["item"]);
        assert.equal(queue.size, 0);
      });
    });
  }

  it("timeout around a lock's acquire: the caller holds the lock and its finally releases it", async () => {
    await runVirtual(function* () {
      const lock = new Lock();
      yield* lock.acquire();
      const caller = yield* spawn(function* () {
        yield* timeout(1000, lock.acquire());
        try {
          yield* sleep(1);
        } finally {
          lock.release();
        }
      });
      yield* waitAllTasksBlocked();
      lock.release();
      yield* sleep(0);
      caller.cancel();
      assert.ok((yield* outcome(caller)).error instanceof CancelledError);
      assert.equal(lock.locked, false);
    });
  });

  it("scope around a semaphore's acquire: no token leaks", async () => {
    await runVirtual(function* () {
      const semaphore = new Semaphore(1);
      yield* semaphore.acquire();
      const caller = yield* spawn(function* () {
        yield* scope(() => semaphore.acquire());
        semaphore.release();
      });
      yield* waitAllTasksBlocked();
      semaphore.release();
      yield* sleep(0);
      caller.cancel();
      yield* outcome(caller);
      assert.equal(semaphore.value, 1);
    });
  });

  it("an operation still waiting when the cancel comes is cancelled as before (its item goes to the next getter)", async () => {
    await runVirtual(function* () {
      const queue = new Queue<string>();
      const caller = yield* spawn(function* () {
        return yield* timeout(1000, queue.get());
      });
      yield* waitAllTasksBlocked();
      caller.cancel();
      assert.ok((yield* outcome(caller)).error instanceof CancelledError);
      queue.putNowait("item");
      assert.equal(queue.size, 1);
    });
  });
});

describe("cancel() after the body returned (decided case 13)", () => {
  it("ends the task cancelled and cancels its children (CPython test_taskgroups::test_cancellation)", async () => {
    const log: string[] = [];
    await runVirtual(function* () {
      const task = yield* spawn(function* () {
        yield* spawn(function* () {
          try {
            yield* sleep(100);
            log.push("BUG: child finished");
          } finally {
            log.push(`child cleanup at ${currentTime()}`);
          }
        });
        return "value";
      });
      yield* sleep(10);
      assert.equal(task.state, "running");
      assert.equal(task.cancel(), true);
      const result = yield* outcome(task);
      assert.ok(result.error instanceof CancelledError, `got ${JSON.stringify(result)}`);
      assert.equal(task.state, "cancelled");
      assert.equal(task.cancel(), false);
    });
    assert.deepEqual(log, ["child cleanup at 10"]);
  });

  it("timeout() whose body returned while its children run past the limit throws TimeoutError", async () => {
    await runVirtual(function* () {
      try {
        yield* timeout(50, function* () {
          yield* spawn(sleep(100));
          return "value";
        });
        assert.fail("expected a TimeoutError");
      } catch (error) {
        assert.ok(error instanceof TimeoutError, `got ${String(error)}`);
      }
      assert.equal(currentTime(), 50);
    });
  });
});

describe("deep nesting: no recursion per level in the scheduler", () => {
  const DEPTH = 20_000;

  /** A chain of `depth` tasks, each the child of the one before (spawned, or a `scope`), all waiting on `stop`. */
  function* chain(depth: number, nested: "spawn" | "scope", stop: Future<void>): Operation<void> {
    if (depth === 0) return yield* stop;
    if (nested === "scope") return yield* scope(() => chain(depth - 1, nested, stop));
    yield* spawn(() => chain(depth - 1, nested, stop));
    yield* stop;
  }

  for (const nested of ["spawn", "scope"] as const) {
    it(`a chain of ${DEPTH} tasks (${nested}) ends at once, and is cancelled from its top, without overflowing the stack`, async () => {
      await runVirtual(function* () {
        for (const end of ["finish", "cancel"] as const) {
          const stop = new Future<void>();
          const top = yield* spawn(() => chain(DEPTH, nested, stop));
          yield* waitAllTasksBlocked();
          if (end === "finish") {
            stop.resolve();
            yield* top;
            assert.equal(top.state, "done");
          } else {
            top.cancel();
            try {
              yield* top;
            } catch {}
            assert.equal(top.state, "cancelled");
          }
        }
      });
    });
  }

  it("a failure at the bottom of 5,000 nested scopes reaches the top, thrown at once or after a wait", async () => {
    await runVirtual(function* () {
      for (const wait of [false, true]) {
        function* nested(depth: number): Operation<number> {
          if (depth === 0) {
            if (wait) yield* sleep(1);
            throw new TypeError("at the bottom");
          }
          return yield* scope(() => nested(depth - 1));
        }
        const error = yield* rejectsOp(nested(5000), TypeError);
        assert.equal(error.message, "at the bottom");
      }
    });
  });

  it("timeout(0, op) of an op that does not suspend gives its value at any depth of nested boundaries", async () => {
    await runVirtual(function* () {
      for (const depth of [10, 63, 64, 65, 129, 200]) {
        function* nested(level: number): Operation<string> {
          if (level === 0)
            return yield* timeout(
              0,
              (function* () {
                return "value";
              })(),
            );
          return yield* scope(() => nested(level - 1));
        }
        assert.equal(yield* nested(depth), "value", `at depth ${depth}`);
      }
    });
  });

  it("a cleanup started as a scope's last child ends runs its boundaries at once, as anywhere", async () => {
    const got = await runVirtual(function* () {
      let got = "nothing";
      yield* scope(function* () {
        yield* ensure(function* () {
          got = yield* timeout(0, function* () {
            yield* scope(function* () {}); // ends in its first step
            return "value";
          });
        });
        yield* spawn(() => sleep(1)); // its end, told to the scope, starts the cleanup
      });
      return got;
    });
    assert.equal(got, "value");
  });

  it("a cancel still reaches a tree depth first, each task's children before it", async () => {
    const order = await runVirtual(function* () {
      const order: string[] = [];
      function* node(name: string, children: string[]): Operation<void> {
        for (const child of children) yield* spawn(() => node(child, []));
        try {
          yield* suspend();
        } finally {
          order.push(name);
        }
      }
      const top = yield* spawn(function* () {
        yield* spawn(() => node("A", ["A1", "A2"]));
        yield* spawn(() => node("B", []));
        yield* node("P", []);
      });
      yield* waitAllTasksBlocked();
      top.cancel();
      try {
        yield* top;
      } catch {}
      return order;
    });
    assert.deepEqual(order, ["A1", "A2", "A", "B", "P"]);
  });
});

describe("a body that ends with another task's CancelledError", () => {
  // asyncio: a TaskGroup whose body lets a CancelledError out (it awaited a task someone cancelled) aborts
  // its other tasks (CPython's TaskGroup.__aexit__). A corio body ends cancelled then: its children are
  // cancelled too, instead of being waited for (forever, for one that never ends).
  for (const where of ["a task", "a scope"] as const) {
    it(`in ${where}: its other children are cancelled at once and it ends cancelled`, async () => {
      const log: string[] = [];
      await runVirtual(function* () {
        const body = function* (): Operation<void> {
          const cancelled = yield* spawn(() => sleep(100));
          yield* spawn(function* () {
            try {
              yield* suspend();
            } finally {
              log.push(`sibling cleaned up at ${currentTime()}`);
            }
          });
          yield* sleep(1);
          cancelled.cancel();
          yield* cancelled;
          log.push("not reached");
        };
        const task = yield* spawn(where === "a task" ? body : () => scope(body));
        yield* rejectsOp(task, CancelledError);
        log.push(`ended at ${currentTime()}`);
      });
      assert.deepEqual(log, ["sibling cleaned up at 1", "ended at 1"]);
    });
  }

  it("the cancel of its children does not make the task look cancelled by someone (cancelError stays null)", async () => {
    await runVirtual(function* () {
      const task = yield* spawn(function* () {
        const cancelled = yield* spawn(suspend);
        yield* spawn(suspend);
        yield* sleep(1);
        cancelled.cancel();
        yield* cancelled;
      });
      yield* rejectsOp(task, CancelledError);
      assert.equal(task.state, "cancelled");
      assert.equal((task as unknown as { cancelError: unknown }).cancelError, null);
    });
  });
});

describe("one failure is one error, however it reaches the scope", () => {
  // The body awaits a failing child and lets its error out (README's `(yield* a) + (yield* b)`): the
  // child's failure and the body's are the same error, recorded once, so the caller gets it as it is
  // (not a TaskGroupError holding it twice).
  function* failingChild(boom: Error): Operation<Task<void>> {
    return yield* spawn(function* () {
      yield* sleep(10);
      throw boom;
    });
  }
  for (const how of ["lets it out", "catches and rethrows it"] as const) {
    it(`a task or a scope whose body awaits a failing child and ${how} fails with that error`, async () => {
      const boom = new Error("boom");
      await runVirtual(function* () {
        const body = function* (): Operation<void> {
          const child = yield* failingChild(boom);
          if (how === "lets it out") yield* child;
          else {
            try {
              yield* child;
            } catch (error) {
              throw error;
            }
          }
        };
        let task: Task<void> | undefined;
        const fromTask = yield* caught(
          scope(function* () {
            task = yield* spawn(body);
          }),
        );
        assert.equal(task?.error, boom);
        assert.equal(fromTask, boom);
        assert.equal(yield* caught(scope(body)), boom);
      });
    });
  }

  it("two children failing with equal primitives are two failures (only the same error object is one)", async () => {
    await runVirtual(function* () {
      const error = yield* caught(
        scope(function* () {
          yield* spawn(function* () {
            yield* sleep(1);
            throw "boom";
          });
          yield* spawn(function* () {
            try {
              yield* suspend();
            } finally {
              // biome-ignore lint/correctness/noUnsafeFinally: the point of the test: a cleanup that fails alike
              throw "boom";
            }
          });
        }),
      );
      assert.ok(error instanceof TaskGroupError);
      assert.deepEqual(error.errors, ["boom", "boom"]);
    });
  });

  it("a new error that wraps the child's is a second failure (both kept)", async () => {
    const boom = new Error("boom");
    await runVirtual(function* () {
      const error = yield* caught(
        scope(function* () {
          const child = yield* failingChild(boom);
          try {
            yield* child;
          } catch (cause) {
            throw new Error("wrapped", { cause });
          }
        }),
      );
      assert.ok(error instanceof TaskGroupError);
      assert.equal(error.errors[0], boom);
      assert.equal((error.errors[1] as Error).message, "wrapped");
    });
  });
});
