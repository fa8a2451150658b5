import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { allTasks, CancelledError, Future, run, sleep, spawn, suspend, type Task } from "../../src/index.ts";
import { runVirtual, VirtualClock, waitAllTasksBlocked } from "../../src/testing/index.ts";
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

  it("a task is a thenable: every then of a pending or finished task gets its outcome", async () => {
    // Three roots, each on a loop of its own: a VirtualClock drives one loop at a time.
    const boom = new Error("boom");
    const release = new Future<void>();
    const pending = run(
      function* () {
        yield* release;
        return 7;
      },
      { clock: new VirtualClock() },
    );
    const failing = run(
      function* () {
        yield* release;
        throw boom;
      },
      { clock: new VirtualClock() },
    );
    const cancelled = run(suspend, { clock: new VirtualClock() });
    // Several thens before the end (they share one watcher), one more after it.
    const early = [
      pending.then((v) => v * 2),
      pending.then((v) => v + 1),
      failing.then(
        () => "no",
        (e: unknown) => e,
      ),
      failing.then(
        () => "no",
        (e: unknown) => e,
      ),
    ];
    await new Promise((resolve) => setImmediate(resolve));
    cancelled.cancel("stop");
    release.resolve();
    assert.deepEqual(await Promise.all(early), [14, 8, boom, boom]);
    assert.equal(await pending, 7);
    await assert.rejects(Promise.resolve(failing), (e: unknown) => e === boom);
    await assert.rejects(Promise.resolve(cancelled), (e: unknown) => e instanceof CancelledError && e.reason === "stop");
    // A finished task's then, twice: the same outcome each time.
    assert.deepEqual(await Promise.all([pending.then((v) => v), pending.then((v) => v)]), [7, 7]);
    assert.equal(
      await failing.then(
        () => "no",
        (e: unknown) => e,
      ),
      boom,
    );
  });

  it("a task whose value is a promise resolves to what the promise resolves to, as before and after it ends", async () => {
    const task = run(
      function* () {
        return Promise.resolve("inner");
      },
      { clock: new VirtualClock() },
    );
    assert.equal(await task, "inner");
    assert.equal(await task, "inner");
  });

  it("the loop's roots: allTasks lists the live ones oldest first, and an ending root (first, middle or last) leaves the list", async () => {
    const seen: string[][] = [];
    await run(
      function* () {
        // run() inside a task starts roots on the same loop.
        const roots = ["a", "b", "c", "d"].map((name) => run(suspend, { name }));
        const live = (): string[] =>
          allTasks()
            .filter((task) => task.parent === undefined && task.name !== "probe")
            .map((task) => task.name);
        seen.push(live());
        for (const index of [1, 0, 3, 4, 2, 5]) {
          // A root started after the last one has ended joins the end of the list.
          if (index === 4) roots.push(run(suspend, { name: "e" }), run(suspend, { name: "f" }));
          const root = roots[index] as Task<unknown>;
          root.cancel();
          yield* sleep(0);
          assert.equal(root.cancelled, true);
          seen.push(live());
        }
      },
      { clock: new VirtualClock(), name: "probe" },
    );
    assert.deepEqual(seen, [["a", "b", "c", "d"], ["a", "c", "d"], ["c", "d"], ["c"], ["c", "f"], ["f"], []]);
  });
});

/** Joins a task (which fails the caller too: it is the caller's child). */
function* scopeless(task: Task<unknown>) {
  return yield* task;
}
