// After Trio's test_timeouts.py (move_on_after / move_on_at basics, nesting, cancel from outside).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  CancelledError,
  currentTime,
  moveOnAfter,
  moveOnAt,
  type Operation,
  sleep,
  spawn,
  suspend,
  type TimeLimit,
  TimeoutError,
  timeout,
} from "../../src/index.ts";
import { runVirtual, waitAllTasksBlocked } from "../../src/testing/index.ts";
import { checkLeaks, rejectsOp } from "../_helpers.ts";

checkLeaks();

describe("moveOnAfter", () => {
  it("returns the value of an operation that finishes in time", async () => {
    const outcome = await runVirtual(function* () {
      return yield* moveOnAfter(100, function* () {
        yield* sleep(99);
        return "ok";
      });
    });
    assert.deepEqual(outcome, { value: "ok", cancelled: false });
  });

  it("cancels a slow operation, waits for its cleanup, and moves on", async () => {
    const log: string[] = [];
    await runVirtual(function* () {
      const outcome = yield* moveOnAfter(100, function* () {
        try {
          yield* sleep(1000);
          log.push("not reached");
        } finally {
          yield* sleep(30);
          log.push(`cleanup done at ${currentTime()}`);
        }
      });
      assert.deepEqual(outcome, { value: undefined, cancelled: true });
      log.push(`moved on at ${currentTime()}`);
    });
    assert.deepEqual(log, ["cleanup done at 130", "moved on at 130"]);
  });

  it("moveOnAfter(0) on an operation that does not suspend returns its value", async () => {
    await runVirtual(function* () {
      assert.deepEqual(
        yield* moveOnAfter(0, function* () {
          return 1;
        }),
        { value: 1, cancelled: false },
      );
      assert.deepEqual(yield* moveOnAfter(0, sleep(1)), { value: undefined, cancelled: true });
      assert.equal(currentTime(), 0);
    });
  });

  it("an error inside is thrown, also one from the cleanup after the time ran out", async () => {
    await runVirtual(function* () {
      yield* rejectsOp(
        moveOnAfter(100, function* () {
          yield* sleep(10);
          throw new TypeError("inside");
        }),
        TypeError,
      );
      yield* rejectsOp(
        moveOnAfter(10, function* () {
          try {
            yield* sleep(100);
          } finally {
            // biome-ignore lint/correctness/noUnsafeFinally: the error wins over the cancellation (decided case 12)
            throw new RangeError("cleanup failed");
          }
        }),
        RangeError,
      );
    });
  });

  it("an inner timeout's TimeoutError is not taken for this limit", async () => {
    await runVirtual(function* () {
      yield* rejectsOp(moveOnAfter(100, timeout(10, sleep(50))), TimeoutError);
    });
  });

  it("nested: the inner limit moves on, the outer one goes on", async () => {
    await runVirtual(function* () {
      const outer = yield* moveOnAfter(100, function* () {
        const inner = yield* moveOnAfter(10, sleep(50));
        assert.equal(inner.cancelled, true);
        assert.equal(currentTime(), 10);
        return "outer done";
      });
      assert.deepEqual(outer, { value: "outer done", cancelled: false });
    });
  });

  it("nested: an outer limit that expires first owns the cancellation", async () => {
    await runVirtual(function* () {
      let inner: unknown = "not returned";
      const outer = yield* moveOnAfter(10, function* () {
        inner = yield* moveOnAfter(100, sleep(1000));
      });
      assert.deepEqual(outer, { value: undefined, cancelled: true });
      assert.equal(inner, "not returned");
    });
  });

  it("nested: limits expiring together are owned by the outermost", async () => {
    await runVirtual(function* () {
      yield* rejectsOp(timeout(20, moveOnAfter(20, sleep(100))), TimeoutError);
      const outer = yield* moveOnAfter(20, timeout(20, sleep(100)));
      assert.deepEqual(outer, { value: undefined, cancelled: true });
    });
  });

  it("an outer timeout passes through", async () => {
    await runVirtual(function* () {
      yield* rejectsOp(timeout(10, moveOnAfter(100, sleep(1000))), TimeoutError);
    });
  });

  it("a cancel from outside passes through after the cleanup", async () => {
    const log: string[] = [];
    await runVirtual(function* () {
      const task = yield* spawn(function* () {
        yield* moveOnAfter(100, function* () {
          try {
            yield* suspend();
          } finally {
            yield* sleep(5);
            log.push("cleanup");
          }
        });
        log.push("not reached");
      });
      yield* waitAllTasksBlocked();
      task.cancel();
      yield* rejectsOp(task, CancelledError);
      assert.equal(task.cancelled, true);
    });
    assert.deepEqual(log, ["cleanup"]);
  });

  it("a cancel from outside during the cleanup after the time ran out passes through", async () => {
    await runVirtual(function* () {
      const task = yield* spawn(function* () {
        return yield* moveOnAfter(10, function* () {
          try {
            yield* sleep(100);
          } finally {
            yield* sleep(50);
          }
        });
      });
      yield* sleep(20);
      task.cancel();
      yield* rejectsOp(task, CancelledError);
    });
  });

  it("rejects a bad ms", async () => {
    await runVirtual(function* () {
      for (const ms of [Number.NaN, -1, "5" as unknown as number]) yield* rejectsOp(moveOnAfter(ms, sleep(1)), RangeError);
    });
  });
});

describe("moveOnAt", () => {
  it("moves on at the given clock time", async () => {
    await runVirtual(function* () {
      yield* sleep(5);
      assert.deepEqual(yield* moveOnAt(currentTime() + 20, sleep(100)), { value: undefined, cancelled: true });
      assert.equal(currentTime(), 25);
      assert.deepEqual(
        yield* moveOnAt(currentTime() + 20, function* () {
          return "x";
        }),
        { value: "x", cancelled: false },
      );
    });
  });

  it("a time in the past cancels an operation that suspends", async () => {
    await runVirtual(function* () {
      yield* sleep(10);
      assert.deepEqual(yield* moveOnAt(0, sleep(1)), { value: undefined, cancelled: true });
    });
  });

  it("rejects NaN", async () => {
    await runVirtual(function* () {
      yield* rejectsOp(moveOnAt(Number.NaN, sleep(1)), RangeError);
    });
  });
});

// After Trio's CancelScope.deadline behaviour (test_timeouts.py, test_run.py's cancel scope tests):
// the deadline can be read and moved while the scope runs, a past deadline cancels at the next
// checkpoint, and an expired scope is not un-cancelled by moving it.
describe("TimeLimit (a movable deadline)", () => {
  it("gives the operation its deadline, and moving it later lets a slow operation finish", async () => {
    await runVirtual(function* () {
      const outcome = yield* moveOnAfter(100, function* (limit) {
        assert.equal(limit.deadline, 100);
        yield* sleep(50);
        limit.deadline += 100;
        yield* sleep(120);
        return currentTime();
      });
      assert.deepEqual(outcome, { value: 170, cancelled: false });
    });
  });

  it("moving it earlier cancels sooner", async () => {
    await runVirtual(function* () {
      const outcome = yield* moveOnAfter(1000, function* (limit) {
        limit.deadline = currentTime() + 10;
        yield* sleep(500);
      });
      assert.equal(outcome.cancelled, true);
      assert.equal(currentTime(), 10);
    });
  });

  it("a deadline moved into the past cancels at the next suspension, even in the first step", async () => {
    await runVirtual(function* () {
      const log: string[] = [];
      const outcome = yield* moveOnAfter(1000, function* (limit) {
        limit.deadline = -1;
        assert.equal(limit.expired, true);
        log.push("still running until it suspends");
        yield* sleep(1);
        log.push("not reached");
      });
      assert.equal(outcome.cancelled, true);
      assert.deepEqual(log, ["still running until it suspends"]);
      assert.equal(currentTime(), 0);
    });
  });

  it("a limit already past as it starts has expired: moving its deadline in the first step does not revive it (Trio's cancel_called)", async () => {
    await runVirtual(function* () {
      const pastLimits = [
        (body: (limit: TimeLimit) => Operation<string>) => moveOnAfter(0, body),
        (body: (limit: TimeLimit) => Operation<string>) => moveOnAt(currentTime() - 3, body),
      ];
      for (const limited of pastLimits) {
        const seen: boolean[] = [];
        const outcome = yield* limited(function* (limit) {
          seen.push(limit.expired);
          limit.deadline = currentTime() + 10;
          yield* sleep(5);
          return "ran";
        });
        assert.deepEqual(outcome, { value: undefined, cancelled: true });
        assert.deepEqual(seen, [true]);
      }
      yield* rejectsOp(
        timeout(0, function* (limit) {
          limit.deadline = Number.POSITIVE_INFINITY;
          yield* sleep(5);
        }),
        TimeoutError,
      );
      assert.equal(currentTime(), 0);
      // One that ends without suspending still gives its value, as asyncio's timeout(0) does.
      const atOnce = yield* moveOnAfter(0, function* (_limit: TimeLimit) {
        return "at once";
      });
      assert.deepEqual(atOnce, { value: "at once", cancelled: false });
    });
  });

  it("can be moved from another task", async () => {
    await runVirtual(function* () {
      const outcome = yield* moveOnAfter(100, function* (limit) {
        yield* spawn(function* () {
          yield* sleep(90);
          limit.deadline = 300;
        });
        yield* sleep(200);
        return "extended";
      });
      assert.deepEqual(outcome, { value: "extended", cancelled: false });
      assert.equal(currentTime(), 200);
    });
  });

  it("a TimeoutError after a deadline moved from or to Infinity gives the limit's length from its start, not NaN", async () => {
    await runVirtual(function* () {
      const fromInfinity = yield* rejectsOp(
        timeout(Number.POSITIVE_INFINITY, function* (limit) {
          limit.deadline = 50;
          yield* sleep(500);
        }),
        TimeoutError,
      );
      assert.equal((fromInfinity as TimeoutError).ms, 50);
      const start = currentTime();
      const throughInfinity = yield* rejectsOp(
        timeout(100, function* (limit) {
          limit.deadline = Number.POSITIVE_INFINITY;
          limit.deadline = start + 30;
          yield* sleep(500);
        }),
        TimeoutError,
      );
      assert.equal((throughInfinity as TimeoutError).ms, 30);
      assert.match(throughInfinity.message, /after 30 ms/);
    });
  });

  it("an Infinity deadline sets no timer until it is moved", async () => {
    await runVirtual(function* () {
      const outcome = yield* moveOnAt(Number.POSITIVE_INFINITY, function* (limit) {
        yield* sleep(10);
        assert.equal(limit.deadline, Number.POSITIVE_INFINITY);
        limit.deadline = currentTime() + 5;
        yield* sleep(100);
      });
      assert.equal(outcome.cancelled, true);
      assert.equal(currentTime(), 15);
    });
  });

  it("cancel() gives up at once; timeout then throws TimeoutError", async () => {
    await runVirtual(function* () {
      const outcome = yield* moveOnAfter(100, function* (limit) {
        yield* sleep(5);
        limit.cancel();
        yield* sleep(1);
      });
      assert.equal(outcome.cancelled, true);
      assert.equal(currentTime(), 5);
      yield* rejectsOp(
        timeout(100, function* (limit) {
          limit.cancel();
          yield* sleep(1);
        }),
        TimeoutError,
      );
    });
  });

  it("an expired limit stays expired: moving it later does not take the cancellation back", async () => {
    await runVirtual(function* () {
      const outcome = yield* moveOnAfter(10, function* (limit) {
        try {
          yield* sleep(100);
        } finally {
          assert.equal(limit.expired, true);
          limit.deadline = 1000;
          assert.equal(limit.deadline, 10);
          yield* sleep(5); // cleanup may still suspend
        }
      });
      assert.equal(outcome.cancelled, true);
      assert.equal(currentTime(), 15);
    });
  });

  it("the TimeoutError says how long the moved limit was", async () => {
    await runVirtual(function* () {
      try {
        yield* timeout(100, function* (limit) {
          limit.deadline += 150;
          yield* sleep(1000);
        });
        assert.fail("expected a timeout");
      } catch (error) {
        assert.ok(error instanceof TimeoutError);
        assert.match(error.message, /250/);
        assert.equal(currentTime(), 250);
      }
    });
  });

  it("once the operation has ended the handle does nothing and leaves no timer", async () => {
    await runVirtual(function* () {
      let kept: { deadline: number; cancel(): void } | undefined;
      const outcome = yield* moveOnAfter(100, function* (limit) {
        kept = limit;
        return 1;
      });
      assert.deepEqual(outcome, { value: 1, cancelled: false });
      kept?.cancel();
      if (kept) kept.deadline = 5;
      yield* sleep(1000);
    });
  });

  it("rejects a NaN deadline", async () => {
    await runVirtual(function* () {
      yield* moveOnAfter(100, function* (limit) {
        assert.throws(() => {
          limit.deadline = Number.NaN;
        }, RangeError);
      });
    });
  });
});
