/**
 * Bounded concurrent gather (the file-sync seed's `limit_gather`).
 * @module
 */
import { defineOperation } from "../core/_dev.ts";
import type { Settled } from "../core/all.ts";
import { isCancellation, TimeoutError } from "../core/errors.ts";
import { Future } from "../core/future.ts";
import { type Instruction, iterate, type Operation, type OperationLike } from "../core/operation.ts";
import { scope } from "../core/scope.ts";
import { requireCurrentTask } from "../core/spawn.ts";
import { TaskImpl } from "../core/task.ts";
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
 * `{ settle: true }` asks for `allSettled`-style results.
 *
 * **Cancellation:** cancels every operation still running, and throws once
 * their cleanup is over.
 *
 * @param ops The operations (or functions returning them).
 * @param n The most that run at once, a positive integer.
 * @param options `taskTimeout` and `settle`.
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
 */
export const limitGather: {
  <T>(ops: readonly OperationLike<T>[], n: number, options?: LimitGatherOptions & { settle?: false }): Operation<T[]>;
  <T>(ops: readonly OperationLike<T>[], n: number, options: LimitGatherOptions & { settle: true }): Operation<Settled<T>[]>;
} = defineOperation(function* limitGather<T>(ops: readonly OperationLike<T>[], n: number, options: LimitGatherOptions = {}): Operation<T[] | Settled<T>[]> {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`Cannot limitGather: n must be a positive integer, received ${String(n)}`);
  const taskTimeout = options.taskTimeout ?? 0;
  if (!(typeof taskTimeout === "number" && taskTimeout >= 0))
    throw new RangeError(`Cannot limitGather: taskTimeout must be a non-negative number of ms, received ${String(taskTimeout)}`);
  const settle = options.settle ?? false;
  return yield* scope(function* () {
    // Results are stored as each operation ends, so finished tasks are garbage at once
    // (holding 100k finished tasks until the end made the collector the main cost).
    const results = new Array<T | Settled<T>>(ops.length);
    // Counted, not scanned, so a long list stays linear.
    let running = 0;
    let changed: Future<void> | null = null;
    const finished = (): void => {
      running--;
      const waiter = changed;
      changed = null;
      waiter?.resolve();
    };
    function* untilRunningAtMost(limit: number): Operation<void> {
      while (running > limit) {
        changed ??= new Future<void>();
        yield* changed;
      }
    }
    const parent = requireCurrentTask("limitGather");
    for (let index = 0; index < ops.length; index++) {
      const op = ops[index] as OperationLike<T>;
      // Started at once (its first step runs now): an operation that ends without
      // waiting costs no trip through the ready queue.
      const task = new TaskImpl<void>(
        parent.loop,
        parent,
        settle ? settleInto(op, results, index) : runInto(op, results, index),
        undefined,
        parent.priority,
        0,
      );
      running++;
      task.addDoneCallback(finished);
      task.runStep();
      if (task.done && taskTimeout === 0) {
        // Nothing to wait for: the seed's zero wait would only let the others run a turn,
        // which they get whenever this loop waits below.
      } else if (taskTimeout > 0) {
        // Up to taskTimeout for everything started so far to finish (a timeout here is not an error).
        try {
          yield* timeout(taskTimeout, untilRunningAtMost(0));
        } catch (error) {
          if (!(error instanceof TimeoutError)) throw error;
        }
      } else yield* sleep(0);
      yield* untilRunningAtMost(n - 1);
    }
    yield* untilRunningAtMost(0);
    return results as T[] | Settled<T>[];
  });
}) as never;

/** An iterator already opened, as an operation (a class, not an object literal with a closure per item). */
class Opened<T> implements Operation<T> {
  readonly #it: Iterator<Instruction, T, unknown>;
  constructor(it: Iterator<Instruction, T, unknown>) {
    this.#it = it;
  }
  [Symbol.iterator](): Iterator<Instruction, T, unknown> {
    return this.#it;
  }
}

function operationOf<T>(op: OperationLike<T>): Operation<T> {
  return new Opened(iterate(op, "limitGather"));
}

function* runInto<T>(op: OperationLike<T>, results: (T | Settled<T>)[], index: number): Operation<void> {
  results[index] = yield* operationOf(op);
}

function* settleInto<T>(op: OperationLike<T>, results: (T | Settled<T>)[], index: number): Operation<void> {
  try {
    results[index] = { status: "fulfilled", value: yield* operationOf(op) };
  } catch (error) {
    if (isCancellation(error)) throw error;
    results[index] = { status: "rejected", reason: error };
  }
}
