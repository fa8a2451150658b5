/**
 * Caching the results of an operation-returning function (the file-sync
 * seed's `async_cache`).
 * @module
 */
import { LRUCache } from "lru-cache";
import type { Loop } from "../core/loop.ts";
import type { Operation } from "../core/operation.ts";
import { currentLoop } from "../core/run.ts";
import { encodeArgumentsKey } from "./_argument-key.ts";
import { SingleFlight } from "./_single-flight.ts";

/** Options of `asyncCache`. */
export interface AsyncCacheOptions<A extends unknown[]> {
  /** The most results kept; the least recently used go first. @default 128 */
  maxSize?: number;
  /** Keep each result this long (ms, on the loop's clock); none by default. */
  ttl?: number;
  /** Also cache results that are `undefined` (the seed's `cache_none`). @default false */
  cacheUndefined?: boolean;
  /**
   * Makes the cache key from the arguments; keys are compared as `Map` keys
   * are (`null` and `undefined` are keys too, and differ).
   * @default one key per distinct argument list, compared by value: one
   * primitive argument is its own key; otherwise a tagged encoding of the
   * list, which takes primitives (not symbols), arrays, plain objects and
   * `Date`s, nested. Two different lists never share an entry. A `Map`,
   * `Set`, class instance, function or symbol throws a `TypeError` at the
   * call: give a `key` for those.
   */
  key?: (...args: A) => unknown;
}

/** What `cacheInfo()` reports. */
export interface CacheInfo {
  hits: number;
  misses: number;
  maxSize: number;
  size: number;
}

/** A cached function: call it like the original, plus `cacheInfo()` and `cacheClear()`. */
export interface CachedFunction<A extends unknown[], R> {
  (...args: A): Operation<R>;
  /** Hits, misses, the maximum and the current size. */
  cacheInfo(): CacheInfo;
  /** Empties the cache and resets the counters. Loads under way finish for their callers but store nothing; later calls load afresh. */
  cacheClear(): void;
}

/**
 * Caches the results of `fn` by its arguments (the seed's `async_cache`
 * decorator): an LRU of `maxSize` entries, with a time-to-live when `ttl` is
 * given (measured on the loop's clock, so virtual time works). Results of
 * `undefined` are not cached unless `cacheUndefined`; failures are never
 * cached. Unlike the original, concurrent calls with the same key share one
 * run of `fn`: it runs as a task of its own, cancelling one caller does not
 * cancel it, and it is cancelled only when the last caller leaves. A hit
 * returns without suspending. A hit is decided when the cached function is
 * called, not when its operation runs: an operation made before its entry
 * expired (or before `cacheClear()`) and run later gives that entry, so call
 * it where you run it (`yield* cached(x)`).
 *
 * **Keys:** without a `key` option, two calls share an entry only if their
 * argument lists are equal by value: the same number of arguments, equal
 * primitives (compared as `Map` keys are: `NaN` equals `NaN`, `0` equals
 * `-0`, `1` differs from `"1"` and `1n`, `null` from `undefined`), arrays
 * with equal items, plain objects with equal own enumerable entries (in any
 * order), `Date`s with equal times. `f(1)` and `f(1, undefined)` are
 * different lists (a miss, never a wrong hit). Anything else (a `Map`,
 * `Set`, class instance, function, symbol, an object that contains itself)
 * throws a `TypeError` naming the `key` option when the cached function is
 * called, rather than being keyed by a lossy rule.
 *
 * Built on the `lru-cache` package (rather than an LRU of our own).
 *
 * **Cancellation:** the caller stops waiting; the shared run goes on for
 * the others, or, if no caller is left, is cancelled and the last caller
 * waits for its cleanup (and throws an error that cleanup throws, its own
 * cancel then due at its next suspension). So a run's cleanup must not
 * wait for something its caller holds (a lock taken around the call), as
 * with any child's cleanup.
 *
 * @example
 * ```ts
 * import { asyncCache, sleep } from "corio";
 * import { runVirtual } from "corio/testing";
 * await runVirtual(function* () {
 *   let loads = 0;
 *   const load = asyncCache(function* (id: number) { loads++; yield* sleep(10); return `item ${id}`; });
 *   console.assert((yield* load(1)) === "item 1" && (yield* load(1)) === "item 1" && loads === 1);
 *   console.assert(load.cacheInfo().hits === 1 && load.cacheInfo().misses === 1);
 * });
 * ```
 */
export function asyncCache<A extends unknown[], R>(fn: (...args: A) => Operation<R>, options: AsyncCacheOptions<A> = {}): CachedFunction<A, R> {
  if (typeof fn !== "function") throw new TypeError(`Cannot create an async cache: expected a function returning an operation, received ${typeof fn}`);
  const maxSize = options.maxSize ?? 128;
  if (!Number.isInteger(maxSize) || maxSize < 1)
    throw new RangeError(`Cannot create an async cache: maxSize must be a positive integer, received ${String(maxSize)}`);
  if (options.ttl !== undefined && !(options.ttl > 0))
    throw new RangeError(`Cannot create an async cache: ttl must be a positive number of ms, received ${String(options.ttl)}`);
  const cache = new LRUCache<NonNullable<unknown>, Resolved<R>>({
    max: maxSize,
    ...(options.ttl !== undefined && { ttl: options.ttl, ttlResolution: 0, perf: { now: () => (settingOn ?? currentLoop()).now() + 1 } }),
  });
  const makeKey = options.key ?? defaultKey;
  // The loop whose clock stamps an entry being stored (from a done callback, outside any task).
  // (The +1 on the clock above: lru-cache takes a start time of 0 to mean "no ttl", and a virtual clock starts at 0.)
  let settingOn: Loop | undefined;
  const flights = new SingleFlight<R>(`asyncCache ${fn.name || "fn"}`, "asyncCache: every caller was cancelled");
  let hits = 0;
  let misses = 0;
  /** Bumped by `cacheClear()`: a load started before it stores nothing. */
  let generation = 0;

  // A plain function, not a generator: a hit returns the entry itself, an
  // operation that is already done, so it allocates nothing.
  function cached(...args: A): Operation<R> {
    const made = (makeKey as (...a: A) => unknown)(...args);
    const key = made ?? (made === null ? NULL_KEY : UNDEFINED_KEY);
    const entry = cache.get(key);
    if (entry !== undefined) {
      hits++;
      return entry;
    }
    misses++;
    return miss(key, args);
  }

  function miss(key: NonNullable<unknown>, args: A): Operation<R> {
    const startedIn = generation;
    return flights.join(
      key,
      () => fn(...args),
      (value, loop) => {
        if ((value === undefined && !options.cacheUndefined) || generation !== startedIn) return;
        settingOn = loop;
        cache.set(key, new Resolved(value));
        settingOn = undefined;
      },
    );
  }

  const wrapper = cached as CachedFunction<A, R>;
  wrapper.cacheInfo = () => ({ hits, misses, maxSize, size: cache.size });
  wrapper.cacheClear = () => {
    // Loads under way finish for their callers, but store nothing, and later calls start afresh.
    generation++;
    flights.forgetAll();
    cache.clear();
    hits = 0;
    misses = 0;
  };
  return wrapper;
}

/** An operation that is already done with `value`: `yield*` on it returns at once. Stateless, so shared by every caller. */
class Resolved<T> implements Operation<T>, Iterator<never, T, unknown> {
  readonly #result: IteratorReturnResult<T>;
  constructor(value: T) {
    this.#result = { done: true, value };
  }
  [Symbol.iterator](): this {
    return this;
  }
  next(): IteratorReturnResult<T> {
    return this.#result;
  }
}

/** The keys of a single `undefined` and `null` argument (lru-cache takes neither as a key). */
const UNDEFINED_KEY = Symbol("undefined key");
const NULL_KEY = Symbol("null key");

/**
 * The default key, one that two different argument lists never share.
 * - One primitive argument (not a symbol) is its own key: it is compared as
 *   a `Map` key is, so `f(1)`, `f("1")` and `f(1n)` differ, `f(NaN)` hits
 *   `f(NaN)`, and `0` and `-0` share. `null` and `undefined` have keys of
 *   their own. This path allocates nothing.
 * - Anything else is keyed by a tagged encoding of the whole argument list,
 *   a string starting with `"\0"`. (A single string argument that starts
 *   with `"\0"` is encoded too, so no argument can pose as a list.)
 */
function defaultKey(...args: unknown[]): unknown {
  if (args.length === 1) {
    const only = args[0];
    // The common cases first, and kept short (this runs on every hit). ("".charCodeAt(0) is NaN.)
    if (typeof only === "number") return only;
    if (typeof only === "string") return only.charCodeAt(0) === 0 ? `\0${encodeArgumentsKey([only], "asyncCache")}` : only;
    if (typeof only === "boolean" || typeof only === "bigint") return only;
    if (only === undefined) return UNDEFINED_KEY;
    if (only === null) return NULL_KEY;
  }
  return `\0${encodeArgumentsKey(args, "asyncCache")}`;
}
