/**
 * Caching the results of an operation-returning function (the file-sync
 * seed's `async_cache`).
 * @module
 */
import { LRUCache } from "lru-cache";
import type { Loop } from "../core/loop.ts";
import type { Operation } from "../core/operation.ts";
import { currentLoop } from "../core/run.ts";
import { SingleFlight } from "./_single-flight.ts";

/** Options of `asyncCache`. */
export interface AsyncCacheOptions<A extends unknown[]> {
  /** The most results kept; the least recently used go first. @default 128 */
  maxSize?: number;
  /** Keep each result this long (ms, on the loop's clock); none by default. */
  ttl?: number;
  /** Also cache results that are `undefined` (the seed's `cache_none`). @default false */
  cacheUndefined?: boolean;
  /** Makes the cache key from the arguments. @default one primitive argument as it is; otherwise JSON of the argument list */
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
 * returns without suspending.
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
    const key = (makeKey as (...a: A) => unknown)(...args) ?? NULL_KEY;
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

const NULL_KEY = Symbol("null key");

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

/** One primitive argument is its own key (so `f(1)` and `f("1")` differ); anything else: JSON of the argument list. */
function defaultKey(...args: unknown[]): unknown {
  if (args.length === 1) {
    const [only] = args;
    if (only === null || (typeof only !== "object" && typeof only !== "function")) return only === undefined ? NULL_KEY : only;
  }
  return `json:${JSON.stringify(args)}`;
}
