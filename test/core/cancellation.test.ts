import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CancelledError, currentTask, Future, isCancellation, type Operation, sleep, spawn, suspend, TimeoutError, timeout } from "../../src/index.ts";
import { runVirtual, VirtualTestError, waitAllTasksBlocked } from "../../src/testing/index.ts";
import { checkLeaks, collectReports } from "../_helpers.ts";

checkLeaks();

describe("cancellation", () => {
  it("async cleanup in a callee's finally finishes, and the caller does not resume after the call", async () => {
    // The example of reference/cancellation.md: with return() the caller would log "BUG after inner".
    const log: string[] = [];
    function* inner(): Operation<void> {
      try {
        yield* suspend();
      } finally {
        yield* sleep(10);
        log.push("inner-cleanup");
      }
    }
    function* outer(): Operation<void> {
      try {
        yield* inner();
        log.push("BUG after inner");
        yield* sleep(1);
      } finally {
        log.push("outer-finally");
      }
    }
    await runVirtual(function* () {
      const task = yield* spawn(outer);
      yield* waitAllTasksBlocked();
      task.cancel("stop");
      yield* assertCancelled(task, "stop");
    });
    assert.deepEqual(log, ["inner-cleanup", "outer-finally"]);
  });

  it("cleanup that suspends works through any depth of yield*", async () => {
    const log: string[] = [];
    function* level(n: number): Operation<void> {
      try {
        if (n === 0) yield* suspend();
        else yield* level(n - 1);
        log.push(`BUG resumed at ${n}`);
      } finally {
        yield* sleep(1);
        log.push(`cleanup ${n}`);
      }
    }
    await runVirtual(function* () {
      const task = yield* spawn(() => level(5));
      yield* waitAllTasksBlocked();
      task.cancel();
      yield* assertCancelled(task);
    });
    assert.deepEqual(log, ["cleanup 0", "cleanup 1", "cleanup 2", "cleanup 3", "cleanup 4", "cleanup 5"]);
  });

  it("a task cancelled before its first step never runs its body", async () => {
    let ran = false;
    await runVirtual(function* () {
      const task = yield* spawn(function* () {
        ran = true;
      });
      assert.equal(task.cancel("early"), true);
      yield* assertCancelled(task, "early");
    });
    assert.equal(ran, false);
  });

  it("a task that cancels itself and returns without suspending ends cancelled, its value dropped", async () => {
    await runVirtual(function* () {
      const task = yield* spawn(function* () {
        currentTask().cancel("self");
        return "dropped";
      });
      yield* assertCancelled(task, "self");
    });
  });

  it("a task that cancels itself is interrupted at its next suspension", async () => {
    const log: string[] = [];
    await runVirtual(function* () {
      const task = yield* spawn(function* () {
        currentTask().cancel();
        log.push("still running");
        yield* sleep(10);
        log.push("BUG after sleep");
      });
      yield* assertCancelled(task);
    });
    assert.deepEqual(log, ["still running"]);
  });

  it("a second cancel does not interrupt cleanup that is suspended", async () => {
    const log: string[] = [];
    await runVirtual(function* () {
      const task = yield* spawn(function* () {
        try {
          yield* suspend();
        } finally {
          yield* sleep(100);
          log.push("cleanup finished");
        }
      });
      yield* waitAllTasksBlocked();
      assert.equal(task.cancel("first"), true);
      yield* sleep(50);
      assert.equal(task.cancel("second"), true, "the task has not finished, so the request is taken");
      yield* assertCancelled(task, "first");
    });
    assert.deepEqual(log, ["cleanup finished"]);
  });

  it("timeouts inside cleanup still work", async () => {
    const log: string[] = [];
    await runVirtual(function* () {
      const task = yield* spawn(function* () {
        try {
          yield* suspend();
        } finally {
          try {
            yield* timeout(20, sleep(1000));
          } catch (error) {
            log.push(error instanceof TimeoutError ? "cleanup timed out" : "other");
          }
        }
      });
      yield* waitAllTasksBlocked();
      task.cancel();
      yield* assertCancelled(task);
    });
    assert.deepEqual(log, ["cleanup timed out"]);
  });

  it("cancel returns false for a finished task", async () => {
    await runVirtual(function* () {
      const task = yield* spawn(function* () {
        return 1;
      });
      assert.equal(yield* task, 1);
      assert.equal(task.cancel(), false);
      assert.equal(task.state, "done");
    });
  });

  it("cancelling a parent cancels its children and waits for their cleanup", async () => {
    const log: string[] = [];
    await runVirtual(function* () {
      const parent = yield* spawn(function* () {
        for (const name of ["a", "b"]) {
          yield* spawn(function* () {
            try {
              yield* suspend();
            } finally {
              yield* sleep(5);
              log.push(`${name} cleaned`);
            }
          });
        }
        yield* suspend();
      });
      yield* waitAllTasksBlocked();
      parent.cancel();
      yield* assertCancelled(parent);
      log.push("parent done");
    });
    assert.deepEqual(log, ["a cleaned", "b cleaned", "parent done"]);
  });

  it("a cancel arriving while a child fails: the parent fails with the child's error", async () => {
    const boom = new Error("boom");
    const test = runVirtual(function* () {
      const parent = yield* spawn(function* () {
        yield* spawn(function* () {
          try {
            yield* suspend();
          } finally {
            yield* sleep(5);
            // biome-ignore lint/correctness/noUnsafeFinally: the test needs a cleanup that fails
            throw boom;
          }
        });
        yield* suspend();
      });
      yield* waitAllTasksBlocked();
      parent.cancel();
      try {
        yield* parent;
        assert.fail("expected the parent to fail");
      } catch (error) {
        assert.equal(error, boom);
      }
      assert.equal(parent.state, "failed");
    });
    // The parent is a child of the test's root, so its failure fails the root too.
    await assert.rejects(test, (error) => error === boom);
  });

  it("a task that swallows its cancellation ends with its value, and is reported", async () => {
    const { reports, onError } = collectReports();
    await runVirtual(
      function* () {
        const task = yield* spawn(
          function* () {
            try {
              yield* suspend();
            } catch {
              return "swallowed";
            }
            return "not cancelled";
          },
          { name: "greedy" },
        );
        yield* waitAllTasksBlocked();
        task.cancel();
        assert.equal(yield* task, "swallowed");
        assert.equal(task.state, "done");
      },
      { onError },
    );
    assert.equal(reports.length, 1);
    assert.equal(reports[0]?.kind, "swallowed-cancel");
    assert.equal(reports[0]?.path, "test/greedy");
    assert.match(
      String((reports[0] as { error: Error }).error.message),
      /^Task test\/greedy caught its cancellation and returned a value: rethrow cancellation/,
    );
  });

  it("runVirtual fails a test in which a task swallowed its cancellation", async () => {
    await assert.rejects(
      runVirtual(function* () {
        const task = yield* spawn(function* () {
          try {
            yield* suspend();
          } catch {
            return 1;
          }
          return 0;
        });
        yield* waitAllTasksBlocked();
        task.cancel();
        yield* task;
      }),
      VirtualTestError,
    );
  });

  it("awaiting a cancelled task throws its CancelledError, which the awaiter may catch", async () => {
    const result = await runVirtual(function* () {
      const task = yield* spawn(suspend);
      yield* waitAllTasksBlocked();
      task.cancel("reason");
      try {
        yield* task;
      } catch (error) {
        assert.ok(isCancellation(error));
        return (error as CancelledError).reason;
      }
      return undefined;
    });
    assert.equal(result, "reason");
  });

  it("cancel wins over a wake-up that has not run yet", async () => {
    const log: string[] = [];
    await runVirtual(function* () {
      const gate = new Future<string>();
      const task = yield* spawn(function* () {
        log.push(`got ${yield* gate}`);
      });
      yield* waitAllTasksBlocked();
      gate.resolve("value"); // the task is now queued with the value...
      task.cancel(); // ...but the cancel reaches it first
      yield* assertCancelled(task);
    });
    assert.deepEqual(log, []);
  });

  it("a bare yield is a suspension point for cancellation", async () => {
    const log: string[] = [];
    await runVirtual(function* () {
      const task = yield* spawn(function* () {
        for (let i = 0; ; i++) {
          log.push(`round ${i}`);
          yield;
        }
      });
      yield* sleep(0);
      task.cancel();
      yield* assertCancelled(task);
    });
    assert.ok(log.length >= 1 && log.length <= 3, `ran ${log.length} rounds`);
  });

  it("yielding a value that is not an instruction throws a TypeError into the operation", async () => {
    const message = await runVirtual(function* () {
      try {
        yield 42 as never;
      } catch (error) {
        return (error as Error).message;
      }
      return undefined;
    });
    assert.match(message ?? "", /^Cannot yield 42 in task test: an operation suspends only through yield\* on another operation/);
  });
});

/** Waits for `task` and checks that it ended cancelled (with `reason`, if given). */
function* assertCancelled(task: { [Symbol.iterator](): Iterator<unknown, unknown, unknown>; state: string }, reason?: unknown): Operation<void> {
  try {
    yield* task as Operation<unknown>;
  } catch (error) {
    assert.ok(error instanceof CancelledError, `expected CancelledError, got ${String(error)}`);
    if (reason !== undefined) assert.equal(error.reason, reason);
    assert.equal(task.state, "cancelled");
    return;
  }
  assert.fail(`expected the task to be cancelled, but it ended ${task.state}`);
}
