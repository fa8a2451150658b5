import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Loop } from "../../src/core/loop.ts";
import { startRoot } from "../../src/core/run.ts";
import { createTask } from "../../src/core/spawn.ts";
import { CancelledError, callLater, currentTime, sleep } from "../../src/index.ts";
import { VirtualClock } from "../../src/testing/index.ts";
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

describe("Loop on a VirtualClock", () => {
  /** The loop, and how many flushes it asks for while `fn` runs. */
  function countingLoop(clock: VirtualClock): { loop: Loop; flushesDuring(fn: () => void): number } {
    const loop = new Loop({ clock });
    let flushes = 0;
    const requestFlush = loop.requestFlush.bind(loop);
    loop.requestFlush = () => {
      flushes++;
      requestFlush();
    };
    return {
      loop,
      flushesDuring(fn) {
        flushes = 0;
        fn();
        return flushes;
      },
    };
  }

  it("listens to the clock only while it has a root task or a timer, so a clock does not keep every loop it ran", async () => {
    const clock = new VirtualClock({ autoAdvance: false });
    const { loop, flushesDuring } = countingLoop(clock);
    assert.equal(
      flushesDuring(() => clock.advance(1)),
      0,
      "no task, no timer: not listening",
    );
    const task = startRoot(
      loop,
      function* () {
        yield* sleep(5);
        return currentTime();
      },
      {},
    );
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(
      flushesDuring(() => clock.advance(5)),
      1,
      "a task sleeps: an advance flushes the loop",
    );
    assert.equal(await task, 6);
    assert.equal(
      flushesDuring(() => clock.advance(1)),
      0,
      "the task ended: no longer listening",
    );
  });

  it("a timer left by a finished root still fires on an advance, and then the loop stops listening", async () => {
    const clock = new VirtualClock({ autoAdvance: false });
    const { loop, flushesDuring } = countingLoop(clock);
    let fired = false;
    await startRoot(
      loop,
      function* () {
        callLater(10, () => {
          fired = true;
        });
      },
      {},
    );
    assert.equal(
      flushesDuring(() => clock.advance(10)),
      1,
    );
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(fired, true);
    assert.equal(
      flushesDuring(() => clock.advance(1)),
      0,
    );
  });
});
