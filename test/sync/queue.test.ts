import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  allSettled,
  callLater,
  LifoQueue,
  type Operation,
  PriorityQueue,
  Queue,
  QueueEmpty,
  QueueFull,
  QueueShutDown,
  sleep,
  spawn,
  type Task,
  TimeoutError,
  timeout,
} from "../../src/index.ts";
import { runVirtual, waitAllTasksBlocked } from "../../src/testing/index.ts";
import { checkLeaks, collectGarbage } from "../_helpers.ts";
import { countFifoUnshifts } from "./_fifo-unshifts.ts";

checkLeaks();

describe("Queue", () => {
  it("put/get without suspending when they can; getters wait while empty, putters while full", async () => {
    await runVirtual(function* () {
      const queue = new Queue<number>({ maxsize: 2 });
      assert.equal(queue.put(1)[Symbol.iterator]().next().done, true, "put on a queue with room does not suspend");
      queue.putNowait(2);
      assert.equal(queue.full, true);
      assert.throws(() => queue.putNowait(3), QueueFull);
      const putter = yield* spawn(() => queue.put(3));
      yield* waitAllTasksBlocked();
      assert.equal(putter.done, false);
      assert.equal(yield* queue.get(), 1);
      yield* putter;
      assert.deepEqual([queue.getNowait(), queue.getNowait()], [2, 3]);
      assert.throws(() => queue.getNowait(), { name: "QueueEmpty", message: "Cannot get from the queue: it is empty" });
      const getter = yield* spawn(() => queue.get());
      yield* waitAllTasksBlocked();
      queue.putNowait(4);
      assert.equal(yield* getter, 4);
      assert.equal(queue.size, 0);
    });
  });

  it("join() waits until every item is marked done; taskDone() too often throws", async () => {
    await runVirtual(function* () {
      const queue = new Queue<string>();
      const log: string[] = [];
      yield* spawn(
        function* () {
          for (;;) {
            const item = yield* queue.get();
            yield* sleep(10);
            log.push(item);
            queue.taskDone();
          }
        },
        { daemon: true },
      );
      for (const item of ["a", "b", "c"]) queue.putNowait(item);
      yield* queue.join();
      assert.deepEqual(log, ["a", "b", "c"]);
      assert.throws(() => queue.taskDone(), { message: "Cannot mark a task done: taskDone() was called more times than there were items put" });
    });
  });

  it("a getter cancelled after it was handed an item passes it on", async () => {
    await runVirtual(function* () {
      const queue = new Queue<string>();
      const first = yield* spawn(() => queue.get());
      const second = yield* spawn(() => queue.get());
      yield* waitAllTasksBlocked();
      queue.putNowait("item"); // handed to `first`...
      first.cancel(); // ...cancelled before it ran
      assert.equal(yield* second, "item");
    });
  });

  it("getters cancelled after they were handed items give them back in put order (asyncio test_get_cancelled_race)", async () => {
    const cases: [string, () => Queue<string>, string][] = [
      ["Queue", () => new Queue<string>(), "a,b,c"],
      ["LifoQueue", () => new LifoQueue<string>(), "c,b,a"],
      ["PriorityQueue with equal items", () => new PriorityQueue<string>({ compare: () => 0 }), "a,b,c"],
    ];
    for (const [name, make, expected] of cases) {
      for (const firstCancelled of [0, 1]) {
        await runVirtual(function* () {
          const queue = make();
          const getters = [yield* spawn(() => queue.get()), yield* spawn(() => queue.get())];
          yield* waitAllTasksBlocked();
          queue.putNowait("a"); // handed to the first getter
          queue.putNowait("b"); // handed to the second
          queue.putNowait("c"); // stored
          getters[firstCancelled]?.cancel();
          getters[1 - firstCancelled]?.cancel();
          const order = [queue.getNowait(), queue.getNowait(), queue.getNowait()].join(",");
          assert.equal(order, expected, `${name}, getter ${firstCancelled} cancelled first`);
        });
      }
    }
  });

  it("many getters cancelled after a burst of puts give their items back at a constant cost each, in put order", async () => {
    const n = 2000;
    const cases: [string, () => Queue<number>, (i: number) => number][] = [
      ["Queue", () => new Queue<number>(), (i) => i],
      ["LifoQueue", () => new LifoQueue<number>(), (i) => n - 1 - i],
    ];
    for (const [name, make, expected] of cases) {
      for (const cancelOrder of ["oldest first", "newest first"]) {
        await runVirtual(function* () {
          const queue = make();
          const getters: Task<number>[] = [];
          for (let i = 0; i < n; i++) getters.push(yield* spawn(() => queue.get()));
          yield* waitAllTasksBlocked();
          for (let i = 0; i < n; i++) queue.putNowait(i); // each handed to a getter...
          // ...cancelled before it ran. Giving an item back lifted the ones given back before it off the front.
          const unshifted = countFifoUnshifts(() => {
            for (let k = 0; k < n; k++) getters[cancelOrder === "oldest first" ? k : n - 1 - k]?.cancel();
          });
          assert.ok(unshifted < n, `${name}, ${cancelOrder}: ${unshifted} items put back at the front for ${n} cancels`);
          const items: number[] = [];
          while (!queue.empty) items.push(queue.getNowait());
          assert.deepEqual(
            items,
            Array.from({ length: n }, (_, i) => expected(i)),
            `${name}, ${cancelOrder}`,
          );
          yield* allSettled(getters);
        });
      }
    }
  });

  it("PriorityQueue: an item given back by a cancelled getter stays ahead of equal items put after it", async () => {
    await runVirtual(function* () {
      const queue = new PriorityQueue<{ key: number; name: string }>({ compare: (x, y) => x.key - y.key });
      const getter = yield* spawn(() => queue.get());
      yield* waitAllTasksBlocked();
      queue.putNowait({ key: 1, name: "first" }); // handed to the getter
      queue.putNowait({ key: 1, name: "second" });
      queue.putNowait({ key: 0, name: "smaller" });
      getter.cancel();
      assert.deepEqual([queue.getNowait().name, queue.getNowait().name, queue.getNowait().name], ["smaller", "first", "second"]);
    });
  });

  it("consumers polling with timeout(): items put as the timeouts fire keep their order", async () => {
    await runVirtual(function* () {
      const queue = new Queue<string>();
      callLater(5, () => {
        for (const item of ["a", "b", "c"]) queue.putNowait(item);
      });
      function* poll(): Operation<string> {
        try {
          return yield* timeout(5, queue.get());
        } catch (error) {
          if (error instanceof TimeoutError) return "timed out";
          throw error;
        }
      }
      const consumers = [yield* spawn(poll), yield* spawn(poll)];
      assert.deepEqual([yield* consumers[0] as Task<string>, yield* consumers[1] as Task<string>], ["timed out", "timed out"]);
      assert.deepEqual([queue.getNowait(), queue.getNowait(), queue.getNowait()], ["a", "b", "c"]);
    });
  });

  it("a cancelled putter never adds its item, even when a slot was just promised to it", async () => {
    await runVirtual(function* () {
      const queue = new Queue<string>({ maxsize: 1 });
      queue.putNowait("old");
      const waiting = yield* spawn(() => queue.put("never"));
      const next = yield* spawn(() => queue.put("next"));
      yield* waitAllTasksBlocked();
      assert.equal(queue.getNowait(), "old"); // the slot is promised to `waiting`...
      waiting.cancel(); // ...which is cancelled before it runs: the slot goes to `next`
      yield* next;
      assert.equal(queue.getNowait(), "next");
      assert.equal(queue.size, 0);
    });
  });

  it("shutdown(): puts fail, gets drain then fail, waiters are woken with QueueShutDown", async () => {
    await runVirtual(function* () {
      const queue = new Queue<number>({ maxsize: 1 });
      queue.putNowait(1);
      const putter = yield* spawn(function* () {
        try {
          yield* queue.put(2);
        } catch (error) {
          return error;
        }
        return undefined;
      });
      yield* waitAllTasksBlocked();
      queue.shutdown();
      assert.ok((yield* putter) instanceof QueueShutDown);
      assert.throws(() => queue.putNowait(3), { name: "QueueShutDown", message: "Cannot put on the queue: it has been shut down" });
      assert.equal(yield* queue.get(), 1);
      assert.throws(() => queue.getNowait(), { name: "QueueShutDown", message: "Cannot get from the queue: it has been shut down and is empty" });
    });
  });

  it("shutdown(true) drops the items, releases join() and wakes getters", async () => {
    await runVirtual(function* () {
      const queue = new Queue<number>();
      queue.putNowait(1);
      queue.putNowait(2);
      const joiner = yield* spawn(() => queue.join());
      yield* waitAllTasksBlocked();
      queue.shutdown(true);
      yield* joiner;
      assert.equal(queue.size, 0);
      const empty = new Queue<number>();
      const getter = yield* spawn(function* () {
        try {
          return yield* empty.get();
        } catch (error) {
          return error;
        }
      });
      yield* waitAllTasksBlocked();
      empty.shutdown(true);
      assert.ok((yield* getter) instanceof QueueShutDown);
    });
  });

  it("shutdown() while a handed item may come back: the getter it was handed to is cancelled, the next getter gets it (asyncio 3.13)", async () => {
    await runVirtual(function* () {
      const queue = new Queue<string>();
      const processed: string[] = [];
      function* consumer(name: string): Operation<string> {
        for (;;) {
          try {
            processed.push(`${name}:${yield* queue.get()}`);
          } catch (error) {
            if (error instanceof QueueShutDown) return "saw shutdown";
            throw error;
          }
        }
      }
      const first = yield* spawn(consumer("first"));
      const second = yield* spawn(consumer("second"));
      yield* waitAllTasksBlocked();
      queue.putNowait("x"); // handed to the first consumer, which has not run yet
      queue.shutdown();
      // Not the end yet: x may come back (get() and next() wait for it).
      assert.throws(() => queue.getNowait(), {
        name: "QueueEmpty",
        message: "Cannot get from the queue: it is empty (shut down, but an item handed to a getter that has not run yet may come back)",
      });
      first.cancel();
      assert.equal(yield* second, "saw shutdown");
      assert.deepEqual(processed, ["second:x"]);
      assert.equal(queue.size, 0);
      // And when the getter it was handed to does take it, the others end as usual.
      const again = new Queue<string>();
      const taker = yield* spawn(() => again.get());
      const other = yield* spawn(function* () {
        try {
          return yield* again.get();
        } catch (error) {
          return error instanceof QueueShutDown ? "saw shutdown" : error;
        }
      });
      yield* waitAllTasksBlocked();
      again.putNowait("y");
      again.shutdown();
      assert.equal(yield* taker, "y");
      assert.equal(yield* other, "saw shutdown");
    });
  });

  it("shutdown(true): an item given back by a getter cancelled before it ran is dropped too, and join() returns", async () => {
    await runVirtual(function* () {
      const queue = new Queue<string>();
      const getter = yield* spawn(() => queue.get());
      yield* waitAllTasksBlocked();
      queue.putNowait("x");
      queue.shutdown(true);
      getter.cancel();
      try {
        yield* getter;
      } catch {}
      assert.equal(queue.size, 0);
      yield* queue.join();
      assert.throws(() => queue.getNowait(), QueueShutDown);
      // A get after shutdown(true) fails at once, even while a handed item may still come back.
      const again = new Queue<string>();
      const first = yield* spawn(() => again.get());
      yield* waitAllTasksBlocked();
      // Queued before the first getter is woken: it is cancelled before it runs.
      yield* spawn(function* () {
        first.cancel();
      });
      again.putNowait("y");
      again.shutdown(true);
      try {
        yield* again.get();
        assert.fail("expected QueueShutDown");
      } catch (error) {
        assert.ok(error instanceof QueueShutDown, String(error));
      }
    });
  });

  it("shutdown(true) also drops an item handed to a getter that has not run yet: that get fails and join() returns (asyncio 3.13)", async () => {
    await runVirtual(function* () {
      const queue = new Queue<string>();
      const outcome = (op: Operation<string>) =>
        function* (): Operation<string> {
          try {
            return yield* op;
          } catch (error) {
            return (error as Error).name;
          }
        };
      const getter = yield* spawn(outcome(queue.get()));
      const iterating = yield* spawn(function* () {
        const step = yield* queue.next();
        return step.done ? "done" : step.value;
      });
      yield* waitAllTasksBlocked();
      queue.putNowait("x"); // handed to `getter`, which has not run yet
      queue.putNowait("y"); // handed to `iterating`
      queue.shutdown(true);
      queue.shutdown(true); // twice: nothing more to drop
      yield* queue.join(); // the dropped items count as done
      assert.equal(yield* getter, "QueueShutDown");
      assert.equal(yield* iterating, "done");
      assert.throws(() => queue.taskDone(), { message: /more times than there were items put/ });
    });
  });

  // f6e8aa8 marks a cancelled waiter and skips it when it reaches the front: those behind the last
  // waiter served stayed in the buffers of an idle queue, each holding its task (and through it the
  // task tree) until the queue was used again. Old corio cut them out at once.
  it("cancelled getters queued behind the served ones are not kept once the queue has no waiter left", async () => {
    const queue = new Queue<number>();
    const cancelled: WeakRef<object>[] = [];
    await runVirtual(function* () {
      const served: Task<number>[] = [];
      for (let i = 0; i < 10; i++) served.push(yield* spawn(() => queue.get()));
      yield* sleep(0);
      // Fewer than the live getters: no rebuild of the buffers on the way.
      for (let i = 0; i < 9; i++) {
        const getter = yield* spawn(() => queue.get());
        yield* sleep(0);
        getter.cancel();
        cancelled.push(new WeakRef(getter));
      }
      yield* sleep(0);
      for (let i = 0; i < 10; i++) queue.putNowait(i);
      yield* allSettled(served);
    });
    await collectGarbage();
    assert.equal(cancelled.filter((task) => task.deref() !== undefined).length, 0);
  });

  it("rejects a bad maxsize", () => {
    // asyncio treats maxsize <= 0 as unbounded; corio throws for a negative one (documented).
    assert.throws(() => new Queue({ maxsize: -1 }), {
      name: "RangeError",
      message: "Cannot create a queue: maxsize must be a non-negative safe integer or Infinity (0 and Infinity mean unbounded), received -1",
    });
    assert.throws(() => new Queue({ maxsize: Number.NEGATIVE_INFINITY }), RangeError);
    assert.throws(() => new Queue({ maxsize: Number.NaN }), RangeError);
    // Above 2**53 the size would be compared inexactly.
    assert.throws(() => new Queue({ maxsize: 2 ** 53 + 2 }), {
      name: "RangeError",
      message: "Cannot create a queue: maxsize must be a non-negative safe integer or Infinity (0 and Infinity mean unbounded), received 9007199254740994",
    });
  });

  it("maxsize Infinity is unbounded, as 0 is", () => {
    const queue = new Queue<number>({ maxsize: Number.POSITIVE_INFINITY });
    assert.equal(queue.maxsize, Number.POSITIVE_INFINITY);
    for (let i = 0; i < 1000; i++) queue.putNowait(i);
    assert.equal(queue.full, false);
    assert.equal(queue.size, 1000);
  });

  it("LifoQueue gives the newest item; PriorityQueue the smallest, FIFO among equals", () => {
    const lifo = new LifoQueue<number>();
    for (const n of [1, 2, 3]) lifo.putNowait(n);
    assert.deepEqual([lifo.getNowait(), lifo.getNowait(), lifo.getNowait()], [3, 2, 1]);
    const prio = new PriorityQueue<[number, string]>({ compare: (a, b) => a[0] - b[0] });
    for (const item of [
      [3, "c"],
      [1, "a1"],
      [2, "b"],
      [1, "a2"],
    ] as [number, string][])
      prio.putNowait(item);
    assert.deepEqual(
      [1, 2, 3, 4].map(() => prio.getNowait()[1]),
      ["a1", "a2", "b", "c"],
    );
    assert.throws(() => prio.getNowait(), QueueEmpty);
  });

  it("property: random producers, consumers and cancels never lose or duplicate an item", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 4 }),
        fc.array(fc.record({ producer: fc.integer({ min: 0, max: 3 }), delay: fc.integer({ min: 0, max: 5 }) }), { minLength: 1, maxLength: 30 }),
        fc.array(fc.record({ at: fc.integer({ min: 0, max: 40 }), consumer: fc.integer({ min: 0, max: 3 }) }), { maxLength: 6 }),
        async (maxsize, puts, cancels) => {
          await runVirtual(function* () {
            const queue = new Queue<number>({ maxsize });
            const received: number[] = [];
            const putOk: number[] = [];
            const producers: Task<void>[] = [];
            for (let p = 0; p < 4; p++) {
              const mine = puts.map((put, id) => ({ ...put, id })).filter((put) => put.producer === p);
              producers.push(
                yield* spawn(function* () {
                  for (const put of mine) {
                    yield* sleep(put.delay);
                    yield* queue.put(put.id);
                    putOk.push(put.id);
                  }
                }),
              );
            }
            const consumers: Task<void>[] = [];
            for (let c = 0; c < 4; c++) {
              consumers.push(
                yield* spawn(function* () {
                  for (;;) {
                    const item = yield* queue.get();
                    received.push(item);
                    yield* sleep(1);
                  }
                }),
              );
            }
            for (const { at, consumer } of [...cancels].sort((a, b) => a.at - b.at)) {
              yield* sleep(at);
              consumers[consumer]?.cancel();
            }
            // One consumer nobody cancels, so a bounded queue cannot block the producers forever
            // when every other consumer was cancelled.
            consumers.push(
              yield* spawn(function* () {
                for (;;) received.push(yield* queue.get());
              }),
            );
            for (const producer of producers) yield* producer;
            for (const consumer of consumers) consumer.cancel();
            for (const consumer of consumers) {
              try {
                yield* consumer;
              } catch {}
            }
            // Whatever was put and not received must still be in the queue.
            const left: number[] = [];
            while (!queue.empty) left.push(queue.getNowait());
            const all = [...received, ...left].sort((a, b) => a - b);
            assert.deepEqual(
              all,
              [...putOk].sort((a, b) => a - b),
              "every item put is received exactly once or still queued",
            );
            assert.equal(putOk.length, puts.length);
          });
        },
      ),
      { numRuns: 200, seed: 1200 },
    );
  });

  // A round: getters start waiting, then without a yield between them items are put (handed to
  // the getters first), getters are cancelled (some after their hand-off), items taken; then every
  // task runs, and the queue must give what is left in its order, as if no item had been handed.
  const round = fc.record({
    getters: fc.integer({ min: 0, max: 4 }),
    burst: fc.array(
      fc.oneof(
        fc.record({ op: fc.constant("put" as const), key: fc.integer({ min: 0, max: 1 }) }),
        fc.record({ op: fc.constant("cancel" as const), which: fc.nat(7) }),
        fc.record({ op: fc.constant("take" as const) }),
      ),
      { maxLength: 10 },
    ),
    takes: fc.integer({ min: 0, max: 3 }),
  });
  type Item = { key: number; seq: number };
  const kinds: [string, () => Queue<Item>, (a: Item, b: Item) => number, number][] = [
    ["Queue", () => new Queue<Item>(), (a, b) => a.seq - b.seq, 3501],
    ["LifoQueue", () => new LifoQueue<Item>(), (a, b) => b.seq - a.seq, 3502],
    ["PriorityQueue", () => new PriorityQueue<Item>({ compare: (a, b) => a.key - b.key }), (a, b) => a.key - b.key || a.seq - b.seq, 3503],
  ];
  for (const [name, make, order, seed] of kinds) {
    it(`property (${name}): items given back by getters cancelled after hand-offs keep the queue's order`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(round, { minLength: 1, maxLength: 5 }), async (rounds) => {
          await runVirtual(function* () {
            const queue = make();
            /** Put and not yet taken by a getter that ran or by getNowait. */
            const left = new Set<Item>();
            let seq = 0;
            const getters: Task<void>[] = [];
            function* getter(): Operation<void> {
              left.delete(yield* queue.get());
            }
            /** Takes an item and checks it is the first of what is left (no item is out with a getter). */
            const takeChecked = (): void => {
              const expected = [...left].sort(order)[0];
              const item = queue.getNowait();
              assert.equal(item, expected, `took ${JSON.stringify(item)} where ${JSON.stringify(expected)} was first`);
              left.delete(item);
            };
            for (const { getters: count, burst, takes } of rounds) {
              for (let i = 0; i < count; i++) getters.push(yield* spawn(getter));
              yield* waitAllTasksBlocked();
              for (const step of burst) {
                if (step.op === "put") {
                  const item = { key: step.key, seq: seq++ };
                  left.add(item);
                  queue.putNowait(item);
                } else if (step.op === "cancel") {
                  const live = getters.filter((task) => !task.done);
                  live[step.which % Math.max(live.length, 1)]?.cancel();
                } else if (!queue.empty) left.delete(queue.getNowait());
              }
              yield* waitAllTasksBlocked();
              for (let i = 0; i < takes && !queue.empty; i++) takeChecked();
            }
            for (const task of getters) task.cancel();
            for (const task of getters) {
              try {
                yield* task;
              } catch {}
            }
            while (!queue.empty) takeChecked();
            assert.equal(left.size, 0, "every item put was taken once");
          });
        }),
        { numRuns: 300, seed },
      );
    });
  }
});
