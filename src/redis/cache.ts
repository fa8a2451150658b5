/**
 * A cache of operation results shared by several processes through Redis.
 * @module
 */
import { randomUUID } from "node:crypto";
import { until } from "../core/call.ts";
import { isCancellation } from "../core/errors.ts";
import type { Operation } from "../core/operation.ts";
import { currentLoop } from "../core/run.ts";
import { spawn } from "../core/spawn.ts";
import { sleep } from "../time/sleep.ts";
import { encodeArgumentsKey } from "../util/_argument-key.ts";
import { SingleFlight } from "../util/_single-flight.ts";
import type { RedisClient } from "./connection.ts";

/** Options of `redisCache`. */
export interface RedisCacheOptions<A extends unknown[], R> {
  /** The client to run commands on (from `connectRedis`); it must stay open while the cache is used. */
  redis: RedisClient;
  /** Names the cache in Redis: its entries are `<name>:v:<key>`, its locks `<name>:l:<key>`. Processes that share results use the same name. */
  name: string;
  /** How long an entry lives in Redis, in ms (Redis expires it, so every process sees the same lifetime). */
  ttl: number;
  /** How long a loader's lock lives if its process dies, in ms; it is extended every `lockTtl / 3` while the loader runs. @default 10000 */
  lockTtl?: number;
  /** The longest pause between two looks at Redis while another process loads the same key, in ms. @default 50 */
  pollInterval?: number;
  /**
   * Makes the key (a string or a number) from the arguments.
   * @default an encoding of the argument list that two different lists never
   * share (`asyncCache`'s: primitives, arrays, plain objects and `Date`s,
   * compared by value; `f(null)` and `f(undefined)` differ). A `Map`, `Set`,
   * class instance, function or symbol throws a `TypeError` at the call: give
   * a `key` for those.
   */
  key?: (...args: A) => string | number;
  /** Encodes a result as a string. @default `JSON.stringify` */
  serialize?: (value: R) => string;
  /** Decodes what `serialize` gave; a throw makes the entry unreadable (a miss). @default `JSON.parse` */
  deserialize?: (text: string) => R;
}

/** What `cacheInfo()` reports: counters of this process since the cache was made (or `cacheClear`). */
export interface RedisCacheInfo {
  /** Calls answered by an entry in Redis (there already, or stored by another process while this one waited). */
  hits: number;
  /** Calls answered by a run of the function in this process (concurrent callers in this process share one). */
  misses: number;
  /** Runs of the function in this process. */
  loads: number;
  /** Entries that could not be decoded: reported, then treated as misses (and overwritten). */
  badEntries: number;
}

/** A function cached in Redis: call it like the original, plus `cacheInfo()`, `cacheDelete(...)` and `cacheClear()`. */
export interface RedisCachedFunction<A extends unknown[], R> {
  (...args: A): Operation<R>;
  /** This process' counters. */
  cacheInfo(): RedisCacheInfo;
  /** Removes the entry of these arguments from Redis; gives whether there was one. */
  cacheDelete(...args: A): Operation<boolean>;
  /** Removes every entry of this cache from Redis (for every process) and resets this process' counters; gives how many were removed. */
  cacheClear(): Operation<number>;
}

/** How a flight ended: the value, and whether it came from Redis. */
interface Outcome<R> {
  value: R;
  hit: boolean;
}

// The value if there is one (unless it is the entry known to be unreadable), else the lock if it is free, else how long the lock has left.
const ACQUIRE = `local v = redis.call('GET', KEYS[1])
if v and (ARGV[3] == '0' or v ~= ARGV[4]) then return {1, v} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {2} end
return {0, redis.call('PTTL', KEYS[2])}`;
// Stores the value, then frees the lock if it is still ours (an expired lock may have been taken over).
const STORE = `redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return 1`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;
const EXTEND = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`;

/**
 * Caches the results of `fn` in Redis, so several processes (or machines)
 * share them: `asyncCache`, with the store in Redis. Each entry lives `ttl`
 * ms. When processes miss the same key at once, one runs `fn` and the
 * others wait for its result: the loader holds a lock in Redis (`SET NX PX`
 * with a random token, extended every `lockTtl / 3` while `fn` runs); the
 * others look again at growing intervals up to `pollInterval`. If the
 * loader's process dies, its lock expires after at most `lockTtl` and a
 * waiting process takes over and loads. Within one process, concurrent
 * callers of one key share one run (one round trip, one load), as with
 * `asyncCache`.
 *
 * Values go through JSON (or `serialize`/`deserialize`): give results that
 * survive it (a `Date` comes back as a string). A result JSON cannot encode
 * (a `bigint`, a function, a cycle) throws a `TypeError` to the callers and
 * is not stored. `undefined` is returned but not stored (return `null` for
 * "nothing", which is). An entry that cannot be decoded (written by another
 * program, or an older version) is reported to the loop's `onError`,
 * counted in `badEntries`, and treated as a miss: loaded again and
 * overwritten.
 *
 * Failures are never cached, nor shared between processes: a failure goes
 * to the callers in the process that ran `fn`, which frees the lock, and a
 * process that was waiting for it then loads by itself (as a later caller
 * would). Errors of Redis itself (unreachable after ioredis' retries) go to
 * the callers: the cache does not hide a broken Redis.
 *
 * **Cancellation:** the caller stops waiting; the shared run goes on for the
 * other callers in this process, or is cancelled when none is left, and then
 * frees its lock (the last caller waits for that cleanup).
 *
 * @param fn The function to cache.
 * @param options The client, the cache's name, the entries' `ttl`, and more.
 * @returns The cached function.
 * @throws {TypeError} for a missing client or name; when called, for a key that is not a string or number and for a result that cannot be encoded.
 * @throws {RangeError} for a `ttl`, `lockTtl` or `pollInterval` that is not a positive number.
 * @example
 * ```ts
 * import { run } from "corio";
 * import { connectRedis, redisCache } from "corio/redis";
 * await run(function* () {
 *   const redis = yield* connectRedis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
 *   let loads = 0;
 *   const price = redisCache(function* (item: string) { loads++; return { item, cents: 250 }; }, { redis, name: "example:price", ttl: 60_000 });
 *   yield* price.cacheClear();
 *   console.assert((yield* price("tea")).cents === 250 && (yield* price("tea")).cents === 250 && loads === 1);
 *   console.assert(price.cacheInfo().hits === 1 && price.cacheInfo().misses === 1);
 * });
 * ```
 */
export function redisCache<A extends unknown[], R>(fn: (...args: A) => Operation<R>, options: RedisCacheOptions<A, R>): RedisCachedFunction<A, R> {
  const what = "Cannot create a Redis cache";
  if (typeof fn !== "function") throw new TypeError(`${what}: expected a function returning an operation, received ${typeof fn}`);
  if (options === null || typeof options !== "object") throw new TypeError(`${what}: expected options { redis, name, ttl }`);
  const { redis, name } = options;
  if (redis === null || typeof redis !== "object" || typeof redis.eval !== "function")
    throw new TypeError(`${what}: options.redis must be an ioredis client (from connectRedis)`);
  if (typeof name !== "string" || name === "") throw new TypeError(`${what}: options.name must be a non-empty string`);
  const ttl = positive(what, "ttl", options.ttl);
  const lockTtl = positive(what, "lockTtl", options.lockTtl ?? 10_000);
  const pollInterval = positive(what, "pollInterval", options.pollInterval ?? 50);
  const makeKey = options.key ?? ((...args: A) => encodeArgumentsKey(args, "redisCache"));
  const serialize = options.serialize ?? ((value: R) => JSON.stringify(value));
  const deserialize = options.deserialize ?? ((text: string) => JSON.parse(text) as R);
  const label = `redisCache ${name}`;
  const flights = new SingleFlight<Outcome<R>>(label, "redisCache: every caller was cancelled");
  let info: RedisCacheInfo = { hits: 0, misses: 0, loads: 0, badEntries: 0 };

  function keyOf(args: A): string {
    const key: unknown = makeKey(...args);
    if (typeof key !== "string" && typeof key !== "number")
      throw new TypeError(`Cannot look up ${label}: the key must be a string or a number, received ${key === null ? "null" : typeof key}`);
    return String(key);
  }

  function* cached(...args: A): Operation<R> {
    const key = keyOf(args);
    const outcome = yield* flights.join(key, () => fetchOrLoad(key, args));
    if (outcome.hit) info.hits++;
    else info.misses++;
    return outcome.value;
  }

  /** The shared run for `key` (a root task): the entry, or the result of another process' load, or a load of our own. */
  function* fetchOrLoad(key: string, args: A): Operation<Outcome<R>> {
    const valueKey = `${name}:v:${key}`;
    const lockKey = `${name}:l:${key}`;
    const token = randomUUID();
    let unreadable: string | undefined;
    let pause = Math.min(5, pollInterval);
    for (;;) {
      let reply: [number, string | number];
      try {
        reply = (yield* until(redis.eval(ACQUIRE, 2, valueKey, lockKey, token, lockTtl, unreadable === undefined ? "0" : "1", unreadable ?? ""))) as [
          number,
          string | number,
        ];
      } catch (error) {
        // Cancelled (its last caller left) with the script in flight: Redis may have given it the lock all the same.
        // Freed by its token (no one else's), or every other process would wait out lockTtl. Not waited for: a
        // stalled Redis is when a caller's timeout matters most (the lock expires by itself if this never lands).
        if (isCancellation(error)) redis.eval(RELEASE, 1, lockKey, token).catch(() => undefined);
        throw error;
      }
      if (reply[0] === 1) {
        const text = String(reply[1]);
        try {
          return { value: deserialize(text), hit: true };
        } catch (error) {
          info.badEntries++;
          currentLoop().report(new Error(`${label}: the entry ${valueKey} cannot be decoded; loading it again`, { cause: error }), {
            kind: "callback",
            path: label,
          });
          unreadable = text;
          continue;
        }
      }
      if (reply[0] === 2) return { value: yield* load(key, args, valueKey, lockKey, token), hit: false };
      // Another process is loading: look again soon, and no later than its lock expires.
      const left = Number(reply[1]);
      yield* sleep(left > 0 ? Math.min(pause, left) : pause);
      pause = Math.min(pause * 2, pollInterval);
    }
  }

  /** Runs `fn` while holding the lock, stores the result, frees the lock. */
  function* load(key: string, args: A, valueKey: string, lockKey: string, token: string): Operation<R> {
    info.loads++;
    const keeper = yield* spawn(() => keepLock(lockKey, token), { name: `${label} lock`, daemon: true });
    let stored = false;
    try {
      const value = yield* fn(...args);
      if (value === undefined) return value;
      let text: unknown;
      try {
        text = serialize(value);
        if (typeof text !== "string") throw new TypeError(`${options.serialize ? "serialize" : "JSON.stringify"} gave ${typeof text}, not a string`);
      } catch (error) {
        const why = error instanceof Error ? error.message : String(error);
        throw new TypeError(
          `Cannot cache the result of ${label} for key ${key}: it cannot be encoded (${why}); return JSON-compatible values or give serialize`,
          {
            cause: error,
          },
        );
      }
      yield* until(redis.eval(STORE, 2, valueKey, lockKey, token, text, ttl));
      stored = true;
      return value;
    } finally {
      keeper.cancel();
      if (!stored) yield* release(lockKey, token);
    }
  }

  /** Frees the lock so waiting processes load at once instead of after `lockTtl`; if Redis cannot be reached, the lock expires by itself. */
  function* release(lockKey: string, token: string): Operation<void> {
    try {
      yield* until(redis.eval(RELEASE, 1, lockKey, token));
    } catch (error) {
      if (isCancellation(error)) throw error;
    }
  }

  function* keepLock(lockKey: string, token: string): Operation<void> {
    for (;;) {
      yield* sleep(lockTtl / 3);
      try {
        // 0: the lock expired (this process stalled) and maybe another took it over: it loads too, and the last store wins.
        if ((yield* until(redis.eval(EXTEND, 1, lockKey, token, lockTtl))) === 0) return;
      } catch (error) {
        if (isCancellation(error)) throw error;
        // Redis is unreachable for now: try again at the next beat.
      }
    }
  }

  const wrapper = cached as RedisCachedFunction<A, R>;
  wrapper.cacheInfo = () => ({ ...info });
  wrapper.cacheDelete = function* (...args: A): Operation<boolean> {
    return (yield* until(redis.del(`${name}:v:${keyOf(args)}`))) > 0;
  };
  wrapper.cacheClear = function* (): Operation<number> {
    info = { hits: 0, misses: 0, loads: 0, badEntries: 0 };
    const pattern = `${name.replace(/[*?[\]\\]/g, "\\$&")}:v:*`;
    let cursor = "0";
    let removed = 0;
    do {
      const [next, keys] = yield* until(redis.scan(cursor, "MATCH", pattern, "COUNT", 500));
      cursor = next;
      if (keys.length > 0) removed += yield* until(redis.unlink(...keys));
    } while (cursor !== "0");
    return removed;
  };
  return wrapper;
}

function positive(what: string, option: string, value: unknown): number {
  if (typeof value !== "number" || !(value > 0) || value === Number.POSITIVE_INFINITY)
    throw new RangeError(`${what}: ${option} must be a positive number of ms, received ${String(value)}`);
  return Math.ceil(value);
}
