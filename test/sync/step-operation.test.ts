import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Channel, Lock, Queue, run, Semaphore, spawn } from "../../src/index.ts";
import { runVirtual, waitAllTasksBlocked } from "../../src/testing/index.ts";
import { checkLeaks, rejectsOp } from "../_helpers.ts";

checkLeaks();

// Lock.acquire, Semaphore.acquire, Queue.get, Queue.put and Channel.send/receive return objects that
// are their own iterator instead of generators: they must behave as the generators did, except that
// one run again once finished throws (a generator would give undefined and do nothing).
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

  it("run once: run again once finished, they throw a TypeError naming the operation, and take nothing", () => {
    const lock = new Lock();
    const queue = new Queue<number>();
    queue.putNowait(1);
    queue.putNowait(2);
    const acquire = lock.acquire()[Symbol.iterator]();
    assert.deepEqual(acquire.next(), { done: true, value: lock });
    assert.throws(() => acquire.next(), {
      name: "TypeError",
      message: "Cannot run lock.acquire(…) twice: this operation object has already run (each runs once); call lock.acquire(…) again for another",
    });
    const get = queue.get()[Symbol.iterator]();
    assert.deepEqual(get.next(), { done: true, value: 1 });
    assert.throws(() => get.next(), { name: "TypeError", message: /^Cannot run queue\.get\(…\) twice: .*; call queue\.get\(…\) again for another$/ });
    assert.equal(queue.size, 1);
    const put = queue.put(3)[Symbol.iterator]();
    assert.deepEqual(put.next(), { done: true, value: undefined });
    assert.throws(() => put.next(), { name: "TypeError", message: /^Cannot run queue\.put\(…\) twice/ });
    assert.equal(queue.size, 2);
    const semaphore = new Semaphore(2);
    const take = semaphore.acquire()[Symbol.iterator]();
    assert.deepEqual(take.next(), { done: true, value: semaphore });
    assert.throws(() => take.next(), { name: "TypeError", message: /^Cannot run semaphore\.acquire\(…\) twice/ });
    assert.equal(semaphore.value, 1);
  });

  it("a channel's receive or send run twice with yield* throws the second time: nothing is received or sent", async () => {
    await runVirtual(function* () {
      const channel = new Channel<number>();
      channel.trySend(1);
      channel.trySend(2);
      const receive = channel.receive();
      assert.equal(yield* receive, 1);
      const error = yield* rejectsOp(receive, TypeError);
      assert.equal(
        error.message,
        "Cannot run channel.receive(…) twice: this operation object has already run (each runs once); call channel.receive(…) again for another",
      );
      assert.equal(channel.size, 1, "2 is still there");
      const send = channel.send(9);
      yield* send;
      yield* rejectsOp(send, TypeError);
      assert.equal(channel.size, 2, "9 was sent once");
      // A waiting receive, once it got its message, is finished too.
      channel.tryReceive();
      channel.tryReceive();
      const waiting = channel.receive();
      const receiver = yield* spawn(function* () {
        const first = yield* waiting;
        const again = yield* rejectsOp(waiting, TypeError);
        return [first, again.message.slice(0, 40)];
      });
      yield* waitAllTasksBlocked();
      channel.trySend(5);
      assert.deepEqual(yield* receiver, [5, "Cannot run channel.receive(…) twice: thi"]);
    });
  });

  it("throw and return finish them, as for a generator; run again, they throw", () => {
    const acquire = new Lock().acquire()[Symbol.iterator]();
    const boom = new Error("boom");
    assert.throws(
      () => acquire.throw?.(boom),
      (error) => error === boom,
    );
    assert.throws(() => acquire.next(), { name: "TypeError", message: /^Cannot run lock\.acquire\(…\) twice/ });
    const put = new Queue<number>().put(1)[Symbol.iterator]();
    assert.deepEqual(put.return?.(), { done: true, value: undefined });
    assert.throws(() => put.next(), { name: "TypeError", message: /^Cannot run queue\.put\(…\) twice/ });
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
