// CapacityLimiter, ported from Trio's trio/_tests/test_sync.py (test_CapacityLimiter*).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { all, CancelledError, CapacityLimiter, currentTask, type Operation, scope, sleep, spawn, timeout } from "../../src/index.ts";
import { runVirtual, waitAllTasksBlocked } from "../../src/testing/index.ts";
import { checkLeaks, rejectsOp } from "../_helpers.ts";

checkLeaks();

function* throwsOp(op: Operation<unknown>, pattern: RegExp): Operation<void> {
  const error = yield* rejectsOp(op, Error);
  assert.match(error.message, pattern);
}

describe("CapacityLimiter", () => {
  it("test_CapacityLimiter: tokens by borrower, one each, released by their borrower only", async () => {
    assert.throws(() => new CapacityLimiter(1.5), /^TypeError: Cannot create a capacity limiter: totalTokens must be an integer or Infinity, received 1.5$/);
    assert.throws(() => new CapacityLimiter(-1), /^RangeError: Cannot create a capacity limiter: totalTokens must be at least 1, received -1$/);
    assert.throws(() => new CapacityLimiter(0), RangeError);
    await runVirtual(function* () {
      const c = new CapacityLimiter(2);
      assert.equal(String(c), "CapacityLimiter(0/2 borrowed, 0 waiting)");
      assert.equal(c.totalTokens, 2);
      assert.equal(c.borrowedTokens, 0);
      assert.equal(c.availableTokens, 2);
      assert.throws(
        () => c.release(),
        /^Error: Cannot release a capacity limiter: only a borrower holding a token may release it, received .*, which holds none; release on behalf/,
      );
      assert.equal(c.borrowedTokens, 0);
      assert.equal(c.tryAcquire(), true);
      assert.equal(c.borrowedTokens, 1);
      assert.equal(c.availableTokens, 1);
      assert.deepEqual(c.statistics(), { borrowedTokens: 1, totalTokens: 2, borrowers: [currentTask()], tasksWaiting: 0 });

      // Can't re-acquire when we already have it.
      assert.throws(
        () => c.tryAcquire(),
        /^Error: Cannot acquire a capacity limiter: a borrower may hold one token of a limiter at a time, received .*, which already holds one; release it first/,
      );
      assert.equal(c.borrowedTokens, 1);
      yield* throwsOp(c.acquire(), /which already holds one/);
      assert.equal(c.borrowedTokens, 1);

      // We can acquire on behalf of someone else though, without suspending.
      const it = c.acquireOnBehalfOf("someone")[Symbol.iterator]();
      assert.equal(it.next().done, true);

      // But then we've run out of capacity.
      assert.equal(c.borrowedTokens, 2);
      assert.equal(c.tryAcquireOnBehalfOf("third party"), false);
      assert.deepEqual(new Set(c.statistics().borrowers), new Set([currentTask(), "someone"]));

      // Until we release one.
      c.releaseOnBehalfOf(currentTask());
      assert.deepEqual(c.statistics().borrowers, ["someone"]);
      assert.throws(() => c.releaseOnBehalfOf("nobody"), /received "nobody", which holds none/);
      c.releaseOnBehalfOf("someone");
      assert.equal(c.borrowedTokens, 0);
      {
        using _ = yield* c.acquire();
        assert.equal(c.borrowedTokens, 1);
      }
      assert.equal(c.borrowedTokens, 0);
      assert.equal(
        yield* c.withLimit(function* () {
          return c.borrowedTokens;
        }),
        1,
      );
      assert.equal(c.borrowedTokens, 0);

      yield* scope(function* () {
        yield* c.acquireOnBehalfOf("value 1");
        yield* c.acquireOnBehalfOf("value 2");
        yield* spawn(() => c.acquireOnBehalfOf("value 3"));
        yield* waitAllTasksBlocked();
        assert.equal(c.borrowedTokens, 2);
        assert.equal(c.statistics().tasksWaiting, 1);
        // A borrower that waits may not acquire again either.
        assert.throws(() => c.tryAcquireOnBehalfOf("value 3"), /which already waits for one/);
        c.releaseOnBehalfOf("value 2");
        // Fairness: the token went to the waiter, not to a newcomer.
        assert.equal(c.borrowedTokens, 2);
        assert.equal(c.tryAcquire(), false);
      });
      c.releaseOnBehalfOf("value 3");
      c.releaseOnBehalfOf("value 1");
      assert.equal(c.borrowedTokens, 0);
    });
  });

  it("test_CapacityLimiter_inf: an infinite limiter never makes anyone wait", async () => {
    await runVirtual(function* () {
      const c = new CapacityLimiter(Number.POSITIVE_INFINITY);
      assert.equal(String(c), "CapacityLimiter(0/Infinity borrowed, 0 waiting)");
      assert.equal(c.totalTokens, Number.POSITIVE_INFINITY);
      assert.equal(c.borrowedTokens, 0);
      assert.equal(c.availableTokens, Number.POSITIVE_INFINITY);
      assert.throws(() => c.release(), /holds none/);
      assert.equal(c.tryAcquire(), true);
      assert.equal(c.borrowedTokens, 1);
      assert.equal(c.availableTokens, Number.POSITIVE_INFINITY);
      c.release();
    });
  });

  it("test_CapacityLimiter_change_total_tokens: raising the limit wakes waiters, lowering it takes nothing back", async () => {
    await runVirtual(function* () {
      const c = new CapacityLimiter(2);
      assert.throws(() => {
        c.totalTokens = 1.5;
      }, /^TypeError: Cannot set totalTokens: totalTokens must be an integer or Infinity, received 1.5$/);
      assert.throws(() => {
        c.totalTokens = 0;
      }, /^RangeError: Cannot set totalTokens: totalTokens must be at least 1, received 0$/);
      assert.throws(() => {
        c.totalTokens = -10;
      }, RangeError);
      assert.equal(c.totalTokens, 2);

      yield* scope(function* () {
        for (let i = 0; i < 5; i++) {
          yield* spawn(() => c.acquireOnBehalfOf(i));
          yield* waitAllTasksBlocked();
        }
        assert.deepEqual(c.statistics().borrowers, [0, 1]);
        assert.equal(c.statistics().tasksWaiting, 3);
        c.totalTokens += 1;
        assert.deepEqual(c.statistics().borrowers, [0, 1, 2]);
        assert.equal(c.statistics().tasksWaiting, 2);
        assert.equal(c.borrowedTokens, 3);
        c.totalTokens -= 2;
        assert.equal(c.totalTokens, 1);
        assert.equal(c.borrowedTokens, 3);
        assert.equal(c.availableTokens, 0);
        // Releasing does not wake anyone while over the limit.
        c.releaseOnBehalfOf(0);
        c.releaseOnBehalfOf(1);
        assert.deepEqual(c.statistics().borrowers, [2]);
        assert.equal(c.statistics().tasksWaiting, 2);
        c.releaseOnBehalfOf(2);
        assert.deepEqual(c.statistics().borrowers, [3]);
        c.totalTokens = 10;
        assert.deepEqual(c.statistics().borrowers, [3, 4]);
        assert.equal(c.statistics().tasksWaiting, 0);
        c.releaseOnBehalfOf(3);
        c.releaseOnBehalfOf(4);
      });
      assert.equal(c.borrowedTokens, 0);
    });
  });

  it("test_CapacityLimiter_memleak_548: a cancelled waiter leaves nothing behind", async () => {
    await runVirtual(function* () {
      const limiter = new CapacityLimiter(1);
      yield* limiter.acquire();
      const waiter = yield* spawn(() => limiter.acquire());
      yield* waitAllTasksBlocked();
      assert.equal(limiter.statistics().tasksWaiting, 1);
      waiter.cancel();
      yield* rejectsOp(waiter, CancelledError);
      assert.equal(limiter.statistics().tasksWaiting, 0);
      // Its borrower is forgotten too: it may acquire again.
      limiter.release();
      yield* limiter.acquireOnBehalfOf(waiter);
      limiter.releaseOnBehalfOf(waiter);
      assert.equal(limiter.borrowedTokens, 0);
    });
  });

  it("serves waiters FIFO, and a waiter cancelled after being handed a token passes it on", async () => {
    const order: string[] = [];
    await runVirtual(function* () {
      const c = new CapacityLimiter(1);
      yield* c.acquire();
      const tasks = [];
      for (const name of ["a", "b", "c"]) {
        tasks.push(
          yield* spawn(
            () =>
              c.withLimit(function* () {
                order.push(name);
                yield* sleep(10);
              }),
            { name },
          ),
        );
        yield* waitAllTasksBlocked();
      }
      c.release(); // handed to "a", which has not run yet
      assert.deepEqual(c.statistics().borrowers, [tasks[0]]);
      tasks[0]?.cancel();
      yield* rejectsOp(tasks[0] as Operation<unknown>, CancelledError);
      assert.equal(c.borrowedTokens, 1);
      yield* tasks[1] as Operation<unknown>;
      yield* tasks[2] as Operation<unknown>;
      assert.equal(c.borrowedTokens, 0);
    });
    assert.deepEqual(order, ["b", "c"]);
  });

  it("a token released by its borrower while handed to a cancelled waiter is not passed on twice", async () => {
    await runVirtual(function* () {
      const c = new CapacityLimiter(1);
      yield* c.acquireOnBehalfOf("x");
      const first = yield* spawn(() => c.acquireOnBehalfOf("first"));
      yield* waitAllTasksBlocked();
      const second = yield* spawn(() => c.acquireOnBehalfOf("second"));
      yield* waitAllTasksBlocked();
      c.releaseOnBehalfOf("x"); // handed to "first"
      c.releaseOnBehalfOf("first"); // ... which gives it back before it ran: "second" gets it
      first.cancel();
      yield* rejectsOp(first, CancelledError);
      yield* second;
      assert.deepEqual(c.statistics().borrowers, ["second"]);
      c.releaseOnBehalfOf("second");
    });
  });

  it("a waiter cancelled after its token was released and taken again by the same borrower leaves that new token alone", async () => {
    await runVirtual(function* () {
      const c = new CapacityLimiter(1);
      const borrower = { name: "shared borrower" };
      yield* c.acquireOnBehalfOf("x");
      const waiting = yield* spawn(() => c.acquireOnBehalfOf(borrower));
      yield* waitAllTasksBlocked();
      // Queued before the waiter is woken, so it is cancelled before it runs.
      yield* spawn(function* () {
        waiting.cancel();
      });
      c.releaseOnBehalfOf("x"); // handed to the waiter
      c.releaseOnBehalfOf(borrower); // given back on the borrower's behalf before the waiter ran
      assert.equal(c.tryAcquireOnBehalfOf(borrower), true); // and taken again, by other code
      yield* rejectsOp(waiting, CancelledError);
      assert.deepEqual(c.statistics().borrowers, [borrower]);
      c.releaseOnBehalfOf(borrower);
    });
  });

  it("a token taken inside timeout() or scope() is the calling task's (Trio: the token belongs to the task), and all() runs separate borrowers", async () => {
    await runVirtual(
      function* () {
        const limiter = new CapacityLimiter(2);
        yield* timeout(100, function* () {
          yield* limiter.acquire();
        });
        assert.deepEqual(limiter.statistics().borrowers, [currentTask()]);
        yield* scope(function* () {
          limiter.release();
        });
        assert.equal(limiter.borrowedTokens, 0);
        // Each operation of all() is a borrower of its own.
        let most = 0;
        yield* all(
          [1, 2, 3].map(() =>
            limiter.withLimit(function* () {
              most = Math.max(most, limiter.borrowedTokens);
              yield* sleep(10);
            }),
          ),
        );
        assert.equal(most, 2);
        assert.equal(limiter.borrowedTokens, 0);
        assert.throws(() => limiter.release(), /received Task\(test, running\), which holds none/);
      },
      { name: "test" },
    );
  });
  it("acquire() borrows for the task that runs it, not the one that made the operation: all([acquire(), acquire()]) takes two tokens", async () => {
    await runVirtual(function* () {
      const limiter = new CapacityLimiter(2);
      const made = [limiter.acquire(), limiter.acquire()]; // made here, run by all()'s tasks
      yield* all(made);
      const borrowers = limiter.statistics().borrowers;
      assert.equal(borrowers.length, 2);
      assert.ok(!borrowers.includes(currentTask()), "the task that made the operations borrows nothing");
      assert.equal(limiter.tryAcquire(), false, "both tokens are taken");
    });
  });

  it("using the result of acquireOnBehalfOf(borrower) gives back that borrower's token, not the current task's", async () => {
    await runVirtual(function* () {
      const limiter = new CapacityLimiter(3);
      yield* limiter.acquire();
      {
        using _ = yield* limiter.acquireOnBehalfOf("job");
        assert.deepEqual(limiter.statistics().borrowers, [currentTask(), "job"]);
      }
      assert.deepEqual(limiter.statistics().borrowers, [currentTask()]);
      limiter.release();
      assert.equal(limiter.borrowedTokens, 0);
    });
  });
});
