/**
 * One-shot values that tasks can wait for.
 * @module
 */
import { type OneOrMany, withItem, withoutItem } from "./_one-or-many.ts";
import { IteratorPark } from "./_park.ts";
import type { Instruction, Operation } from "./operation.ts";
import { requireCurrentTask } from "./spawn.ts";
import { getCurrentTask, type TaskImpl } from "./task.ts";

const PENDING = 0;
const RESOLVED = 1;
const REJECTED = 2;

/**
 * One `yield* future`: the iterator and, while the future is pending, the
 * park (no generator: a hand-off between two tasks through a Future is the
 * task switch every primitive pays, and a generator object was the biggest
 * thing it allocated).
 *
 * A wait whose `next` has returned `done` is over for good: `yield*` (and
 * corio's own hand-written drivers) never call it again, and it is on no
 * future's waiter list and is no task's `park` any more (a task's `park` is
 * cleared before its step resumes it). So it becomes the spare that the next
 * `yield*` of a pending future, in any task, takes instead of a new one. A
 * ping-pong then allocates no wait per switch, and storing the wait in the
 * task's `park` no longer writes a young object into a long-lived one (V8's
 * write barrier was 8% of its samples): 62-66 to 54-56 ns per switch
 * (bench/RESULTS.md, "Issue 13, eighth pass"). A wait for a rejected
 * future is reused too: its `next` throws the error after it has become the
 * spare. A wait that a cancellation ends (thrown at it, through `throw`) is
 * not reused.
 */
export class FutureWait extends IteratorPark {
  declare task: TaskImpl<unknown> | null;
  /** The future waited on; `null` once the wait is over (a spare keeps no value alive). */
  future: Future<unknown> | null;
  #parked = false;
  /** What `next` yields to park: one object for every wait this one is used for. */
  readonly #yielded: IteratorYieldResult<Instruction>;
  constructor(task: TaskImpl<unknown> | null, future: Future<unknown>) {
    super(task, "future", "a Future to be set");
    this.future = future;
    this.#yielded = { value: this, done: false };
  }
  /** Makes a spare the wait of `task` on `future`. */
  reuse(task: TaskImpl<unknown> | null, future: Future<unknown>): this {
    this.task = task;
    this.future = future;
    return this;
  }
  next(): IteratorResult<Instruction, unknown> {
    const future = this.future;
    // Over, and not reused yet: as a finished generator does.
    if (future === null) return { value: undefined, done: true };
    if (this.#parked || future.done) {
      // Over (before `result()`, which throws for a rejected future): the spare for the next wait.
      this.#parked = false;
      this.future = null;
      spareWait = this;
      return { value: future.result(), done: true };
    }
    if (this.task === null) requireCurrentTask("wait for a Future");
    this.#parked = true;
    future.addWaiter(this);
    return this.#yielded;
  }
  override cancelled(woken: boolean): void {
    if (!woken) (this.future as Future<unknown>).removeWaiter(this);
  }
  override givesWakeOverCancel(): boolean {
    return this.future instanceof HandOffFuture;
  }
  override describe(): string {
    const future = this.future as (Future<unknown> & { [WAIT_WORDS]?: string }) | null;
    return future?.[WAIT_WORDS] ?? super.describe();
  }
}

/**
 * A future made for one purpose (`start`'s wait for `started()`) names that purpose under this key,
 * for the inspector and deadlock reports; a plain `Future` reads "a Future to be set".
 */
export const WAIT_WORDS: unique symbol = Symbol("corio.waitWords");

/** A finished `FutureWait`, ready for the next wait (see `FutureWait`). */
let spareWait: FutureWait | null = null;

/** The iterator of a settled future: gives its value (or throws its error) at once. */
class SettledIterator implements Iterator<Instruction, unknown, unknown> {
  readonly future: Future<unknown>;
  constructor(future: Future<unknown>) {
    this.future = future;
  }
  next(): IteratorResult<Instruction, unknown> {
    return { value: this.future.result(), done: true };
  }
  throw(error: unknown): IteratorResult<Instruction, unknown> {
    throw error;
  }
  return(value?: unknown): IteratorResult<Instruction, unknown> {
    return { value, done: true };
  }
}

/**
 * A value that will be set once, by anyone, and that any number of tasks can
 * wait for with `yield* future` (asyncio's `Future`, or a promise with its
 * resolvers, but cancellable and scheduled by corio). Setting it from plain
 * code (a callback, an event handler) is the way to wake a task from outside.
 *
 * **Cancellation:** a waiting task that is cancelled just stops waiting; the
 * future is unaffected.
 *
 * @typeParam T The value.
 * @example
 * ```ts
 * import { Future, run, spawn } from "corio";
 * const answer = new Future<number>();
 * const result = await run(function* () {
 *   yield* spawn(function* () { answer.resolve(42); });
 *   return yield* answer;
 * });
 * console.assert(result === 42);
 * ```
 */
export class Future<T> implements Operation<T> {
  #state = PENDING;
  #value: unknown;
  #waiters: OneOrMany<FutureWait> = null;
  #settledIterator: SettledIterator | null = null;

  /** True once resolved or rejected. */
  get done(): boolean {
    return this.#state !== PENDING;
  }

  /** Sets the value and wakes every waiter; returns `false` if it was already set. */
  resolve(value: T): boolean {
    return this.#settle(RESOLVED, value);
  }

  /** Sets an error that every waiter will throw; returns `false` if already set. */
  reject(error: unknown): boolean {
    return this.#settle(REJECTED, error);
  }

  /** The value of a resolved future; throws the error of a rejected one, or an `Error` if still pending. */
  result(): T {
    if (this.#state === RESOLVED) return this.#value as T;
    if (this.#state === REJECTED) throw this.#value;
    throw new Error("Cannot read the result of a Future: it is still pending");
  }

  [Symbol.iterator](): Iterator<Instruction, T, unknown> {
    if (this.#state !== PENDING) {
      // Stateless, so one serves every later `yield*` of a settled future.
      this.#settledIterator ??= new SettledIterator(this as Future<unknown>);
      return this.#settledIterator as Iterator<Instruction, T, unknown>;
    }
    const spare = spareWait;
    if (spare !== null) {
      spareWait = null;
      return spare.reuse(getCurrentTask(), this as Future<unknown>) as Iterator<Instruction, T, unknown>;
    }
    return new FutureWait(getCurrentTask(), this as Future<unknown>) as Iterator<Instruction, T, unknown>;
  }

  /** @internal */
  addWaiter(park: FutureWait): void {
    this.#waiters = withItem(this.#waiters, park);
  }

  /** @internal */
  removeWaiter(park: FutureWait): void {
    this.#waiters = withoutItem(this.#waiters, park);
  }

  #settle(state: number, value: unknown): boolean {
    if (this.#state !== PENDING) return false;
    this.#state = state;
    this.#value = value;
    const waiters = this.#waiters;
    this.#waiters = null;
    if (waiters === null) return true;
    if (Array.isArray(waiters)) for (const park of waiters) wakeWaiter(park);
    else wakeWaiter(waiters);
    return true;
  }
}

function wakeWaiter(park: FutureWait): void {
  const task = park.task as TaskImpl<unknown>;
  if (task.park === park && !task.woken) task.wake(false, undefined);
}

/**
 * A Future whose outcome is handed to every waiter it woke, even when that
 * waiter's cancel comes before the waiter runs again (in the same turn): the
 * waiter gets the value (or the error), and its cancel is thrown at its next
 * suspension (decided case 12). A plain Future's waiter throws the cancel
 * instead, as asyncio's task does (the value stays in the future). corio's
 * utilities use it where a result completed before the caller's cancel must
 * not be dropped: `wait`, `asCompleted`, a shared cache load. Internal: the
 * `HandOffFuture` name is not exported from the package.
 */
export class HandOffFuture<T> extends Future<T> {}
