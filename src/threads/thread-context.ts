/**
 * What a job sees inside its worker: `ThreadContext` (its `this`) and the
 * shape of a function a pool can run, `ThreadFunction`.
 * @module
 */
import type { TransferListItem } from "node:worker_threads";

/**
 * What a job's function gets as `this` inside the worker.
 *
 * @example
 * ```ts
 * import { run } from "corio";
 * import { type ThreadContext, toThread } from "corio/threads";
 * await run(function* () {
 *   const steps = yield* toThread(function (this: ThreadContext, n: number) {
 *     let i = 0;
 *     while (i < n && !this.signal.aborted) i++;
 *     return i;
 *   }, 1000);
 *   console.assert(steps === 1000);
 * });
 * ```
 */
export interface ThreadContext {
  /**
   * True once the task waiting for this job was cancelled. Cheap (one atomic
   * read) and up to date even in a busy synchronous loop: check it there.
   */
  readonly aborted: boolean;
  /** Aborted when the task waiting for this job is cancelled, for async code and APIs that take a signal. */
  readonly signal: AbortSignal;
  /**
   * Calls a function the main thread registered with `exposeToThreads`, and
   * gives its result. Its error arrives with its class, so a cancel can be
   * told from a failure: built-in error classes always, corio's
   * (`CancelledError`, `TimeoutError`...) when the worker's code loaded
   * corio, and any other error as an `Error` with the same `name`.
   */
  callFromThread(name: string, ...args: unknown[]): Promise<unknown>;
  /**
   * Marks a result (an `ArrayBuffer`, a typed array, a `MessagePort`) to be
   * moved to the main thread, not copied; a view that is only part of its
   * buffer is copied first, as `transfer` does. Only the whole result can be
   * marked: a marker inside it (`{ x: this.transfer(bytes) }`) fails the job
   * with a `TypeError` saying where; to move buffers inside a result, mark
   * the whole result and list them: `this.transfer({ x: bytes },
   * [bytes.buffer])`. It does not apply to `callFromThread`'s arguments,
   * which are copied (one there fails that call).
   */
  transfer<T>(value: T, list?: readonly TransferListItem[]): T;
}

/** A function runnable in a worker: self-contained (no closure), arguments and result structured-cloneable. */
export type ThreadFunction<A extends unknown[], R> = (this: ThreadContext, ...args: A) => R;
