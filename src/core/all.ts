/**
 * Running several operations at once and combining their outcomes.
 * @module
 */

import { cancelAndJoin, completedOverCancel, isSelfOrAncestor, startBoundary } from "./_boundary.ts";
import { defineOperation } from "./_dev.ts";
import { Park } from "./_park.ts";
import { CONCURRENT } from "./_scope.ts";
import { CancelledError, createCancelledError, describeKind, TaskGroupError } from "./errors.ts";
import { assertOperationLike, type Instruction, type Operation, type OperationLike } from "./operation.ts";
import { requireCurrentTask } from "./spawn.ts";
import { FIRST_STEP_DUE, type Task, TaskImpl, type Watcher } from "./task.ts";

/** An operation, a function returning one, or a task that is already running. */
export type Awaitable<T> = OperationLike<T> | Task<T>;

/** The value type of each awaitable in a tuple. */
export type Results<T extends readonly unknown[]> = { -readonly [K in keyof T]: T[K] extends Awaitable<infer R> ? R : never };

/** `Promise.allSettled`'s shapes. */
export type Settled<T> = { status: "fulfilled"; value: T } | { status: "rejected"; reason: unknown };

/**
 * Runs the operations concurrently and returns their values in input order.
 * It is structured: the first failure cancels the other operations, waits
 * for their cleanup, then throws that error; if others failed too (in their
 * cleanup, or at the same moment), a `TaskGroupError` with the first failure
 * first: an error is never hidden by the cancellation that caused it. Tasks
 * may be passed too; they are joined (and cancelled on failure like the
 * rest), but not the calling task or one of its parents (a `TypeError`:
 * they end only after it).
 *
 * **Cancellation:** cancelling the caller cancels every operation and
 * throws once all have finished their cleanup.
 *
 * @param ops Operations, functions returning them, or tasks.
 * @returns The values, in input order.
 * @throws the first failure (with others: a `TaskGroupError`).
 * @example
 * ```ts
 * import { all, run, sleep } from "corio";
 * const values = await run(all([
 *   function* () { yield* sleep(20); return "a"; },
 *   function* () { yield* sleep(10); return "b"; },
 * ]));
 * console.assert(values.join() === "a,b");
 * ```
 */
export const all = defineOperation(function* all<const T extends readonly Awaitable<unknown>[]>(ops: T): Operation<Results<T>> {
  const group = yield* gather(ops, "all", FIRST_FAILURE);
  if (group.failure !== undefined) throw withOtherFailures(group, group.failure.task, group.failure.error);
  return group.tasks.map((task) => task.result()) as Results<T>;
});

/**
 * Runs the operations concurrently and waits for every one of them, never
 * cancelling any; returns `Promise.allSettled`'s shapes in input order. A
 * cancelled operation is `rejected` with its `CancelledError`.
 *
 * **Cancellation:** cancelling the caller cancels every operation and
 * throws once all have finished their cleanup. An operation that fails in
 * that cleanup has its error thrown instead (an error is never hidden by a
 * cancellation); one that had failed before the cancel was a result, so its
 * error is not thrown.
 *
 * @example
 * ```ts
 * import { allSettled, run } from "corio";
 * const [ok, bad] = await run(allSettled([
 *   function* () { return 1; },
 *   function* () { throw new Error("no"); },
 * ]));
 * console.assert(ok.status === "fulfilled" && bad.status === "rejected");
 * ```
 */
export const allSettled = defineOperation(function* allSettled<const T extends readonly Awaitable<unknown>[]>(
  ops: T,
): Operation<{ -readonly [K in keyof T]: Settled<Results<T>[K]> }> {
  const group = yield* gather(ops, "allSettled", NEVER);
  return group.tasks.map(
    (task): Settled<unknown> => (task.state === "done" ? { status: "fulfilled", value: task.result() } : { status: "rejected", reason: task.error }),
  ) as {
    -readonly [K in keyof T]: Settled<Results<T>[K]>;
  };
});

/**
 * Runs the operations concurrently; the first to finish with a value or an
 * error wins. The others are cancelled and their cleanup awaited, then the
 * winner's value is returned or its error thrown. An operation that ends
 * cancelled does not win; if all do, a `CancelledError` is thrown.
 *
 * A loser that fails too (its cleanup fails, or it fails at the same
 * moment) makes the race throw that error (several: a `TaskGroupError`, the
 * winner's error first if it failed): an error is never hidden by the
 * cancellation that caused it.
 *
 * **Cancellation:** cancelling the caller cancels every operation and
 * throws once all have finished their cleanup.
 *
 * @example
 * ```ts
 * import { race, run, sleep } from "corio";
 * const winner = await run(race([
 *   function* () { yield* sleep(50); return "slow"; },
 *   function* () { yield* sleep(5); return "fast"; },
 * ]));
 * console.assert(winner === "fast");
 * ```
 */
export const race = defineOperation(function* race<const T extends readonly Awaitable<unknown>[]>(ops: T): Operation<Results<T>[number]> {
  if (ops.length === 0) throw new RangeError("Cannot race: at least one operation is needed, received an empty list");
  const group = yield* gather(ops, "race", FIRST_SETTLED);
  const winner = group.failure?.task ?? group.tasks.find((task) => task.state === "cancelled");
  // A loser that failed too (in its cleanup, or at the same moment) is never hidden (decided case 12).
  const others = otherFailures(group, winner);
  if (others.length > 0) {
    if (winner?.state === "failed") others.unshift(winner.error);
    throw others.length === 1 ? others[0] : new TaskGroupError(others);
  }
  return (winner as TaskImpl<Results<T>[number]>).result();
});

/** The errors of the operations the group started, other than `decider`, that failed. */
function otherFailures(group: Outcome, decider: TaskImpl<unknown> | undefined): unknown[] {
  return group.tasks.filter((task) => task !== decider && task.state === "failed" && (task.flags & CONCURRENT) !== 0).map((task) => task.error);
}

/** `error` (the first failure), or a `TaskGroupError` with it first if other operations failed too. */
function withOtherFailures(group: Outcome, decider: TaskImpl<unknown>, error: unknown): unknown {
  const others = otherFailures(group, decider);
  return others.length === 0 ? error : new TaskGroupError([error, ...others]);
}

const NEVER = 0;
const FIRST_FAILURE = 1;
const FIRST_SETTLED = 2;

interface Outcome {
  readonly tasks: TaskImpl<unknown>[];
  /** The task that decided the group early (failure for `all`, winner for `race`). */
  failure: { task: TaskImpl<unknown>; error: unknown } | undefined;
}

/** Starts (or adopts) every awaitable, waits until all have finished, cancelling the rest when `mode` says so. */
function* gather(ops: readonly Awaitable<unknown>[], api: string, mode: number): Generator<Instruction, Outcome, unknown> {
  if (!Array.isArray(ops)) throw new TypeError(`Cannot run ${api}: expected an array of operations, received ${describeKind(ops)}`);
  const caller = requireCurrentTask(api);
  // Every element is checked before any starts: one started before a bad element would run on unowned.
  for (const op of ops) {
    if (!(op instanceof TaskImpl)) assertOperationLike(op, api);
    // Cancelled by the group (or with the caller), it would be waited for, and it ends only after the caller: for ever.
    else if (isSelfOrAncestor(op as TaskImpl<unknown>, caller))
      throw new TypeError(`Cannot ${api}: ${op.path} is this task or one of its parents, which ends only after it; wait for it with yield* or a time limit`);
  }
  // Entered while the caller's cancel is pending: a checkpoint. No operation starts; the tasks given are
  // cancelled and waited for, as when the caller is cancelled while the group waits.
  if (caller.cancelPending) {
    const given = ops.filter((op): op is TaskImpl<unknown> => op instanceof TaskImpl);
    yield* cancelAndJoin(caller, given);
  }
  const tasks: TaskImpl<unknown>[] = [];
  let decided = false;
  for (const op of ops) {
    let task: TaskImpl<unknown>;
    if (op instanceof TaskImpl) task = op as TaskImpl<unknown>;
    else if (decided) continue;
    else task = startBoundary(op as OperationLike<unknown>, api, false, true);
    tasks.push(task);
    // Decided by this operation's first step, or by a task given that had already ended (all: it failed;
    // race: it settled): the later operations never start, as tasks a TaskGroup cancels before they ran
    // never run (decided case 2). A race loser that took a message in its first step would lose it.
    if (!decided && task.done && mode !== NEVER) decided = mode === FIRST_FAILURE ? task.state !== "done" : task.state !== "cancelled";
  }
  const group = new GroupPark(caller, tasks, mode);
  if (mode === NEVER) group.settledBeforeCancel = new Set();
  for (const task of tasks) {
    if (task.done) group.taskFinished(task);
    else {
      task.markObserved();
      task.addWatcher(group);
    }
  }
  // An operation's first step may have cancelled the caller (the later ones then never ran): the park is
  // a checkpoint, so that cancel is thrown here, delivered, even if every operation has ended.
  if (group.remaining > 0 || caller.cancelPending) {
    try {
      yield group;
    } catch (error) {
      // The caller was cancelled: cancel everything and wait for its cleanup. For `allSettled` a
      // failure from before the cancel was a result, not an error to throw over it.
      const settled = group.settledBeforeCancel;
      const throwable = settled === undefined ? tasks : tasks.filter((task) => !settled.has(task));
      group.cancelAll(error instanceof CancelledError ? error : createCancelledError(error));
      if (group.remaining > 0) {
        const wait = new GroupPark(caller, [], NEVER, tasks.length);
        wait.remaining = group.remaining;
        group.forward = wait;
        yield wait;
      }
      // Completed all the same: every operation (race: its winner).
      // (allSettled: what had failed before the cancel is settled too.)
      const completed = mode === FIRST_SETTLED ? group.decider !== undefined : tasks.every((task) => task.state === "done" || settled?.has(task) === true);
      if (error === caller.cancelError && completedOverCancel(caller, throwable, completed)) return { tasks, failure: group.decider };
      throw error;
    }
  }
  return { tasks, failure: group.decider };
}

class GroupPark extends Park implements Watcher {
  remaining: number;
  decider: { task: TaskImpl<unknown>; error: unknown } | undefined;
  /** After a cancel, completions are counted on a second park. */
  forward: GroupPark | undefined;
  /** `allSettled`'s operations that ended before its caller was cancelled (their failures are results). */
  settledBeforeCancel: Set<TaskImpl<unknown>> | undefined;
  readonly #tasks: TaskImpl<unknown>[];
  readonly #mode: number;
  /** How many tasks the group has, for the wait's words (the wait after a cancel holds none of them). */
  readonly #total: number;

  constructor(task: TaskImpl<unknown>, tasks: TaskImpl<unknown>[], mode: number, total = tasks.length) {
    super(task, "child");
    this.#tasks = tasks;
    this.#mode = mode;
    this.remaining = tasks.length;
    this.#total = total;
  }

  taskFinished(task: TaskImpl<unknown>): void {
    const forward = this.forward;
    if (forward !== undefined) {
      forward.taskFinished(task);
      return;
    }
    this.remaining--;
    const settled = this.settledBeforeCancel;
    if (settled !== undefined && (this.task as TaskImpl<unknown>).cancelError === null) settled.add(task);
    if (this.decider === undefined && this.#mode !== NEVER) {
      const state = task.state;
      const decides = this.#mode === FIRST_FAILURE ? state !== "done" : state !== "cancelled";
      if (decides) {
        this.decider = { task, error: task.error };
        // An operation whose first step was put off (past 64 nested boundaries) and has not run yet comes
        // after the decider in the list: it never starts, as on the eager path (see `gather`).
        const tasks = this.#tasks;
        for (let i = tasks.indexOf(task) + 1; i < tasks.length; i++)
          if (((tasks[i] as TaskImpl<unknown>).flags & CONCURRENT) !== 0) (tasks[i] as TaskImpl<unknown>).flags &= ~FIRST_STEP_DUE;
        this.cancelAll(createCancelledError(`${task.name} decided the group`));
      }
    }
    if (this.remaining === 0) this.#wakeCaller();
  }

  cancelAll(reason: CancelledError): void {
    for (const task of this.#tasks) if (!task.done) task.requestCancel(reason);
  }

  #wakeCaller(): void {
    const caller = this.task as TaskImpl<unknown>;
    if (caller.park === this && !caller.woken) caller.wake(false, undefined);
  }

  override describe(): string {
    return `${this.remaining} of ${this.#total} tasks to finish`;
  }
}
