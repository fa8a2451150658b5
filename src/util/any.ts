/**
 * The first success among several operations.
 * @module
 */
import { cancelAndJoin, isSelfOrAncestor } from "../core/_boundary.ts";
import { defineOperation } from "../core/_dev.ts";
import { JoinPark } from "../core/_join.ts";
import type { Awaitable, Results } from "../core/all.ts";
import { race } from "../core/all.ts";
import { describeKind, isCancellation } from "../core/errors.ts";
import { type Instruction, iterate, Opened, type Operation, type OperationLike } from "../core/operation.ts";
import { requireCurrentTask } from "../core/spawn.ts";
import { suspend } from "../core/suspend.ts";
import { cancelledByHand, type Task, TaskImpl } from "../core/task.ts";

/**
 * Runs the operations concurrently and returns the first value to arrive
 * (`Promise.any` for operations); the others are cancelled and their cleanup
 * awaited. Failures do not win: if every operation fails, an `AggregateError`
 * holding all the errors (in input order) is thrown. An operation whose task
 * is cancelled through `task.cancel()` (it cancelled itself, or another task
 * did) has failed with that `CancelledError`.
 *
 * **Cancellation:** cancels every operation and throws once their cleanup is over.
 * A task given in the list is cancelled too (once the race is decided, or
 * with the caller), as `race` does: `any` stands for its outcome.
 *
 * @throws {TypeError} for a task given that is the caller or one of its parents.
 * @example
 * ```ts
 * import { any, sleep } from "corio";
 * import { runVirtual } from "corio/testing";
 * await runVirtual(function* () {
 *   const fastest = yield* any([
 *     function* () { throw new Error("mirror 1 is down"); },
 *     function* () { yield* sleep(30); return "mirror 2"; },
 *     function* () { yield* sleep(10); return "mirror 3"; },
 *   ]);
 *   console.assert(fastest === "mirror 3");
 * });
 * ```
 */
export const any = defineOperation(function* any<const T extends readonly Awaitable<unknown>[]>(ops: T): Operation<Results<T>[number]> {
  if (!Array.isArray(ops)) throw new TypeError(`Cannot run any: expected an array of operations, received ${describeKind(ops)}`);
  if (ops.length === 0) throw new RangeError("Cannot run any: at least one operation is needed, received an empty list");
  const caller = requireCurrentTask("run any");
  const given = ops.filter((op): op is TaskImpl<unknown> => op instanceof TaskImpl);
  for (const task of given) {
    // Cancelled by `any`, it would be waited for, and it ends only after the caller: for ever (as `race` says).
    if (isSelfOrAncestor(task, caller))
      throw new TypeError(`Cannot run any: ${task.path} is this task or one of its parents, which ends only after it; wait for it with yield* or a time limit`);
  }
  // Entered while the caller's cancel is pending: no operation starts, the tasks given are cancelled and waited for (as in `race`).
  if (caller.cancelPending) yield* cancelAndJoin(caller, given);
  const failures: Failures = { errors: new Array(ops.length), failed: 0 };
  // One generator function for every member (not a closure per operation: V8's first call of each new one costs microseconds).
  const members = ops.map((op, index) => anyMember(op, index, failures));
  try {
    return (yield* race(members)) as Results<T>[number];
  } finally {
    // The tasks given are cancelled here, and their cleanup awaited, as `race` does with the tasks it
    // is given (a member only joins its task, and may never have started: decided in its first step).
    yield* cancelGiven(caller, given);
  }
});

/**
 * Cancels the given tasks still running and waits for their cleanup, without being interrupted: a
 * cancel of the caller that comes meanwhile stays pending, thrown at its next suspension, so it never
 * replaces the outcome `race` gave (decided case 12). Their own outcome is their owner's.
 */
function* cancelGiven(caller: TaskImpl<unknown>, given: readonly TaskImpl<unknown>[]): Generator<Instruction, void, unknown> {
  const running = given.filter((task) => !task.done);
  for (const task of running) task.cancel("any() was decided");
  for (const task of running) {
    if (task.done) continue;
    const wait = new JoinPark(caller, task);
    wait.shielded = true;
    task.addWatcher(wait);
    try {
      yield wait;
    } catch {
      // The task's own outcome (shielded, the wait is never given the caller's cancel).
    }
  }
}

/** What the members of one `any` share: the errors so far, in input order. */
interface Failures {
  readonly errors: unknown[];
  failed: number;
}

/** One operation of `any`: its value wins the race; its error is kept, and it waits (unless it was the last to fail). */
function* anyMember(op: Awaitable<unknown>, index: number, failures: Failures): Operation<unknown> {
  const self = requireCurrentTask("run any");
  let value: unknown;
  try {
    const it = iterate(typeof op === "function" || !("cancel" in op) ? (op as OperationLike<unknown>) : () => op as Task<unknown>, "run any");
    value = yield* new Opened(it);
  } catch (error) {
    // Once this member is cancelled (the race is decided, or the caller is cancelled) its error goes
    // on: its cancel, or an error of its cleanup (waiting here for the others would never end). Before
    // that, a CancelledError the operation threw by itself (it joined a task someone cancelled) is its failure.
    // (A task given in the list is cancelled and awaited by `any` itself, after the race: `cancelGiven`.)
    // So is a cancel that came through `task.cancel()` (the operation cancelled itself, or another task
    // did), as `race` does not let it win: counted, then thrown on, else the members that failed first
    // would wait for good.
    const byHand = isCancellation(error) && cancelledByHand(self);
    if (self.cancelError !== null && !byHand) throw error;
    keepFailure(failures, index, error);
    if (byHand) throw error;
    return yield* suspend();
  }
  // It cancelled itself and returned at once (the cancel never delivered): its task ends cancelled, its value
  // dropped, so it does not win. A task that caught its cancel and returned later ends with its value.
  if (self.cancelPending && cancelledByHand(self)) keepFailure(failures, index, self.cancelError);
  return value;
}

/** Keeps a member's error; the last member to fail throws the `AggregateError` of them all. */
function keepFailure(failures: Failures, index: number, error: unknown): void {
  const errors = failures.errors;
  errors[index] = error;
  if (++failures.failed === errors.length) throw new AggregateError(errors, `All ${errors.length} operations failed`);
}
