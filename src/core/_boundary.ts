/**
 * Boundaries: child tasks whose failure is thrown to the code that started
 * them instead of failing their parent. `scope`, `shield`, `timeout`, `all`,
 * `allSettled` and `race` are built on them.
 *
 * A boundary child starts eagerly (its first step runs at once, inside the
 * caller's step), so an operation that finishes without suspending costs no
 * trip through the ready queue.
 * @module
 */

import { JoinPark } from "./_join.ts";
import { BOUNDARY, CONCURRENT, RESOURCES_TO_PARENT, SHIELDED } from "./_scope.ts";
import { CancelledError, TaskGroupError } from "./errors.ts";
import type { Instruction, OperationLike } from "./operation.ts";
import { assertOperationLike } from "./operation.ts";
import { requireCurrentTask } from "./spawn.ts";
import { FIRST_STEP_DUE, TaskImpl } from "./task.ts";

/**
 * Starts `op` as a boundary child of the current task and runs its first step now. The resource
 * `op` returns goes to the caller when it ends done, unless it is a `scope` (which owns what its
 * body opens) or `concurrent`: one of several operations run at once (`all`, `race`, ...), whose
 * values the caller may never get (a sibling failed), so nothing may outlive it.
 */
export function startBoundary<T>(op: OperationLike<T>, api: string, shielded = false, concurrent = false): TaskImpl<T> {
  assertOperationLike(op, api);
  const parent = requireCurrentTask(api);
  // A sequential boundary entered while the caller's cancel is pending is a checkpoint (concurrent ones
  // check once, before their first operation starts: `throwPendingCancel`).
  if (!shielded && !concurrent) throwPendingCancel(parent);
  const flags = BOUNDARY | (shielded ? SHIELDED : 0) | (concurrent ? CONCURRENT : api === "scope" ? 0 : RESOURCES_TO_PARENT);
  const child = new TaskImpl<T>(parent.loop, parent, op, shielded ? "shield" : api, parent.priority, flags);
  if (eagerDepth >= MAX_EAGER_DEPTH) {
    // Boundaries nested this deep (a recursive `scope`): the first step goes through the ready queue, so
    // the stack starts afresh instead of overflowing inside the scheduler; it runs even if a cancel (an
    // expired `timeout(0, op)`) comes first, as the eager step would have.
    child.flags |= FIRST_STEP_DUE;
    child.enqueue();
    return child;
  }
  eagerDepth++;
  try {
    child.runStep();
  } finally {
    eagerDepth--;
  }
  return child;
}

/**
 * Entering a boundary while the caller's cancel is pending (it cancelled
 * itself, `stop()` ran) throws that cancel, as delivered, rather than
 * through a child that would never run (decided case 11): that child's
 * `CancelledError` left the caller's own cancel pending, to be thrown
 * again in its cleanup.
 */
export function throwPendingCancel(caller: TaskImpl<unknown>): void {
  if (caller.cancelPending) throw caller.takePendingCancel();
}

/**
 * For an operation given tasks and entered while the caller's cancel is
 * pending (`all`, `race`, `allSettled`, `timeout(ms, task)`): the cancel is
 * taken as delivered, the given tasks that still run are cancelled and
 * waited for, as when the caller is cancelled while it waits for them, and
 * the failures of their cleanup are thrown over the cancel (decided case
 * 12); otherwise the cancel is thrown. A task that had already failed
 * before is no error of this cancel. An ancestor of the caller is left
 * alone: it ends only after the caller.
 */
export function* cancelAndJoin(caller: TaskImpl<unknown>, tasks: readonly TaskImpl<unknown>[]): Generator<Instruction, never, unknown> {
  const error = caller.takePendingCancel();
  const running = tasks.filter((task) => !task.done && !isSelfOrAncestor(task, caller));
  for (const task of running) task.requestCancel(error);
  for (const task of running) yield* waitUntilDone(caller, task, error);
  throwFailuresOverCancel(caller, running);
  throw error;
}

/** How many boundary first steps run inside one another now, and how many may. */
let eagerDepth = 0;
const MAX_EAGER_DEPTH = 64;

/** Whether `task` is `of` or one of its ancestors: a task that can end only after `of` has. */
export function isSelfOrAncestor(task: TaskImpl<unknown>, of: TaskImpl<unknown>): boolean {
  for (let scope: TaskImpl<unknown> | null = of; scope !== null; scope = scope.parentScope as TaskImpl<unknown> | null) if (scope === task) return true;
  return false;
}

/**
 * Waits for a boundary child and gives its outcome. If the caller is
 * cancelled meanwhile, the child (cancelled with it, being its child) is
 * waited for until its cleanup is over, and then the cancellation goes on.
 */
export function* joinBoundary<T>(child: TaskImpl<T>, shielded = false): Generator<Instruction, T, unknown> {
  if (!child.done) {
    const caller = requireCurrentTask("wait for a child");
    const park = new JoinPark(caller, child as TaskImpl<unknown>);
    park.shielded = shielded;
    child.addWatcher(park);
    try {
      return (yield park) as T;
    } catch (error) {
      if (error === caller.cancelError) {
        yield* waitUntilDone(caller, child as TaskImpl<unknown>, error);
        if (completedOverCancel(caller, [child as TaskImpl<unknown>], child.state === "done")) return child.result();
      }
      throw error;
    }
  }
  return boundaryOutcome(child);
}

/**
 * The outcome of a boundary child that has ended, for its caller. One that
 * ended cancelled while the caller's own cancel is pending (the child
 * inherited it, or its first step cancelled the caller) gives the caller
 * that cancel, as delivered, as the same child joined after a suspension
 * does: thrown again at the caller's next suspension, it would cut short
 * the cleanup that catching it runs. A shielded child is not the caller's
 * to cancel, so its outcome is its own and the caller's cancel comes after.
 */
export function boundaryOutcome<T>(child: TaskImpl<T>): T {
  if (child.cancelled && (child.flags & SHIELDED) === 0) {
    // A boundary child's parent is the code that started it.
    const caller = child.parentScope as TaskImpl<unknown>;
    if (caller.cancelPending) throw caller.takePendingCancel();
  }
  return child.outcome();
}

/**
 * After the caller's cancel was delivered and the operations it waited on
 * have ended: an error is never replaced by the cancellation (decided case
 * 12), so their failures are thrown instead (several: a `TaskGroupError`),
 * and the caller's cancel is due again at its next suspension.
 */
export function throwFailuresOverCancel(caller: TaskImpl<unknown>, tasks: readonly TaskImpl<unknown>[]): void {
  const errors = tasks.filter((task) => task.state === "failed").map((task) => task.error);
  if (errors.length === 0) return;
  caller.redeliverCancel();
  throw errors.length === 1 ? errors[0] : new TaskGroupError(errors);
}

/**
 * After the caller's cancel was delivered and `tasks` have ended: their
 * failures are thrown (`throwFailuresOverCancel`); otherwise, if they
 * `completed` all the same (their last waits could not be undone), their
 * values are not dropped either: the cancel is due again at the caller's
 * next suspension, and `true` says to give them.
 */
export function completedOverCancel(caller: TaskImpl<unknown>, tasks: readonly TaskImpl<unknown>[], completed: boolean): boolean {
  throwFailuresOverCancel(caller, tasks);
  if (completed) caller.redeliverCancel();
  return completed;
}

/** After the caller was cancelled: make sure `child` is cancelled too, and wait for its cleanup. */
export function* waitUntilDone(caller: TaskImpl<unknown>, child: TaskImpl<unknown>, reason: unknown): Generator<Instruction, void, unknown> {
  if (child.done) return;
  if (reason instanceof CancelledError) child.requestCancel(reason);
  else child.cancel(reason);
  const park = new JoinPark(caller, child);
  // The caller's cancellation has been delivered, so nothing interrupts this wait; the child's outcome is not ours.
  child.addWatcher(park);
  try {
    yield park;
  } catch {}
}
