// Barrier, ported from CPython's test_locks.py BarrierTests (N = 5).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { all, Barrier, BrokenBarrierError, CancelledError, type Operation, sleep, spawn } from "../../src/index.ts";
import { runVirtual, waitAllTasksBlocked } from "../../src/testing/index.ts";
import { checkLeaks, rejectsOp } from "../_helpers.ts";

checkLeaks();

const N = 5;

/** CPython's gather_tasks: runs `n` copies of `body` concurrently. */
function* gather<T>(n: number, body: (i: number) => Operation<T>): Operation<T[]> {
  return yield* all(Array.from({ length: n }, (_, i) => () => body(i)));
}

describe("Barrier", () => {
  it("test_barrier_parties: parties must be a positive integer", () => {
    assert.throws(() => new Barrier(0), /^RangeError: Cannot create a barrier: parties must be a positive safe integer, received 0/);
    assert.throws(() => new Barrier(2 ** 53 + 2), /^RangeError: Cannot create a barrier: parties must be a positive safe integer, received 9007199254740994$/);
    assert.throws(() => new Barrier(-5), RangeError);
    assert.throws(() => new Barrier(1.5), RangeError);
    const barrier = new Barrier(N);
    assert.equal(barrier.parties, N);
    assert.equal(barrier.nWaiting, 0);
    assert.equal(barrier.broken, false);
    assert.equal(String(barrier), "Barrier(0/5 waiting)");
  });

  it("test_filling_one_task: a barrier of one passes without suspending, again and again", async () => {
    await runVirtual(function* () {
      const barrier = new Barrier(1);
      for (let round = 0; round < 2; round++) {
        const it = barrier.wait()[Symbol.iterator]();
        assert.deepEqual(it.next(), { done: true, value: 0 });
      }
      assert.equal(barrier.nWaiting, 0);
    });
  });

  it("test_barrier / test_filling_task_by_task: nobody passes before all parties wait", async () => {
    await runVirtual(function* () {
      const barrier = new Barrier(N);
      const passed: number[] = [];
      const tasks = [];
      for (let i = 0; i < N - 1; i++) {
        tasks.push(
          yield* spawn(function* () {
            yield* barrier.wait();
            passed.push(i);
          }),
        );
        yield* waitAllTasksBlocked();
        assert.equal(barrier.nWaiting, i + 1);
        assert.deepEqual(passed, []);
      }
      assert.equal(yield* barrier.wait(), N - 1);
      assert.equal(barrier.nWaiting, 0);
      for (const task of tasks) yield* task;
      assert.deepEqual(passed, [0, 1, 2, 3]);
      assert.equal(barrier.broken, false);
    });
  });

  it("test_wait_return / test_filling_tasks_check_return_value: each task gets its arrival index", async () => {
    await runVirtual(function* () {
      const barrier = new Barrier(N);
      const order = [3, 0, 4, 1, 2];
      const indexes = yield* gather(N, function* (i) {
        yield* sleep((order[i] as number) * 10);
        return yield* barrier.wait();
      });
      assert.deepEqual(indexes, order);
    });
  });

  it("test_filling_tasks_wait_twice: a barrier is reusable, round after round", async () => {
    await runVirtual(function* () {
      const barrier = new Barrier(N);
      const rounds: number[][] = [[], [], []];
      yield* gather(N, function* () {
        for (const round of rounds) round.push(yield* barrier.wait());
      });
      for (const round of rounds) assert.deepEqual([...round].sort(), [0, 1, 2, 3, 4]);
      assert.equal(barrier.nWaiting, 0);
      assert.equal(barrier.broken, false);
    });
  });

  it("test_blocking_tasks_while_draining: tasks that passed wait again for the next round", async () => {
    await runVirtual(function* () {
      const rewait = 2;
      const barrier = new Barrier(N);
      const barrierNoWaiting = new Barrier(N - rewait);
      let rewaitN = rewait;
      yield* gather(N, function* () {
        yield* barrier.wait();
        if (rewaitN > 0) {
          rewaitN--;
          yield* barrier.wait();
        } else {
          yield* barrierNoWaiting.wait();
          yield* barrier.wait();
        }
      });
      assert.equal(barrier.nWaiting, 0);
      assert.equal(barrierNoWaiting.nWaiting, 0);
    });
  });

  it("test_filling_task_cancelled / test_filling_tasks_cancel_one: a waiter cancelled while filling leaves the count consistent", async () => {
    await runVirtual(function* () {
      const barrier = new Barrier(3);
      const first = yield* spawn(() => barrier.wait());
      const second = yield* spawn(() => barrier.wait());
      yield* waitAllTasksBlocked();
      assert.equal(barrier.nWaiting, 2);
      first.cancel();
      yield* rejectsOp(first, CancelledError);
      assert.equal(barrier.nWaiting, 1);
      // One more is not enough any more: the barrier needs two.
      const third = yield* spawn(() => barrier.wait());
      yield* waitAllTasksBlocked();
      assert.equal(barrier.nWaiting, 2);
      assert.equal(second.done, false);
      // The index counts the tasks waiting, as asyncio's: the cancelled task's index is given again.
      assert.equal(yield* barrier.wait(), 2);
      assert.equal(yield* second, 1);
      assert.equal(yield* third, 1);
      assert.equal(barrier.nWaiting, 0);
      assert.equal(barrier.broken, false);
    });
  });

  it("a waiter cancelled after the barrier opened throws CancelledError; the others pass", async () => {
    await runVirtual(function* () {
      const barrier = new Barrier(3);
      const first = yield* spawn(() => barrier.wait());
      const second = yield* spawn(() => barrier.wait());
      yield* waitAllTasksBlocked();
      assert.equal(yield* barrier.wait(), 2); // opens it: both are handed their index, neither has run
      first.cancel();
      yield* rejectsOp(first, CancelledError);
      assert.equal(yield* second, 1);
      assert.equal(barrier.nWaiting, 0);
      // The cancelled task counted as drained: the next round is unaffected.
      const [a, b, c] = yield* gather(3, () => barrier.wait());
      assert.deepEqual([a, b, c], [0, 1, 2]);
    });
  });

  it("test_draining_state: a task arriving while the barrier drains waits for the next round", async () => {
    await runVirtual(function* () {
      const barrier = new Barrier(2);
      const first = yield* spawn(() => barrier.wait());
      yield* waitAllTasksBlocked();
      assert.equal(yield* barrier.wait(), 1); // opens it; `first` has not run yet: the barrier drains
      const again = yield* spawn(() => barrier.wait());
      const late = yield* spawn(() => barrier.wait());
      yield* waitAllTasksBlocked();
      assert.equal(yield* first, 0);
      assert.equal(yield* again, 0);
      assert.equal(yield* late, 1);
      // A reset during the drain leaves the blocked tasks waiting for the next round, as asyncio's.
      const a = yield* spawn(() => barrier.wait());
      yield* waitAllTasksBlocked();
      assert.equal(yield* barrier.wait(), 1);
      const b = yield* spawn(() => barrier.wait());
      const c = yield* spawn(() => barrier.wait());
      barrier.reset();
      assert.equal(yield* a, 0);
      assert.deepEqual([yield* b, yield* c], [0, 1]);
    });
  });

  it("abort() during the drain breaks the blocked tasks", async () => {
    await runVirtual(function* () {
      const barrier = new Barrier(2);
      // The filler's urgent children run before the drained waiter (this task) does.
      const filler = yield* spawn(function* () {
        yield* barrier.wait();
        const blocked = yield* spawn(
          function* () {
            yield* rejectsOp(barrier.wait(), BrokenBarrierError);
            return "broken";
          },
          { priority: 1 },
        );
        const cancelled = yield* spawn(() => barrier.wait(), { priority: 1 });
        yield* spawn(
          function* () {
            assert.equal(barrier.nWaiting, 0);
            cancelled.cancel();
            yield* rejectsOp(cancelled, CancelledError);
            barrier.abort();
          },
          { priority: 2 },
        );
        return blocked;
      });
      assert.equal(yield* barrier.wait(), 0);
      assert.equal(yield* yield* filler, "broken");
    });
  });

  it("test_reset_barrier: a reset barrier is usable, and not broken", async () => {
    await runVirtual(function* () {
      const barrier = new Barrier(1);
      barrier.reset();
      assert.equal(barrier.nWaiting, 0);
      assert.equal(barrier.broken, false);
      assert.equal(yield* barrier.wait(), 0);
    });
  });

  it("test_reset_barrier_while_tasks_waiting: the waiting tasks get BrokenBarrierError", async () => {
    await runVirtual(function* () {
      const barrier = new Barrier(N);
      const results: string[] = [];
      const waiters = yield* spawn(() =>
        gather(N - 1, function* () {
          try {
            yield* barrier.wait();
            results.push("passed");
          } catch (error) {
            assert.ok(error instanceof BrokenBarrierError);
            assert.match(
              error.message,
              /^Cannot pass the barrier: it was reset while this task waited, received reset\(\) with 4 of 5 parties waiting; call wait\(\) again/,
            );
            results.push("broken");
          }
        }),
      );
      yield* waitAllTasksBlocked();
      assert.equal(barrier.nWaiting, N - 1);
      barrier.reset();
      yield* waiters;
      assert.deepEqual(results, ["broken", "broken", "broken", "broken"]);
      assert.equal(barrier.nWaiting, 0);
      assert.equal(barrier.broken, false);
    });
  });

  it("test_reset_barrier_while_tasks_waiting_and_waiting_again: the reset tasks can meet again", async () => {
    await runVirtual(function* () {
      const barrier = new Barrier(N);
      let broken = 0;
      let passed = 0;
      const tasks = yield* spawn(() =>
        gather(N - 1, function* () {
          try {
            yield* barrier.wait();
          } catch (error) {
            if (!(error instanceof BrokenBarrierError)) throw error;
            broken++;
          }
          yield* barrier.wait();
          passed++;
        }),
      );
      yield* waitAllTasksBlocked();
      barrier.reset();
      yield* waitAllTasksBlocked();
      assert.equal(barrier.nWaiting, N - 1);
      yield* barrier.wait();
      yield* tasks;
      assert.deepEqual([broken, passed], [N - 1, N - 1]);
      assert.equal(barrier.nWaiting, 0);
    });
  });

  it("test_reset_barrier_when_tasks_half_draining (adapted): a reset after the barrier opened takes nothing back", async () => {
    // asyncio's tasks still draining (not yet run) get BrokenBarrierError from such a reset;
    // here the barrier hands every waiter its index as it opens.
    await runVirtual(function* () {
      const barrier = new Barrier(N);
      let resets = 0;
      const indexes = yield* gather(N, function* () {
        const index = yield* barrier.wait();
        if (resets++ === 0) barrier.reset();
        return index;
      });
      assert.deepEqual([...indexes].sort(), [0, 1, 2, 3, 4]);
      assert.equal(barrier.nWaiting, 0);
      assert.equal(barrier.broken, false);
    });
  });

  it("test_reset_barrier_while_tasks_draining: a reset between rounds is harmless", async () => {
    await runVirtual(function* () {
      const barrier = new Barrier(N);
      let count = 0;
      const results1: boolean[] = [];
      let results3 = 0;
      yield* gather(N, function* () {
        yield* barrier.wait();
        count++;
        if (count === N) {
          barrier.reset();
          yield* barrier.wait();
        } else {
          yield* barrier.wait();
          results1.push(true);
        }
        yield* barrier.wait();
        results3++;
      });
      assert.equal(results1.length, N - 1);
      assert.equal(results3, N);
      assert.equal(barrier.broken, false);
      assert.equal(barrier.nWaiting, 0);
    });
  });

  it("test_abort_barrier: waiting and later tasks get BrokenBarrierError until reset", async () => {
    await runVirtual(function* () {
      const barrier = new Barrier(N);
      const waiters = yield* spawn(() =>
        gather(N - 1, function* () {
          const error = yield* rejectsOp(barrier.wait(), BrokenBarrierError);
          assert.match(
            error.message,
            /^Cannot pass the barrier: it was aborted while this task waited, received abort\(\) with 4 of 5 parties waiting; reset\(\) it/,
          );
        }),
      );
      yield* waitAllTasksBlocked();
      barrier.abort();
      yield* waiters;
      assert.equal(barrier.broken, true);
      assert.equal(barrier.nWaiting, 0);
      assert.equal(String(barrier), "Barrier(broken)");
      const error = yield* rejectsOp(barrier.wait(), BrokenBarrierError);
      assert.match(error.message, /^Cannot wait on the barrier: it is broken, received a wait\(\) after abort\(\); reset\(\) it to use it again$/);
      // A barrier of one is broken too.
      const one = new Barrier(1);
      one.abort();
      yield* rejectsOp(one.wait(), BrokenBarrierError);
      barrier.reset();
      assert.equal(barrier.broken, false);
      yield* gather(N, () => barrier.wait());
    });
  });

  it("test_abort_barrier_when_exception: a party that fails aborts the barrier for the others", async () => {
    await runVirtual(function* () {
      const barrier = new Barrier(N);
      const outcome: string[] = [];
      yield* gather(N, function* (i) {
        try {
          if (i === N - 1) throw new Error("boom");
          yield* barrier.wait();
          outcome.push("passed");
        } catch (error) {
          if (error instanceof BrokenBarrierError) outcome.push("broken");
          else barrier.abort();
        }
      });
      assert.deepEqual(outcome, ["broken", "broken", "broken", "broken"]);
      assert.equal(barrier.broken, true);
      barrier.reset();
      const indexes = yield* gather(N, () => barrier.wait());
      assert.deepEqual([...indexes].sort(), [0, 1, 2, 3, 4]);
    });
  });
});
