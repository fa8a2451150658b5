import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { currentTime, every, moveOnAfter, nextPeriod, type Operation, scope, shield, sleep, spawn } from "../../src/index.ts";
import { runVirtual } from "../../src/testing/index.ts";
import { checkLeaks, start } from "../_helpers.ts";

checkLeaks();

describe("periodic tasks", () => {
  it("spawn(op, { period }) with a period the clock cannot step by at this time fails the task with a RangeError, not a spin", async () => {
    await runVirtual(function* () {
      yield* sleep(1e9); // at 1e9 ms a double cannot step by 1e-9 ms
      let rounds = 0;
      try {
        yield* scope(function* () {
          yield* spawn(
            function* () {
              for (;;) {
                rounds++;
                yield* nextPeriod();
              }
            },
            { period: 1e-9 },
          );
        });
        assert.fail("the scope returned");
      } catch (error) {
        assert.ok(error instanceof RangeError, String(error));
        assert.match(error.message, /cannot step by its period of 1e-9 ms/);
      }
      assert.equal(rounds, 1);
    });
  });

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

  it("every() refuses an async function at the call, and a round whose fn returns no operation says so", async () => {
    let beats = 0;
    await runVirtual(function* () {
      assert.throws(
        () =>
          start(
            every(1000, (async () => {
              beats++;
            }) as never),
          ),
        {
          name: "TypeError",
          message:
            "Cannot run every 1000 ms: expected a function returning an operation, received an async function; " +
            "write it as a generator (function* () { ... }), or wrap the promise: () => call(fn)",
        },
      );
      // A plain function that returns an operation is fine.
      const slept = yield* every(1000, () => sleep(1));
      yield* sleep(2500);
      slept.cancel();
    });
    const error = await runVirtual(function* () {
      yield* every(1000, (() => {
        beats++;
      }) as never);
      yield* sleep(3500);
    }).then(
      () => assert.fail("expected a TypeError"),
      (error: unknown) => error,
    );
    assert.ok(error instanceof TypeError, String(error));
    assert.match(error.message, /^Cannot run every 1000 ms: expected a function returning an operation, but it returned undefined; /);
    assert.equal(beats, 1, "the plain function ran once, at the first round");
  });

  it("every() refuses a period the clock cannot step by, at the call or when the clock outgrows it", async () => {
    await runVirtual(function* () {
      yield* sleep(1e9);
      // At 1e9 ms a time is held to about 1.2e-7 ms: 1e-9 would not advance, 1e-7 would step by 1.19e-7.
      for (const ms of [1e-9, 1e-7]) {
        assert.throws(
          () => start(every(ms, function* () {})),
          (error: unknown) => {
            assert.ok(error instanceof RangeError, String(error));
            assert.match(
              error.message,
              new RegExp(`^Cannot run every ${ms} ms: the period is below what the clock can step by at 1000000000(\\.\\d+)? ms .*, received ${ms}$`),
            );
            return true;
          },
        );
      }
      const ticks: number[] = [];
      const fine = yield* every(1e-3, function* () {
        ticks.push(currentTime() - 1e9);
      });
      yield* sleep(0.0035);
      fine.cancel();
      assert.equal(ticks.length, 3);
    });
    // Fine at the start, until a round jumps the virtual clock to 1e14 ms (held to 0.016 ms there).
    let rounds = 0;
    const error = await runVirtual(function* () {
      yield* every(1e-3, function* () {
        if (++rounds === 1) yield* sleep(1e14);
        if (rounds > 1000) throw new Error("spun: the clock did not advance");
      });
      yield* sleep(2e14);
    }).then(
      () => assert.fail("expected a RangeError"),
      (error: unknown) => error,
    );
    assert.ok(error instanceof RangeError, String(error));
    assert.match(error.message, /^Cannot run every 0.001 ms: the period is below what the clock can step by at 1000\d+(\.\d+)? ms /);
  });
});

describe("periodic rounds inside boundaries, and fractional periods (review, stop 40)", () => {
  // nextPeriod's TSDoc: "Ends the current round of a periodic task: it resumes at the next period tick."
  // currentTask()'s TSDoc: inside scope/shield/a time limit, the task is the one that entered it.
  for (const [label, wrap] of [
    ["scope", (op: () => Operation<void>) => scope(op)],
    ["moveOnAfter", (op: () => Operation<void>) => moveOnAfter(10_000, op)],
    ["shield", (op: () => Operation<void>) => shield(op)],
  ] as const) {
    it(`nextPeriod() inside ${label} in a periodic task ends the round (not a spin at one instant)`, async () => {
      const ticks: number[] = [];
      await runVirtual(function* () {
        const task = yield* spawn(
          function* () {
            yield* wrap(function* () {
              for (let i = 0; i < 3; i++) {
                ticks.push(currentTime());
                yield* nextPeriod();
              }
            });
          },
          { period: 100 },
        );
        yield* task;
      });
      assert.deepEqual(ticks, [100, 200, 300]);
    });
  }

  // spawn's TSDoc: "the next round starts at the next multiple of `period` ms after the first run.
  // Missed ticks are skipped". A round that lasts exactly two periods missed one tick and lands on
  // the next: it must resume there, not one period later.
  it("a time limit that gives up on nextPeriod() gives the tick back: the next round is at that tick (review, stop 40)", async () => {
    const starts: number[] = [];
    await runVirtual(function* () {
      const task = yield* spawn(
        function* () {
          starts.push(currentTime()); // the round at 100
          yield* moveOnAfter(30, nextPeriod()); // gives up at 130, before the tick at 200
          starts.push(currentTime()); // 130, the same round
          yield; // the end of the round: the next tick is 200
          starts.push(currentTime());
        },
        { period: 100 },
      );
      yield* task;
    });
    assert.deepEqual(starts, [100, 130, 200]);
  });

  it("a round that lasts exactly two periods resumes at the tick it ends on (period 1000/60 ms)", async () => {
    const period = 1000 / 60;
    const starts: number[] = [];
    await runVirtual(function* () {
      const task = yield* spawn(
        function* () {
          for (let i = 0; i < 4; i++) {
            starts.push(currentTime());
            if (i === 2) yield* sleep(2 * period);
            yield;
          }
        },
        { period },
      );
      yield* task;
    });
    // rounds at ticks 1, 2, 3 (lasting until tick 5), then 5: the tick it ended on.
    assert.equal(starts.length, 4);
    assert.ok(Math.abs((starts[3] as number) - 5 * period) < 1e-9, `fourth round at ${starts[3]} ms, expected ${5 * period} ms (tick 6 is ${6 * period})`);
  });
});
