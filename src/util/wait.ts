/**
 * Waiting for some of several tasks (asyncio's `wait`).
 * @module
 */

import { startBoundary, throwFailuresOverCancel, throwPendingCancel } from "../core/_boundary.ts";
import { defineOperation } from "../core/_dev.ts";
import { BOUNDARY } from "../core/_scope.ts";
import type { Awaitable } from "../core/all.ts";
import { describeKind } from "../core/errors.ts";
import { HandOffFuture } from "../core/future.ts";
import { assertOperationLike, type Operation, type OperationLike } from "../core/operation.ts";
import { requireCurrentTask } from "../core/spawn.ts";
import { type Task, TaskImpl, type Watcher } from "../core/task.ts";
import { moveOnAfter } from "../time/move-on.ts";

/** Options of `wait`. */
export interface WaitOptions {
  /**
   * When to return (asyncio's `return_when`): as soon as one task has
   * finished (`"first-completed"`), as soon as one has failed or all have
   * finished (`"first-error"`), or once all have finished (`"all"`).
   * @default "all"
   */
  return?: "first-completed" | "first-error" | "all";
  /** Return after this many ms even if the condition is not met (not an error). @default Infinity */
  timeout?: number;
}

/** What `wait` gives: the finished tasks and those still running, each in input order. */
export interface WaitResult<T> {
  done: Task<T>[];
  pending: Task<T>[];
}

const MODES = ["first-completed", "first-error", "all"];

/**
 * Starts the operations concurrently (tasks may be passed too) and waits
 * until the `return` condition holds or `timeout` ms have passed, then
 * returns the tasks split into `done` and `pending` (asyncio's `wait`).
 * Nothing is thrown for a failed task: read its outcome from the task
 * (`task.state`, `task.error`, `yield* task`). A cancelled task counts as
 * finished, not as an error. It returns in the turn its condition is met
 * (asyncio's `wait` learns it a turn later, through done callbacks), so a
 * task that finishes a turn after the first is still in `pending` with
 * `"first-completed"`.
 *
 * Unlike asyncio, it is structured: the operations run as child tasks of the
 * caller, and the `pending` ones keep running after `wait` returns. The
 * caller's task does not finish before them (it waits for them at its end,
 * unless it is cancelled, which cancels them), so cancel those you no longer
 * need. From then on they are ordinary children: one that fails fails the
 * caller, as a spawned task does. Tasks passed in are only watched, never
 * cancelled or adopted.
 *
 * **Cancellation:** cancelling the caller throws here at once; the
 * operations `wait` started are cancelled with it (they are its children) and
 * their cleanup is awaited when the caller's task ends. An error thrown by
 * that cleanup fails the caller (an error is never replaced by a
 * cancellation), and so does the error of an operation it started that had
 * already failed: `wait` can no longer hand that task back, and once handed
 * back it would have failed the caller as any child does (where a cancelled
 * `allSettled` drops such a failure, a result nobody asked for any more).
 *
 * @param ops Operations, functions returning them, or tasks.
 * @param options `return` (default `"all"`) and `timeout` in ms.
 * @returns `{ done, pending }`, each in input order.
 * @throws {RangeError} for an empty list, an unknown `return` or a bad `timeout`.
 * @throws {TypeError} if `ops` is not an array of operations or tasks.
 * @example
 * ```ts
 * import { sleep, wait } from "corio";
 * import { runVirtual } from "corio/testing";
 * await runVirtual(function* () {
 *   const { done, pending } = yield* wait([
 *     function* () { yield* sleep(10); return "fast"; },
 *     function* () { yield* sleep(100); return "slow"; },
 *   ], { return: "first-completed" });
 *   console.assert(done.length === 1 && done[0]?.result() === "fast");
 *   for (const task of pending) task.cancel(); // else the caller waits for it at its end
 * });
 * ```
 */
export const wait = defineOperation(function* wait<T>(ops: readonly Awaitable<T>[], options: WaitOptions = {}): Operation<WaitResult<T>> {
  if (!Array.isArray(ops)) throw new TypeError(`Cannot wait: expected an array of operations or tasks, received ${describeKind(ops)}`);
  if (ops.length === 0) throw new RangeError("Cannot wait: at least one operation or task is needed, received an empty list");
  const mode = options.return ?? "all";
  if (!MODES.includes(mode)) throw new RangeError(`Cannot wait: return must be "first-completed", "first-error" or "all", received ${String(mode)}`);
  const ms = options.timeout ?? Number.POSITIVE_INFINITY;
  if (!(typeof ms === "number" && ms >= 0))
    throw new RangeError(`Cannot wait: timeout must be a non-negative number of ms, received ${typeof ms === "number" ? ms : typeof ms}`);
  const caller = requireCurrentTask("wait");
  let returned = false;
  // Told synchronously as a started task finishes, before its parent sees it: once `wait` has
  // returned or the caller is cancelled, a failure is no longer ours to hand back, so it fails
  // the caller as an ordinary child's would (never dropped).
  const release: Watcher = {
    taskFinished(task) {
      if (task.state === "failed" && (returned || caller.cancelError !== null)) task.flags &= ~BOUNDARY;
    },
  };
  // Every element is checked before any starts: one started before a bad element would run on unowned.
  for (const op of ops) if (!(op instanceof TaskImpl)) assertOperationLike(op, "wait");
  throwPendingCancel(caller);
  const tasks = ops.map((op): Task<T> => {
    if (op instanceof TaskImpl) return op as Task<T>;
    const task = startBoundary(op as OperationLike<T>, "wait", false, true);
    if (!task.done) task.addWatcher(release);
    return task;
  });
  const satisfied = (): boolean => {
    if (mode === "first-completed" && tasks.some((task) => task.done)) return true;
    if (mode === "first-error" && tasks.some((task) => task.state === "failed")) return true;
    return tasks.every((task) => task.done);
  };
  // An operation's first step may have cancelled the caller: the time limit below then throws that
  // cancel, delivered, even if the condition holds.
  if (!satisfied() || caller.cancelPending) {
    // Told synchronously as a task finishes (a done callback comes a turn later), and a hand-off
    // future: a condition met before the caller's cancel came (in the same turn) gives the result all
    // the same (decided case 12), and the cancel is thrown at the caller's next suspension.
    const changed = new HandOffFuture<void>();
    const check: Watcher = {
      taskFinished() {
        if (satisfied()) changed.resolve();
      },
    };
    for (const task of tasks) if (!task.done) (task as TaskImpl<T>).addWatcher(check);
    try {
      yield* moveOnAfter(ms, changed);
    } catch (error) {
      if (error !== caller.cancelError) throw error;
      // Cancelled: the failures of operations it started that it will never hand back (those from
      // before the cancel: `release` gives the later ones to the caller) are thrown instead (decided
      // case 12), and the cancel is due at the caller's next suspension.
      const failed = tasks.filter(
        (task, index) => task.state === "failed" && !(ops[index] instanceof TaskImpl) && ((task as TaskImpl<T>).flags & BOUNDARY) !== 0,
      );
      throwFailuresOverCancel(caller, failed as TaskImpl<unknown>[]);
      throw error;
    } finally {
      for (const task of tasks) (task as TaskImpl<T>).removeWatcher(check);
    }
  }
  returned = true;
  const done: Task<T>[] = [];
  const pending: Task<T>[] = [];
  for (const task of tasks) {
    if (task.done) {
      (task as TaskImpl<unknown>).markObserved();
      done.push(task);
    } else {
      pending.push(task);
    }
  }
  return { done, pending };
});
