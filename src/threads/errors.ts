/**
 * Errors of the thread pool.
 * @module
 */
import { registerErrorClasses } from "../core/_error-registry.ts";
import { BrokenResourceError } from "../core/errors.ts";

/**
 * Thrown into the tasks whose jobs were running on a worker that died: it
 * called `process.exit`, threw outside any job, or ran out of memory. The
 * pool replaces the worker and goes on serving; jobs that were sent to that
 * worker but had not begun run on another one.
 *
 * @example
 * ```ts
 * import { run } from "corio";
 * import { ThreadPool, WorkerCrashedError } from "corio/threads";
 * await run(function* () {
 *   const pool = yield* ThreadPool.start({ size: 1 });
 *   try {
 *     yield* pool.call(() => process.exit(3));
 *   } catch (error) {
 *     console.assert(error instanceof WorkerCrashedError && error.exitCode === 3);
 *   }
 *   console.assert((yield* pool.call((a: number) => a + 1, 1)) === 2);
 * });
 * ```
 */
export class WorkerCrashedError extends BrokenResourceError {
  override name = "WorkerCrashedError";
  /** The worker's exit code. */
  readonly exitCode: number;
  constructor(message: string, exitCode: number, options?: ErrorOptions) {
    super(message, options);
    this.exitCode = exitCode;
  }
}

/**
 * Thrown into the tasks whose jobs had begun on a worker that the pool
 * terminated to stop another job: that job was cancelled and did not end
 * within `abortGrace`. A job that had begun is not run again (its side
 * effects could happen twice); the message names the job that would not
 * stop. Jobs sent to that worker that had not begun run on another one.
 *
 * @example
 * ```ts
 * import { run, sleep, spawn } from "corio";
 * import { ThreadPool, WorkerTerminatedError } from "corio/threads";
 * await run(function* () {
 *   const pool = yield* ThreadPool.start({ size: 1, abortGrace: 10 });
 *   // An async job that has begun on the worker...
 *   const waiting = yield* spawn(function* () {
 *     try {
 *       return yield* pool.call(() => new Promise((resolve) => setTimeout(resolve, 60_000, "done")));
 *     } catch (error) {
 *       if (!(error instanceof WorkerTerminatedError)) throw error;
 *       return error.message;
 *     }
 *   });
 *   // ...and a job behind it that never looks at its signal.
 *   const began = new Int32Array(new SharedArrayBuffer(4));
 *   const stuck = yield* spawn(() => pool.call(function stuck(flag: Int32Array) { Atomics.store(flag, 0, 1); for (;;); }, began));
 *   while (Atomics.load(began, 0) === 0) yield* sleep(1);
 *   stuck.cancel();
 *   console.assert(/function stuck .* did not stop/.test(String(yield* waiting)));
 * });
 * ```
 */
export class WorkerTerminatedError extends BrokenResourceError {
  override name = "WorkerTerminatedError";
}

// An error crossing to or from a worker thread is rebuilt as its class there (see threads/_serialize-error.ts).
registerErrorClasses({ WorkerCrashedError, WorkerTerminatedError });
