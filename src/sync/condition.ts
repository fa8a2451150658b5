/**
 * Condition variables.
 * @module
 */
import { defineOperationMethods } from "../core/_dev.ts";
import { RESCHEDULE, resume } from "../core/_park.ts";
import type { Operation } from "../core/operation.ts";
import { requireCurrentTask } from "../core/spawn.ts";
import { Waiter, WaitQueue } from "./_wait-queue.ts";
import { acquireUninterrupted, Lock } from "./lock.ts";

/**
 * A condition variable (asyncio's `Condition`): a lock (its own, or one
 * shared with other conditions) plus a queue of tasks waiting to be
 * notified. `wait()` releases the lock while waiting and re-acquires it
 * before returning; `waitFor(predicate)` waits until the predicate holds.
 *
 * @example A bounded buffer
 * ```ts
 * import { Condition, spawn } from "corio";
 * import { runVirtual } from "corio/testing";
 * await runVirtual(function* () {
 *   const cond = new Condition();
 *   const items: number[] = [];
 *   const consumer = yield* spawn(function* () {
 *     yield* cond.acquire();
 *     try { yield* cond.waitFor(() => items.length > 0); return items.shift(); }
 *     finally { cond.release(); }
 *   });
 *   yield* cond.acquire();
 *   items.push(7);
 *   cond.notify();
 *   cond.release();
 *   console.assert((yield* consumer) === 7);
 * });
 * ```
 */
export class Condition implements Disposable {
  readonly #lock: Lock;
  readonly #waiters = new WaitQueue<Waiter<undefined>>();
  readonly #onCancel = (waiter: Waiter<undefined>, woken: boolean): void => {
    if (woken)
      this.#wake(1); // it was notified: pass the notification on
    else this.#waiters.remove(waiter);
  };

  /** @param lock A lock to share with other conditions. @default a new `Lock` */
  constructor(lock: Lock = new Lock()) {
    this.#lock = lock;
  }

  /** True while the underlying lock is held. */
  get locked(): boolean {
    return this.#lock.locked;
  }

  /** Acquires the underlying lock. **Cancellation:** as for `Lock.acquire`. */
  *acquire(): Operation<this> {
    yield* this.#lock.acquire();
    return this;
  }

  /** Releases the underlying lock. @throws {Error} if it is not held. */
  release(): void {
    this.#lock.release();
  }

  /**
   * Releases the lock, waits until notified, then re-acquires the lock.
   * It returns or throws holding the lock, always (DESIGN edge case 14).
   *
   * **Cancellation:** `wait()` throws the task's `CancelledError` only once
   * it holds the lock again, so the caller's `finally` (or `using`) runs
   * holding it, as it expects. Cancelled while waiting for a notification,
   * it leaves the queue (a notification already given to it passes on to the
   * next waiter), then waits for the lock. Cancelled while re-acquiring the
   * lock after a notification, it keeps its place in the lock's queue, gets
   * the lock, passes the notification on to the next waiter (which may see a
   * spurious wake-up: recheck the state, or use `waitFor`) and throws.
   * Unlike asyncio, which re-queues at the back, the task does not lose its
   * place for the lock.
   *
   * @throws {Error} if the lock is not held.
   */
  *wait(): Operation<void> {
    if (!this.#lock.locked) throw new Error("Cannot wait on a condition: its lock is not held; acquire() it first");
    const task = requireCurrentTask("wait on a condition");
    const waiter = new Waiter<undefined>(task, "signal", undefined, this.#onCancel, "a condition to be notified (wait)");
    // Released first, as asyncio does: a release that throws (the lock only handed to a waiter) leaves no waiter queued.
    this.#lock.release();
    this.#waiters.push(waiter);
    try {
      yield waiter;
    } finally {
      // However the wait ended, take the lock back before going on, in a wait cancellation does not
      // interrupt: a cancel delivered above has been thrown already, and one arriving now is held back.
      const cancelBefore = task.cancelError;
      yield* acquireUninterrupted(this.#lock);
      if (task.cancelError !== cancelBefore) {
        // Cancelled while re-acquiring, after a notification: pass it on, then throw the held-back cancel
        // here (a pending cancel is thrown at the next suspension, so this yield does not give up the turn).
        this.#wake(1);
        yield RESCHEDULE;
      }
    }
  }

  /**
   * Waits until `predicate()` is truthy, checking it now and after each
   * notification; returns its value.
   *
   * **Cancellation:** as for `wait`: `waitFor()` throws holding the lock,
   * and the predicate is not checked again.
   */
  *waitFor<T>(predicate: () => T): Operation<T> {
    let result = predicate();
    while (!result) {
      yield* this.wait();
      result = predicate();
    }
    return result;
  }

  /**
   * Wakes up to `n` waiting tasks.
   * @throws {Error} if the lock is not held.
   */
  notify(n = 1): void {
    if (!this.#lock.locked) throw new Error("Cannot notify a condition: its lock is not held; acquire() it first");
    this.#wake(n);
  }

  #wake(n: number): void {
    let woken = 0;
    while (woken < n) {
      const waiter = this.#waiters.shift();
      if (waiter === undefined) break;
      if (resume(waiter, undefined)) woken++;
    }
  }

  /** Wakes every waiting task. @throws {Error} if the lock is not held. */
  notifyAll(): void {
    this.notify(Number.POSITIVE_INFINITY);
  }

  /** Releases the lock (for `using`). */
  [Symbol.dispose](): void {
    this.release();
  }
}
defineOperationMethods(Condition);
