import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  all,
  any,
  asCompleted,
  asyncCache,
  CancelledError,
  currentTask,
  currentTime,
  isCancellation,
  limitGather,
  type Operation,
  ProcessingFailure,
  processQueueWithLimit,
  Queue,
  QueueShutDown,
  retry,
  scope,
  sleep,
  spawn,
  suspend,
  type Task,
  TimeoutError,
  timeout,
  wait,
} from "../../src/index.ts";
import { runVirtual, waitAllTasksBlocked } from "../../src/testing/index.ts";
import { cancelledAsItEnds, checkLeaks, rejectsOp, resultAndCancelInOneTurn } from "../_helpers.ts";

checkLeaks();

describe("limitGather", () => {
  it("an operation that cancels itself and ends at once fails the call with its CancelledError, as in all (not a hole in the list)", async () => {
    await runVirtual(function* () {
      for (const inScope of [false, true]) {
        yield* rejectsOp(
          limitGather(
            [
              function* () {
                if (!inScope) {
                  currentTask().cancel();
                  return 7;
                }
                return yield* scope(function* () {
                  currentTask().cancel();
                  return 7;
                });
              },
              function* () {
                return 1;
              },
            ],
            1,
          ),
          CancelledError,
        );
      }
    });
  });

  it("with settle, an operation cancelled by hand (by itself, at once or later, or by another task) is rejected with its CancelledError, as allSettled says", async () => {
    await runVirtual(function* () {
      let victim: Task<unknown> | undefined;
      const results = yield* limitGather(
        [
          function* (): Operation<number> {
            currentTask().cancel(); // and returns at once: the task ends cancelled, its value dropped
            return 7;
          },
          function* (): Operation<number> {
            currentTask().cancel();
            yield* sleep(1);
            return 8;
          },
          function* (): Operation<number> {
            victim = currentTask();
            yield* sleep(10);
            return 9;
          },
          function* (): Operation<number> {
            yield* sleep(1);
            victim?.cancel();
            return 10;
          },
        ],
        4,
        { settle: true },
      );
      assert.equal(results.length, 4);
      assert.deepEqual(
        results.map((r) => (r.status === "fulfilled" ? r.value : (r.reason as Error).name)),
        ["CancelledError", "CancelledError", "CancelledError", 10],
      );
      assert.deepEqual(Object.keys(results), ["0", "1", "2", "3"]); // no hole
    });
  });

  it("a caller timed out while operations still run gets the TimeoutError, never values with holes", async () => {
    await runVirtual(function* () {
      const slow = function* (): Operation<string> {
        yield* sleep(10);
        return "late";
      };
      yield* rejectsOp(timeout(5, limitGather([slow, slow], 2)), TimeoutError);
      yield* rejectsOp(timeout(5, limitGather([slow], 1, { settle: true })), TimeoutError);
    });
  });

  it("the last operation ends in the turn its caller is cancelled: the caller gets the values, then its cancel (decided case 12)", async () => {
    const reports: unknown[] = [];
    await runVirtual(
      function* () {
        const { got, later } = yield* cancelledAsItEnds(() =>
          limitGather(
            [
              function* () {
                yield* sleep(10);
                return "v";
              },
            ],
            1,
          ),
        );
        assert.deepEqual(got, ["v"]);
        assert.equal(later, "CancelledError");
      },
      { onError: (error) => reports.push(error) },
    );
    assert.deepEqual(reports, []);
  });

  it("an operation that throws a CancelledError of its own (it joined a cancelled task) fails the gather; with settle, it is rejected", async () => {
    await runVirtual(function* () {
      const cancelled = yield* spawn(suspend);
      yield* sleep(1);
      cancelled.cancel();
      const joinsIt = function* (): Operation<number> {
        yield* cancelled;
        return 2;
      };
      const one = function* (): Operation<number> {
        return 1;
      };
      yield* rejectsOp(limitGather([one, joinsIt], 2), CancelledError);
      const settled = yield* limitGather([one, joinsIt], 2, { settle: true });
      assert.equal(settled.length, 2);
      assert.deepEqual(settled[0], { status: "fulfilled", value: 1 });
      assert.equal(settled[1]?.status, "rejected");
    });
  });

  it("with settle, a cleanup error after the caller's cancel reaches the caller, as allSettled's does", async () => {
    await runVirtual(function* () {
      const failsInCleanup = function* (): Operation<never> {
        try {
          return yield* suspend();
        } finally {
          // biome-ignore lint/correctness/noUnsafeFinally: the cleanup failure under test
          throw new Error("cleanup failed");
        }
      };
      try {
        yield* scope(function* () {
          const caller = yield* spawn(() => limitGather([failsInCleanup], 1, { settle: true }));
          yield* sleep(10);
          caller.cancel();
        });
        assert.fail("the scope returned");
      } catch (error) {
        assert.equal((error as Error).message, "cleanup failed");
      }
    });
  });

  it("the seed's example: sleeps of 5, 3, 1, 2, 4 s with n=3 finish 1, 3, 2, 5, 4 and return in input order", async () => {
    await runVirtual(function* () {
      const finished: number[] = [];
      const results = yield* limitGather(
        [5, 3, 1, 2, 4].map(
          (s) =>
            function* () {
              yield* sleep(s * 1000);
              finished.push(s);
              return s;
            },
        ),
        3,
      );
      assert.deepEqual(finished, [1, 3, 2, 5, 4]);
      assert.deepEqual(results, [5, 3, 1, 2, 4]);
    });
  });

  it("never runs more than n at once", async () => {
    await runVirtual(function* () {
      let running = 0;
      let peak = 0;
      yield* limitGather(
        Array.from(
          { length: 20 },
          (_, i) =>
            function* () {
              running++;
              peak = Math.max(peak, running);
              yield* sleep(10 + (i % 3));
              running--;
            },
        ),
        4,
      );
      assert.equal(peak, 4);
    });
  });

  it("with taskTimeout, starts are staggered: a slow task gets that long, a fast one lets the next start at once", async () => {
    await runVirtual(function* () {
      const starts: [string, number][] = [];
      const op = (name: string, ms: number) =>
        function* () {
          starts.push([name, currentTime()]);
          yield* sleep(ms);
        };
      yield* limitGather([op("slow", 5000), op("fast", 10), op("next", 10), op("last", 10)], 3, { taskTimeout: 1000 });
      assert.deepEqual(starts, [
        ["slow", 0],
        ["fast", 1000],
        ["next", 2000],
        ["last", 3000],
      ]);
    });
  });

  it("the first error cancels the operations still running and is rethrown; settle gives allSettled shapes", async () => {
    await runVirtual(function* () {
      const log: string[] = [];
      try {
        yield* limitGather(
          [
            function* () {
              try {
                yield* sleep(100);
              } finally {
                log.push("slow cancelled");
              }
            },
            function* () {
              yield* sleep(1);
              throw new Error("boom");
            },
          ],
          2,
        );
        assert.fail("expected the error");
      } catch (error) {
        assert.equal((error as Error).message, "boom");
      }
      assert.deepEqual(log, ["slow cancelled"]);
      const settled = yield* limitGather(
        [
          function* () {
            return 1;
          },
          function* () {
            throw new Error("no");
          },
        ],
        1,
        { settle: true },
      );
      assert.equal(settled[0]?.status, "fulfilled");
      assert.equal(settled[1]?.status, "rejected");
      assert.deepEqual(yield* limitGather([], 2), []);
    });
  });

  it("rejects a list that is not an array (a Set, null) with a clear TypeError", async () => {
    await runVirtual(function* () {
      for (const [list, received] of [
        [new Set([1]), "a Set"],
        [null, "null"],
      ] as const) {
        try {
          yield* limitGather(list as unknown as number[], 2, function* (item: number) {
            return item;
          });
          assert.fail("expected a TypeError");
        } catch (error) {
          assert.ok(error instanceof TypeError);
          assert.match(error.message, new RegExp(`^Cannot limitGather: expected an array of items, received ${received}$`));
        }
      }
    });
  });

  it("over items with one function: fn(item, index) per item, results in input order, at most n at once", async () => {
    await runVirtual(function* () {
      let running = 0;
      let peak = 0;
      const results = yield* limitGather([30, 10, 20, 5], 2, function* (ms, index) {
        running++;
        peak = Math.max(peak, running);
        yield* sleep(ms);
        running--;
        return `${index}:${ms}`;
      });
      assert.deepEqual(results, ["0:30", "1:10", "2:20", "3:5"]);
      assert.equal(peak, 2);
      const settled = yield* limitGather(
        [1, 2],
        1,
        function* (item) {
          if (item === 2) throw new Error("two");
          return item;
        },
        { settle: true },
      );
      assert.deepEqual(settled[0], { status: "fulfilled", value: 1 });
      assert.equal(settled[1]?.status, "rejected");
    });
  });

  it("a bad operation fails as limitGather's; with settle it is a rejected result", async () => {
    await runVirtual(function* () {
      const bad = [42 as unknown as () => Generator<never, number>];
      try {
        yield* limitGather(bad, 1);
        assert.fail("expected the error");
      } catch (error) {
        assert.ok(error instanceof TypeError);
        assert.match(error.message, /^Cannot limitGather: /);
      }
      const settled = yield* limitGather(bad, 1, { settle: true });
      assert.equal(settled[0]?.status, "rejected");
    });
  });

  it("rejects a bad n", async () => {
    await runVirtual(function* () {
      try {
        yield* limitGather([], 0);
      } catch (error) {
        assert.ok(error instanceof RangeError);
        assert.equal(error.message, "Cannot limitGather: n must be a positive integer, received 0");
      }
    });
  });

  it("an operation whose first step cancels the caller: the later ones never run and the cancel is thrown, not a list with holes", async () => {
    for (const settle of [false, true]) {
      let got: unknown;
      const log: string[] = [];
      await runVirtual(function* () {
        const task = yield* spawn(function* () {
          const caller = currentTask();
          try {
            got = yield* limitGather(
              [
                function* () {
                  caller.cancel();
                  return "a";
                },
                function* () {
                  log.push("second ran");
                  return "b";
                },
              ],
              2,
              { settle: settle as true },
            );
          } finally {
            yield* sleep(10);
            log.push(`cleanup done at ${currentTime()}`);
          }
        });
        yield* rejectsOp(task, CancelledError);
      });
      assert.equal(got, undefined, `settle: ${settle}`);
      assert.deepEqual(log, ["cleanup done at 10"], `settle: ${settle}`);
    }
  });
});

describe("processQueueWithLimit", () => {
  it("an item whose work throws a CancelledError of its own becomes a ProcessingFailure, not nothing", async () => {
    await runVirtual(function* () {
      const cancelled = yield* spawn(suspend);
      yield* sleep(1);
      cancelled.cancel();
      const queue = new Queue<number>();
      const done = new Queue<number | ProcessingFailure<number>>();
      const pool = yield* spawn(() =>
        processQueueWithLimit(queue, done, 2, function* (n: number): Operation<number> {
          if (n === 2) yield* cancelled;
          return n * 10;
        }),
      );
      for (const n of [1, 2, 3]) queue.putNowait(n);
      yield* queue.join();
      pool.cancel();
      const out: (number | string)[] = [];
      while (done.size > 0) {
        const next = done.getNowait();
        out.push(next instanceof ProcessingFailure ? `failure(${next.item})` : next);
      }
      assert.deepEqual(out.sort(), [10, 30, "failure(2)"].sort());
    });
  });

  it("a queue shut down (not immediately): the items in flight finish and reach doneQueue, then QueueShutDown is thrown", async () => {
    await runVirtual(function* () {
      const queue = new Queue<number>();
      const done = new Queue<number | ProcessingFailure<number>>();
      queue.putNowait(1);
      queue.putNowait(2);
      queue.putNowait(3);
      queue.shutdown();
      yield* rejectsOp(
        processQueueWithLimit(queue, done, 2, function* (n: number) {
          yield* sleep(10);
          return n * 10;
        }),
        QueueShutDown,
      );
      assert.equal(currentTime(), 20);
      const results: unknown[] = [];
      while (!done.empty) results.push(done.getNowait());
      assert.deepEqual(results, [10, 20, 30]);
    });
  });

  it("the seed's example, with operations as items, and failures recorded without stopping the pool", async () => {
    await runVirtual(function* () {
      const queue = new Queue<() => Generator<unknown, number, unknown>>();
      const done = new Queue<number | ProcessingFailure>();
      let running = 0;
      let peak = 0;
      const pool = yield* spawn(() => processQueueWithLimit(queue, done, 2));
      for (const n of [1, 2, 3, 4, 0]) {
        queue.putNowait(function* () {
          running++;
          peak = Math.max(peak, running);
          yield* sleep(10);
          running--;
          if (n === 0) throw new Error("bad item");
          return n * n;
        });
      }
      yield* queue.join();
      pool.cancel();
      const results: (number | ProcessingFailure)[] = [];
      while (!done.empty) results.push(done.getNowait());
      const numbers = results.filter((r): r is number => typeof r === "number").sort((a, b) => a - b);
      assert.deepEqual(numbers, [1, 4, 9, 16]);
      const failures = results.filter((r) => r instanceof ProcessingFailure);
      assert.equal(failures.length, 1);
      assert.equal(((failures[0] as ProcessingFailure).error as Error).message, "bad item");
      assert.equal(peak, 2);
    });
  });

  it("with a worker; cancelling it cancels what is in flight, and marks those items done", async () => {
    await runVirtual(function* () {
      const queue = new Queue<string>();
      const done = new Queue<string>();
      const log: string[] = [];
      const pool: Task<never> = yield* spawn(() =>
        processQueueWithLimit(queue, done, 3, function* (item: string) {
          try {
            yield* suspend();
          } finally {
            log.push(`${item} cancelled`);
          }
          return item;
        }),
      );
      queue.putNowait("a");
      queue.putNowait("b");
      yield* waitAllTasksBlocked();
      pool.cancel();
      try {
        yield* pool;
      } catch {}
      assert.deepEqual(log.sort(), ["a cancelled", "b cancelled"]);
      yield* queue.join(); // both were marked done
      assert.equal(done.size, 0);
    });
  });

  it("items whose tasks are cancelled before their first step are marked done too (join returns)", async () => {
    await runVirtual(function* () {
      const queue = new Queue<string>();
      const done = new Queue<string>();
      const ran: string[] = [];
      const pool: Task<never> = yield* spawn(() =>
        processQueueWithLimit(queue, done, 4, function* (item: string) {
          ran.push(item);
          yield* sleep(100);
          return item;
        }),
      );
      yield* waitAllTasksBlocked();
      queue.putNowait("a");
      queue.putNowait("b");
      // Runs right after the pool's step that takes the items and spawns their tasks, before those run.
      yield* spawn(function* () {
        pool.cancel();
      });
      try {
        yield* pool;
      } catch {}
      assert.deepEqual(ran, []);
      yield* timeout(1000, queue.join());
      assert.equal(done.size, 0);
    });
  });
});

describe("asyncCache", () => {
  it("a load that ends in the turn its caller is cancelled gives that caller the value, then the cancel (decided case 12)", async () => {
    const reports: unknown[] = [];
    await runVirtual(
      function* () {
        for (const outcome of ["value", "failure"] as const) {
          const load = asyncCache(function* (key: string) {
            yield* sleep(10);
            if (outcome === "failure") throw new TypeError(`no ${key}`);
            return `loaded ${key}`;
          });
          const { got, later } = yield* cancelledAsItEnds(() => load("k"));
          // A failure is not replaced by the cancel either.
          if (outcome === "value") assert.equal(got, "loaded k");
          else assert.ok(got instanceof TypeError && got.message === "no k", String(got));
          assert.equal(later, "CancelledError");
        }
      },
      { onError: (error) => reports.push(error) },
    );
    assert.deepEqual(reports, []);
  });

  it("a load and its caller's cancel in one turn: the caller gets the value only if the load ended first, whatever its priority (decided case 12)", async () => {
    const reports: unknown[] = [];
    await runVirtual(
      function* () {
        yield* resultAndCancelInOneTurn(function* (makeResult) {
          const load = asyncCache(function* (_key: string) {
            return yield* makeResult();
          });
          return () => load("k");
        });
      },
      { onError: (error) => reports.push(error) },
    );
    assert.deepEqual(reports, []);
  });

  it("caches by arguments, counts hits and misses, and hits do not suspend", async () => {
    await runVirtual(function* () {
      let loads = 0;
      const load = asyncCache(function* (id: number, suffix = "") {
        loads++;
        yield* sleep(10);
        return `item ${id}${suffix}`;
      });
      assert.equal(yield* load(1), "item 1");
      assert.equal(load(1)[Symbol.iterator]().next().done, true, "a hit returns without suspending");
      assert.equal(yield* load(2, "!"), "item 2!");
      assert.equal(loads, 2);
      assert.deepEqual(load.cacheInfo(), { hits: 1, misses: 2, maxSize: 128, size: 2 });
      load.cacheClear();
      assert.deepEqual(load.cacheInfo(), { hits: 0, misses: 0, maxSize: 128, size: 0 });
    });
  });

  it("evicts the least recently used entry beyond maxSize", async () => {
    await runVirtual(function* () {
      let loads = 0;
      const load = asyncCache(
        function* (id: number) {
          loads++;
          return id;
        },
        { maxSize: 2 },
      );
      yield* load(1);
      yield* load(2);
      yield* load(1); // 1 is now the most recent
      yield* load(3); // evicts 2
      yield* load(1);
      yield* load(2);
      assert.equal(loads, 4);
    });
  });

  it("expires entries after ttl on the loop's clock", async () => {
    await runVirtual(function* () {
      let loads = 0;
      const load = asyncCache(
        function* () {
          loads++;
          return loads;
        },
        { ttl: 5000 },
      );
      assert.equal(yield* load(), 1);
      yield* sleep(4000);
      assert.equal(yield* load(), 1);
      yield* sleep(2000);
      assert.equal(yield* load(), 2);
    });
  });

  it("does not cache undefined unless asked, nor failures", async () => {
    await runVirtual(function* () {
      let loads = 0;
      const nothing = asyncCache(function* () {
        loads++;
        return undefined;
      });
      yield* nothing();
      yield* nothing();
      assert.equal(loads, 2);
      const kept = asyncCache(
        function* () {
          loads++;
          return undefined;
        },
        { cacheUndefined: true },
      );
      yield* kept();
      yield* kept();
      assert.equal(loads, 3);
      let attempts = 0;
      const flaky = asyncCache(function* () {
        if (++attempts === 1) throw new Error("first fails");
        return "second works";
      });
      try {
        yield* flaky();
      } catch {}
      assert.equal(yield* flaky(), "second works");
    });
  });

  it("100 concurrent misses of one key run the loader exactly once", async () => {
    await runVirtual(function* () {
      let loads = 0;
      const load = asyncCache(function* (key: string) {
        loads++;
        yield* sleep(50);
        return key.toUpperCase();
      });
      const callers = [];
      for (let i = 0; i < 100; i++) callers.push(yield* spawn(() => load("k")));
      for (const caller of callers) assert.equal(yield* caller, "K");
      assert.equal(loads, 1);
    });
  });

  it("cancelling one caller does not cancel the shared run; the last caller leaving does", async () => {
    await runVirtual(function* () {
      const log: string[] = [];
      const load = asyncCache(function* (key: string) {
        try {
          yield* sleep(100);
          log.push(`${key} loaded`);
          return key;
        } finally {
          if (log.at(-1) !== `${key} loaded`) log.push(`${key} cancelled`);
        }
      });
      const a = yield* spawn(() => load("shared"));
      const b = yield* spawn(() => load("shared"));
      yield* waitAllTasksBlocked();
      a.cancel();
      assert.equal(yield* b, "shared");
      const lonely = yield* spawn(() => load("alone"));
      yield* waitAllTasksBlocked();
      lonely.cancel();
      yield* sleep(200);
      assert.deepEqual(log, ["shared loaded", "alone cancelled"]);
    });
  });

  it("cacheClear() during a load: the load finishes for its callers but stores nothing, and later calls load afresh", async () => {
    await runVirtual(function* () {
      let loads = 0;
      const load = asyncCache(function* (key: string) {
        const version = ++loads;
        yield* sleep(100);
        return `${key} v${version}`;
      });
      const before = yield* spawn(() => load("k"));
      yield* sleep(10);
      load.cacheClear();
      const after = yield* spawn(() => load("k"));
      assert.equal(yield* before, "k v1");
      assert.equal(yield* after, "k v2");
      assert.equal(yield* load("k"), "k v2");
      assert.equal(loads, 2);
    });
  });

  it("the last caller leaving waits for the run's cleanup, and an error from that cleanup reaches it", async () => {
    await runVirtual(function* () {
      const log: string[] = [];
      const load = asyncCache(function* (key: number) {
        try {
          yield* sleep(1000);
          return key;
        } finally {
          yield* sleep(100);
          log.push("cleanup over");
          // biome-ignore lint/correctness/noUnsafeFinally: the point of the test: cleanup that fails
          throw new Error("cleanup failed");
        }
      });
      const start = currentTime();
      try {
        yield* timeout(20, load(1));
        assert.fail("expected the cleanup's error");
      } catch (error) {
        assert.equal((error as Error).message, "cleanup failed");
      }
      assert.deepEqual(log, ["cleanup over"]);
      assert.equal(currentTime() - start, 120);
      // A cancelled caller that catches that error still ends cancelled, at its next suspension.
      const caller = yield* spawn(function* () {
        try {
          yield* load(2);
        } catch (error) {
          if (isCancellation(error)) throw error;
        }
        yield* sleep(10);
        return "BUG: ran on past its cancel";
      });
      yield* waitAllTasksBlocked();
      caller.cancel();
      try {
        yield* caller;
        assert.fail("expected a CancelledError");
      } catch (error) {
        assert.ok(error instanceof CancelledError, String(error));
      }
    });
  });

  it("by default, two different argument lists never share an entry", async () => {
    await runVirtual(function* () {
      const seen = asyncCache(function* (...args: unknown[]) {
        return args;
      });
      // Each list must get back the very arguments it was called with, not another list's.
      const lists: unknown[][] = [
        [null],
        [undefined],
        [],
        [1, 2],
        ["json:[1,2]"],
        ["\0[n1;n2;]"],
        ["1"],
        [1],
        [1n],
        [true],
        ["true"],
        [NaN, 1],
        [null, 1],
        [Infinity, 1],
        [undefined, 1],
        ["a", "b"],
        ["a,b"],
        [[1, 2]],
        [{ a: 1 }],
        [{ a: "1" }],
        [{ a: undefined }],
        [{}],
        [new Date(0)],
        [0],
        [1n, 2],
        ["1", 2],
      ];
      for (const list of lists) assert.deepEqual(yield* seen(...list), list, `call with ${String(list)}`);
      assert.equal(seen.cacheInfo().misses, lists.length);
      // Equal lists share one: NaN equals NaN, objects by value in any key order, dates by time.
      assert.deepEqual(yield* seen(NaN), [NaN]);
      assert.deepEqual(yield* seen(NaN), [NaN]);
      assert.deepEqual(yield* seen({ b: [1, { c: 2 }], a: null }, 3), [{ b: [1, { c: 2 }], a: null }, 3]);
      assert.deepEqual(yield* seen({ a: null, b: [1, { c: 2 }] }, 3), [{ b: [1, { c: 2 }], a: null }, 3]);
      assert.deepEqual(yield* seen(new Date(5), 1), [new Date(5), 1]);
      assert.deepEqual(yield* seen(new Date(5), 1), [new Date(5), 1]);
      assert.equal(seen.cacheInfo().hits, 3);
    });
  });

  it("by default, an argument it cannot compare by value throws a TypeError naming the key option", async () => {
    await runVirtual(function* () {
      const load = asyncCache(function* (...args: unknown[]) {
        return args.length;
      });
      const cyclic: unknown[] = [];
      cyclic.push(cyclic);
      for (const [args, what] of [
        [[new Map([[1, 2]])], "an instance of Map"],
        [[1, new Set()], "an instance of Set"],
        [[() => 1], "a function"],
        [[Symbol("s")], "a symbol (Symbol(s))"],
        [[{ [Symbol("s")]: 1 }], "an object with symbol keys"],
        [[[new (class Point {})()]], "an instance of Point"],
        [[cyclic], "a structure that contains itself"],
      ] as [unknown[], string][]) {
        assert.throws(
          () => load(...args),
          (error: unknown) =>
            error instanceof TypeError &&
            error.message.startsWith("Cannot make an asyncCache key from argument") &&
            error.message.includes("pass a `key` option") &&
            error.message.endsWith(`received ${what}`),
          what,
        );
      }
      assert.equal(load.cacheInfo().misses, 0);
      // A `key` option keys them; its null and undefined keys differ.
      const keyed = asyncCache(
        function* (value: unknown) {
          return value;
        },
        { key: (value) => (value instanceof Map ? null : undefined) },
      );
      assert.equal(yield* keyed(new Map()), yield* keyed(new Map()));
      assert.equal(yield* keyed(1), 1);
      assert.equal(keyed.cacheInfo().misses, 2);
    });
  });
});

describe("any and retry", () => {
  it("any(): a task given in the list is cancelled once another operation wins, and its cleanup awaited (as race does)", async () => {
    await runVirtual(function* () {
      const log: string[] = [];
      const given = yield* spawn(function* () {
        try {
          yield* sleep(100);
          log.push("given ran to its end");
        } finally {
          yield* sleep(2);
          log.push(`given cleaned up at ${currentTime()}`);
        }
        return "given";
      });
      const winner = yield* any([
        given,
        function* () {
          yield* sleep(5);
          return "other";
        },
      ]);
      log.push(`any gave ${winner} at ${currentTime()}`);
      assert.equal(given.state, "cancelled");
      assert.deepEqual(log, ["given cleaned up at 7", "any gave other at 7"]);
      // Decided in the first operation's first step: the given task's member never starts, and it is cancelled all the same.
      const given2 = yield* spawn(function* () {
        yield* sleep(10);
        return "given";
      });
      assert.equal(
        yield* any([
          function* () {
            return "at once";
          },
          given2,
        ]),
        "at once",
      );
      assert.equal(given2.state, "cancelled");
      // The caller cancelled while any waits for that task's cleanup: the value is still given, the cancel comes after.
      const order: string[] = [];
      const given3 = yield* spawn(function* () {
        try {
          yield* sleep(1000);
        } finally {
          yield* sleep(5);
          order.push(`given cleaned up at ${currentTime()}`);
        }
      });
      const t0 = currentTime();
      const caller = yield* spawn(function* () {
        const value = yield* any([
          function* () {
            return "win";
          },
          given3,
        ]);
        order.push(`any gave ${value} at ${currentTime() - t0}`);
        yield* sleep(1);
        order.push("BUG: not cancelled");
      });
      yield* sleep(2);
      caller.cancel();
      yield* rejectsOp(caller, CancelledError);
      assert.deepEqual(order, [`given cleaned up at ${t0 + 5}`, "any gave win at 5"]);
      // A task that is the caller or one of its parents cannot be given: it would be waited for, for ever.
      const error = yield* rejectsOp(any([currentTask()]), TypeError);
      assert.match(error.message, /Cannot run any: .* is this task or one of its parents/);
    });
  });

  it("any(): a cleanup that fails once the race is decided, or the caller is cancelled, fails the call instead of hanging", async () => {
    await runVirtual(function* () {
      const failingCleanup = (message: string) =>
        function* (): Operation<never> {
          try {
            yield* sleep(100);
            throw new Error("unreachable");
          } finally {
            // biome-ignore lint/correctness/noUnsafeFinally: the cleanup failure under test
            throw new Error(message);
          }
        };
      const winner = function* (): Operation<string> {
        yield* sleep(10);
        return "win";
      };
      try {
        yield* any([winner, failingCleanup("loser cleanup")]);
        assert.fail("any returned");
      } catch (error) {
        assert.equal((error as Error).message, "loser cleanup");
      }
      // The caller cancelled while any() waits: the member's cleanup error fails the caller, and reaches its scope.
      try {
        yield* scope(function* () {
          const caller = yield* spawn(() =>
            any([
              failingCleanup("cleanup after the caller's cancel"),
              function* () {
                yield* sleep(200);
                return "slow";
              },
            ]),
          );
          yield* sleep(10);
          caller.cancel();
        });
        assert.fail("the scope returned");
      } catch (error) {
        assert.equal((error as Error).message, "cleanup after the caller's cancel");
      }
    });
  });

  it("any(): a CancelledError an operation throws by itself (it joined a task someone cancelled) is its failure, not a hang", async () => {
    await runVirtual(function* () {
      const other = yield* spawn(function* () {
        yield* sleep(1000);
      });
      yield* sleep(1);
      other.cancel();
      try {
        yield* any([
          function* () {
            yield* other;
          },
          function* () {
            yield* sleep(5);
            throw new Error("mirror down");
          },
        ]);
        assert.fail("expected an AggregateError");
      } catch (error) {
        assert.ok(error instanceof AggregateError, String(error));
        assert.ok(error.errors[0] instanceof CancelledError);
        assert.equal((error.errors[1] as Error).message, "mirror down");
      }
    });
  });

  it("any(): an operation cancelled by hand (it cancelled itself, at once or later) counts as failed: all failing gives the AggregateError, not a hang", async () => {
    const fails = function* (): Operation<number> {
      yield* sleep(2);
      throw new Error("boom");
    };
    const cancelsAtOnce = function* (): Operation<number> {
      currentTask().cancel();
      return 7;
    };
    const cancelsThenWaits = function* (): Operation<number> {
      currentTask().cancel();
      yield* sleep(1);
      return 7;
    };
    await runVirtual(function* () {
      for (const cancels of [cancelsAtOnce, cancelsThenWaits]) {
        let error: unknown;
        try {
          yield* timeout(1000, any([cancels, fails]));
        } catch (caught) {
          error = caught;
        }
        assert.ok(error instanceof AggregateError, `${cancels.name}: ${String(error)}`);
        assert.deepEqual(
          error.errors.map((e: Error) => e.name),
          ["CancelledError", "Error"],
        );
      }
      // One that succeeds still wins over one cancelled by hand.
      assert.equal(
        yield* any([
          cancelsThenWaits,
          function* () {
            yield* sleep(5);
            return 1;
          },
        ]),
        1,
      );
    });
  });

  it("retry(): cancelled during an attempt whose cleanup throws, it stops: no further attempt, the cleanup's error thrown (directly and under a timeout)", async () => {
    for (const how of ["cancel", "timeout"] as const) {
      const log: string[] = [];
      await runVirtual(function* () {
        function* attempt(n: number): Operation<never> {
          log.push(`attempt ${n} at ${currentTime()}`);
          try {
            yield* sleep(100);
          } finally {
            // biome-ignore lint/correctness/noUnsafeFinally: the cleanup failing is the case under test
            throw new Error(`cleanup failed ${n}`);
          }
        }
        const options = { attempts: 3, backoff: { initial: 10, jitter: false } };
        const run =
          how === "timeout"
            ? timeout(50, retry(attempt, options))
            : scope(function* () {
                const caller = yield* spawn(retry(attempt, options));
                yield* sleep(50);
                caller.cancel();
              });
        assert.equal((yield* rejectsOp(run, Error)).message, "cleanup failed 1");
        yield* sleep(1000);
      });
      assert.deepEqual(log, ["attempt 1 at 0"], how);
    }
  });

  it("any() gives the first success; if all fail, an AggregateError with every error", async () => {
    await runVirtual(function* () {
      const value = yield* any([
        function* () {
          throw new Error("first");
        },
        function* () {
          yield* sleep(20);
          return "slow";
        },
        function* () {
          yield* sleep(10);
          return "fast";
        },
      ]);
      assert.equal(value, "fast");
      try {
        yield* any([
          function* () {
            throw new Error("a");
          },
          function* () {
            yield* sleep(5);
            throw new Error("b");
          },
        ]);
        assert.fail("expected an AggregateError");
      } catch (error) {
        assert.ok(error instanceof AggregateError);
        assert.deepEqual(
          error.errors.map((e) => (e as Error).message),
          ["a", "b"],
        );
      }
    });
  });

  it("retry() backs off on the clock, with jitter, and gives up after the attempts", async () => {
    await runVirtual(function* () {
      const times: number[] = [];
      try {
        yield* retry(
          function* () {
            times.push(currentTime());
            throw new Error("always");
          },
          { attempts: 4, backoff: { initial: 100, factor: 2 }, random: () => 0.5 },
        );
      } catch (error) {
        assert.equal((error as Error).message, "always");
      }
      // Full jitter with random() = 0.5: half of 100, 200, 400.
      assert.deepEqual(times, [0, 50, 150, 350]);
      let calls = 0;
      try {
        yield* retry(
          function* () {
            calls++;
            throw new TypeError("not retried");
          },
          { shouldRetry: (error) => !(error instanceof TypeError) },
        );
      } catch {}
      assert.equal(calls, 1);
      // A function that returns a promise is a mistake, said once and not retried.
      let promised = 0;
      try {
        yield* retry((() => {
          promised++;
          return Promise.resolve(1);
        }) as never);
        assert.fail("expected a TypeError");
      } catch (error) {
        assert.ok(error instanceof TypeError);
        assert.match(error.message, /^Cannot retry: expected a function returning an operation, but it returned a promise/);
      }
      assert.equal(promised, 1);
      try {
        yield* any(new Set() as never);
        assert.fail("expected a TypeError");
      } catch (error) {
        assert.equal((error as Error).message, "Cannot run any: expected an array of operations, received a Set");
      }
      // Every list-taking operation says what it got the same way.
      const notLists: [string, () => Operation<unknown>][] = [
        ["Cannot run all: expected an array of operations, received a Set", () => all(new Set() as never)],
        ["Cannot run asCompleted: expected an array of operations, received a Map", () => asCompleted(new Map() as never)],
        ["Cannot wait: expected an array of operations or tasks, received null", () => wait(null as never)],
      ];
      for (const [message, start] of notLists) {
        try {
          yield* start();
          assert.fail("expected a TypeError");
        } catch (error) {
          assert.equal((error as Error).message, message);
        }
      }
      // A zero first delay with an infinite factor stays zero (0 × Infinity is NaN).
      const attempts: number[] = [];
      const start = currentTime();
      try {
        yield* retry(
          function* () {
            attempts.push(currentTime() - start);
            throw new Error("again");
          },
          { attempts: 3, backoff: { initial: 0, factor: Number.POSITIVE_INFINITY } },
        );
      } catch (error) {
        assert.equal((error as Error).message, "again");
      }
      assert.deepEqual(attempts, [0, 0, 0]);
    });
  });

  it("retry() retries whatever is thrown, undefined included", async () => {
    await runVirtual(function* () {
      for (const thrown of [undefined, null, 0, "text"]) {
        let calls = 0;
        try {
          yield* retry(
            function* () {
              calls++;
              throw thrown;
            },
            { attempts: 3, backoff: { initial: 1 } },
          );
          assert.fail("expected the thrown value");
        } catch (error) {
          assert.equal(error, thrown);
        }
        assert.equal(calls, 3, `throw ${String(thrown)}`);
      }
    });
  });

  it("retry() refuses a backoff with no finite max, and a random() outside [0, 1) keeps the operation's error as cause", async () => {
    await runVirtual(function* () {
      let calls = 0;
      const flaky = function* (): Operation<string> {
        if (++calls < 3) throw new Error("app error");
        return "ok";
      };
      for (const backoff of [
        { initial: 10, factor: Number.POSITIVE_INFINITY, max: Number.POSITIVE_INFINITY, jitter: false },
        { initial: 10, max: Number.NaN },
        { initial: "10" as never },
      ]) {
        calls = 0;
        try {
          yield* retry(flaky, { backoff });
          assert.fail("expected a RangeError");
        } catch (error) {
          assert.ok(error instanceof RangeError, String(error));
          assert.match(error.message, /^Cannot retry: backoff needs initial >= 0, factor >= 1 and a finite max >= 0 \(ms\), received initial: /);
        }
        assert.equal(calls, 0, "rejected at the call, before any attempt");
      }
      // An infinite factor with a finite max goes straight to max, with or without jitter.
      calls = 0;
      const start = currentTime();
      assert.equal(yield* retry(flaky, { backoff: { initial: 10, factor: Number.POSITIVE_INFINITY, max: 50, jitter: false } }), "ok");
      assert.equal(currentTime() - start, 10 + 50);
      calls = 0;
      assert.equal(yield* retry(flaky, { random: () => 0, backoff: { initial: 10, factor: Number.POSITIVE_INFINITY, max: 50 } }), "ok");
      for (const bad of [1, -0.5, Number.NaN]) {
        calls = 0;
        try {
          yield* retry(flaky, { random: () => bad });
          assert.fail("expected a RangeError");
        } catch (error) {
          assert.ok(error instanceof RangeError, String(error));
          assert.equal(error.message, `Cannot retry: random() must return a number in [0, 1), received ${String(bad)}`);
          assert.equal((error.cause as Error).message, "app error");
        }
      }
    });
  });
});

describe("retry, processQueueWithLimit and any: review of 51596fa", () => {
  it("retry begun with a cancel pending: an attempt's error is thrown at once, not replaced by the cancel at the backoff sleep", async () => {
    let caught: unknown;
    let attempts = 0;
    await runVirtual(function* () {
      yield* scope(function* () {
        yield* spawn(function* () {
          currentTask().cancel(); // pending: delivered at the next suspension
          try {
            yield* retry(
              function* () {
                attempts++;
                throw new Error("bad");
              },
              { attempts: 3, backoff: { initial: 10 } },
            );
          } catch (error) {
            caught = error;
          }
        });
      });
    });
    assert.equal((caught as Error).message, "bad");
    assert.equal(attempts, 1);
  });

  it("retry in cleanup after a cancel was caught (delivered earlier) still retries a flaky operation", async () => {
    await runVirtual(function* () {
      let attempts = 0;
      let flushed: unknown = "not flushed";
      const task = yield* spawn(function* () {
        try {
          yield* sleep(100);
        } catch (error) {
          if (!isCancellation(error)) throw error;
          try {
            flushed = yield* retry(
              function* () {
                attempts++;
                yield* sleep(1);
                if (attempts < 3) throw new Error("flaky");
                return "flushed";
              },
              { attempts: 5, backoff: { initial: 1, jitter: false } },
            );
          } catch (e) {
            flushed = e;
          }
          throw error;
        }
      });
      yield* sleep(10);
      task.cancel();
      try {
        yield* task;
      } catch {}
      assert.equal(attempts, 3);
      assert.equal(flushed, "flushed");
    });
  });
  it("an immediate shutdown still stops at once (the item in flight is cancelled, not waited for)", async () => {
    await runVirtual(function* () {
      const queue = new Queue<number>();
      const done = new Queue<unknown>();
      let cancelled = false;
      queue.putNowait(1);
      yield* spawn(function* () {
        yield* sleep(10);
        queue.shutdown(true);
      });
      let error: unknown;
      try {
        yield* processQueueWithLimit(queue, done, 2, function* (n: number): Operation<number> {
          try {
            yield* sleep(10_000);
          } catch (e) {
            cancelled = isCancellation(e);
            throw e;
          }
          return n;
        });
      } catch (e) {
        error = e;
      }
      assert.ok(error instanceof QueueShutDown);
      assert.equal(currentTime(), 10);
      assert.equal(cancelled, true);
      assert.equal(done.size, 0);
    });
  });
  it("a member cancelled by hand that catches its cancel and returns a value later wins (as allSettled has it fulfilled)", async () => {
    await runVirtual(
      function* () {
        const value = yield* any([
          function* (): Operation<string> {
            yield* sleep(1);
            throw new Error("down");
          },
          function* (): Operation<string> {
            currentTask().cancel();
            try {
              yield* sleep(1);
            } catch {}
            yield* sleep(5);
            return "late but fine";
          },
        ]);
        assert.equal(value, "late but fine");
      },
      { onError: () => {} },
    );
  });
});
