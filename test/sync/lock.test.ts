// One contract suite run against every lock-like primitive: Lock,
// Semaphore(1) and BoundedSemaphore(1) must behave the same.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BoundedSemaphore, currentTask, Lock, type Operation, Semaphore, sleep, spawn, suspend } from "../../src/index.ts";
import { runVirtual, waitAllTasksBlocked } from "../../src/testing/index.ts";
import { checkLeaks } from "../_helpers.ts";

checkLeaks();

interface LockLike extends Disposable {
  acquire(): Operation<Disposable>;
  tryAcquire(): boolean;
  release(): void;
  readonly locked: boolean;
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

  it("rejects a negative or fractional value", () => {
    assert.throws(() => new Semaphore(-1), { name: "RangeError", message: "Cannot create a semaphore: value must be a non-negative integer, received -1" });
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
