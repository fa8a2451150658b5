// corio/redis redisCache against a real redis-server (issue 15): two corio
// "processes" are two run() roots with connections of their own; the
// fault tests run a real loader process (test/fixtures/redis-cache-loader.ts).
import assert from "node:assert/strict";
import { type ChildProcess, spawn as spawnChild } from "node:child_process";
import { resolve } from "node:path";
import { beforeEach, describe, it } from "node:test";
import { CancelledError, Event, type Operation, run, sleep, spawn, suspend, until } from "../../src/index.ts";
import { connectRedis, type RedisClient, redisCache } from "../../src/redis/index.ts";
import { checkLeaks, promiseWithResolvers, rejectsOp } from "../_helpers.ts";
import { needsRedisServer, type RedisServer, useRedisServer } from "../_redis.ts";

const skip = needsRedisServer();
const FIXTURE = resolve(import.meta.dirname, "../fixtures/redis-cache-loader.ts");

describe("redisCache", { skip }, () => {
  checkLeaks();
  const redisServer = useRedisServer();
  let server: RedisServer;
  beforeEach(() => {
    server = redisServer();
  });

  /** Runs `body` in a root of its own with a connection of its own: one corio "process". */
  async function processWith<T>(body: (redis: RedisClient) => Operation<T>): Promise<T> {
    return await run(function* () {
      const redis = yield* connectRedis({ path: server.path });
      return yield* body(redis);
    });
  }

  /** Polls `condition` every 5 ms, up to `ms`. */
  function* eventually(condition: () => Operation<boolean>, ms = 5000): Operation<void> {
    const giveUp = Date.now() + ms;
    while (!(yield* condition())) {
      if (Date.now() > giveUp) assert.fail(`condition not met within ${ms} ms`);
      yield* sleep(5);
    }
  }

  it("a result loaded by one process is a hit in another, stored with the ttl", async () => {
    let loads = 0;
    const loader = function* (id: number) {
      loads++;
      return { id, name: `item ${id}` };
    };
    const first = await processWith(function* (redis) {
      const cached = redisCache(loader, { redis, name: "t1", ttl: 60_000 });
      const value = yield* cached(7);
      const pttl = yield* until(redis.pttl("t1:v:[n7;]"));
      assert.ok(pttl > 55_000 && pttl <= 60_000, `pttl ${pttl}`);
      return { value, info: cached.cacheInfo() };
    });
    assert.deepEqual(first, { value: { id: 7, name: "item 7" }, info: { hits: 0, misses: 1, loads: 1, badEntries: 0 } });
    const second = await processWith(function* (redis) {
      const cached = redisCache(loader, { redis, name: "t1", ttl: 60_000 });
      return { value: yield* cached(7), info: cached.cacheInfo() };
    });
    assert.deepEqual(second, { value: { id: 7, name: "item 7" }, info: { hits: 1, misses: 0, loads: 0, badEntries: 0 } });
    assert.equal(loads, 1);
  });

  it("concurrent misses of one key in two processes, several callers each, run the loader once", async () => {
    let loads = 0;
    const release = new Event();
    const started = new Event();
    function* slowLoader(key: string): Operation<string> {
      loads++;
      started.set();
      yield* release.wait();
      return `value of ${key}`;
    }
    const inProcess = (redis: RedisClient) =>
      function* () {
        const cached = redisCache(slowLoader, { redis, name: "t2", ttl: 60_000, pollInterval: 20 });
        const callers = [];
        for (let i = 0; i < 5; i++) callers.push(yield* spawn(() => cached("k")));
        const values = [];
        for (const caller of callers) values.push(yield* caller);
        return { values, info: cached.cacheInfo() };
      };
    const [a, b] = await Promise.all([
      processWith((redis) => inProcess(redis)()),
      processWith((redis) => inProcess(redis)()),
      run(function* () {
        yield* started.wait();
        yield* sleep(50); // let the other process' callers reach Redis and wait (not a synchronization: the result is the same either way)
        release.set();
      }),
    ]);
    assert.equal(loads, 1);
    assert.deepEqual([...a.values, ...b.values], Array(10).fill("value of k"));
    // One process loaded (5 misses), the other took the result from Redis (5 hits).
    assert.deepEqual([a.info.loads + b.info.loads, a.info.misses + b.info.misses, a.info.hits + b.info.hits], [1, 5, 5]);
  });

  it("a failure is not cached nor shared: the caller gets it, a process that waited loads by itself", async () => {
    const loaderStarted = new Event();
    const failNow = new Event();
    let runs = 0;
    function* flaky(_key: string): Operation<string> {
      runs++;
      if (runs === 1) {
        loaderStarted.set();
        yield* failNow.wait();
        throw new Error("backend down");
      }
      return "loaded on retry";
    }
    const [a, b] = await Promise.all([
      processWith(function* (redis) {
        const cached = redisCache(flaky, { redis, name: "t3", ttl: 60_000 });
        try {
          yield* cached("k");
          return "no error";
        } catch (error) {
          return (error as Error).message;
        }
      }),
      processWith(function* (redis) {
        yield* loaderStarted.wait();
        const cached = redisCache(flaky, { redis, name: "t3", ttl: 60_000, pollInterval: 10 });
        const waiting = yield* spawn(() => cached("k"));
        yield* sleep(30); // b is waiting on a's lock (either way it loads itself once a fails)
        failNow.set();
        return { value: yield* waiting, info: cached.cacheInfo() };
      }),
    ]);
    assert.equal(a, "backend down");
    assert.deepEqual(b, { value: "loaded on retry", info: { hits: 0, misses: 1, loads: 1, badEntries: 0 } });
    assert.equal(runs, 2);
  });

  it("cancelling the only caller cancels the load and frees the lock at once", async () => {
    await processWith(function* (redis) {
      const loading = new Event();
      let cleanedUp = false;
      const cached = redisCache(
        function* (_key: string) {
          loading.set();
          try {
            yield* suspend();
          } finally {
            cleanedUp = true;
          }
          return "never";
        },
        { redis, name: "t4", ttl: 60_000, lockTtl: 60_000 },
      );
      const caller = yield* spawn(() => cached("k"));
      yield* loading.wait();
      assert.equal(yield* until(redis.exists("t4:l:[s1:k]")), 1);
      caller.cancel();
      yield* rejectsOp(caller, CancelledError);
      yield* eventually(function* () {
        return (yield* until(redis.exists("t4:l:[s1:k]"))) === 0;
      }, 2000);
      assert.ok(cleanedUp);
    });
  });

  it("cancelling the only caller while its lock request is in flight frees the lock Redis gave it", async () => {
    await processWith(function* (redis) {
      let loads = 0;
      const cached = redisCache(
        function* (key: string) {
          loads++;
          return key;
        },
        { redis, name: "t4b", ttl: 60_000, lockTtl: 60_000 },
      );
      // The first script (the lock request) runs in Redis, but its reply is held back until the caller is gone.
      const evaluate = redis.eval.bind(redis) as (...args: unknown[]) => Promise<unknown>;
      const held = promiseWithResolvers<void>();
      let first = true;
      (redis as unknown as { eval: (...args: unknown[]) => Promise<unknown> }).eval = (...args) => {
        const reply = evaluate(...args);
        if (!first) return reply;
        first = false;
        return reply.then(async (value) => {
          await held.promise;
          return value;
        });
      };
      const caller = yield* spawn(() => cached("k"));
      yield* eventually(function* () {
        return (yield* until(redis.exists("t4b:l:[s1:k]"))) === 1;
      }, 2000);
      caller.cancel();
      yield* rejectsOp(caller, CancelledError);
      // Freed at once (its release is not waited for), not after lockTtl.
      yield* eventually(function* () {
        return (yield* until(redis.exists("t4b:l:[s1:k]"))) === 0;
      }, 2000);
      assert.equal(loads, 0);
      held.resolve();
    });
  });

  it("a malformed entry is reported and treated as a miss, then overwritten", async () => {
    const reports: unknown[] = [];
    const value = await run(
      function* () {
        const redis = yield* connectRedis({ path: server.path });
        yield* until(redis.set("t5:v:[s1:k]", "{not json", "PX", 60_000));
        const cached = redisCache(
          function* (_key: string) {
            return { fresh: true };
          },
          { redis, name: "t5", ttl: 60_000 },
        );
        const value = yield* cached("k");
        assert.deepEqual(cached.cacheInfo(), { hits: 0, misses: 1, loads: 1, badEntries: 1 });
        assert.equal(yield* until(redis.get("t5:v:[s1:k]")), '{"fresh":true}');
        return value;
      },
      { onError: (error) => reports.push(error) },
    );
    assert.deepEqual(value, { fresh: true });
    assert.equal(reports.length, 1);
    assert.match((reports[0] as Error).message, /redisCache t5: the entry t5:v:\[s1:k\] cannot be decoded; loading it again/);
    assert.ok((reports[0] as Error).cause instanceof SyntaxError);
  });

  it("a result JSON cannot encode is a clear TypeError to the caller, not stored; undefined is returned but not stored", async () => {
    await processWith(function* (redis) {
      const cached = redisCache(
        function* (kind: string): Operation<unknown> {
          if (kind === "bigint") return 10n;
          if (kind === "cycle") {
            const cycle: { self?: unknown } = {};
            cycle.self = cycle;
            return cycle;
          }
          if (kind === "function") return () => 1;
          return undefined;
        },
        { redis, name: "t6", ttl: 60_000 },
      );
      for (const kind of ["bigint", "cycle", "function"]) {
        try {
          yield* cached(kind);
          assert.fail(`expected an error for ${kind}`);
        } catch (error) {
          assert.ok(error instanceof TypeError, String(error));
          assert.match(
            error.message,
            new RegExp(
              `^Cannot cache the result of redisCache t6 for key \\[s${kind.length}:${kind}\\]: it cannot be encoded \\(.+\\); return JSON-compatible values or give serialize$`,
              "s",
            ),
          );
        }
      }
      assert.equal(yield* cached("undefined"), undefined);
      const keys = yield* until(redis.keys("t6:*"));
      assert.deepEqual(keys, [], "nothing stored and every lock freed");
    });
  });

  it("cacheDelete removes one entry, cacheClear every entry of the cache (and only of it)", async () => {
    await processWith(function* (redis) {
      let loads = 0;
      const options = { redis, name: "t7", ttl: 60_000 };
      const cached = redisCache(function* (n: number) {
        loads++;
        return n * 2;
      }, options);
      const other = redisCache(
        function* (n: number) {
          return n;
        },
        { ...options, name: "t7other" },
      );
      for (const n of [1, 2, 3]) yield* cached(n);
      yield* other(1);
      assert.equal(yield* cached.cacheDelete(2), true);
      assert.equal(yield* cached.cacheDelete(2), false);
      assert.equal(yield* cached(2), 4);
      assert.equal(loads, 4);
      assert.equal(yield* cached.cacheClear(), 3);
      assert.deepEqual(cached.cacheInfo(), { hits: 0, misses: 0, loads: 0, badEntries: 0 });
      assert.deepEqual(yield* until(redis.keys("t7*")), ["t7other:v:[n1;]"]);
    });
  });

  it('the default key: different argument lists never share an entry (null and undefined, 1 and "1"); a Map is refused', async () => {
    await processWith(function* (redis) {
      const cached = redisCache(
        function* (...args: unknown[]) {
          return args.map((arg) => (arg === undefined ? "undefined" : JSON.stringify(arg)));
        },
        { redis, name: "t10", ttl: 60_000 },
      );
      // Lone surrogates too: a key goes out as UTF-8, where each would become the same U+FFFD.
      const lists: unknown[][] = [
        [null],
        [undefined],
        [1],
        ["1"],
        [[1]],
        [1, 2],
        ["1,2"],
        [{ a: 1 }],
        [{}],
        [new Date(5)],
        ["1970-01-01T00:00:00.005Z"],
        [Number.NaN],
        ["\uD800"],
        ["\uDBFF"],
        ["\uFFFD"],
        [{ "\uD800": 1 }],
        [{ "\uDC00": 1 }],
      ];
      for (const args of lists) yield* cached(...args);
      for (const args of lists)
        assert.deepEqual(
          yield* cached(...args),
          args.map((arg) => (arg === undefined ? "undefined" : JSON.stringify(arg))),
        );
      assert.deepEqual(cached.cacheInfo(), { hits: lists.length, misses: lists.length, loads: lists.length, badEntries: 0 });
      try {
        yield* cached(new Map([[1, 2]]));
        assert.fail("expected a TypeError");
      } catch (error) {
        assert.match(String(error), /^TypeError: Cannot make a redisCache key from argument 0: .*received an instance of Map$/);
      }
    });
  });

  it("a custom key, serialize and deserialize", async () => {
    await processWith(function* (redis) {
      const cached = redisCache(
        function* (user: { id: number }) {
          return new Date(Date.UTC(2024, 0, user.id));
        },
        { redis, name: "t8", ttl: 60_000, key: (user) => user.id, serialize: (date) => date.toISOString(), deserialize: (text) => new Date(text) },
      );
      yield* cached({ id: 3 });
      const hit = yield* cached({ id: 3 });
      assert.ok(hit instanceof Date && hit.getTime() === Date.UTC(2024, 0, 3));
      assert.equal(yield* until(redis.get("t8:v:3")), "2024-01-03T00:00:00.000Z");
    });
  });

  it("rejects bad options and keys", async () => {
    await processWith(function* (redis) {
      const fn = function* () {
        return 1;
      };
      assert.throws(() => redisCache(fn, { redis: undefined as never, name: "x", ttl: 1 }), TypeError);
      assert.throws(() => redisCache(fn, { redis, name: "", ttl: 1 }), TypeError);
      assert.throws(() => redisCache(fn, { redis, name: "x" } as never), /ttl must be a positive number of ms, received undefined/);
      assert.throws(() => redisCache(fn, { redis, name: "x", ttl: 1, lockTtl: 0 }), RangeError);
      assert.throws(() => redisCache(fn, { redis, name: "x", ttl: 1, pollInterval: Number.NaN }), RangeError);
      const badKey = redisCache(fn, { redis, name: "x", ttl: 1, key: () => ({}) as never });
      try {
        yield* badKey();
        assert.fail("expected a TypeError");
      } catch (error) {
        assert.match(String(error), /TypeError: Cannot look up redisCache x: the key must be a string or a number, received object/);
      }
    });
  });

  describe("with a real loader process", () => {
    function startLoader(name: string, lockTtl: number, mode: string): { child: ChildProcess; output: string[]; exited: Promise<void> } {
      const child = spawnChild(process.execPath, ["--import", "tsx", FIXTURE, server.path, name, String(lockTtl), mode], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      const output: string[] = [];
      child.stdout?.setEncoding("utf8").on("data", (chunk: string) => output.push(...chunk.split("\n").filter((line) => line !== "")));
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      return { child, output, exited };
    }

    function* waitForLine(output: string[], line: string, ms = 20_000): Operation<void> {
      const giveUp = Date.now() + ms;
      while (!output.includes(line)) {
        if (Date.now() > giveUp) assert.fail(`the fixture did not print ${JSON.stringify(line)} within ${ms} ms (printed ${JSON.stringify(output)})`);
        yield* sleep(10);
      }
    }

    it("a loader process killed (SIGKILL) while holding the lock: another process takes over once the lock expires", async () => {
      const lockTtl = 1500;
      const loader = startLoader("t9", lockTtl, "hang");
      try {
        const result = await processWith(function* (redis) {
          yield* waitForLine(loader.output, "loading");
          assert.equal(yield* until(redis.exists("t9:l:[s1:k]")), 1, "the fixture holds the lock");
          let loadedAt = 0;
          const cached = redisCache(
            function* (_key: string) {
              loadedAt = Date.now();
              return "from the survivor";
            },
            { redis, name: "t9", ttl: 60_000, lockTtl, pollInterval: 20 },
          );
          const waiting = yield* spawn(() => cached("k"));
          yield* sleep(lockTtl / 2); // still held (the fixture extends it): the survivor waits
          assert.equal(loadedAt, 0, "the survivor waits while the holder lives");
          loader.child.kill("SIGKILL");
          yield* until(loader.exited);
          const killedAt = Date.now();
          const value = yield* waiting;
          return { value, afterKill: loadedAt - killedAt, info: cached.cacheInfo() };
        });
        assert.equal(result.value, "from the survivor");
        assert.ok(result.afterKill >= 0 && result.afterKill < lockTtl + 2000, `took over ${result.afterKill} ms after the kill`);
        assert.deepEqual(result.info, { hits: 0, misses: 1, loads: 1, badEntries: 0 });
      } finally {
        loader.child.kill("SIGKILL");
        await loader.exited;
      }
    });

    it("a loader process slower than lockTtl keeps its lock (extended): the other process waits and gets its result", async () => {
      const lockTtl = 300;
      const loader = startLoader("t10", lockTtl, "slow:1000");
      try {
        const result = await processWith(function* (redis) {
          yield* waitForLine(loader.output, "loading");
          const cached = redisCache(
            function* (_key: string) {
              return "from this process";
            },
            { redis, name: "t10", ttl: 60_000, lockTtl, pollInterval: 20 },
          );
          const value = yield* cached("k");
          return { value, info: cached.cacheInfo() };
        });
        assert.deepEqual(result, { value: "from the fixture", info: { hits: 1, misses: 0, loads: 0, badEntries: 0 } });
        await run(() => waitForLine(loader.output, "done"));
      } finally {
        loader.child.kill("SIGKILL");
        await loader.exited;
      }
    });
  });
});
