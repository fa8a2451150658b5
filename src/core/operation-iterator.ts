/**
 * The iteration protocol of corio sources (`channel.next()`,
 * `queue.next()`, `reader.lines()`...): an iterator whose `next` is an
 * operation. Plus the bridge that makes them `for await`-able from plain
 * async code.
 * @module
 */
import { isCancellation } from "./errors.ts";
import type { Operation } from "./operation.ts";
import { run } from "./run.ts";
import type { Task } from "./task.ts";

/**
 * An iterator whose `next()` is an operation: what `Queue`, `Channel`,
 * `Subscription`, `reader.lines()`, framed messages, `each(...)` and
 * `on(...)` give. Any object of this shape is accepted by `each` and
 * `forEach`. The loop over one, in a generator:
 * `for (let r = yield* it.next(); !r.done; r = yield* it.next()) { ... }`.
 *
 * @typeParam T The items.
 * @typeParam TReturn The value that comes with `done: true`.
 * @example
 * ```ts
 * import { type OperationIterator, run } from "corio";
 * function countdown(n: number): OperationIterator<number> {
 *   return { *next() { return n > 0 ? { done: false, value: n-- } : { done: true, value: undefined }; } };
 * }
 * const seen = await run(function* () {
 *   const it = countdown(3);
 *   const out: number[] = [];
 *   for (let r = yield* it.next(); !r.done; r = yield* it.next()) out.push(r.value);
 *   return out;
 * });
 * console.assert(seen.join() === "3,2,1");
 * ```
 */
export interface OperationIterator<T, TReturn = undefined> {
  /** The next item, or `{ done: true }` at the end. */
  next(): Operation<IteratorResult<T, TReturn>>;
}

/**
 * Brands a corio iterator whose `next()` is an operation although it is
 * also async-iterable (for plain code), so `each` uses the operation.
 * @internal
 */
export const OPERATION_ITERATOR: unique symbol = Symbol.for("corio.operationIterator");

/** @internal Marks a class's instances (its prototype) as corio iterators. */
export function markOperationIterator(prototype: object): void {
  Object.defineProperty(prototype, OPERATION_ITERATOR, { value: true });
}

/** @internal True if `value` was branded with `markOperationIterator`. */
export function isBrandedOperationIterator(value: unknown): value is OperationIterator<unknown, unknown> {
  return value !== null && typeof value === "object" && (value as { [OPERATION_ITERATOR]?: unknown })[OPERATION_ITERATOR] === true;
}

/**
 * A corio iterator that is also async-iterable: `next` in operations,
 * `for await` in plain async code.
 */
export type IterableOperationIterator<T, TReturn = undefined> = OperationIterator<T, TReturn> & AsyncIterable<T, TReturn, undefined>;

/**
 * The iterator `operationIterator` makes: `next` is its own property (it
 * works taken off the object), the brand and `Symbol.asyncIterator` are on
 * the prototype. One is made per `lines()` or `readMessages`, so per
 * connection: an object literal with a computed key branded by
 * `defineProperty` cost about 2 µs each.
 */
class FunctionIterator<T, TReturn> {
  readonly next: () => Operation<IteratorResult<T, TReturn>>;
  constructor(next: () => Operation<IteratorResult<T, TReturn>>) {
    this.next = next;
  }
  [Symbol.asyncIterator](): AsyncIterator<T, TReturn, undefined> {
    return toAsyncIterator(this);
  }
}
markOperationIterator(FunctionIterator.prototype);

/** @internal Makes a branded, async-iterable corio iterator from a `next` operation. */
export function operationIterator<T, TReturn>(next: () => Operation<IteratorResult<T, TReturn>>): IterableOperationIterator<T, TReturn> {
  return new FunctionIterator(next);
}

/**
 * @internal The `for await` view of a corio iterator: each `next()` runs
 * the iterator's `next` operation as a root task (on the current loop, or
 * the default one), one at a time. `return()` cancels a `next` in flight
 * (whose item, if any was handed over, goes back to the source) and makes
 * it resolve `{ done: true }`; it calls `release` (once) if given.
 */
export function toAsyncIterator<T, TReturn>(iterator: OperationIterator<T, TReturn>, release?: () => void): AsyncIterableIterator<T, TReturn, undefined> {
  let pending: Task<IteratorResult<T, TReturn>> | null = null;
  let chain: Promise<unknown> = Promise.resolve();
  let finished = false;
  const finish = (): void => {
    if (finished) return;
    finished = true;
    release?.();
  };
  const step = async (): Promise<IteratorResult<T, TReturn>> => {
    if (finished) return { done: true, value: undefined as TReturn };
    const task = run(() => iterator.next(), { name: "async iteration" });
    pending = task;
    try {
      const result = await task;
      if (result.done) finish();
      return result;
    } catch (error) {
      if (finished && isCancellation(error)) return { done: true, value: undefined as TReturn };
      throw error;
    } finally {
      if (pending === task) pending = null;
    }
  };
  return {
    next() {
      // One `next` at a time: most sources allow a single waiting reader.
      const result = chain.then(step);
      chain = result.catch(() => undefined);
      return result;
    },
    async return(value?: TReturn | PromiseLike<TReturn>) {
      finish();
      pending?.cancel("the async iterator was closed");
      return { done: true, value: (await value) as TReturn };
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
