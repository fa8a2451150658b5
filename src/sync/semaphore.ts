/**
 * Counting semaphores.
 * @module
 */
import { defineOperationMethods } from "../core/_dev.ts";
import { type Park, resume } from "../core/_park.ts";
import { defineStepOperation, FINISHED, FRESH, PARKED, ranTwice, StepOperation, YieldedPark } from "../core/_step-operation.ts";
import type { Instruction, Operation } from "../core/operation.ts";
import { requireCurrentTask } from "../core/spawn.ts";
import { WaitQueue } from "./_wait-queue.ts";

/** Sets the most tokens a semaphore may hold (BoundedSemaphore's initial value). */
let setBound: (semaphore: Semaphore, bound: number) => void;

/** Takes a token if one is free (`null`), else queues and returns a park for the current task. */
let takePermitOrQueue: (semaphore: Semaphore) => YieldedPark | null;
/** `{ done: true, value: semaphore }`: one object per semaphore. */
let acquiredPermit: (semaphore: Semaphore) => IteratorReturnResult<Semaphore>;

/** `semaphore.acquire()`: an operation object that is its own iterator (see `_step-operation.ts`). */
class SemaphoreAcquire extends StepOperation<Semaphore> {
  readonly #semaphore: Semaphore;
  constructor(semaphore: Semaphore) {
    super();
    this.state = FRESH;
    this.#semaphore = semaphore;
  }
  next(): IteratorResult<Instruction, Semaphore> {
    const state = this.state;
    if (state === FRESH) {
      const park = takePermitOrQueue(this.#semaphore);
      if (park === null) {
        this.state = FINISHED;
        return acquiredPermit(this.#semaphore);
      }
      this.state = PARKED;
      return park;
    }
    if (state === PARKED) {
      this.state = FINISHED;
      return acquiredPermit(this.#semaphore);
    }
    throw ranTwice(this);
  }
}

/**
 * A counting semaphore (asyncio's `Semaphore`): `acquire()` takes a token,
 * waiting while there is none; `release()` gives one back (directly to the
 * next waiter, in priority then FIFO order). `acquire()` returns the
 * semaphore, which is `Disposable`: `using _ = yield* sem.acquire()`.
 *
 * @example Eight at a time
 * ```ts
 * import { all, Semaphore, sleep } from "corio";
 * import { runVirtual } from "corio/testing";
 * await runVirtual(function* () {
 *   const slots = new Semaphore(2);
 *   let running = 0;
 *   yield* all([1, 2, 3, 4].map(() => function* () {
 *     using _ = yield* slots.acquire();
 *     running++;
 *     console.assert(running <= 2);
 *     yield* sleep(10);
 *     running--;
 *   }));
 * });
 * ```
 */
export class Semaphore implements Disposable {
  #value: number;
  #bound = Number.POSITIVE_INFINITY;
  readonly #waiters = new WaitQueue<Park>();
  readonly #acquired: IteratorReturnResult<Semaphore> = { done: true, value: this };
  readonly #onCancel = (waiter: Park, woken: boolean): void => {
    if (!woken) this.#waiters.remove(waiter);
    // It was handed a token: pass it on. A bounded semaphore already full got this token back from
    // an extra release() meanwhile: counting it again would exceed the bound, and cancel must not throw.
    else if (!this.#wakeNext() && this.#value < this.#bound) this.#value++;
  };

  static {
    setBound = (semaphore, bound) => {
      semaphore.#bound = bound;
    };
    takePermitOrQueue = (semaphore) => {
      if (semaphore.#value > 0 && semaphore.#waiters.size === 0) {
        semaphore.#value--;
        return null;
      }
      const park = new YieldedPark(requireCurrentTask("acquire a semaphore"), "lock", semaphore.#onCancel, "a semaphore (acquire)");
      semaphore.#waiters.push(park);
      return park;
    };
    acquiredPermit = (semaphore) => semaphore.#acquired;
  }

  /**
   * @param value The number of tokens. @default 1
   * @throws {RangeError} for a negative or non-integer value, or one above
   * `Number.MAX_SAFE_INTEGER` (counted inexactly).
   */
  constructor(value = 1) {
    if (!Number.isSafeInteger(value) || value < 0)
      throw new RangeError(`Cannot create a semaphore: value must be a non-negative safe integer, received ${String(value)}`);
    this.#value = value;
  }

  /** Tokens available now. */
  get value(): number {
    return this.#value;
  }

  /** True when `acquire()` would wait. */
  get locked(): boolean {
    return this.#value === 0 || this.#waiters.size > 0;
  }

  /** Tasks waiting to acquire. */
  get waiting(): number {
    return this.#waiters.size;
  }

  /**
   * Takes a token, waiting while there is none; returns the semaphore (for
   * `using`). Completes without suspending when a token is free.
   *
   * **Cancellation:** `acquire()` throws `CancelledError` and the task holds
   * no token: it leaves the queue (losing its place), and a token already
   * handed to it (released while it waited, but cancelled before it ran)
   * passes on to the next waiter, or back to the semaphore. A
   * `BoundedSemaphore` that some extra `release()` filled up meanwhile is not
   * pushed past its initial value. Cancelling never throws.
   */
  acquire(): Operation<this> {
    return new SemaphoreAcquire(this) as Operation<Semaphore> as Operation<this>;
  }

  /** Takes a token if one is free; returns whether it did. Never suspends. */
  tryAcquire(): boolean {
    if (this.#value === 0 || this.#waiters.size > 0) return false;
    this.#value--;
    return true;
  }

  /** Gives a token back, to the next waiter if there is one. */
  release(): void {
    if (!this.#wakeNext()) this.#value++;
  }

  /** Hands a token to the next waiter; false if none is left. */
  #wakeNext(): boolean {
    for (let waiter = this.#waiters.shift(); waiter !== undefined; waiter = this.#waiters.shift()) {
      if (resume(waiter, undefined)) return true;
    }
    return false;
  }

  /** Releases a token (for `using`). */
  [Symbol.dispose](): void {
    this.release();
  }
}
defineOperationMethods(Semaphore);
defineStepOperation(SemaphoreAcquire, "semaphore.acquire", Semaphore, "acquire");

/**
 * A semaphore that refuses to be released more often than acquired
 * (asyncio's `BoundedSemaphore`): its value never exceeds the initial one.
 * Trio's `Semaphore(initial, max_value=n)` with a bound above the initial
 * value (one that starts empty and may be released up to `n`) has no
 * counterpart: make a `BoundedSemaphore(n)` and take the difference with
 * `tryAcquire()`.
 *
 * @example
 * ```ts
 * import { BoundedSemaphore } from "corio";
 * const sem = new BoundedSemaphore(1);
 * try { sem.release(); } catch (e) { console.assert((e as Error).message.startsWith("Cannot release the semaphore")); }
 * ```
 */
export class BoundedSemaphore extends Semaphore {
  readonly #initial: number;

  /**
   * @param value The number of tokens, and the most `release()` restores. @default 1
   * @throws {RangeError} for a negative or non-integer value, or one above
   * `Number.MAX_SAFE_INTEGER` (where an over-release would go unnoticed).
   */
  constructor(value = 1) {
    super(value);
    this.#initial = value;
    setBound(this, value);
  }

  /**
   * Gives a token back.
   *
   * It counts, it does not know holders: while a token is handed to a
   * waiter that has not run yet, one more `release()` counts as that
   * waiter's, made in its stead (any task may release), and frees a token
   * although the waiter will hold one: a `BoundedSemaphore(1)` then lets two
   * tasks in, and the extra release shows as the next one throwing. asyncio's
   * `BoundedSemaphore` and Trio's `Semaphore(max_value=)` count the same way;
   * a `Lock` throws on that release instead.
   * @throws {Error} if that would exceed the initial value (released more often than acquired).
   */
  override release(): void {
    if (this.value >= this.#initial && this.waiting === 0) {
      throw new Error(`Cannot release the semaphore: it would exceed its initial value of ${this.#initial} (released more often than acquired)`);
    }
    super.release();
  }
}
