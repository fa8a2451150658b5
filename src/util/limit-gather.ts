/**
 * Bounded concurrent gather (the file-sync seed's `limit_gather`).
 * @module
 */
import { throwPendingCancel } from "../core/_boundary.ts";
import { defineOperation } from "../core/_dev.ts";
import type { Settled } from "../core/all.ts";
import { describeKind, TimeoutError } from "../core/errors.ts";
import { Future } from "../core/future.ts";
import { type Instruction, iterate, Opened, type Operation, type OperationLike } from "../core/operation.ts";
import { scope } from "../core/scope.ts";
import { requireCurrentTask } from "../core/spawn.ts";
import { TaskImpl, type Watcher } from "../core/task.ts";
import { sleep } from "../time/sleep.ts";
import { timeout } from "../time/timeout.ts";

/** Options of `limitGather`. */
export interface LimitGatherOptions {
  /** After starting each operation, wait up to this long (ms) for everything started so far. @default 0 */
  taskTimeout?: number;
  /** Return `allSettled`-style results instead of failing on the first error. @default false */
  settle?: boolean;
}

/**
 * Runs operations with at most `n` at once and returns their results in
 * input order (the seed's `limit_gather`). The operations are started one by
 * one, in input order. After starting each, it waits up to `taskTimeout` ms
 * for everything started so far to finish, so with a positive `taskTimeout`
 * starts are staggered: a slow operation gets that long before the next one
 * starts, a fast one lets the next start as soon as it ends. Whenever `n` are
 * running, it waits until fewer are before starting another.
 *
 * corio's rule on top of the seed's: it is structured. The first error
 * cancels the operations still running and is rethrown, unless
 * `{ settle: true }` asks for `allSettled`-style results. An operation whose
 * task is cancelled through `task.cancel()` (it cancelled itself, or another
 * task did) has failed with that `CancelledError` (`rejected` with settle).
 *
 * **Cancellation:** cancels every operation still running, and throws once
 * their cleanup is over.
 *
 * Given items and a function instead (`limitGather(items, n, fn, options)`),
 * the operations are `fn(item, index)`, each called when its task starts:
 * one function for the whole list instead of a closure per item.
 *
 * @param ops The operations (or functions returning them); or the items, with `fn`.
 * @param n The most that run at once, a positive integer.
 * @param options `taskTimeout` and `settle` (the fourth argument after `fn`).
 * @returns The results in input order.
 * @throws {RangeError} for a bad `n` or `taskTimeout`.
 * @example The seed's docstring example
 * ```ts
 * import { currentTime, sleep } from "corio";
 * import { limitGather } from "corio";
 * import { runVirtual } from "corio/testing";
 * await runVirtual(function* () {
 *   const finished: number[] = [];
 *   const results = yield* limitGather([5, 3, 1, 2, 4].map((s) => function* () {
 *     yield* sleep(s * 1000);
 *     finished.push(s);
 *     return s;
 *   }), 3);
 *   console.assert(finished.join() === "1,3,2,5,4" && results.join() === "5,3,1,2,4");
 * });
 * ```
 * @example Items and one generator function (no closure per item: cheaper for long lists)
 * ```ts
 * import { limitGather, run, sleep } from "corio";
 * const doubled = await run(() => limitGather([1, 2, 3], 2, function* (item, index) {
 *   yield* sleep(1);
 *   return item * 2 + index;
 * }));
 * console.assert(doubled.join() === "2,5,8");
 * ```
 */
export const limitGather: {
  <T>(ops: readonly OperationLike<T>[], n: number, options?: LimitGatherOptions & { settle?: false }): Operation<T[]>;
  <T>(ops: readonly OperationLike<T>[], n: number, options: LimitGatherOptions & { settle: true }): Operation<Settled<T>[]>;
  <I, T>(items: readonly I[], n: number, fn: (item: I, index: number) => Operation<T>, options?: LimitGatherOptions & { settle?: false }): Operation<T[]>;
  <I, T>(items: readonly I[], n: number, fn: (item: I, index: number) => Operation<T>, options: LimitGatherOptions & { settle: true }): Operation<Settled<T>[]>;
} = defineOperation(function* limitGather<T>(
  ops: readonly unknown[],
  n: number,
  fnOrOptions?: ((item: unknown, index: number) => Operation<T>) | LimitGatherOptions,
  maybeOptions?: LimitGatherOptions,
): Operation<T[] | Settled<T>[]> {
  const fn = typeof fnOrOptions === "function" ? fnOrOptions : null;
  const options = (fn === null ? (fnOrOptions as LimitGatherOptions | undefined) : maybeOptions) ?? {};
  if (!Array.isArray(ops))
    throw new TypeError(`Cannot limitGather: expected an array of ${fn === null ? "operations" : "items"}, received ${describeKind(ops)}`);
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`Cannot limitGather: n must be a positive integer, received ${String(n)}`);
  const taskTimeout = options.taskTimeout ?? 0;
  if (!(typeof taskTimeout === "number" && taskTimeout >= 0))
    throw new RangeError(`Cannot limitGather: taskTimeout must be a non-negative number of ms, received ${String(taskTimeout)}`);
  const settle = options.settle ?? false;
  return yield* scope(function* () {
    const parent = requireCurrentTask("limitGather");
    const gather = new Gather<T>(ops.length, settle, fn);
    try {
      for (let index = 0; index < ops.length; index++) {
        // One object per operation is the task's body and its watcher: told synchronously when the task
        // finishes, it stores the value and frees the slot (a done callback would cost a trip through the
        // ready queue per operation before the slot is free again).
        const slot = new Slot<T>(gather, ops[index], index);
        // Started at once (its first step runs now): an operation that ends without
        // waiting costs no trip through the ready queue.
        const task = new TaskImpl<unknown>(parent.loop, parent, slot, undefined, parent.priority, 0);
        gather.running++;
        task.addWatcher(slot);
        task.runStep();
        if (task.done && taskTimeout === 0) {
          // Nothing to wait for: the seed's zero wait would only let the others run a turn,
          // which they get whenever this loop waits below.
        } else if (taskTimeout > 0) {
          // Up to taskTimeout for everything started so far to finish (a timeout here is not an error).
          try {
            yield* timeout(taskTimeout, gather.untilRunningAtMost(0));
          } catch (error) {
            if (!(error instanceof TimeoutError)) throw error;
          }
        } else yield* sleep(0);
        gather.throwIfFailed();
        if (gather.running >= n) yield* gather.untilRunningAtMost(n - 1);
      }
      if (gather.running > 0) yield* gather.untilRunningAtMost(0);
    } catch (error) {
      // The last operation ended in the turn the caller's cancel came: the work is all done, so the values
      // are given, as a boundary's (decided case 12); the cancel comes at the caller's next suspension.
      const self = requireCurrentTask("limitGather");
      if (!(gather.completed === ops.length && gather.failure === undefined && error === self.cancelError)) throw error;
      self.redeliverCancel();
    }
    gather.throwIfFailed();
    // An operation's first step cancelled the caller: the later ones never ran (decided case 11), so there
    // are no values to give; the cancel is thrown, delivered, rather than a list with holes.
    if (gather.completed < ops.length) throwPendingCancel(requireCurrentTask("limitGather"));
    return gather.results as T[] | Settled<T>[];
  });
}) as never;

/** The state of one `limitGather` call. */
class Gather<T> {
  /**
   * Stored as each operation ends, so finished tasks are garbage at once
   * (holding 100k finished tasks until the end made the collector the main cost).
   */
  readonly results: (T | Settled<T>)[];
  readonly settle: boolean;
  /** Makes each item's operation, or `null` when the items are the operations. */
  readonly fn: ((item: unknown, index: number) => Operation<T>) | null;
  /** Counted, not scanned, so a long list stays linear. */
  running = 0;
  /** Operations that ended done (not failed, not cancelled). */
  completed = 0;
  /** The first operation that ended with a CancelledError of its own (see `Slot.taskFinished`). */
  failure: { error: unknown } | undefined;
  #changed: Future<void> | null = null;

  constructor(length: number, settle: boolean, fn: ((item: unknown, index: number) => Operation<T>) | null) {
    this.results = new Array<T | Settled<T>>(length);
    this.settle = settle;
    this.fn = fn;
  }

  finished(): void {
    this.running--;
    const waiter = this.#changed;
    this.#changed = null;
    waiter?.resolve();
  }

  *untilRunningAtMost(limit: number): Operation<void> {
    while (this.running > limit) {
      this.#changed ??= new Future<void>();
      yield* this.#changed;
      this.throwIfFailed();
    }
  }

  /** Throws the failure an operation gave as its own CancelledError: the scope then cancels the rest. */
  throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure.error;
  }
}

/**
 * One operation of a `limitGather`: the body of its task (it opens the
 * operation when the task first runs, so a bad one fails as `limitGather`'s)
 * and the watcher told synchronously when the task finishes, which stores
 * its value. A failed task's error goes to the scope, which cancels the
 * others; with `settle`, the body stores the outcome itself and fails only
 * by being cancelled.
 */
class Slot<T> implements Operation<unknown>, Watcher {
  readonly #gather: Gather<T>;
  /** The operation, or the item `gather.fn` makes it from. */
  readonly #op: unknown;
  readonly #index: number;
  constructor(gather: Gather<T>, op: unknown, index: number) {
    this.#gather = gather;
    this.#op = op;
    this.#index = index;
  }
  [Symbol.iterator](): Iterator<Instruction, unknown, unknown> {
    return this.#gather.settle ? settleInto(this, this.#gather.results, this.#index) : this.open();
  }
  open(): Iterator<Instruction, T, unknown> {
    const fn = this.#gather.fn;
    return iterate(fn === null ? (this.#op as OperationLike<T>) : fn(this.#op, this.#index), "limitGather");
  }
  taskFinished(task: TaskImpl<unknown>): void {
    const gather = this.#gather;
    if (task.state === "done") gather.completed++;
    // Ended cancelled, but not by this gather's scope (nor its caller): the operation cancelled itself (it
    // ended at once, its value dropped, or later), or someone else cancelled its task. That is its failure,
    // which a cancelled child is not to the scope; else its result would be a hole (or, with settle, a
    // value its task dropped): with settle, its outcome is rejected, as allSettled's.
    const byHand = task.cancelled && task.parentScope?.cancelError === null;
    if (!gather.settle) {
      if (task.state === "done") gather.results[this.#index] = task.result() as T;
      else if (byHand) gather.failure ??= { error: task.error };
    } else if (byHand) {
      gather.results[this.#index] = { status: "rejected", reason: task.error };
      gather.completed++;
    }
    gather.finished();
  }
}

function* settleInto<T>(slot: Slot<T>, results: (T | Settled<T>)[], index: number): Generator<Instruction, undefined, unknown> {
  try {
    results[index] = { status: "fulfilled", value: yield* new Opened(slot.open()) };
  } catch (error) {
    // Its own cancel goes on, and so does an error of the cleanup it ran then (never hidden, as
    // `allSettled`'s). A CancelledError the operation threw by itself is its outcome.
    if (requireCurrentTask("limitGather").cancelError !== null) throw error;
    results[index] = { status: "rejected", reason: error };
  }
  return undefined;
}
