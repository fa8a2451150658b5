/**
 * Iterating any source of items inside an operation: async iterables, Node
 * `Readable`s, Web `ReadableStream`s and corio's own sources, cancellably.
 * @module
 */
import { defineOperation } from "./_dev.ts";
import { PromisedRead } from "./_promised-read.ts";
import { adoptResourceWithCleanup, type ResourceKeeper } from "./_resource.ts";
import { FINISHED, FRESH, PARKED, ranTwice, StepOperation } from "./_step-operation.ts";
import { until } from "./call.ts";
import { describe, isCancellation } from "./errors.ts";
import { type Instruction, isOperationThen, markOperationPrototype, type Operation } from "./operation.ts";
import { isBrandedOperationIterator, markOperationIterator, type OperationIterator } from "./operation-iterator.ts";
import { requireCurrentTask } from "./spawn.ts";

// The steps of `EachNext` on its `Each`, kept off the iterator's public names.
const OVER = Symbol("corio.each.over");
const SOURCE_NEXT = Symbol("corio.each.sourceNext");
const SETTLED = Symbol("corio.each.settled");
const FAILED = Symbol("corio.each.failed");

/**
 * The part of a Web `ReadableStream` that `each` uses (structural, so any
 * implementation of the standard fits).
 */
export interface WebReadableStreamLike<T> {
  getReader(): {
    read(): Promise<{ done: true; value?: T | undefined } | { done: false; value: T }>;
    cancel(reason?: unknown): Promise<void>;
    releaseLock(): void;
  };
}

/** Everything `each` and `forEach` accept. */
export type EachSource<T, TReturn = undefined> = OperationIterator<T, TReturn> | WebReadableStreamLike<T> | AsyncIterable<T, TReturn>;

/**
 * The iterator `each` gives: a corio iterator (`yield* it.next()`) over the
 * source, which `return()` releases early. It is also released when the
 * task that called `each` ends, whatever the way; a `break` out of a `next()`
 * loop does not release it (call `return()`).
 */
export interface EachIterator<T, TReturn = undefined> extends OperationIterator<T, TReturn> {
  /**
   * Stops iterating and releases the source (see `each`); later `next()`
   * calls give `{ done: true }` (for `on`, after the events already
   * buffered). Idempotent.
   */
  return(): Operation<void>;
}

/** One kind of source, opened: pull an item, or let it go. */
interface Source<T, TReturn> {
  /** The iterator of the operation that gives the next item. */
  next(): Iterator<Instruction, IteratorResult<T, TReturn>, unknown>;
  /** True if an error from `next` ends the source (a JS iterator that threw is finished). */
  readonly endsOnError: boolean;
  release(): Operation<void>;
}

const ACCEPTED =
  "an async iterable, a Node Readable, a Web ReadableStream, or a corio iterator (a Queue, Channel, Subscription, reader.lines(), readMessages(...), on(...))";

/**
 * Opens `source` for iteration inside an operation and gives an
 * `EachIterator`: `yield* it.next()` waits for the next item. Generators
 * cannot `for...of` over items that need waiting, so the loop is written
 * with `next()`; `forEach(source, function* (item) {...})` is the same
 * loop with the release built in.
 *
 * The source is released by `yield* it.return()`, and otherwise when the
 * task that called `each` ends, however it ends (cancellation included).
 * `break` alone does not release it: nothing tells `each` that a loop
 * written by hand was left (`for await` calls the iterator's `return()` at
 * a `break`; here nothing does). Until the task ends, the source stays
 * open (an async generator suspended in its `try`, a stream and what it
 * holds) and its release stays registered on the task, so a long-lived
 * task that leaves many such loops holds them all. To release at once,
 * call `yield* it.return()` after the loop (in a `finally`), or use
 * `forEach`, or run the loop in `scope(...)`, whose end releases it.
 *
 * Sources, all iterated the same way:
 * - corio iterators (`Queue`, `Channel`, `Subscription`, `reader.lines()`,
 *   `readMessages(...)`, `on(...)`, any `{ next(): Operation<IteratorResult> }`):
 *   `next()` is theirs; releasing calls their `return()` if they have one
 *   (the `on` listener is removed), but never closes a queue or channel you
 *   passed (other tasks may use it);
 * - a Web `ReadableStream`: read through a reader; releasing cancels the
 *   stream (`reader.cancel()`), unless it ended, then releases the
 *   reader's lock (as the stream's own async iterator does);
 * - a Node `Readable`: its async iterator; releasing destroys the stream,
 *   unless it ended;
 * - any other async iterable (an async generator...): releasing calls the
 *   iterator's `return()` and waits for it, unless a `next()` is still in
 *   flight (an async generator queues `return()` behind it, so waiting could
 *   last forever): then `return()` is called without waiting.
 *
 * **Cancellation:** of a `next()`, loses nothing: an item that arrives after
 * the cancel is given by the next `next()` (a corio source keeps it; for the
 * others the read in flight is kept). The source is released when the task
 * ends (or at `return()`).
 *
 * Several tasks may wait on one iterator: each gets an item of its own, in
 * the order they asked (an async iterable or a Web stream is read one item
 * at a time, as an async generator serves its `next()` calls).
 *
 * Unlike Effection's `each` (`for (const x of yield* each(stream)) { ...;
 * yield* each.next(); }`), there is no hidden per-loop state: the iterator is
 * a value, and forgetting to advance it cannot hang the loop.
 *
 * @param source What to iterate.
 * @returns An iterator tied to the current task.
 * @throws {TypeError} for a source of another kind, naming those accepted.
 * @example Leaving early: break, then return() releases the source
 * ```ts
 * import { each, run } from "corio";
 * let closed = false;
 * async function* naturals() {
 *   try { for (let i = 0; ; i++) yield i; } finally { closed = true; }
 * }
 * await run(function* () {
 *   const it = yield* each(naturals());
 *   try {
 *     for (let r = yield* it.next(); !r.done; r = yield* it.next()) if (r.value === 2) break;
 *   } finally {
 *     yield* it.return(); // without it, naturals() would stay open until this task ends
 *   }
 *   console.assert(closed);
 * });
 * ```
 * @example
 * ```ts
 * import { each, run } from "corio";
 * async function* numbers() { yield 1; yield 2; yield 3; }
 * const total = await run(function* () {
 *   const it = yield* each(numbers());
 *   let sum = 0;
 *   for (let r = yield* it.next(); !r.done; r = yield* it.next()) sum += r.value;
 *   return sum;
 * });
 * console.assert(total === 6);
 * ```
 */
export const each: {
  <T, TReturn = undefined>(source: OperationIterator<T, TReturn>): Operation<EachIterator<T, TReturn>>;
  <T>(source: WebReadableStreamLike<T>): Operation<EachIterator<T, undefined>>;
  <T, TReturn = undefined>(source: AsyncIterable<T, TReturn>): Operation<EachIterator<T, TReturn>>;
} = defineOperation(function* each<T, TReturn>(source: EachSource<T, TReturn>): Operation<EachIterator<T, TReturn>> {
  const opened = open<T, TReturn>(source);
  const iterator = new Each<T, TReturn>(opened);
  iterator.keeper = adoptResourceWithCleanup("each", () => iterator.return(), "iterate with each()");
  return iterator.keeper.returnedAs(iterator);
}) as unknown as never;

/**
 * Runs `body` for each item of `source` (anything `each` accepts), one
 * after the other, and returns the source's final value. The source is
 * released however the loop ends: its end, an error from `body` or the
 * source, or cancellation. To stop early, use `each` and leave its loop, or
 * throw.
 *
 * If releasing the source fails too (an async generator's `finally`
 * throws, a Web stream's `cancel()` rejects) while an error from `body` or
 * the source is thrown, that error is the one `forEach` throws, as with
 * `for await`; the release's error is not dropped: it is reported to the
 * loop's `onError` (kind `callback`, as the `cause` of an error naming the
 * one thrown). While a cancellation is thrown, or after the loop ended
 * well, the release's error is thrown (an error is never replaced by a
 * cancellation).
 *
 * Effection writes this loop as `for (const x of yield* each(s)) { ...;
 * yield* each.next(); }`; corio takes the body as an operation instead, so
 * there is nothing to forget at the end of it.
 *
 * @param source What to iterate.
 * @param body Called with each item; the next item is read once it returns.
 * @returns The value that came with `done` (for a `Channel`, its close reason).
 * @throws {TypeError} for a source `each` does not accept.
 * @example
 * ```ts
 * import { Channel, forEach, spawn } from "corio";
 * import { runVirtual } from "corio/testing";
 * await runVirtual(function* () {
 *   const channel = new Channel<string>();
 *   yield* spawn(function* () {
 *     yield* channel.send("a");
 *     yield* channel.send("b");
 *     channel.close();
 *   });
 *   const got: string[] = [];
 *   yield* forEach(channel, function* (message) {
 *     got.push(message);
 *   });
 *   console.assert(got.join() === "a,b");
 * });
 * ```
 */
export const forEach: {
  <T, TReturn = undefined>(source: OperationIterator<T, TReturn>, body: (item: T) => Operation<unknown>): Operation<TReturn>;
  <T>(source: WebReadableStreamLike<T>, body: (item: T) => Operation<unknown>): Operation<undefined>;
  <T, TReturn = undefined>(source: AsyncIterable<T, TReturn>, body: (item: T) => Operation<unknown>): Operation<TReturn>;
} = defineOperation(function* forEach<T, TReturn>(source: EachSource<T, TReturn>, body: (item: T) => Operation<unknown>): Operation<TReturn> {
  if (typeof body !== "function") throw new TypeError(`Cannot iterate with forEach: expected a function (item) => operation as body, received ${typeof body}`);
  const iterator = yield* each(source as AsyncIterable<T, TReturn>);
  let failure: unknown = NO_FAILURE;
  try {
    for (;;) {
      const result = yield* iterator.next();
      if (result.done) return result.value;
      yield* body(result.value);
    }
  } catch (error) {
    failure = error;
    throw error;
  } finally {
    // A cleanup error must not replace the body's (or the source's) error in flight, as `for await`
    // ignores return()'s; nor be dropped: it goes to the loop's onError. It still replaces a
    // cancellation (an error is never replaced by a cancellation) and fails a loop that ended well.
    if (failure === NO_FAILURE || isCancellation(failure)) yield* iterator.return();
    else {
      try {
        yield* iterator.return();
      } catch (cleanupError) {
        reportReleaseError(cleanupError, failure);
      }
    }
  }
}) as unknown as never;

/** What `forEach` had in flight before its `finally`: nothing. */
const NO_FAILURE: unique symbol = Symbol("no failure");

/**
 * Reports an error from releasing `forEach`'s source while `failure` was
 * thrown: `failure` wins, and this one goes to the loop's `onError` (kind
 * `callback`), as its `cause`.
 */
function reportReleaseError(cleanupError: unknown, failure: unknown): void {
  const task = requireCurrentTask("iterate with forEach");
  const error = new Error(`forEach could not release its source while it threw another error (the one thrown: ${describe(failure)})`, {
    cause: cleanupError,
  });
  task.loop.report(error, { kind: "callback", task, path: task.path });
}

class Each<T, TReturn> implements EachIterator<T, TReturn> {
  readonly #source: Source<T, TReturn>;
  keeper: ResourceKeeper | null = null;
  #finished = false;
  #final: IteratorResult<T, TReturn> | null = null;

  constructor(source: Source<T, TReturn>) {
    this.#source = source;
  }

  next(): Operation<IteratorResult<T, TReturn>> {
    return new EachNext(this);
  }

  /** @internal The first step of `next`: the result at once when the iteration is over, else `null`. */
  [OVER](): IteratorResult<T, TReturn> | null {
    if (this.#final !== null) return this.#final;
    if (this.#finished) return { done: true, value: undefined as TReturn };
    return null;
  }

  /** @internal The source's next item, as an operation's iterator to run. */
  [SOURCE_NEXT](): Iterator<Instruction, IteratorResult<T, TReturn>, unknown> {
    return this.#source.next();
  }

  /** @internal What the source's `next` gave. */
  [SETTLED](result: IteratorResult<T, TReturn>): void {
    if (result.done) {
      this.#final = result;
      this.#end();
    }
  }

  /** @internal What the source's `next` threw. A cancelled wait keeps the source (its read in flight included) for the next call. */
  [FAILED](error: unknown): void {
    if (this.#source.endsOnError && !isCancellation(error)) this.#end();
  }

  *return(): Operation<void> {
    if (this.#finished) return;
    this.#end();
    yield* this.#source.release();
  }

  /** The source is finished or released: nothing left for the task to clean up. */
  #end(): void {
    this.#finished = true;
    this.keeper?.release();
    this.keeper = null;
  }
}
markOperationIterator(Each.prototype);

/**
 * `each(...).next()`: a step operation (see `_step-operation.ts`) that runs
 * the source's own `next` operation, passing on what the task sends it
 * (`next`, `throw`, `return`), as `yield*` did in the generator it replaces:
 * a `forEach` paid that generator on every item.
 */
class EachNext<T, TReturn> extends StepOperation<IteratorResult<T, TReturn>> {
  readonly #each: Each<T, TReturn>;
  #source: Iterator<Instruction, IteratorResult<T, TReturn>, unknown> | null = null;

  constructor(each: Each<T, TReturn>) {
    super();
    this.state = FRESH;
    this.#each = each;
  }

  next(value?: unknown): IteratorResult<Instruction, IteratorResult<T, TReturn>> {
    if (this.state === FINISHED) throw ranTwice(this);
    if (this.state === FRESH) {
      const over = this.#each[OVER]();
      if (over !== null) {
        this.state = FINISHED;
        return { done: true, value: over };
      }
    }
    let step: IteratorResult<Instruction, IteratorResult<T, TReturn>>;
    try {
      this.#source ??= this.#each[SOURCE_NEXT]();
      step = this.#source.next(value);
    } catch (error) {
      return this.#failed(error);
    }
    return this.#stepped(step);
  }

  override throw(error: unknown): IteratorResult<Instruction, IteratorResult<T, TReturn>> {
    const source = this.#source;
    if (this.state !== PARKED || source === null || source.throw === undefined) return this.#failed(error);
    let step: IteratorResult<Instruction, IteratorResult<T, TReturn>>;
    try {
      step = source.throw(error);
    } catch (thrown) {
      return this.#failed(thrown);
    }
    return this.#stepped(step);
  }

  override return(value?: IteratorResult<T, TReturn>): IteratorResult<Instruction, IteratorResult<T, TReturn>> {
    if (this.state === PARKED) this.#source?.return?.();
    return super.return(value);
  }

  #failed(error: unknown): never {
    this.state = FINISHED;
    this.#each[FAILED](error);
    throw error;
  }

  #stepped(step: IteratorResult<Instruction, IteratorResult<T, TReturn>>): IteratorResult<Instruction, IteratorResult<T, TReturn>> {
    if (step.done !== true) {
      this.state = PARKED;
      return step;
    }
    this.state = FINISHED;
    this.#each[SETTLED](step.value);
    return step;
  }
}
markOperationPrototype(EachNext.prototype, "each.next");

function kindOf(value: unknown): string {
  if (value === null) return "null";
  if (typeof value !== "object") return typeof value;
  const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === "string" && name !== "Object" ? `a ${name}` : "an object";
}

function open<T, TReturn>(source: unknown): Source<T, TReturn> {
  if (source !== null && (typeof source === "object" || typeof source === "function")) {
    const s = source as {
      getReader?: unknown;
      pipe?: unknown;
      destroy?: unknown;
      read?: unknown;
      next?: unknown;
      [Symbol.asyncIterator]?: unknown;
      [Symbol.iterator]?: unknown;
    };
    if (isBrandedOperationIterator(source)) return new NativeSource(source as OperationIterator<T, TReturn>);
    if (typeof s.getReader === "function") return new WebStreamSource((source as WebReadableStreamLike<T>).getReader()) as Source<T, TReturn>;
    if (typeof s[Symbol.asyncIterator] === "function") {
      const iterator = (source as AsyncIterable<T, TReturn>)[Symbol.asyncIterator]();
      const isNodeReadable = typeof s.pipe === "function" && typeof s.destroy === "function" && typeof s.read === "function";
      return new AsyncIterableSource(iterator, isNodeReadable ? (source as { destroy(): void; readableEnded?: boolean }) : null);
    }
    if (typeof s.next === "function" && typeof s[Symbol.iterator] !== "function") return new NativeSource(source as OperationIterator<T, TReturn>);
  }
  const hint =
    source !== null && typeof source === "object" && typeof (source as Record<symbol, unknown>)[Symbol.iterator] === "function"
      ? " (a plain iterable or an operation is not a source: loop over an array with for...of)"
      : "";
  throw new TypeError(`Cannot iterate with each: expected ${ACCEPTED}, received ${kindOf(source)}${hint}`);
}

/** A corio iterator: `next()` is an operation already. */
class NativeSource<T, TReturn> implements Source<T, TReturn> {
  readonly endsOnError = false;
  readonly #iterator: OperationIterator<T, TReturn>;
  constructor(iterator: OperationIterator<T, TReturn>) {
    this.#iterator = iterator;
  }
  // The source's own operation, checked, with no generator around it (`Each.next` runs it at its first step).
  next(): Iterator<Instruction, IteratorResult<T, TReturn>, unknown> {
    const op = this.#iterator.next() as unknown;
    if (op === null || typeof op !== "object" || typeof (op as Record<symbol, unknown>)[Symbol.iterator] !== "function" || isPromiseLike(op)) {
      throw new TypeError(
        `Cannot iterate with each: the source's next() must return an operation (as channel.next() does), received ${kindOf(op)}; pass an async iterable as such`,
      );
    }
    return (op as Operation<IteratorResult<T, TReturn>>)[Symbol.iterator]();
  }
  *release(): Operation<void> {
    const close = (this.#iterator as { return?: () => unknown }).return;
    if (typeof close !== "function") return;
    const result = close.call(this.#iterator);
    if (result !== null && typeof result === "object" && typeof (result as Record<symbol, unknown>)[Symbol.iterator] === "function") {
      yield* result as Operation<unknown>;
    }
  }
}

/** A JS async iterator; a read in flight is kept across a cancel. */
class AsyncIterableSource<T, TReturn> extends PromisedRead<IteratorResult<T, TReturn>, IteratorResult<T, TReturn>> implements Source<T, TReturn> {
  readonly endsOnError = true;
  readonly #iterator: AsyncIterator<T, TReturn>;
  readonly #readable: { destroy(): void; readableEnded?: boolean } | null;

  constructor(iterator: AsyncIterator<T, TReturn>, readable: { destroy(): void; readableEnded?: boolean } | null) {
    super();
    this.#iterator = iterator;
    this.#readable = readable;
  }

  next(): Iterator<Instruction, IteratorResult<T, TReturn>, unknown> {
    return this.wait();
  }

  protected read(): PromiseLike<IteratorResult<T, TReturn>> {
    return this.#iterator.next();
  }

  protected finish(result: IteratorResult<T, TReturn>): IteratorResult<T, TReturn> {
    // As `for await` does: anything else would fail later, far from its cause.
    if (result === null || typeof result !== "object") {
      throw new TypeError(`Cannot iterate with each: the async iterator's next() gave ${kindOf(result)}, not an iterator result ({ done, value })`);
    }
    return result;
  }

  protected failed(): void {
    // `Each` ends the iteration (`endsOnError`).
  }

  *release(): Operation<void> {
    if (this.#readable !== null) {
      // A Node stream: destroying it also settles a read in flight.
      if (this.#readable.readableEnded !== true) this.#readable.destroy();
      return;
    }
    const close = this.#iterator.return;
    if (typeof close !== "function") return;
    const closing = Promise.resolve(close.call(this.#iterator));
    if (this.inFlight) {
      // A read is in flight: an async generator answers `return()` only after it, which may be never.
      closing.catch(() => undefined);
      return;
    }
    yield* until(closing);
  }
}

type WebReadResult<T> = { done: true; value?: T | undefined } | { done: false; value: T };

/** A Web stream's reader; a read in flight is kept across a cancel. */
class WebStreamSource<T> extends PromisedRead<WebReadResult<T>, IteratorResult<T, undefined>> implements Source<T, undefined> {
  readonly endsOnError = true;
  readonly #reader: ReturnType<WebReadableStreamLike<T>["getReader"]>;
  #ended = false;

  constructor(reader: ReturnType<WebReadableStreamLike<T>["getReader"]>) {
    super();
    this.#reader = reader;
  }

  next(): Iterator<Instruction, IteratorResult<T, undefined>, unknown> {
    return this.wait();
  }

  protected read(): PromiseLike<WebReadResult<T>> {
    // A wait that queued behind the one that saw the end: the reader is released.
    if (this.#ended) return Promise.resolve({ done: true });
    return this.#reader.read();
  }

  protected finish(result: WebReadResult<T>): IteratorResult<T, undefined> {
    if (result.done) {
      this.#end();
      return { done: true, value: undefined };
    }
    return { done: false, value: result.value };
  }

  protected failed(): void {
    this.#end();
  }

  *release(): Operation<void> {
    if (this.#ended) return;
    this.#ended = true;
    // As the stream's own async iterator's return(): cancel it, then release the lock (also when the
    // cancel fails), so that the stream is not left locked for ever.
    try {
      yield* until(this.#reader.cancel("the iteration was stopped"));
    } finally {
      this.#reader.releaseLock();
    }
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#reader.releaseLock();
  }
}

/** A promise-like (not one of corio's operations, whose `then` only says they are not promises). */
function isPromiseLike(value: object): boolean {
  const then = (value as { then?: unknown }).then;
  return typeof then === "function" && !isOperationThen(then);
}
