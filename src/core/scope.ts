/**
 * The error boundary.
 * @module
 */

import { joinBoundary, startBoundary } from "./_boundary.ts";
import { defineOperation } from "./_dev.ts";
import type { Operation, OperationLike } from "./operation.ts";

/**
 * Runs `op` as a nested scope (Trio's nursery, asyncio's `TaskGroup`):
 * whatever it spawns belongs to the scope, the scope waits for all of it, and
 * a failure inside is thrown here, where the caller can catch it, instead of
 * failing the caller's task. Several failures give a `TaskGroupError`.
 *
 * **Cancellation:** cancelling the caller cancels everything in the scope;
 * `scope` throws the `CancelledError` only after their cleanup has finished.
 *
 * @param op The operation, or a function returning one.
 * @returns What `op` returns, once everything spawned inside has finished.
 * @throws the failure of `op` or of a task spawned in it (`TaskGroupError` for several).
 * @example
 * ```ts
 * import { run, scope, spawn } from "corio";
 * const caught = await run(function* () {
 *   try {
 *     yield* scope(function* () {
 *       yield* spawn(function* () { throw new Error("worker failed"); });
 *     });
 *   } catch (e) { return (e as Error).message; }
 *   return "no error";
 * });
 * console.assert(caught === "worker failed");
 * ```
 */
export const scope = defineOperation(function* scope<T>(op: OperationLike<T>): Operation<T> {
  return yield* joinBoundary(startBoundary(op, "scope"));
});
