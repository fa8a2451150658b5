import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { currentTime, run, sleep, sleepUntil, spawn } from "../../src/index.ts";
import { runVirtual } from "../../src/testing/index.ts";
import { checkLeaks, start } from "../_helpers.ts";

checkLeaks();

describe("sleep", () => {
  it("advances the virtual clock by exactly its duration", async () => {
    await runVirtual(function* () {
      yield* sleep(1500);
      assert.equal(currentTime(), 1500);
      yield* sleepUntil(2000);
      assert.equal(currentTime(), 2000);
    });
  });

  it("rejects NaN, negative numbers and non-numbers with a RangeError", async () => {
    await runVirtual(function* () {
      assert.throws(() => start(sleep(Number.NaN)), { name: "RangeError", message: "Cannot sleep: ms must be a non-negative number, received NaN" });
      assert.throws(() => start(sleep(-5)), { name: "RangeError", message: "Cannot sleep: ms must be a non-negative number, received -5" });
      assert.throws(() => start(sleep("10" as never)), { name: "RangeError", message: "Cannot sleep: ms must be a non-negative number, received string" });
      assert.throws(() => start(sleepUntil(Number.NaN)), { name: "RangeError", message: "Cannot sleep until: time must be a number, received NaN" });
    });
  });

  it("sleep(0) and sleepUntil(past) yield once to the other ready tasks and return", async () => {
    const order: string[] = [];
    await runVirtual(function* () {
      yield* sleep(10);
      yield* spawn(function* () {
        order.push("other");
      });
      yield* sleep(0);
      order.push("after sleep(0)");
      yield* spawn(function* () {
        order.push("other 2");
      });
      yield* sleepUntil(3);
      order.push("after sleepUntil(past)");
      assert.equal(currentTime(), 10);
    });
    assert.deepEqual(order, ["other", "after sleep(0)", "other 2", "after sleepUntil(past)"]);
  });

  it("sleep(0) in a more urgent task does not let a less urgent ready task run first (priority is strict)", async () => {
    const order = await runVirtual(function* () {
      const order: string[] = [];
      const urgent = yield* spawn(
        function* () {
          yield* spawn(
            function* () {
              order.push("less urgent");
            },
            { priority: 10 },
          );
          yield* sleep(0);
          order.push("after sleep(0)");
        },
        { priority: 1 },
      );
      yield* urgent;
      return order;
    });
    assert.deepEqual(order, ["after sleep(0)", "less urgent"]);
  });

  it("sleepers with equal deadlines wake in the order they went to sleep", async () => {
    const order: number[] = [];
    await runVirtual(function* () {
      for (const i of [1, 2, 3, 4]) {
        yield* spawn(function* () {
          yield* sleep(100);
          order.push(i);
        });
      }
    });
    assert.deepEqual(order, [1, 2, 3, 4]);
  });
  it("a delay longer than the host timer allows is clamped, never fired early (decided case 15)", async () => {
    // Node turns a delay over 2^31 - 1 ms into 1 ms (with a TimeoutOverflowWarning): record what the loop asks for.
    const delays: number[] = [];
    const hostSetTimeout = globalThis.setTimeout;
    globalThis.setTimeout = ((fn: () => void, ms?: number) => {
      delays.push(ms ?? 0);
      return hostSetTimeout(fn, ms);
    }) as typeof setTimeout;
    const fortyDays = 40 * 24 * 3600 * 1000;
    let woke = false;
    try {
      const task = run(function* () {
        yield* sleep(fortyDays);
        woke = true;
      });
      await new Promise<void>((resolve) => setImmediate(resolve));
      task.cancel();
      await task.then(
        () => {},
        () => {},
      );
    } finally {
      globalThis.setTimeout = hostSetTimeout;
    }
    assert.equal(woke, false);
    assert.ok(delays.length > 0 && delays.every((ms) => ms <= 2 ** 31 - 1), `host delays: ${delays.join()}`);
    assert.ok(delays.includes(2 ** 31 - 1));
  });
});
