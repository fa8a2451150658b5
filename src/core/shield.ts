/**
 * Shielding work from cancellation.
 * @module
 */

import { joinBoundary, startBoundary } from "./_boundary.ts";
import { defineOperation } from "./_dev.ts";
import type { Operation, OperationLike } from "./operation.ts";

/**
 * Runs `op` to completion even if the caller is cancelled meanwhile, and
 * returns its result (Trio's shielded scope). A cancellation that arrives
 * during `op` is held back and thrown at the caller's next suspension after
 * `shield` returns; if the caller returns first, its task ends cancelled.
 * Unlike asyncio's `shield`, the caller waits: nothing runs on unseen.
 *
 * **Cancellation:** deferred, as described; `op` itself is never cancelled
 * by the caller's cancellation (a timeout inside `op` still works).
 *
 * @param op The operation to protect, or a function returning one.
 * @returns What `op` returns.
 * @example Saving state even when cancelled
 * ```ts
 * import { run, shield, sleep, isCancellation } from "corio";
 * const saved: string[] = [];
 * const task = run(function* () {
 *   try { yield* sleep(1000); }
 *   finally { yield* shield(function* () { yield* sleep(10); saved.push("state"); }); }
 * });
 * setTimeout(() => task.cancel(), 1);
 * await task.then(() => {}, (e) => console.assert(isCancellation(e)));
 * console.assert(saved[0] === "state");
 * ```
 */
export const shield = defineOperation(function* shield<T>(op: OperationLike<T>): Operation<T> {
  return yield* joinBoundary(startBoundary(op, "shield", true), true);
});
