/**
 * Mutual exclusion.
 * @module
 */

import { defineOperationMethods } from "../core/_dev.ts";
import { type Park, resume } from "../core/_park.ts";
import { defineStepOperation, FINISHED, FRESH, PARKED, ranTwice, StepOperation, YieldedPark } from "../core/_step-operation.ts";
import type { Instruction, Operation, OperationLike } from "../core/operation.ts";
import { iterate, Opened } from "../core/operation.ts";
import { requireCurrentTask } from "../core/spawn.ts";
import { Waiter, WaitQueue } from "./_wait-queue.ts";

/**
 * Acquires `lock` in a wait that cancellation does not interrupt: a cancel
 * that arrives meanwhile stays pending (the task keeps its place in the
 * queue) and is thrown at the task's next suspension. For `Condition.wait()`,
 * which must return or throw holding the lock; kept off the public API.
 */
export let acquireUninterrupted: (lock: Lock) => Operation<void>;

/** Takes `lock` if it is free (`null`), else queues and returns a park for the current task. */
let takeOrQueue: (lock: Lock) => YieldedPark | null;
/** The acquire `lock` was handed to runs: its hold can no longer be given back by cancellation. */
let resumed: (lock: Lock, park: Park) => void;
/** `{ done: true, value: lock }`: one object per lock. */
let acquiredResult: (lock: Lock) => IteratorReturnResult<Lock>;

/**
 * `lock.acquire()`: an operation object that is its own iterator (see `_step-operation.ts`).
 * `SemaphoreAcquire` has the same shape; one class for both, calling into each primitive
 * through a rules object, made the uncontended Lock + Semaphore pair 1.33-1.38x slower
 * (the calls became polymorphic), so each primitive keeps its own.
 */
class LockAcquire extends StepOperation<Lock> {
  readonly #lock: Lock;
  #park: YieldedPark | null = null;
  constructor(lock: Lock) {
    super();
    this.state = FRESH;
    this.#lock = lock;
  }
  next(): IteratorResult<Instruction, Lock> {
    const state = this.state;
    if (state === FRESH) {
      const park = takeOrQueue(this.#lock);
      if (park === null) {
        this.state = FINISHED;
        return acquiredResult(this.#lock);
      }
      this.state = PARKED;
      this.#park = park;
      return park;
    }
    if (state === PARKED) {
      this.state = FINISHED;
      resumed(this.#lock, this.#park as YieldedPark);
      this.#park = null;
      return acquiredResult(this.#lock);
    }
    throw ranTwice(this);
  }
}

/**
 * A mutual-exclusion lock (asyncio's `Lock`): one holder at a time, waiters
 * served in priority order, FIFO within a priority, with a direct hand-off
 * (a newcomer cannot barge past a waiter). Like asyncio's, it has no owner:
 * any task may release a held lock.
 *
 * `acquire()` returns the lock itself, which is `Disposable`, so
 * `using _ = yield* lock.acquire()` releases it at the end of the block,
 * whatever happens; `withLock(op)` does the same for an operation.
 *
 * @example
 * ```ts
 * import { all, Lock, sleep } from "corio";
 * import { runVirtual } from "corio/testing";
 * await runVirtual(function* () {
 *   const lock = new Lock();
 *   let inside = 0;
 *   yield* all([1, 2, 3].map(() => lock.withLock(function* () {
 *     inside++;
 *     console.assert(inside === 1);
 *     yield* sleep(10);
 *     inside--;
 *   })));
 * });
 * ```
 */
export class Lock implements Disposable {
  #locked = false;
  readonly #waiters = new WaitQueue<Park>();
  /** The waiter the lock was last handed to, until it runs: its hold may still be given back by cancellation. */
  #handedTo: Park | null = null;
  readonly #acquired: IteratorReturnResult<Lock> = { done: true, value: this };
  readonly #onCancel = (waiter: Park, woken: boolean): void => {
    if (!woken) this.#waiters.remove(waiter);
    // It was handed the lock (no release() can come between: see release()): pass it on.
    else if (this.#handedTo === waiter) this.#handOff();
  };

  static {
    acquireUninterrupted = function* reacquire(lock: Lock): Operation<void> {
      if (!lock.#locked && lock.#waiters.size === 0) {
        lock.#locked = true;
        return;
      }
      const waiter = new Waiter<undefined>(requireCurrentTask("acquire a lock"), "lock", undefined, lock.#onCancel, "a lock held by another task (acquire)");
      waiter.shielded = true;
      lock.#waiters.push(waiter);
      yield waiter;
      if (lock.#handedTo === waiter) lock.#handedTo = null;
    };
    takeOrQueue = (lock) => {
      if (!lock.#locked && lock.#waiters.size === 0) {
        lock.#locked = true;
        return null;
      }
      const park = new YieldedPark(requireCurrentTask("acquire a lock"), "lock", lock.#onCancel, "a lock held by another task (acquire)");
      lock.#waiters.push(park);
      return park;
    };
    resumed = (lock, park) => {
      if (lock.#handedTo === park) lock.#handedTo = null;
    };
    acquiredResult = (lock) => lock.#acquired;
  }

  /** True while held. */
  get locked(): boolean {
    return this.#locked;
  }

  /** Tasks waiting to acquire. */
  get waiting(): number {
    return this.#waiters.size;
  }

  /**
   * Acquires the lock, waiting if it is held; returns the lock (for `using`).
   * Completes without suspending when the lock is free.
   *
   * **Cancellation:** `acquire()` throws `CancelledError` and the task holds
   * nothing: it leaves the queue (losing its place), and if the lock had
   * already been handed to it (released while it waited, but cancelled
   * before it ran), the lock passes on to the next waiter, or becomes free.
   * Cancelling never throws.
   */
  acquire(): Operation<this> {
    return new LockAcquire(this) as Operation<Lock> as Operation<this>;
  }

  /** Acquires the lock if it is free; returns whether it did. Never suspends. */
  tryAcquire(): boolean {
    if (this.#locked || this.#waiters.size > 0) return false;
    this.#locked = true;
    return true;
  }

  /**
   * Releases the lock, handing it to the next waiter if there is one. Any
   * task may release a held lock (it has no owner).
   * @throws {Error} if the lock is not held, or is being handed to a waiter
   * that has not run yet (as asyncio's, which is unlocked until the waiter
   * runs): a second release would let two tasks in.
   */
  release(): void {
    if (!this.#locked) throw new Error("Cannot release the lock: it is not held");
    if (this.#handedTo !== null)
      throw new Error("Cannot release the lock: it is not held yet, only handed to a waiting task that has not run (released twice?)");
    this.#handOff();
  }

  #handOff(): void {
    for (let waiter = this.#waiters.shift(); waiter !== undefined; waiter = this.#waiters.shift()) {
      if (resume(waiter, undefined)) {
        this.#handedTo = waiter; // still locked: ownership passed on
        return;
      }
    }
    this.#handedTo = null;
    this.#locked = false;
  }

  /**
   * Runs `op` holding the lock, and releases it however `op` ends (value,
   * error or cancellation).
   *
   * **Cancellation:** while waiting, as for `acquire`; while running, `op`
   * is cancelled and the lock released after its cleanup.
   */
  *withLock<T>(op: OperationLike<T>): Operation<T> {
    yield* this.acquire();
    try {
      const it = iterate(op, "run withLock");
      return yield* new Opened(it);
    } finally {
      this.release();
    }
  }

  /** Releases the lock (for `using`). */
  [Symbol.dispose](): void {
    this.release();
  }

  toString(): string {
    return `Lock(${this.#locked ? "locked" : "unlocked"}, ${this.#waiters.size} waiting)`;
  }
}
defineOperationMethods(Lock);
defineStepOperation(LockAcquire, "lock.acquire", Lock, "acquire");
