/**
 * corio's error hierarchy. Every class sets `name`, so `instanceof` and
 * `err.name` both work, and every message says what happened and what to do.
 * @module
 */
import { registerErrorClasses } from "./_error-registry.ts";

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
  return withoutStack(() => new CancelledError(reason));
}

/**
 * Builds an error with no stack trace captured (`Error.stackTraceLimit` 0
 * meanwhile), for errors whose stack would only show the scheduler: V8
 * takes microseconds to capture one.
 * @internal
 */
export function withoutStack<E extends Error>(make: () => E): E {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return make();
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/**
 * Thrown by `timeout` and `deadline` when the time ran out. The operation was
 * cancelled and its cleanup has finished by the time this is thrown; its
 * `cause` is the `CancelledError` the operation ended with (asyncio's
 * `raise TimeoutError from exc_val`).
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
  constructor(ms: number, message = `Operation timed out after ${ms} ms`, options?: ErrorOptions) {
    super(message, options);
    this.ms = ms;
  }
}

/**
 * The failure of a task (or `scope`, `all`, `race`, ...) in which several
 * things failed (its body, its children, its cleanups): it holds every
 * error, in the order they happened, the first first.
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
export class TaskGroupError extends AggregateError {
  override name = "TaskGroupError";
  /** Every failure, first one first. */
  declare readonly errors: unknown[];
  constructor(errors: readonly unknown[], message?: string) {
    // "failures", not "tasks": a body, its children and its cleanups (`ensure`) can each fail.
    super(errors, message ?? `${errors.length} failures; first: ${describe(errors[0])}`);
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

/** What kind of value a list argument was, for an error message: `null`, `a Set`, `number`... */
export function describeKind(value: unknown): string {
  if (value === null) return "null";
  if (typeof value !== "object") return typeof value;
  const name = (value as { constructor?: { name?: string } }).constructor?.name;
  return name ? `a ${name}` : "an object";
}

/** Renders a value for an error message, short and safe. */
export function describe(value: unknown): string {
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "function") return `function ${value.name || "(anonymous)"}`;
  try {
    const text = typeof value === "object" && value !== null && !rendersItself(value) ? JSON.stringify(value) : String(value);
    return text.length > 80 ? `${text.slice(0, 77)}...` : text;
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** An object whose class says how to show it (a task: `Task(path, state)`), where JSON would not. */
function rendersItself(value: object): boolean {
  const own = (value as { toString?: unknown }).toString;
  return typeof own === "function" && own !== Object.prototype.toString && !Array.isArray(value) && !ArrayBuffer.isView(value);
}

// An error crossing to or from a worker thread is rebuilt as its class there (see threads/_serialize-error.ts).
registerErrorClasses({ CancelledError, TimeoutError, TaskGroupError, ClosedResourceError, BrokenResourceError });
