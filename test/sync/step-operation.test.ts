import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Lock, Queue, run, Semaphore, spawn } from "../../src/index.ts";
import { runVirtual, waitAllTasksBlocked } from "../../src/testing/index.ts";
import { checkLeaks } from "../_helpers.ts";

checkLeaks();

// Lock.acquire, Semaphore.acquire, Queue.get and Queue.put return objects that are their own
// iterator instead of generators: they must behave as the generators did.
describe("the operation objects of acquire, get and put", () => {
  it("do nothing until run, and may be made outside any task and run in one", async () => {
    const lock = new Lock();
    const semaphore = new Semaphore(1);
    const queue = new Queue<number>();
    const acquire = lock.acquire();
    const take = semaphore.acquire();
    const get = queue.get();
    const put = queue.put(7);
    assert.equal(lock.locked, false);
    assert.equal(semaphore.value, 1);
    assert.equal(queue.size, 0);
    assert.equal(await run(() => acquire), lock);
    assert.equal(await run(() => take), semaphore);
    await run(() => put);
    assert.equal(await run(() => get), 7);
    assert.equal(lock.locked, true);
    assert.equal(semaphore.value, 0);
  });

  it("run once: iterated again after finishing, they are done at once and take nothing", () => {
    const lock = new Lock();
    const queue = new Queue<number>();
    queue.putNowait(1);
    queue.putNowait(2);
    const acquire = lock.acquire()[Symbol.iterator]();
    assert.deepEqual(acquire.next(), { done: true, value: lock });
    assert.deepEqual(acquire.next(), { done: true, value: undefined });
    const get = queue.get()[Symbol.iterator]();
    assert.deepEqual(get.next(), { done: true, value: 1 });
    assert.deepEqual(get.next(), { done: true, value: undefined });
    assert.equal(queue.size, 1);
  });

  it("throw and return finish them, as for a generator", () => {
    const acquire = new Lock().acquire()[Symbol.iterator]();
    const boom = new Error("boom");
    assert.throws(
      () => acquire.throw?.(boom),
      (error) => error === boom,
    );
    assert.deepEqual(acquire.next(), { done: true, value: undefined });
    const put = new Queue<number>().put(1)[Symbol.iterator]();
    assert.deepEqual(put.return?.(), { done: true, value: undefined });
    assert.deepEqual(put.next(), { done: true, value: undefined });
  });

  it("a waiting acquire or get completes when handed the lock or an item", async () => {
    await runVirtual(function* () {
      const lock = new Lock();
      yield* lock.acquire();
      const waiter = yield* spawn(function* () {
        yield* lock.acquire();
        return "got it";
      });
      const queue = new Queue<number>();
      const getter = yield* spawn(() => queue.get());
      yield* waitAllTasksBlocked();
      assert.equal(lock.waiting, 1);
      lock.release();
      queue.putNowait(5);
      assert.equal(yield* waiter, "got it");
      assert.equal(yield* getter, 5);
      lock.release();
    });
  });

  it("are not promises: awaiting one rejects with the fix", async () => {
    await assert.rejects(async () => await new Queue<number>().get(), { message: /^Cannot await queue\.get\(…\): .*write yield\* queue\.get\(…\)/ });
    await assert.rejects(async () => await new Semaphore().acquire(), { message: /^Cannot await semaphore\.acquire\(…\)/ });
  });
});
