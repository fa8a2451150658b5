import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CancelledError, Condition, Event, Lock, type Operation, sleep, spawn, type Task, TimeoutError, timeout } from "../../src/index.ts";
import { runVirtual, waitAllTasksBlocked } from "../../src/testing/index.ts";
import { checkLeaks, collectGarbage, rejectsOp } from "../_helpers.ts";

checkLeaks();

describe("Event", () => {
  it("wait() returns at once when set, wakes every waiter on set(), waits again after clear()", async () => {
    await runVirtual(function* () {
      const event = new Event();
      const woken: number[] = [];
      for (const i of [1, 2, 3]) {
        yield* spawn(function* () {
          yield* event.wait();
          woken.push(i);
        });
      }
      yield* waitAllTasksBlocked();
      assert.deepEqual(woken, []);
      event.set();
      yield* waitAllTasksBlocked();
      assert.deepEqual(woken, [1, 2, 3]);
      const it = event.wait()[Symbol.iterator]();
      assert.equal(it.next().done, true, "a set event does not suspend");
      event.clear();
      assert.equal(event.isSet, false);
      const late = yield* spawn(() => event.wait());
      yield* waitAllTasksBlocked();
      assert.equal(late.done, false);
      event.set();
      yield* late;
    });
  });

  it("a cancelled waiter just stops waiting", async () => {
    await runVirtual(function* () {
      const event = new Event();
      const waiter = yield* spawn(() => event.wait());
      yield* waitAllTasksBlocked();
      waiter.cancel();
      try {
        yield* waiter;
      } catch {}
      event.set();
      assert.equal(waiter.state, "cancelled");
    });
  });
});

describe("Condition", () => {
  it("wait() releases the lock while waiting and holds it again when it returns", async () => {
    await runVirtual(function* () {
      const cond = new Condition();
      const log: string[] = [];
      const waiter = yield* spawn(function* () {
        yield* cond.acquire();
        try {
          log.push("waiting");
          yield* cond.wait();
          log.push(`woken, locked=${cond.locked}`);
        } finally {
          cond.release();
        }
      });
      yield* waitAllTasksBlocked();
      assert.equal(cond.locked, false, "released while waiting");
      yield* cond.acquire();
      cond.notify();
      cond.release();
      yield* waiter;
      assert.deepEqual(log, ["waiting", "woken, locked=true"]);
    });
  });

  it("waitFor(predicate), notify(n) and notifyAll()", async () => {
    await runVirtual(function* () {
      const cond = new Condition();
      let stock = 0;
      const served: number[] = [];
      for (const i of [1, 2, 3, 4]) {
        yield* spawn(function* () {
          using _ = yield* cond.acquire();
          yield* cond.waitFor(() => stock > 0);
          stock--;
          served.push(i);
        });
      }
      yield* waitAllTasksBlocked();
      yield* cond.acquire();
      stock = 2;
      cond.notify(2);
      cond.release();
      yield* waitAllTasksBlocked();
      assert.deepEqual(served, [1, 2]);
      yield* cond.acquire();
      stock = 2;
      cond.notifyAll();
      cond.release();
      yield* waitAllTasksBlocked();
      assert.deepEqual(served, [1, 2, 3, 4]);
    });
  });

  it("conditions can share one lock", async () => {
    await runVirtual(function* () {
      const lock = new Lock();
      const a = new Condition(lock);
      const b = new Condition(lock);
      yield* a.acquire();
      assert.equal(b.locked, true);
      a.release();
      assert.equal(b.locked, false);
    });
  });

  it("a cancelled wait re-acquires the lock before the caller's finally runs", async () => {
    await runVirtual(function* () {
      const cond = new Condition();
      let lockedInFinally: boolean | undefined;
      const waiter = yield* spawn(function* () {
        yield* cond.acquire();
        try {
          yield* cond.wait();
        } finally {
          lockedInFinally = cond.locked;
          cond.release();
        }
      });
      yield* waitAllTasksBlocked();
      // Someone else holds the lock when the cancel arrives: the waiter must wait for it.
      yield* cond.acquire();
      waiter.cancel();
      yield* sleep(10);
      assert.equal(waiter.done, false, "still re-acquiring the lock");
      cond.release();
      try {
        yield* waiter;
      } catch {}
      assert.equal(lockedInFinally, true);
      assert.equal(cond.locked, false);
    });
  });

  it("a notification given to a waiter cancelled before it ran passes to the next waiter", async () => {
    await runVirtual(function* () {
      const cond = new Condition();
      const woken: string[] = [];
      const spawnWaiter = (name: string) =>
        spawn(function* () {
          using _ = yield* cond.acquire();
          yield* cond.wait();
          woken.push(name);
        });
      const first = yield* spawnWaiter("first");
      yield* spawnWaiter("second");
      yield* waitAllTasksBlocked();
      yield* cond.acquire();
      cond.notify(1);
      first.cancel();
      cond.release();
      try {
        yield* first;
      } catch {}
      yield* waitAllTasksBlocked();
      assert.deepEqual(woken, ["second"]);
    });
  });

  it("wait() and notify() without holding the lock throw", async () => {
    await runVirtual(function* () {
      const cond = new Condition();
      assert.throws(() => cond.notify(), { message: "Cannot notify a condition: its lock is not held; acquire() it first" });
      try {
        yield* cond.wait();
      } catch (error) {
        assert.equal((error as Error).message, "Cannot wait on a condition: its lock is not held; acquire() it first");
      }
    });
  });

  it("a wait() whose release of the lock throws (the lock only handed to a waiter) leaves no waiter queued", async () => {
    const lock = new Lock();
    const cond = new Condition(lock);
    let misuser: WeakRef<object> | undefined;
    await runVirtual(function* () {
      yield* lock.acquire();
      const next = yield* spawn(() => lock.withLock(function* () {}));
      yield* sleep(0);
      const task = yield* spawn(function* () {
        const error = yield* rejectsOp(cond.wait(), Error);
        assert.match(error.message, /^Cannot release the lock: it is not held yet/);
      });
      misuser = new WeakRef(task);
      lock.release(); // handed to `next`, which runs after `task`: the lock stays locked till then
      yield* next;
      yield* task;
    });
    await collectGarbage();
    assert.equal(misuser?.deref(), undefined, "the condition keeps no waiter of the task");
  });
});

// DESIGN edge cases 10 and 14, with ports of CPython's test_asyncio/test_locks.py ConditionTests.
describe("Condition under cancellation", () => {
  it("wait() cancelled while re-acquiring the lock after notify() waits for the lock, then throws holding it (CPython test_wait_cancel_after_notify)", async () => {
    await runVirtual(function* () {
      const cond = new Condition();
      let notifierHolds = false;
      const seenInFinally: string[] = [];
      const waiter = yield* spawn(function* () {
        using _ = yield* cond.acquire();
        try {
          yield* cond.wait();
        } finally {
          seenInFinally.push(`locked=${cond.locked}, notifier holds=${notifierHolds}`);
        }
      });
      yield* waitAllTasksBlocked(); // waiting for a notification
      yield* cond.acquire();
      notifierHolds = true;
      cond.notify();
      yield* waitAllTasksBlocked(); // notified: now waiting for the lock the notifier holds
      waiter.cancel();
      yield* waitAllTasksBlocked();
      assert.equal(waiter.done, false, "the cancel is held back until the waiter has the lock");
      assert.deepEqual(seenInFinally, []);
      assert.equal(cond.locked, true);
      notifierHolds = false;
      cond.release(); // the notifier's own release must not throw
      const error = yield* rejectsOp(waiter, CancelledError);
      assert.equal(error, waiter.error);
      assert.deepEqual(seenInFinally, ["locked=true, notifier holds=false"]);
      assert.equal(cond.locked, false);
    });
  });

  it("waitFor() cancelled while re-acquiring throws the task's own CancelledError, holding the lock (CPython test_cancelled_error_re_aquire)", async () => {
    await runVirtual(function* () {
      const cond = new Condition();
      let wake = false;
      let raised: unknown;
      let lockedWhenRaised: boolean | undefined;
      const task = yield* spawn(function* () {
        using _ = yield* cond.acquire();
        try {
          yield* cond.waitFor(() => wake);
        } catch (error) {
          raised = error;
          lockedWhenRaised = cond.locked;
          throw error;
        }
      });
      yield* waitAllTasksBlocked();
      yield* cond.acquire();
      wake = true;
      cond.notify();
      yield* waitAllTasksBlocked(); // re-acquiring the lock
      task.cancel("foo");
      cond.release();
      const error = yield* rejectsOp(task, CancelledError);
      assert.equal(error, raised, "the same error object, not a copy");
      assert.equal((error as CancelledError).reason, "foo");
      assert.equal(lockedWhenRaised, true);
      assert.equal(cond.locked, false);
    });
  });

  it("waitFor() cancelled while waiting for a notification throws the task's own CancelledError, holding the lock (CPython test_cancelled_error_wakeup)", async () => {
    await runVirtual(function* () {
      const cond = new Condition();
      let raised: unknown;
      let lockedWhenRaised: boolean | undefined;
      const task = yield* spawn(function* () {
        using _ = yield* cond.acquire();
        try {
          yield* cond.waitFor(() => false);
        } catch (error) {
          raised = error;
          lockedWhenRaised = cond.locked;
          throw error;
        }
      });
      yield* waitAllTasksBlocked();
      task.cancel("foo");
      const error = yield* rejectsOp(task, CancelledError);
      assert.equal(error, raised);
      assert.equal((error as CancelledError).reason, "foo");
      assert.equal(lockedWhenRaised, true);
      assert.equal(cond.locked, false);
    });
  });

  // Two consumers take items under the lock; one is notified and cancelled at once. The item must still be taken.
  function* consumer(cond: Condition, stock: { n: number }): Operation<void> {
    using _ = yield* cond.acquire();
    for (;;) {
      yield* cond.waitFor(() => stock.n !== 0);
      if (stock.n < 0) return;
      stock.n--;
    }
  }

  it("a waiter notified and cancelled before it ran passes the notification on (CPython test_cancelled_wakeup)", async () => {
    await runVirtual(function* () {
      const cond = new Condition();
      const stock = { n: 0 };
      const c = [yield* spawn(() => consumer(cond, stock)), yield* spawn(() => consumer(cond, stock))];
      yield* waitAllTasksBlocked();
      {
        using _ = yield* cond.acquire();
        stock.n++;
        cond.notify(1);
        c[0]?.cancel();
        try {
          yield* timeout(10, () => cond.waitFor(() => stock.n === 0));
        } catch (error) {
          if (!(error instanceof TimeoutError)) throw error;
        }
        assert.equal(stock.n, 0, "the notification reached the other consumer");
        stock.n = -1;
        cond.notifyAll();
      }
      yield* c[1] as Task<void>;
      assert.equal(c[0]?.state, "cancelled");
    });
  });

  it("a waiter notified and cancelled while re-acquiring the lock passes the notification on (CPython test_cancelled_wakeup_relock)", async () => {
    await runVirtual(function* () {
      const cond = new Condition();
      const stock = { n: 0 };
      const c = [yield* spawn(() => consumer(cond, stock)), yield* spawn(() => consumer(cond, stock))];
      yield* waitAllTasksBlocked();
      {
        using _ = yield* cond.acquire();
        stock.n++;
        cond.notify(1);
        yield* waitAllTasksBlocked(); // c[0] now waits for the lock
        c[0]?.cancel();
        try {
          yield* timeout(10, () => cond.waitFor(() => stock.n === 0));
        } catch (error) {
          if (!(error instanceof TimeoutError)) throw error;
        }
        assert.equal(stock.n, 0, "the notification reached the other consumer");
        stock.n = -1;
        cond.notifyAll();
      }
      yield* c[1] as Task<void>;
      assert.equal(c[0]?.state, "cancelled");
    });
  });

  it("a wait cancelled after the lock was handed back to it, before it ran, throws holding the lock and passes the notification on", async () => {
    await runVirtual(function* () {
      const cond = new Condition();
      const log: string[] = [];
      const spawnWaiter = (name: string) =>
        spawn(function* () {
          using _ = yield* cond.acquire();
          try {
            yield* cond.wait();
            log.push(`${name} notified`);
          } finally {
            log.push(`${name} ends, locked=${cond.locked}`);
          }
        });
      const first = yield* spawnWaiter("first");
      yield* spawnWaiter("second");
      yield* waitAllTasksBlocked();
      yield* cond.acquire();
      cond.notify();
      yield* waitAllTasksBlocked(); // `first` waits for the lock
      cond.release(); // handed to `first`...
      first.cancel(); // ...which is cancelled before it ran: it keeps the lock until its cleanup is over
      yield* rejectsOp(first, CancelledError);
      yield* waitAllTasksBlocked();
      assert.deepEqual(log, ["first ends, locked=true", "second notified", "second ends, locked=true"]);
      assert.equal(cond.locked, false);
    });
  });

  it("a wait cancelled while re-acquiring keeps its place in the lock's queue (CPython re-queues it at the back)", async () => {
    await runVirtual(function* () {
      const cond = new Condition();
      const log: string[] = [];
      const waiter = yield* spawn(function* () {
        using _ = yield* cond.acquire();
        try {
          yield* cond.wait();
        } finally {
          log.push(`waiter, locked=${cond.locked}`);
        }
      });
      yield* waitAllTasksBlocked();
      yield* cond.acquire();
      cond.notify();
      yield* waitAllTasksBlocked(); // the waiter queues for the lock...
      const later = yield* spawn(function* () {
        using _ = yield* cond.acquire();
        log.push("later");
      });
      yield* waitAllTasksBlocked(); // ...and so does `later`, behind it
      waiter.cancel();
      log.push("notifier releases");
      cond.release();
      yield* rejectsOp(waiter, CancelledError);
      yield* later;
      assert.deepEqual(log, ["notifier releases", "waiter, locked=true", "later"]);
    });
  });

  it("a wait notified and cancelled while the notifier still holds the lock ends holding the lock (CPython test_wait_cancel_contested)", async () => {
    await runVirtual(function* () {
      const cond = new Condition();
      yield* cond.acquire();
      const waiter = yield* spawn(() => cond.wait());
      yield* waitAllTasksBlocked();
      assert.equal(cond.locked, false);
      yield* cond.acquire();
      cond.notify();
      waiter.cancel();
      cond.release();
      yield* rejectsOp(waiter, CancelledError);
      assert.equal(cond.locked, true, "the cancelled wait() returned holding the lock");
      cond.release();
    });
  });

  it("a timeout around wait() leaves the lock held (CPython test_timeout_in_block)", async () => {
    await runVirtual(function* () {
      const cond = new Condition();
      using _ = yield* cond.acquire();
      yield* rejectsOp(
        timeout(500, () => cond.wait()),
        TimeoutError,
      );
      assert.equal(cond.locked, true);
    });
  });
});
