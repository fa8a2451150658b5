import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { currentTime, every, nextPeriod, sleep, spawn } from "../../src/index.ts";
import { runVirtual } from "../../src/testing/index.ts";
import { checkLeaks, start } from "../_helpers.ts";

checkLeaks();

describe("periodic tasks", () => {
  it("a bare yield ends a round; the next starts at the next period tick, first after one period", async () => {
    const ticks: number[] = [];
    await runVirtual(function* () {
      const task = yield* spawn(
        function* () {
          for (let i = 0; i < 4; i++) {
            ticks.push(currentTime());
            yield;
          }
        },
        { period: 100 },
      );
      yield* task;
    });
    assert.deepEqual(ticks, [100, 200, 300, 400]);
  });

  it("delay sets the first run; rounds then follow the period", async () => {
    const ticks: number[] = [];
    await runVirtual(function* () {
      yield* spawn(
        function* () {
          for (let i = 0; i < 3; i++) {
            ticks.push(currentTime());
            yield* nextPeriod();
          }
        },
        { period: 300, delay: 1000 },
      );
    });
    assert.deepEqual(ticks, [1000, 1300, 1600]);
  });

  it("a round that overruns skips the ticks it missed", async () => {
    const ticks: number[] = [];
    await runVirtual(function* () {
      yield* spawn(
        function* () {
          for (let i = 0; i < 3; i++) {
            ticks.push(currentTime());
            if (i === 0) yield* sleep(250); // overruns ticks 200 and 300
            yield;
          }
        },
        { period: 100 },
      );
    });
    assert.deepEqual(ticks, [100, 400, 500]);
  });

  it("every(ms, fn) runs fn each period until cancelled", async () => {
    await runVirtual(function* () {
      const times: number[] = [];
      const heartbeat = yield* every(1000, function* () {
        times.push(currentTime());
      });
      yield* sleep(3500);
      heartbeat.cancel();
      assert.deepEqual(times, [1000, 2000, 3000]);
    });
  });

  it("every() rejects a bad period and an operation object", async () => {
    await runVirtual(function* () {
      assert.throws(() => start(every(0, function* () {})), {
        name: "RangeError",
        message: "Cannot run every ms: the period must be a positive number of ms, received 0",
      });
      assert.throws(() => start(every(10, sleep(1) as never)), {
        name: "TypeError",
        message: "Cannot run every 10 ms: expected a function returning an operation (an operation object can only run once), received object",
      });
    });
  });
});
