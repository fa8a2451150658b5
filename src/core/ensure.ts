/**
 * Cleanup tied to the current task (Effection's `ensure`, Trio's exit stack).
 * @module
 */
import { defineOperation } from "./_dev.ts";
import type { Destructor } from "./_scope.ts";
import type { Operation } from "./operation.ts";
import { requireCurrentTask } from "./spawn.ts";

/**
 * Registers `cleanup` to run when the current task ends, for any reason
 * (done, failed or cancelled): after its body and its children have ended,
 * in reverse order of registration, and before the task's joiners wake.
 * Its daemons and resources are on the same stack: a daemon spawned after
 * this call has ended before `cleanup` runs, one spawned before it is
 * cancelled after (Trio's exit stack). `cleanup` may return an operation (close a connection
 * politely, wait for a process to exit): it runs to its end, shielded from
 * cancellation. A failure in a cleanup fails the task (several: a
 * `TaskGroupError`); every cleanup runs even if an earlier one failed.
 *
 * Use it where `try`/`finally` does not fit: a helper operation that opens
 * something for its caller's task (a resource), or cleanups registered in a loop.
 *
 * @param cleanup Called once when the task ends; may return an operation to run.
 * @param name Shown by the inspector among the task's resources. @default "ensure"
 * @returns A function that forgets the cleanup (call it after cleaning up by hand).
 * @example A helper that opens a resource for the calling task
 * ```ts
 * import { ensure, type Operation, run, sleep } from "corio";
 * const log: string[] = [];
 * function* openSession(name: string): Operation<string> {
 *   log.push(`open ${name}`);
 *   yield* ensure(function* () {
 *     yield* sleep(1); // a polite goodbye may suspend
 *     log.push(`close ${name}`);
 *   }, `session ${name}`);
 *   return name;
 * }
 * await run(function* () {
 *   yield* openSession("a");
 *   yield* openSession("b");
 *   log.push("body done");
 * });
 * console.assert(log.join() === "open a,open b,body done,close b,close a");
 * ```
 */
export const ensure = defineOperation(function* ensure(cleanup: () => void | Operation<unknown>, name = "ensure"): Operation<() => void> {
  if (typeof cleanup !== "function")
    throw new TypeError(`Cannot ensure a cleanup: expected a function, received ${cleanup === null ? "null" : typeof cleanup}`);
  const task = requireCurrentTask("ensure a cleanup");
  const destructor: Destructor = { name, cleanup: () => runCleanup(cleanup) };
  task.ensure(destructor);
  return () => task.unensure(destructor);
});

/** Calls `cleanup` and runs the operation it returns, if any (declared once: a generator closure per `ensure` was slow to call in V8). */
function* runCleanup(cleanup: () => void | Operation<unknown>): Operation<void> {
  const result = cleanup();
  if (result !== null && typeof result === "object" && typeof (result as Operation<unknown>)[Symbol.iterator] === "function")
    yield* result as Operation<unknown>;
}
