/**
 * Waiting for nothing but cancellation.
 * @module
 */
import { FOREVER } from "./_park.ts";
import type { Operation } from "./operation.ts";

/**
 * Suspends the current task until it is cancelled: the body of a server that
 * runs until Ctrl-C, or of a resource that lives as long as its scope.
 *
 * **Cancellation:** the only way out; `CancelledError` is thrown here.
 *
 * @example
 * ```ts
 * import { run, suspend, isCancellation } from "corio";
 * const task = run(function* () { yield* suspend(); });
 * task.cancel();
 * await task.then(() => {}, (e) => console.assert(isCancellation(e)));
 * ```
 */
export function* suspend(): Operation<never> {
  yield FOREVER;
  throw new Error("unreachable: suspend() was resumed without being cancelled");
}
