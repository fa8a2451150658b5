/**
 * Results in the order they finish (asyncio's `as_completed`).
 * @module
 */
import { throwPendingCancel } from "../core/_boundary.ts";
import { defineOperation } from "../core/_dev.ts";
import type { Destructor } from "../core/_scope.ts";
import { describeKind, isCancellation, TaskGroupError } from "../core/errors.ts";
import { HandOffFuture } from "../core/future.ts";
import { assertOperationLike, type Instruction, iterate, Opened, type Operation, type OperationLike } from "../core/operation.ts";
import { requireCurrentTask, spawn } from "../core/spawn.ts";
import { cancelledByHand, type Task, type TaskImpl } from "../core/task.ts";

type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

/**
 * Starts the operations concurrently and returns an iterator of operations,
 * one per input, that give the results in the order the operations finish
 * (asyncio's `as_completed`):
 * `for (const next of yield* asCompleted(ops)) { const value = yield* next; }`,
 * where each `yield* next` gives the value of the next one to finish, or
 * throws its error.
 *
 * The exact shape: `yield* asCompleted(ops)` spawns every operation as a
 * child task of the caller and returns an `IterableIterator` of
 * `ops.length` operations. The first `next` pulled and run waits for, and
 * gives, the first operation to finish; the second the second, and so on
 * (each takes the oldest finished result not yet taken when it runs). Running
 * the same `next` again gives the same outcome. The nexts may be pulled ahead
 * (`[...iterator]`): the operations keep running until their results are
 * taken.
 *
 * It is structured: if the consumer stops early (`break`, a `throw` out of
 * the loop, or a cancellation; anything that calls the iterator's `return()`),
 * the operations still running are cancelled. Being children of the caller,
 * their cleanup is awaited when the caller's task (or the enclosing `scope`)
 * ends; wrap the loop in `scope(...)` to wait for it right there. Results
 * not taken by then, values and errors alike, are discarded (as `race`
 * discards the losers'); a `next` run after the stop throws. An error
 * thrown by an operation's cleanup once it was cancelled is not dropped: it
 * fails the caller's task, as a spawned task's error does.
 *
 * Without a stop (the nexts run by hand, `it.next().value`, and the rest
 * left), an error is never dropped either: the caller's task waits for the
 * operations as it ends, and the errors of the results nobody took then fail
 * it (several: a `TaskGroupError`), as a spawned task's error would; values
 * not taken are dropped. Close the iterator (`it.return()`, or a `for` loop
 * left early) to discard the rest on purpose.
 *
 * **Cancellation:** cancelling the caller cancels every operation; a `next`
 * being awaited throws the `CancelledError` and loses no result. An
 * operation whose task is cancelled through `task.cancel()` (it cancelled
 * itself, or another task did) gives its `CancelledError` to its `next`.
 *
 * @param ops The operations, or functions returning them.
 * @returns An iterator of operations giving the results in completion order.
 * @throws {TypeError} if `ops` is not an array of operations.
 * @example
 * ```ts
 * import { asCompleted, sleep } from "corio";
 * import { runVirtual } from "corio/testing";
 * await runVirtual(function* () {
 *   const order: string[] = [];
 *   for (const next of yield* asCompleted([
 *     function* () { yield* sleep(30); return "slow"; },
 *     function* () { yield* sleep(10); return "fast"; },
 *     function* () { yield* sleep(20); throw new Error("broken"); },
 *   ])) {
 *     try { order.push(yield* next); } catch (e) { order.push((e as Error).message); }
 *   }
 *   console.assert(order.join() === "fast,broken,slow");
 * });
 * ```
 */
export const asCompleted = defineOperation(function* asCompleted<T>(ops: readonly OperationLike<T>[]): Operation<IterableIterator<Operation<T>>> {
  if (!Array.isArray(ops)) throw new TypeError(`Cannot run asCompleted: expected an array of operations, received ${describeKind(ops)}`);
  for (const op of ops) assertOperationLike(op, "run asCompleted");
  const order = new CompletionOrder<T>(ops.length, requireCurrentTask("run asCompleted"));
  // One generator function for every operation (not a closure per operation: V8's first call of each new one costs microseconds).
  for (const op of ops) order.tasks.push(yield* spawn(member(op, order), { name: "asCompleted" }));
  return order;
});

/** Runs one operation of `asCompleted` and hands its outcome to `order`. */
function* member<T>(op: OperationLike<T>, order: CompletionOrder<T>): Operation<void> {
  const self = requireCurrentTask("run asCompleted");
  let outcome: Outcome<T>;
  try {
    const it = iterate(op, "run asCompleted");
    outcome = { ok: true, value: yield* new Opened(it) };
  } catch (error) {
    // Once cancelled, the cancellation goes on, and so does an error from the cleanup (never dropped:
    // it fails the owner, as a child's error); a CancelledError the operation threw by itself is its
    // outcome. So is the cancel of a task cancelled by hand (it cancelled itself, or another task did):
    // given as its outcome, then thrown on (else its next would wait for good).
    if (self.cancelError !== null) {
      if (isCancellation(error) && memberCancelledByHand(self, order)) order.finished({ ok: false, error });
      throw error;
    }
    outcome = { ok: false, error };
  }
  // It cancelled itself and returned at once (the cancel never delivered): its task ends cancelled, the
  // value dropped (as in `allSettled`). A task that caught its cancel and returned later ends with its value.
  if (self.cancelPending && memberCancelledByHand(self, order)) outcome = { ok: false, error: self.cancelError };
  order.finished(outcome);
}

/** A member's task was cancelled through `task.cancel()`, and not by the loop's stop (which cancels that way too). */
function memberCancelledByHand(self: TaskImpl<unknown>, order: CompletionOrder<unknown>): boolean {
  return !order.stopped && cancelledByHand(self);
}

/** The iterator `asCompleted` returns: the outcomes in the order they came, and the tasks to cancel if the loop stops. */
class CompletionOrder<T> implements IterableIterator<Operation<T>> {
  readonly tasks: Task<void>[] = [];
  readonly #total: number;
  /** The caller's task, the operations' parent: an error not taken fails it as it ends. */
  readonly #owner: TaskImpl<unknown>;
  /** Kept failures not taken yet; while there are some, the owner checks them as it ends (`#guard`). */
  #untakenFailures = 0;
  /** Registered on the owner while failures wait to be taken; taken off once none does (no entry left per call). */
  #guard: Destructor | null = null;
  /** Outcomes in the order they came; a taken one is cleared, so a long list does not keep every result. */
  readonly #outcomes: (Outcome<T> | undefined)[] = [];
  #taken = 0;
  #issued = 0;
  #stopped = false;
  /**
   * Set while a `next` waits for the next outcome. A hand-off future: an outcome that came before a
   * waiting `next`'s cancel (in the same turn) is given to it all the same (decided case 12), and the
   * cancel is thrown at its task's next suspension.
   */
  #changed: HandOffFuture<void> | null = null;

  constructor(total: number, owner: TaskImpl<unknown>) {
    this.#total = total;
    this.#owner = owner;
  }

  /** An operation finished (nothing is kept once the loop has stopped). */
  finished(outcome: Outcome<T>): void {
    if (this.#stopped) return;
    this.#outcomes.push(outcome);
    if (!outcome.ok && this.#untakenFailures++ === 0) {
      // Registered while a failure waits, so a run without one costs nothing more. It runs once the
      // owner's body and children (these operations) have ended: by then nobody can take a result.
      this.#guard = { name: "asCompleted: errors not taken", close: () => this.#throwUntaken() };
      this.#owner.ensure(this.#guard);
    }
    const waiter = this.#changed;
    this.#changed = null;
    waiter?.resolve();
  }

  /** The oldest outcome not taken yet, once there is one. */
  *take(): Operation<Outcome<T>> {
    while (this.#taken === this.#outcomes.length) {
      if (this.#stopped) {
        // Stopped (this reader may have been woken by the stop, not by an outcome): a pending cancel is
        // thrown, delivered, rather than this error.
        throwPendingCancel(requireCurrentTask("run asCompleted"));
        throw new Error("Cannot take the next result: the asCompleted loop was stopped, received a next after it");
      }
      this.#changed ??= new HandOffFuture<void>();
      yield* this.#changed;
    }
    const outcome = this.#outcomes[this.#taken] as Outcome<T>;
    this.#outcomes[this.#taken++] = undefined;
    if (!outcome.ok && --this.#untakenFailures === 0) this.#unguard();
    return outcome;
  }

  next(): IteratorResult<Operation<T>> {
    if (this.#stopped || this.#issued === this.#total) return { done: true, value: undefined };
    this.#issued++;
    return { done: false, value: new NextOutcome(this) };
  }

  return(): IteratorResult<Operation<T>> {
    if (!this.#stopped) {
      this.#stopped = true;
      for (const task of this.tasks) if (!task.done) task.cancel();
      this.#outcomes.length = 0;
      this.#taken = 0;
      this.#untakenFailures = 0;
      this.#unguard();
      const waiter = this.#changed;
      this.#changed = null;
      waiter?.resolve();
    }
    return { done: true, value: undefined };
  }

  [Symbol.iterator](): this {
    return this;
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  #unguard(): void {
    if (this.#guard !== null) this.#owner.unensure(this.#guard);
    this.#guard = null;
  }

  /** As the owner ends: the errors of the results nobody took (and no stop discarded) fail it, as a spawned task's error does. */
  #throwUntaken(): void {
    if (this.#stopped) return;
    const errors: unknown[] = [];
    for (let i = this.#taken; i < this.#outcomes.length; i++) {
      const outcome = this.#outcomes[i];
      if (outcome !== undefined && !outcome.ok) errors.push(outcome.error);
    }
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new TaskGroupError(errors);
  }
}

/** One `next` of `asCompleted`: takes an outcome the first time it runs, and gives the same one after. */
class NextOutcome<T> implements Operation<T> {
  readonly #order: CompletionOrder<T>;
  #outcome: Outcome<T> | undefined = undefined;

  constructor(order: CompletionOrder<T>) {
    this.#order = order;
  }

  *[Symbol.iterator](): Iterator<Instruction, T, unknown> {
    this.#outcome ??= yield* this.#order.take();
    if (this.#outcome.ok) return this.#outcome.value;
    throw this.#outcome.error;
  }
}
