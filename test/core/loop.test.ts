import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Loop } from "../../src/core/loop.ts";
import { createTask } from "../../src/core/spawn.ts";
import { CancelledError } from "../../src/index.ts";
import { checkLeaks, promiseWithResolvers } from "../_helpers.ts";

checkLeaks();

/** A ready-queue entry that records its run. */
function entry(name: string, log: string[]): { priority: number; runStep(): void } {
  return { priority: 10, runStep: () => log.push(name) };
}

describe("Loop.scheduleAfterIo", () => {
  it("runs its entry after the host's I/O callbacks of this turn, not in a microtask", async () => {
    const loop = new Loop();
    const log: string[] = [];
    const done = promiseWithResolvers<void>();
    // An immediate queued first stands for an I/O callback of the same turn.
    setImmediate(() => log.push("earlier immediate"));
    loop.scheduleAfterIo(entry("after io", log));
    queueMicrotask(() => log.push("microtask"));
    setImmediate(() => done.resolve());
    await done.promise;
    assert.deepEqual(log, ["microtask", "earlier immediate", "after io"]);
  });

  it("an ordinary wake queued meanwhile joins that flush instead of running first", async () => {
    const loop = new Loop();
    const log: string[] = [];
    const done = promiseWithResolvers<void>();
    loop.scheduleAfterIo(entry("request", log));
    loop.schedule(entry("wake", log));
    queueMicrotask(() => log.push("microtask"));
    setImmediate(() => done.resolve());
    await done.promise;
    assert.deepEqual(log, ["microtask", "request", "wake"]);
  });

  it("a task created to start after I/O is cancellable before its first step: its body never runs", async () => {
    const loop = new Loop();
    let ran = false;
    const task = createTask(
      loop,
      null,
      function* () {
        ran = true;
      },
      { name: "request" },
      0,
      "test",
      true,
    );
    task.cancel("the client went away");
    await assert.rejects(async () => {
      await task;
    }, CancelledError);
    assert.equal(ran, false);
    assert.equal(task.state, "cancelled");
  });
});
