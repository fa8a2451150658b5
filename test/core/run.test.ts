import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CancelledError, currentTime, run, sleep, stop, suspend } from "../../src/index.ts";
import { VirtualClock } from "../../src/testing/index.ts";
import { checkLeaks } from "../_helpers.ts";

checkLeaks();

describe("run / stop", () => {
  it("run() with a clock gets a loop of its own on that clock", async () => {
    const clock = new VirtualClock({ start: 1000 });
    const t = await run(
      function* () {
        yield* sleep(500);
        return currentTime();
      },
      { clock },
    );
    assert.equal(t, 1500);
  });

  it("stop() cancels every root task of the loop, and their cleanup runs", async () => {
    const log: string[] = [];
    const roots = [1, 2].map((i) =>
      run(function* () {
        try {
          yield* suspend();
        } finally {
          log.push(`root ${i} cleaned up`);
        }
      }),
    );
    await new Promise((resolve) => setImmediate(resolve));
    stop("shutdown");
    for (const root of roots) {
      await assert.rejects(
        async () => await root,
        (error: unknown) => error instanceof CancelledError && error.reason === "shutdown",
      );
    }
    assert.deepEqual(log, ["root 1 cleaned up", "root 2 cleaned up"]);
  });

  it("run() inside a task starts a root on the same loop", async () => {
    const clock = new VirtualClock();
    const inner = await run(
      function* () {
        const other = run(function* () {
          yield* sleep(100);
          return currentTime();
        });
        return yield* other;
      },
      { clock },
    );
    assert.equal(inner, 100);
  });

  it("a virtual clock can be advanced by hand", async () => {
    const clock = new VirtualClock({ autoAdvance: false });
    const task = run(
      function* () {
        yield* sleep(1000);
        return currentTime();
      },
      { clock },
    );
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(task.done, false);
    clock.advance(1000);
    assert.equal(await task, 1000);
    assert.throws(() => clock.advance(-1), { name: "RangeError", message: "Cannot advance the clock: ms must be a non-negative number, received -1" });
  });
});
