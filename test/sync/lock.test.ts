// One contract suite run against every lock-like primitive: Lock,
// Semaphore(1) and BoundedSemaphore(1) must behave the same.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Fifo } from "../../src/core/_fifo.ts";
import {
  allSettled,
  BoundedSemaphore,
  CancelledError,
  currentTask,
  Future,
  Lock,
  type Operation,
  Semaphore,
  sleep,
  spawn,
  suspend,
  type Task,
  timeout,
} from "../../src/index.ts";
import { runVirtual, waitAllTasksBlocked } from "../../src/testing/index.ts";
import { checkLeaks, rejectsOp } from "../_helpers.ts";

checkLeaks();

interface LockLike extends Disposable {
  acquire(): Operation<Disposable>;
  tryAcquire(): boolean;
  release(): void;
  readonly locked: boolean;
  readonly waiting: number;
}

const factories: [string, () => LockLike][] = [
  ["Lock", () => new Lock()],
  ["Semaphore(1)", () => new Semaphore(1)],
  ["BoundedSemaphore(1)", () => new BoundedSemaphore(1)],
];

for (const [name, make] of factories) {
  describe(`${name} (lock contract)`, () => {
    it("acquire() of a free lock completes without suspending", async () => {
      await runVirtual(function* () {
        const lock = make();
        const it = lock.acquire()[Symbol.iterator]();
        assert.equal(it.next().done, true);
        assert.equal(lock.locked, true);
        assert.equal(lock.tryAcquire(), false);
        lock.release();
        assert.equal(lock.locked, false);
        assert.equal(lock.tryAcquire(), true);
        lock.release();
      });
    });

    it("gives mutual exclusion, and serves waiters in FIFO order", async () => {
      const order: number[] = [];
      await runVirtual(function* () {
        const lock = make();
        let inside = 0;
        for (const i of [1, 2, 3, 4]) {
          yield* spawn(function* () {
            yield* lock.acquire();
            try {
              inside++;
              assert.equal(inside, 1);
              order.push(i);
              yield* sleep(10);
              inside--;
            } finally {
              lock.release();
            }
          });
        }
      });
      assert.deepEqual(order, [1, 2, 3, 4]);
    });

    it("serves a more urgent waiter first", async () => {
      const order: string[] = [];
      await runVirtual(function* () {
        const lock = make();
        yield* lock.acquire();
        for (const [who, priority] of [
          ["low", 50],
          ["high", 1],
          ["mid", 10],
        ] as const) {
          yield* spawn(
            function* () {
              yield* lock.acquire();
              order.push(who);
              lock.release();
            },
            { priority },
          );
        }
        yield* waitAllTasksBlocked();
        lock.release();
      });
      assert.deepEqual(order, ["high", "mid", "low"]);
    });

    it("a newcomer cannot barge past a waiter the lock was handed to", async () => {
      await runVirtual(function* () {
        const lock = make();
        yield* lock.acquire();
        const waiter = yield* spawn(function* () {
          yield* lock.acquire();
          lock.release();
          return "served";
        });
        yield* waitAllTasksBlocked();
        lock.release();
        assert.equal(lock.tryAcquire(), false, "the lock belongs to the waiter now");
        assert.equal(yield* waiter, "served");
      });
    });

    it("a waiter cancelled while waiting leaves the queue; the next one gets the lock", async () => {
      await runVirtual(function* () {
        const lock = make();
        yield* lock.acquire();
        const cancelled = yield* spawn(() => lock.acquire());
        const next = yield* spawn(function* () {
          yield* lock.acquire();
          lock.release();
          return "next";
        });
        yield* waitAllTasksBlocked();
        cancelled.cancel();
        lock.release();
        assert.equal(yield* next, "next");
        assert.equal(lock.locked, false);
        assert.equal(cancelled.state, "cancelled");
      });
    });

    it("a waiter cancelled after the lock was handed to it passes it on", async () => {
      await runVirtual(function* () {
        const lock = make();
        yield* lock.acquire();
        const first = yield* spawn(() => lock.acquire());
        const second = yield* spawn(function* () {
          yield* lock.acquire();
          lock.release();
          return "second got it";
        });
        yield* waitAllTasksBlocked();
        lock.release(); // handed to `first`...
        first.cancel(); // ...which is cancelled before it runs
        assert.equal(yield* second, "second got it");
        assert.equal(lock.locked, false);
      });
    });

    it("a waiter cancelled while waiting leaves the queue empty (CPython test_acquire_cancel)", async () => {
      await runVirtual(function* () {
        const lock = make();
        yield* lock.acquire();
        const waiter = yield* spawn(() => lock.acquire());
        yield* waitAllTasksBlocked();
        waiter.cancel();
        yield* rejectsOp(waiter, CancelledError);
        lock.release();
        assert.equal(lock.locked, false, "no waiter was left to hand the lock to");
      });
    });

    it("a waiter cancelled while the holder's release is on its way: the next waiter gets the lock (CPython test_cancel_race)", async () => {
      await runVirtual(function* () {
        const lock = make();
        function* lockIt(blocker?: Future<void>): Operation<void> {
          yield* lock.acquire();
          try {
            if (blocker !== undefined) yield* blocker;
          } finally {
            lock.release();
          }
        }
        const fa = new Future<void>();
        const ta = yield* spawn(() => lockIt(fa));
        yield* waitAllTasksBlocked();
        assert.equal(lock.locked, true);
        const tb = yield* spawn(() => lockIt());
        const tc = yield* spawn(() => lockIt());
        yield* waitAllTasksBlocked();
        fa.resolve(); // A will release...
        tb.cancel(); // ...while B, first in line, is cancelled
        yield* ta;
        yield* rejectsOp(tb, CancelledError);
        yield* tc;
        assert.equal(lock.locked, false);
      });
    });

    it("a cancel and a release in the same turn hand the lock to one waiter only (CPython test_cancel_release_race)", async () => {
      await runVirtual(function* () {
        const lock = make();
        let lockCount = 0;
        let callCount = 0;
        function* lockIt(): Operation<void> {
          callCount++;
          yield* lock.acquire();
          lockCount++;
        }
        yield* lock.acquire();
        const t1 = yield* spawn(lockIt);
        const t2 = yield* spawn(lockIt);
        const t3 = yield* spawn(lockIt);
        yield* waitAllTasksBlocked();
        t1.cancel();
        lock.release();
        yield* rejectsOp(t1, CancelledError);
        yield* t2;
        yield* waitAllTasksBlocked();
        assert.equal(lockCount, 1, "only one waiter took the lock");
        assert.equal(callCount, 3);
        assert.equal(t3.done, false);
        t3.cancel();
        yield* rejectsOp(t3, CancelledError);
      });
    });

    it("a waiter handed the lock and cancelled before it ran passes it on (CPython test_finished_waiter_cancelled)", async () => {
      await runVirtual(function* () {
        const lock = make();
        yield* lock.acquire();
        const tb = yield* spawn(() => lock.acquire());
        yield* waitAllTasksBlocked();
        const tc = yield* spawn(() => lock.acquire());
        yield* waitAllTasksBlocked();
        lock.release(); // handed to tb...
        tb.cancel(); // ...which passes it to tc
        yield* rejectsOp(tb, CancelledError);
        yield* tc;
        assert.equal(lock.locked, true, "tc holds it");
        lock.release();
      });
    });

    it("a waiter handed the lock, cancelled after another task released it in its stead, neither throws nor releases it again", {
      skip: name === "Lock" && "a Lock throws on that release (below)",
    }, async () => {
      await runVirtual(function* () {
        const lock = make();
        yield* lock.acquire();
        const handed = yield* spawn(() => lock.acquire());
        yield* waitAllTasksBlocked();
        lock.release(); // handed to `handed`...
        lock.release(); // ...whose hold another task (any may) releases before it ran
        handed.cancel(); // must not throw
        yield* rejectsOp(handed, CancelledError);
        assert.equal(lock.locked, false);
        assert.equal(lock.tryAcquire(), true);
        lock.release();
      });
    });

    it("using releases the lock when the block ends by error or cancellation", async () => {
      await runVirtual(function* () {
        const lock = make();
        try {
          using _held = yield* lock.acquire();
          throw new Error("boom");
        } catch {}
        assert.equal(lock.locked, false);
        const holder = yield* spawn(function* () {
          using _held = yield* lock.acquire();
          yield* suspend();
        });
        yield* waitAllTasksBlocked();
        assert.equal(lock.locked, true);
        holder.cancel();
        try {
          yield* holder;
        } catch {}
        assert.equal(lock.locked, false);
      });
    });

    it("waiters cancelled in no particular order (each its own timeout) leave at a constant cost each; the others keep their order", async () => {
      await runVirtual(function* () {
        const lock = make();
        yield* lock.acquire();
        const n = 1000;
        const served: number[] = [];
        const waiters: Task<void>[] = [];
        for (let i = 0; i < n; i++) {
          waiters.push(
            yield* spawn(function* () {
              yield* lock.acquire();
              served.push(i);
              lock.release();
            }),
          );
        }
        yield* waitAllTasksBlocked();
        // Waiters a removal from the middle of a ring buffer moves: a quarter of the queue per cancel, on average.
        let moved = 0;
        const remove = Fifo.prototype.remove;
        Fifo.prototype.remove = function countMoves(this: Fifo<unknown>, item: unknown): boolean {
          const items = [...this];
          const at = items.indexOf(item);
          if (at >= 0) moved += Math.min(at, items.length - 1 - at);
          return remove.call(this, item);
        };
        const kept: number[] = [];
        try {
          // Every waiter but one in seven, in a scrambled order (389 is prime to n).
          for (let k = 0; k < n; k++) {
            const i = (k * 389) % n;
            if (i % 7 === 0) kept.push(i);
            else waiters[i]?.cancel();
          }
        } finally {
          Fifo.prototype.remove = remove;
        }
        assert.ok(moved < n, `${moved} waiters moved for ${n} cancels`);
        assert.equal(lock.waiting, kept.length);
        lock.release();
        yield* allSettled(waiters);
        assert.deepEqual(
          served,
          kept.sort((a, b) => a - b),
        );
        assert.equal(lock.locked, false);
        assert.equal(lock.waiting, 0);
      });
    });

    it("no lost wake-ups under many contending tasks", async () => {
      await runVirtual(function* () {
        const lock = make();
        let count = 0;
        for (let i = 0; i < 50; i++) {
          yield* spawn(function* () {
            for (let j = 0; j < 10; j++) {
              yield* lock.acquire();
              const seen = count;
              yield* sleep(0);
              count = seen + 1;
              lock.release();
            }
          });
        }
        yield* waitAllTasksBlocked();
        while (currentTask().children.length > 0) yield* sleep(1);
        assert.equal(count, 500);
      });
    });
  });
}

describe("Lock", () => {
  it("releasing a lock that is not held throws, naming the rule", () => {
    assert.throws(() => new Lock().release(), { name: "Error", message: "Cannot release the lock: it is not held" });
  });

  it("has no owner: another task may release it (asyncio)", async () => {
    await runVirtual(function* () {
      const lock = new Lock();
      yield* lock.acquire();
      yield* yield* spawn(function* () {
        lock.release();
      });
      assert.equal(lock.locked, false);
    });
  });

  it("a second release while the lock is handed to a waiter that has not run throws, and lets nobody else in (CPython test_release_not_acquired)", async () => {
    await runVirtual(function* () {
      const lock = new Lock();
      yield* lock.acquire();
      let inside = 0;
      let most = 0;
      const log: string[] = [];
      const spawnWaiter = (name: string) =>
        spawn(function* () {
          yield* lock.acquire();
          inside++;
          most = Math.max(most, inside);
          log.push(name);
          yield* sleep(10);
          inside--;
          lock.release();
        });
      const b = yield* spawnWaiter("b");
      const c = yield* spawnWaiter("c");
      yield* waitAllTasksBlocked();
      lock.release(); // handed to b...
      assert.throws(() => lock.release(), { message: /Cannot release the lock: it is not held yet, only handed to a waiting task that has not run/ });
      yield* b;
      yield* c;
      assert.deepEqual(log, ["b", "c"]);
      assert.equal(most, 1);
      assert.equal(lock.locked, false);
    });
  });

  it("withLock runs the operation holding the lock and releases it on error", async () => {
    await runVirtual(function* () {
      const lock = new Lock();
      assert.equal(
        yield* lock.withLock(function* () {
          assert.equal(lock.locked, true);
          return 5;
        }),
        5,
      );
      try {
        yield* lock.withLock(function* () {
          throw new Error("inside");
        });
      } catch (error) {
        assert.equal((error as Error).message, "inside");
      }
      assert.equal(lock.locked, false);
    });
  });
});

describe("Semaphore", () => {
  it("lets `value` holders in at once and queues the rest", async () => {
    await runVirtual(function* () {
      const sem = new Semaphore(2);
      let running = 0;
      let peak = 0;
      for (let i = 0; i < 6; i++) {
        yield* spawn(function* () {
          using _slot = yield* sem.acquire();
          running++;
          peak = Math.max(peak, running);
          yield* sleep(10);
          running--;
        });
      }
      yield* sleep(100);
      assert.equal(peak, 2);
      assert.equal(sem.value, 2);
    });
  });

  it("tokens go to the waiters that were not cancelled, in order (CPython test_acquire_cancel_before_awoken)", async () => {
    await runVirtual(function* () {
      const sem = new Semaphore(0);
      const t = [];
      for (let i = 0; i < 4; i++) t.push(yield* spawn(() => sem.acquire()));
      const [t1, t2, t3, t4] = t as [Task<Semaphore>, Task<Semaphore>, Task<Semaphore>, Task<Semaphore>];
      yield* waitAllTasksBlocked();
      t1.cancel();
      t2.cancel();
      sem.release();
      yield* waitAllTasksBlocked();
      assert.equal(t3.state, "done");
      assert.equal(t4.done, false);
      t4.cancel();
      yield* rejectsOp(t4, CancelledError);
      assert.equal(sem.value, 0);
    });
  });

  it("a release after a waiter was cancelled reaches the next waiter (CPython test_acquire_hang)", async () => {
    await runVirtual(function* () {
      const sem = new Semaphore(0);
      const t1 = yield* spawn(() => sem.acquire());
      const t2 = yield* spawn(() => sem.acquire());
      yield* waitAllTasksBlocked();
      t1.cancel();
      sem.release();
      yield* waitAllTasksBlocked();
      assert.equal(sem.locked, true);
      assert.equal(t2.state, "done");
      yield* rejectsOp(t1, CancelledError);
    });
  });

  it("a waiter handed a token and cancelled before it ran gives it back (CPython test_acquire_no_hang)", async () => {
    await runVirtual(function* () {
      const sem = new Semaphore(1);
      let inside = false;
      const t2: { task?: Task<void> } = {};
      const t1 = yield* spawn(function* () {
        {
          using _ = yield* sem.acquire();
          yield* sleep(0);
        } // the token is handed to t2 here...
        t2.task?.cancel(); // ...which is cancelled before it ran
      });
      t2.task = yield* spawn(function* () {
        using _ = yield* sem.acquire();
        inside = true;
      });
      yield* t1;
      yield* rejectsOp(t2.task, CancelledError);
      assert.equal(inside, false);
      assert.equal(sem.value, 1);
      yield* timeout(1000, () => sem.acquire());
    });
  });

  it("release() without waiters frees a token (CPython test_release_no_waiters)", async () => {
    await runVirtual(function* () {
      const sem = new Semaphore();
      yield* sem.acquire();
      assert.equal(sem.locked, true);
      sem.release();
      assert.equal(sem.locked, false);
    });
  });

  it("a waiter cancelled before any release is skipped (CPython test_acquire_fifo_order_3)", async () => {
    const result: number[] = [];
    await runVirtual(function* () {
      const sem = new Semaphore(0);
      const tasks = [];
      for (const i of [1, 2, 3]) {
        tasks.push(
          yield* spawn(function* () {
            yield* sem.acquire();
            result.push(i);
          }),
        );
      }
      yield* waitAllTasksBlocked();
      tasks[0]?.cancel();
      yield* sleep(0);
      sem.release();
      sem.release();
      yield* allSettled(tasks);
    });
    assert.deepEqual(result, [2, 3]);
  });

  it("tokens handed to waiters cancelled before they ran pass on to the next waiters", async () => {
    const result: number[] = [];
    await runVirtual(function* () {
      const sem = new Semaphore(0);
      const tasks = [];
      for (const i of [1, 2, 3, 4]) {
        tasks.push(
          yield* spawn(function* () {
            yield* sem.acquire();
            result.push(i);
          }),
        );
      }
      yield* waitAllTasksBlocked();
      sem.release(); // to 1
      sem.release(); // to 2
      tasks[0]?.cancel(); // 1's token goes to 3
      tasks[1]?.cancel(); // 2's token goes to 4
      yield* allSettled(tasks);
      assert.equal(sem.value, 0);
    });
    assert.deepEqual(result, [3, 4]);
  });

  it("rejects a negative, fractional or unsafe (above 2**53) value", () => {
    assert.throws(() => new Semaphore(-1), {
      name: "RangeError",
      message: "Cannot create a semaphore: value must be a non-negative safe integer, received -1",
    });
    // Above 2**53 the count is inexact: tryAcquire() three times took 2**53 + 2 to ...990, and a
    // BoundedSemaphore released more often than acquired did not notice.
    assert.throws(() => new Semaphore(2 ** 53 + 2), {
      name: "RangeError",
      message: "Cannot create a semaphore: value must be a non-negative safe integer, received 9007199254740994",
    });
    assert.throws(() => new BoundedSemaphore(2 ** 53 + 2), RangeError);
    assert.equal(new Semaphore(Number.MAX_SAFE_INTEGER).value, Number.MAX_SAFE_INTEGER);
    assert.throws(() => new Semaphore(1.5), RangeError);
  });

  it("BoundedSemaphore refuses to be released more often than acquired", async () => {
    await runVirtual(function* () {
      const sem = new BoundedSemaphore(2);
      yield* sem.acquire();
      sem.release();
      assert.throws(() => sem.release(), {
        message: "Cannot release the semaphore: it would exceed its initial value of 2 (released more often than acquired)",
      });
      assert.equal(sem.value, 2);
    });
  });
});
