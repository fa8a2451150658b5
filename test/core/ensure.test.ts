// ensure(): Effection's ensure / Trio's exit stack on the current task.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CancelledError, ensure, sleep, spawn, suspend, TaskGroupError } from "../../src/index.ts";
import { snapshotTasks } from "../../src/inspect/index.ts";
import { runVirtual, waitAllTasksBlocked } from "../../src/testing/index.ts";
import { checkLeaks } from "../_helpers.ts";

checkLeaks();

describe("ensure", () => {
  it("runs cleanups in reverse order after the body and the children have ended", async () => {
    const log: string[] = [];
    await runVirtual(function* () {
      yield* ensure(() => void log.push("first registered"));
      yield* spawn(function* () {
        yield* sleep(10);
        log.push("child done");
      });
      yield* ensure(() => void log.push("second registered"));
      log.push("body done");
    });
    assert.deepEqual(log, ["body done", "child done", "second registered", "first registered"]);
  });

  it("runs when the task is cancelled, and an operation cleanup runs to its end, shielded", async () => {
    const log: string[] = [];
    await runVirtual(function* () {
      const task = yield* spawn(function* () {
        yield* ensure(function* () {
          yield* sleep(5);
          log.push("closed politely");
        }, "connection");
        yield* suspend();
      });
      yield* waitAllTasksBlocked();
      task.cancel();
      task.cancel("again"); // a second cancel does not interrupt the cleanup
      try {
        yield* task;
      } catch (error) {
        assert.ok(error instanceof CancelledError);
      }
      log.push(`joined, cancelled=${task.cancelled}`);
    });
    assert.deepEqual(log, ["closed politely", "joined, cancelled=true"]);
  });

  it("the inspector lists an ensured cleanup under its name", async () => {
    await runVirtual(function* () {
      const task = yield* spawn(
        function* () {
          yield* ensure(() => {}, "temp file");
          yield* suspend();
        },
        { name: "worker" },
      );
      yield* waitAllTasksBlocked();
      const worker = snapshotTasks(task);
      assert.deepEqual(worker.roots[0]?.resources, ["temp file"]);
      task.cancel();
    });
  });

  it("the returned function forgets the cleanup", async () => {
    const log: string[] = [];
    await runVirtual(function* () {
      const forget = yield* ensure(() => void log.push("not run"));
      forget();
    });
    assert.deepEqual(log, []);
  });

  it("every cleanup runs even if one fails; failures fail the task", async () => {
    const log: string[] = [];
    await assert.rejects(
      runVirtual(function* () {
        yield* ensure(() => void log.push("outer ran"));
        yield* ensure(() => {
          throw new Error("first");
        });
        yield* ensure(function* () {
          yield* sleep(1);
          throw new Error("second");
        });
      }),
      (error: unknown) => error instanceof TaskGroupError && error.errors.map((e) => (e as Error).message).join() === "second,first",
    );
    assert.deepEqual(log, ["outer ran"]);
  });

  it("a bad argument is a TypeError; outside a task it says so", async () => {
    await runVirtual(function* () {
      assert.throws(
        () =>
          ensure(42 as never)
            [Symbol.iterator]()
            .next(),
        /expected a function, received number/,
      );
    });
    assert.throws(
      () =>
        ensure(() => {})
          [Symbol.iterator]()
          .next(),
      /no corio task is running|outside/i,
    );
  });
});
