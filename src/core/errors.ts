/**
 * corio's error hierarchy. Every class sets `name`, so `instanceof` and
 * `err.name` both work, and every message says what happened and what to do.
 * @module
 */

/**
 * Thrown into a task at its suspension point when the task is cancelled, and
 * by `yield* task` when the awaited task ended cancelled.
 *
 * A `catch` block that may see it must rethrow it (`if (isCancellation(e)) throw e`);
 * a task that swallows its own cancellation is reported.
 *
 * @example Telling cancellation apart
 * ```ts
 * import { CancelledError, isCancellation, run, suspend } from "corio";
 * const task = run(suspend());
 * task.cancel("shutting down");
 * try { await task; } catch (e) {
 *   console.assert(isCancellation(e) && (e as CancelledError).reason === "shutting down");
 * }
 * ```
 */
export class CancelledError extends Error {
  override name = "CancelledError";
  /** What the canceller gave as the reason, if anything. */
  readonly reason: unknown;
  constructor(reason?: unknown) {
    super(reason === undefined ? "Task was cancelled" : `Task was cancelled: ${describe(reason)}`);
    this.reason = reason;
  }
}

/**
 * Makes a `CancelledError` without capturing a stack trace: the stack would
 * only point into the scheduler, and cancelling a tree of 10k tasks must not
 * pay 10k stack captures.
 */
export function createCancelledError(reason?: unknown): CancelledError {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new CancelledError(reason);
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/**
 * Thrown by `timeout` and `deadline` when the time ran out. The operation was
 * cancelled and its cleanup has finished by the time this is thrown.
 *
 * @example
 * ```ts
 * import { runVirtual } from "corio/testing";
 * import { sleep, timeout, TimeoutError } from "corio";
 * await runVirtual(function* () {
 *   try { yield* timeout(10, sleep(1000)); } catch (e) { console.assert(e instanceof TimeoutError); }
 * });
 * ```
 */
export class TimeoutError extends Error {
  override name = "TimeoutError";
  /** The limit that was exceeded, in milliseconds. */
  readonly ms: number;
  constructor(ms: number, message = `Operation timed out after ${ms} ms`) {
    super(message);
    this.ms = ms;
  }
}

/**
 * The failure of a task (or `scope`) in which several children failed: it
 * holds every error, in the order they happened.
 *
 * @example
 * ```ts
 * import { scope, sleep, spawn, suspend, TaskGroupError } from "corio";
 * import { runVirtual } from "corio/testing";
 * await runVirtual(function* () {
 *   try {
 *     yield* scope(function* () {
 *       // Its cleanup fails too when the body's failure cancels it: two failures.
 *       yield* spawn(function* () { try { yield* suspend(); } catch { throw new Error("cleanup failed"); } });
 *       yield* sleep(1);
 *       throw new Error("body failed");
 *     });
 *   } catch (e) { console.assert(e instanceof TaskGroupError && e.errors.length === 2); }
 * });
 * ```
 */
export class TaskGroupError extends Error {
  override name = "TaskGroupError";
  /** Every failure, first one first. */
  readonly errors: readonly unknown[];
  constructor(errors: readonly unknown[], message?: string) {
    super(message ?? `${errors.length} tasks failed; first: ${describe(errors[0])}`);
    this.errors = errors;
  }
}

/**
 * Thrown when a resource that *you* closed is used again (writing to a closed
 * stream writer, using a closed server).
 *
 * @example
 * ```ts
 * import { ClosedResourceError } from "corio";
 * const e = new ClosedResourceError("Cannot write: the stream writer is closed");
 * console.assert(e.name === "ClosedResourceError");
 * ```
 */
export class ClosedResourceError extends Error {
  override name = "ClosedResourceError";
}

/**
 * Thrown when the other side broke a resource (a peer reset the connection);
 * the OS error, when there is one, is the `cause`.
 *
 * @example
 * ```ts
 * import { BrokenResourceError } from "corio";
 * const e = new BrokenResourceError("Cannot read: the peer reset the connection", { cause: new Error("ECONNRESET") });
 * console.assert(e.cause instanceof Error);
 * ```
 */
export class BrokenResourceError extends Error {
  override name = "BrokenResourceError";
}

/**
 * Tells whether `error` is a cancellation: code that catches everything must
 * rethrow these.
 *
 * @example
 * ```ts
 * import { CancelledError, isCancellation } from "corio";
 * console.assert(isCancellation(new CancelledError()) && !isCancellation(new Error("x")));
 * ```
 */
export function isCancellation(error: unknown): error is CancelledError {
  return error instanceof CancelledError;
}

/** Renders a value for an error message, short and safe. */
export function describe(value: unknown): string {
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "function") return `function ${value.name || "(anonymous)"}`;
  try {
    const text = typeof value === "object" && value !== null ? JSON.stringify(value) : String(value);
    return text.length > 80 ? `${text.slice(0, 77)}...` : text;
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/**
 * Thrown by `getNowait()` on an empty queue.
 *
 * @example
 * ```ts
 * import { Queue, QueueEmpty } from "corio";
 * try { new Queue<number>().getNowait(); } catch (e) { console.assert(e instanceof QueueEmpty); }
 * ```
 */
export class QueueEmpty extends Error {
  override name = "QueueEmpty";
}

/**
 * Thrown by `putNowait()` on a full queue.
 *
 * @example
 * ```ts
 * import { Queue, QueueFull } from "corio";
 * const queue = new Queue<number>({ maxsize: 1 });
 * queue.putNowait(1);
 * try { queue.putNowait(2); } catch (e) { console.assert(e instanceof QueueFull); }
 * ```
 */
export class QueueFull extends Error {
  override name = "QueueFull";
}

/**
 * Thrown by a queue after `shutdown()`: by any put, and by gets once the
 * queue is empty (at once after `shutdown(true)`).
 *
 * @example
 * ```ts
 * import { Queue, QueueShutDown } from "corio";
 * const queue = new Queue<number>();
 * queue.shutdown();
 * try { queue.putNowait(1); } catch (e) { console.assert(e instanceof QueueShutDown); }
 * ```
 */
export class QueueShutDown extends Error {
  override name = "QueueShutDown";
}

/**
 * Thrown when sending to, or receiving from a drained, closed channel. It
 * carries the reason given to `close(reason)`.
 *
 * @example
 * ```ts
 * import { Channel, ChannelClosedError } from "corio";
 * const channel = new Channel<number>();
 * channel.close("done");
 * try { channel.trySend(1); } catch (e) { console.assert(e instanceof ChannelClosedError && e.reason === "done"); }
 * ```
 */
export class ChannelClosedError extends Error {
  override name = "ChannelClosedError";
  /** What was given to `close(reason)`. */
  readonly reason: unknown;
  constructor(message: string, reason?: unknown) {
    super(reason === undefined ? message : `${message} (reason: ${describe(reason)})`);
    this.reason = reason;
  }
}

/**
 * Thrown by `readExactly` and `readUntil` when the stream ended first. It
 * carries the bytes that were read (`partial`), which are consumed, so
 * nothing is lost.
 *
 * @example
 * ```ts
 * import { IncompleteReadError, run, StreamReader } from "corio";
 * await run(function* () {
 *   const reader = new StreamReader();
 *   reader.feed(new Uint8Array([1, 2]));
 *   reader.feedEof();
 *   try { yield* reader.readExactly(4); } catch (e) {
 *     console.assert(e instanceof IncompleteReadError && e.partial.length === 2 && e.expected === 4);
 *   }
 * });
 * ```
 */
export class IncompleteReadError extends Error {
  override name = "IncompleteReadError";
  /** The bytes read before the end. */
  readonly partial: Uint8Array;
  /** How many bytes were expected; `undefined` for a separator that never came. */
  readonly expected: number | undefined;
  constructor(partial: Uint8Array, expected: number | undefined) {
    super(`Cannot read ${expected === undefined ? "up to the separator" : `${expected} bytes`}: the stream ended after ${partial.length} bytes`);
    this.partial = partial;
    this.expected = expected;
  }
}

/**
 * Thrown by `readUntil` and `readLine` when the separator is not within the
 * reader's `limit`. For `readUntil`, nothing is consumed (`consumed` tells how
 * far it looked, asyncio's rule); `readLine` discards the whole over-long
 * line through its separator, so the next `readLine` returns the next line.
 *
 * @example
 * ```ts
 * import { LimitOverrunError, run, StreamReader } from "corio";
 * await run(function* () {
 *   const reader = new StreamReader({ limit: 4 });
 *   reader.feed(new TextEncoder().encode("far too long\n"));
 *   try { yield* reader.readLine(); } catch (e) { console.assert(e instanceof LimitOverrunError); }
 * });
 * ```
 */
export class LimitOverrunError extends Error {
  override name = "LimitOverrunError";
  /** How many bytes were looked at (to be consumed by the caller, asyncio's rule). */
  readonly consumed: number;
  constructor(message: string, consumed: number) {
    super(message);
    this.consumed = consumed;
  }
}
