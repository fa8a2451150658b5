import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Condition, Event, Lock, sleep, spawn } from "../../src/index.ts";
import { runVirtual, waitAllTasksBlocked } from "../../src/testing/index.ts";
import { checkLeaks } from "../_helpers.ts";

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
});
