/**
 * Errors of the thread pool.
 * @module
 */
import { BrokenResourceError } from "../core/errors.ts";

/**
 * Thrown into the tasks whose jobs were running on a worker that died: it
 * called `process.exit`, threw outside any job, or ran out of memory. The
 * pool replaces the worker and goes on serving.
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
