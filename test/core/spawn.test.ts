import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  all,
  allTasks,
  CancelledError,
  currentTask,
  moveOnAfter,
  type Operation,
  run,
  scope,
  shield,
  sleep,
  spawn,
  suspend,
  TaskGroupError,
  timeout,
} from "../../src/index.ts";
import { runVirtual, waitAllTasksBlocked } from "../../src/testing/index.ts";
import { checkLeaks, rejectsOp, start } from "../_helpers.ts";

checkLeaks();

describe("spawn", () => {
  it("starts the child when the spawner next suspends, not inside spawn()", async () => {
    const order: string[] = [];
    await runVirtual(function* () {
      const child = yield* spawn(function* () {
        order.push("child");
      });
      order.push("after spawn");
      assert.equal(child.state, "pending");
      yield* child;
      order.push("joined");
    });
    assert.deepEqual(order, ["after spawn", "child", "joined"]);
  });

  it("runs ready tasks in priority order, FIFO within a priority", async () => {
    const order: string[] = [];
    await runVirtual(function* () {
      for (const [name, priority] of [
        ["a10", 10],
        ["b50", 50],
        ["c1", 1],
        ["d10", 10],
        ["e1", 1],
      ] as const) {
        yield* spawn(
          function* () {
            order.push(name);
          },
          { priority, name },
        );
      }
    });
    assert.deepEqual(order, ["c1", "e1", "a10", "d10", "b50"]);
  });

  it("a parent finishes only after its non-daemon children", async () => {
    const order: string[] = [];
    const value = await runVirtual(function* () {
      yield* spawn(function* () {
        yield* sleep(100);
        order.push("child done");
      });
      order.push("body done");
      return 7;
    });
    order.push("parent done");
    assert.equal(value, 7);
    assert.deepEqual(order, ["body done", "child done", "parent done"]);
  });

  it("cancels daemon children once the body and other children are done", async () => {
    const log: string[] = [];
    await runVirtual(function* () {
      yield* spawn(
        function* () {
          try {
            yield* suspend();
          } finally {
            log.push("daemon cleaned up");
          }
        },
        { daemon: true },
      );
      yield* spawn(function* () {
        yield* sleep(10);
        log.push("worker done");
      });
    });
    assert.deepEqual(log, ["worker done", "daemon cleaned up"]);
  });

  it("a failing child cancels its siblings and the parent body, and fails the parent with its error", async () => {
    const log: string[] = [];
    const boom = new Error("boom");
    const task = runVirtual(function* () {
      yield* spawn(function* () {
        try {
          yield* suspend();
        } finally {
          log.push("sibling cancelled");
        }
      });
      yield* spawn(function* () {
        yield* sleep(5);
        throw boom;
      });
      try {
        yield* sleep(1000);
      } finally {
        log.push("body cancelled");
      }
    });
    await assert.rejects(task, (error) => error === boom);
    assert.deepEqual(log.sort(), ["body cancelled", "sibling cancelled"]);
  });

  it("several failures give a TaskGroupError holding all of them", async () => {
    const task = runVirtual(function* () {
      yield* spawn(function* () {
        try {
          yield* suspend();
        } catch {
          throw new Error("b");
        }
      });
      yield* spawn(function* () {
        yield* sleep(1);
        throw new Error("a");
      });
    });
    await assert.rejects(task, (error: unknown) => {
      assert.ok(error instanceof TaskGroupError);
      assert.deepEqual(
        error.errors.map((e) => (e as Error).message),
        ["a", "b"],
      );
      return true;
    });
  });

  it("a child that ends cancelled is not a failure", async () => {
    const value = await runVirtual(function* () {
      const child = yield* spawn(suspend);
      yield* waitAllTasksBlocked();
      child.cancel();
      return "parent ok";
    });
    assert.equal(value, "parent ok");
  });

  it("validates its options with clear errors", async () => {
    await runVirtual(function* () {
      for (const [options, message] of [
        [{ priority: 0 }, "Cannot spawn: priority must be an integer from 1 (most urgent) to 100, received 0"],
        [{ priority: 101 }, "Cannot spawn: priority must be an integer from 1 (most urgent) to 100, received 101"],
        [{ priority: 1.5 }, "Cannot spawn: priority must be an integer from 1 (most urgent) to 100, received 1.5"],
        [{ delay: -1 }, "Cannot spawn: delay must be a non-negative number of ms, received -1"],
        [{ period: Number.NaN }, "Cannot spawn: period must be a non-negative number of ms, received NaN"],
      ] as const) {
        assert.throws(() => start(spawn(suspend, options)), { name: "RangeError", message });
      }
      assert.throws(() => start(spawn(42 as never)), {
        name: "TypeError",
        message:
          "Cannot spawn: expected an operation (a generator) or a function returning one, but received number; pass a generator function (function* () { ... }) or an operation such as sleep(10)",
      });
    });
  });

  it("spawn outside a task says where to call it", () => {
    assert.throws(() => start(spawn(suspend)), /^Error: Cannot spawn: no corio task is running/);
  });

  it("a delayed task starts after its delay", async () => {
    const started = await runVirtual(function* () {
      const task = yield* spawn(
        function* () {
          return (yield* currentTimeOp()) as number;
        },
        { delay: 250 },
      );
      return yield* task;
    });
    assert.equal(started, 250);
  });
});

describe("currentTask / allTasks", () => {
  it("inside scope, shield and the time limits, currentTask() is the task that entered them (asyncio's current_task()); inside an operation of all, its own task", async () => {
    await runVirtual(function* () {
      const me = currentTask();
      const seen: boolean[] = [];
      yield* scope(function* () {
        seen.push(currentTask() === me);
        yield* shield(function* () {
          seen.push(currentTask() === me);
          yield* timeout(10, function* () {
            seen.push(currentTask() === me);
            yield* moveOnAfter(10, function* () {
              seen.push(currentTask() === me);
            });
          });
        });
      });
      const [inAll] = yield* all([
        () =>
          (function* () {
            return currentTask();
          })(),
      ]);
      assert.deepEqual(seen, [true, true, true, true]);
      assert.notEqual(inAll, me);
    });
  });

  it("currentTask().cancel() inside a boundary cancels the task that entered it, even when the body returns at once (the cancel is not lost)", async () => {
    await runVirtual(function* () {
      const log: string[] = [];
      const task = yield* spawn(function* () {
        const value = yield* timeout(10, function* () {
          currentTask().cancel();
          return "v";
        });
        log.push(`timeout gave ${value}`);
        try {
          yield* sleep(1);
          log.push("BUG: not cancelled");
        } catch (error) {
          log.push(`next suspension threw ${(error as Error).name}`);
          throw error;
        }
      });
      yield* rejectsOp(task, CancelledError);
      assert.deepEqual(log, ["timeout gave v", "next suspension threw CancelledError"]);
    });
  });

  it("an operation of all that cancels itself and returns at once ends cancelled, as an asyncio task does: all throws a CancelledError", async () => {
    await runVirtual(function* () {
      const error = yield* rejectsOp(
        all([
          function* () {
            currentTask().cancel();
            return 1;
          },
          function* () {
            return 2;
          },
        ]),
        CancelledError,
      );
      assert.ok(error instanceof CancelledError);
      // The same from inside a boundary in the operation: currentTask() there is the operation's task.
      for (const boundary of [(op: () => Operation<number>) => scope(op), (op: () => Operation<number>) => timeout(100, op)]) {
        yield* rejectsOp(
          all([
            () =>
              boundary(function* () {
                currentTask().cancel();
                return 7;
              }),
          ]),
          CancelledError,
        );
      }
    });
  });

  it("give the running task and the live tree", async () => {
    await runVirtual(
      function* () {
        assert.equal(currentTask().name, "root");
        const child = yield* spawn(suspend, { name: "child" });
        yield* waitAllTasksBlocked();
        assert.deepEqual(
          allTasks().map((t) => t.path),
          ["root", "root/child"],
        );
        assert.equal(child.parent, currentTask());
        assert.deepEqual(currentTask().children, [child]);
        child.cancel();
      },
      { name: "root" },
    );
  });

  it("run() returns a task that is also a promise", async () => {
    const task = run(function* () {
      yield* sleep(1);
      return "value";
    });
    assert.equal(await task, "value");
    assert.equal(task.state, "done");
    assert.equal(task.result(), "value");
  });
});

import { currentTime } from "../../src/index.ts";

function* currentTimeOp() {
  return currentTime();
}
