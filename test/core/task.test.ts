import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CancelledError, run, sleep, spawn, suspend, type Task } from "../../src/index.ts";
import { runVirtual, waitAllTasksBlocked } from "../../src/testing/index.ts";
import { checkLeaks } from "../_helpers.ts";

checkLeaks();

describe("Task", () => {
  it("moves through pending, running and done, with its result", async () => {
    await runVirtual(function* () {
      const task = yield* spawn(function* () {
        yield* sleep(10);
        return 42;
      });
      assert.equal(task.state, "pending");
      assert.equal(task.done, false);
      assert.throws(() => task.result(), /^Error: Cannot read the result of task test\/task-\d+: it has not finished, its state is pending$/);
      yield* waitAllTasksBlocked();
      assert.equal(task.state, "running");
      assert.equal(yield* task, 42);
      assert.equal(task.state, "done");
      assert.equal(task.done, true);
      assert.equal(task.cancelled, false);
      assert.equal(task.result(), 42);
      assert.equal(task.error, undefined);
    });
  });

  it("a failed task keeps its error; result() throws it", async () => {
    const boom = new Error("boom");
    await runVirtual(function* () {
      const task = yield* spawn(function* () {
        throw boom;
      });
      try {
        yield* scopeless(task);
      } catch {}
    }).catch((error) => assert.equal(error, boom));
  });

  it("a cancelled task: cancelled, done, error is its CancelledError", async () => {
    await runVirtual(function* () {
      const task = yield* spawn(suspend);
      yield* waitAllTasksBlocked();
      task.cancel("why");
      try {
        yield* task;
      } catch {}
      assert.equal(task.state, "cancelled");
      assert.equal(task.cancelled, true);
      assert.equal(task.done, true);
      assert.ok(task.error instanceof CancelledError);
      assert.equal((task.error as CancelledError).reason, "why");
      assert.equal((task.error as CancelledError).message, 'Task was cancelled: "why"');
      assert.throws(() => task.result(), CancelledError);
    });
  });

  it("names, paths, priority, parent and children", async () => {
    await runVirtual(
      function* () {
        const child = yield* spawn(
          function* () {
            const grandchild = yield* spawn(suspend, { name: "grandchild", priority: 3 });
            assert.equal(grandchild.path, "root/child/grandchild");
            assert.equal(grandchild.priority, 3);
            grandchild.cancel();
          },
          { name: "child" },
        );
        assert.equal(child.name, "child");
        assert.equal(child.priority, 10);
        assert.equal(child.parent?.name, "root");
        assert.match((yield* spawn(function* () {})).name, /^task-\d+$/);
      },
      { name: "root" },
    );
  });

  it("done callbacks run soon after the task finishes, and can be removed", async () => {
    const log: string[] = [];
    await runVirtual(function* () {
      const task = yield* spawn(function* () {
        yield* sleep(5);
        return "v";
      });
      const removed = (t: Task<string>) => log.push(`removed ${t.state}`);
      task.addDoneCallback((t) => log.push(`done ${t.result()}`));
      task.addDoneCallback(removed);
      assert.equal(task.removeDoneCallback(removed), true);
      assert.equal(task.removeDoneCallback(removed), false);
      yield* task;
      log.push("joined");
      yield* sleep(0);
      task.addDoneCallback(() => log.push("added after done"));
      yield* sleep(0);
    });
    assert.deepEqual(log, ["done v", "joined", "added after done"]);
  });

  it("a root task that fails with nobody awaiting it is reported", async () => {
    const errors: unknown[] = [];
    const { VirtualClock } = await import("../../src/testing/index.ts");
    const boom = new Error("unobserved");
    // Deliberately not awaited: that is the case being tested.
    void run(
      function* () {
        throw boom;
      },
      { clock: new VirtualClock(), onError: (error) => errors.push(error) },
    );
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(errors, [boom]);
  });
});

/** Joins a task (which fails the caller too: it is the caller's child). */
function* scopeless(task: Task<unknown>) {
  return yield* task;
}
