/**
 * A limit on how many tasks use a resource at once, by borrower.
 * @module
 */

import { defineOperationMethods } from "../core/_dev.ts";
import { resume } from "../core/_park.ts";
import { describe } from "../core/errors.ts";
import type { Operation, OperationLike } from "../core/operation.ts";
import { iterate, Opened } from "../core/operation.ts";
import { requireCurrentTask } from "../core/spawn.ts";
import type { TaskImpl } from "../core/task.ts";
import { codeOwner } from "../core/task.ts";
import { Waiter, WaitQueue } from "./_wait-queue.ts";

/** What `CapacityLimiter.statistics()` reports. */
export interface CapacityLimiterStatistics {
  /** Tokens held now. */
  readonly borrowedTokens: number;
  /** The limit (may be below `borrowedTokens` after it was lowered). */
  readonly totalTokens: number;
  /** Who holds the tokens: tasks, or whatever was given to `acquireOnBehalfOf`. */
  readonly borrowers: unknown[];
  /** Tasks waiting for a token. */
  readonly tasksWaiting: number;
}

/**
 * A capacity limiter (Trio's `CapacityLimiter`): at most `totalTokens`
 * borrowers hold a token at once. Unlike a `Semaphore`, a token belongs to
 * its borrower (the current task by default): a borrower may not hold two
 * tokens of one limiter, and only it may give its token back. Waiters are
 * served in priority order, FIFO within a priority, with a direct hand-off
 * (a newcomer cannot barge past a waiter). `totalTokens` may change at run
 * time.
 *
 * `acquire()` returns the limiter, which is `Disposable`:
 * `using _ = yield* limiter.acquire()`; `withLimit(op)` runs `op` holding a
 * token.
 *
 * @example
 * ```ts
 * import { all, CapacityLimiter, sleep } from "corio";
 * import { runVirtual } from "corio/testing";
 * await runVirtual(function* () {
 *   const limiter = new CapacityLimiter(2);
 *   let running = 0;
 *   yield* all([1, 2, 3, 4].map(() => limiter.withLimit(function* () {
 *     running++;
 *     console.assert(running <= 2 && limiter.borrowedTokens <= 2);
 *     yield* sleep(10);
 *     running--;
 *   })));
 * });
 * ```
 */
export class CapacityLimiter implements Disposable {
  #total: number;
  readonly #borrowers = new Set<unknown>();
  /** Borrowers whose acquire waits; each waiter's value is its borrower. */
  readonly #pending = new Set<unknown>();
  readonly #waiters = new WaitQueue<Waiter<unknown>>();
  /** Borrowers handed a token by a release, by the waiter that has not run yet. */
  readonly #handedTo = new Map<unknown, Waiter<unknown>>();
  readonly #onCancel = (waiter: Waiter<unknown>, woken: boolean): void => {
    if (!woken) {
      this.#waiters.remove(waiter);
      this.#pending.delete(waiter.value);
      return;
    }
    // It was handed a token: pass it on, unless that token is gone (released on its borrower's
    // behalf meanwhile, and perhaps taken again by the same borrower: that one is not this wait's).
    if (this.#handedTo.get(waiter.value) !== waiter) return;
    this.#handedTo.delete(waiter.value);
    this.#borrowers.delete(waiter.value);
    this.#wakeWaiters();
  };

  /**
   * @param totalTokens How many borrowers may hold a token at once: a
   * positive integer, or `Infinity`.
   * @throws {TypeError} if it is neither an integer nor `Infinity`.
   * @throws {RangeError} if it is below 1.
   */
  constructor(totalTokens: number) {
    this.#total = checkTotal(totalTokens, "create a capacity limiter");
  }

  /**
   * How many borrowers may hold a token at once. Raising it hands tokens to
   * waiters at once; lowering it below `borrowedTokens` takes nothing back,
   * but new acquires wait until enough tokens are released.
   * @throws {TypeError} if set to neither an integer nor `Infinity`.
   * @throws {RangeError} if set below 1.
   */
  get totalTokens(): number {
    return this.#total;
  }

  set totalTokens(value: number) {
    this.#total = checkTotal(value, "set totalTokens");
    this.#wakeWaiters();
  }

  /** Tokens held now. */
  get borrowedTokens(): number {
    return this.#borrowers.size;
  }

  /** Tokens free now (0 while the limit is below `borrowedTokens`). */
  get availableTokens(): number {
    return Math.max(0, this.#total - this.#borrowers.size);
  }

  /** The state for debugging: tokens, borrowers and waiters. */
  statistics(): CapacityLimiterStatistics {
    return {
      borrowedTokens: this.#borrowers.size,
      totalTokens: this.#total,
      borrowers: [...this.#borrowers],
      tasksWaiting: this.#waiters.size,
    };
  }

  /**
   * Takes a token for the current task, waiting while there is none;
   * returns the limiter (for `using`). Completes without suspending when a
   * token is free. The borrower is the task that runs the operation, not
   * the one that called `acquire()`: `all([limiter.acquire(), ...])` takes
   * a token for each of its tasks.
   *
   * **Cancellation:** as for `acquireOnBehalfOf`.
   * @throws {Error} if the current task already holds a token of this limiter.
   */
  *acquire(): Operation<this> {
    yield* this.#acquireFor(currentBorrower("acquire a capacity limiter"));
    return this;
  }

  /**
   * Takes a token for `borrower` (any value: a task, an id, an object),
   * waiting while there is none; returns a `Disposable` that gives that
   * token back (`releaseOnBehalfOf(borrower)`), so
   * `using _ = yield* limiter.acquireOnBehalfOf(job)` releases the job's
   * token, not the current task's. Completes without suspending when a
   * token is free.
   *
   * **Cancellation:** `acquireOnBehalfOf()` throws `CancelledError` and
   * `borrower` holds nothing: it leaves the queue (losing its place), and a
   * token already handed to it (released while it waited, but cancelled
   * before it ran) passes on to the next waiter, or back to the limiter.
   * Cancelling never throws.
   * @throws {Error} if `borrower` already holds, or waits for, a token of this limiter.
   * @example
   * ```ts
   * import { CapacityLimiter } from "corio";
   * import { runVirtual } from "corio/testing";
   * await runVirtual(function* () {
   *   const limiter = new CapacityLimiter(1);
   *   {
   *     using _ = yield* limiter.acquireOnBehalfOf("job 7");
   *     console.assert(limiter.statistics().borrowers[0] === "job 7");
   *   }
   *   console.assert(limiter.borrowedTokens === 0);
   * });
   * ```
   */
  *acquireOnBehalfOf(borrower: unknown): Operation<Disposable> {
    yield* this.#acquireFor(borrower);
    return { [Symbol.dispose]: () => this.releaseOnBehalfOf(borrower) };
  }

  *#acquireFor(borrower: unknown): Operation<void> {
    if (this.#tryAcquire(borrower, "acquire a capacity limiter")) return;
    const waiter = new Waiter<unknown>(
      requireCurrentTask("acquire a capacity limiter"),
      "lock",
      borrower,
      this.#onCancel,
      "a capacity limiter token (acquire)",
    );
    this.#pending.add(borrower);
    this.#waiters.push(waiter);
    yield waiter;
    if (this.#handedTo.get(borrower) === waiter) this.#handedTo.delete(borrower);
  }

  /**
   * Takes a token for the current task if one is free and nobody waits
   * (Trio's `acquire_nowait`); returns whether it did. Never suspends.
   * @throws {Error} if the current task already holds a token of this limiter.
   */
  tryAcquire(): boolean {
    return this.#tryAcquire(currentBorrower("acquire a capacity limiter"), "acquire a capacity limiter");
  }

  /**
   * Takes a token for `borrower` if one is free and nobody waits; returns
   * whether it did. Never suspends.
   * @throws {Error} if `borrower` already holds, or waits for, a token of this limiter.
   */
  tryAcquireOnBehalfOf(borrower: unknown): boolean {
    return this.#tryAcquire(borrower, "acquire a capacity limiter");
  }

  #tryAcquire(borrower: unknown, action: string): boolean {
    if (this.#borrowers.has(borrower) || this.#pending.has(borrower)) {
      throw new Error(
        `Cannot ${action}: a borrower may hold one token of a limiter at a time, received ${describe(borrower)}, which already ${this.#borrowers.has(borrower) ? "holds" : "waits for"} one; release it first, or acquire on behalf of another borrower`,
      );
    }
    if (this.#borrowers.size >= this.#total || this.#waiters.size > 0) return false;
    this.#borrowers.add(borrower);
    return true;
  }

  /**
   * Gives back the current task's token, to the next waiter if there is one
   * and the limit allows.
   * @throws {Error} if the current task holds no token of this limiter.
   */
  release(): void {
    this.releaseOnBehalfOf(currentBorrower("release a capacity limiter"));
  }

  /**
   * Gives back `borrower`'s token, to the next waiter if there is one and
   * the limit allows.
   * @throws {Error} if `borrower` holds no token of this limiter.
   */
  releaseOnBehalfOf(borrower: unknown): void {
    this.#handedTo.delete(borrower);
    if (!this.#borrowers.delete(borrower)) {
      throw new Error(
        `Cannot release a capacity limiter: only a borrower holding a token may release it, received ${describe(borrower)}, which holds none; release on behalf of the borrower that acquired it`,
      );
    }
    this.#wakeWaiters();
  }

  /** Hands free tokens to the waiters, in order. */
  #wakeWaiters(): void {
    while (this.#borrowers.size < this.#total) {
      const waiter = this.#waiters.shift();
      if (waiter === undefined) return;
      this.#pending.delete(waiter.value);
      if (resume(waiter, undefined)) {
        this.#borrowers.add(waiter.value);
        this.#handedTo.set(waiter.value, waiter);
      }
    }
  }

  /**
   * Runs `op` holding a token for the current task, and gives it back
   * however `op` ends (value, error or cancellation).
   *
   * **Cancellation:** while waiting, as for `acquire`; while running, `op`
   * is cancelled and the token released after its cleanup.
   */
  *withLimit<T>(op: OperationLike<T>): Operation<T> {
    const borrower = currentBorrower("acquire a capacity limiter");
    yield* this.#acquireFor(borrower);
    try {
      const it = iterate(op, "run withLimit");
      return yield* new Opened(it);
    } finally {
      this.releaseOnBehalfOf(borrower);
    }
  }

  /** Releases the current task's token (for `using`). */
  [Symbol.dispose](): void {
    this.release();
  }

  toString(): string {
    return `CapacityLimiter(${this.#borrowers.size}/${this.#total} borrowed, ${this.#waiters.size} waiting)`;
  }
}
defineOperationMethods(CapacityLimiter);

function checkTotal(value: number, action: string): number {
  if (!Number.isInteger(value) && value !== Number.POSITIVE_INFINITY)
    throw new TypeError(`Cannot ${action}: totalTokens must be an integer or Infinity, received ${String(value)}`);
  if (value < 1) throw new RangeError(`Cannot ${action}: totalTokens must be at least 1, received ${String(value)}`);
  return value;
}

/**
 * The current task as a borrower: inside `timeout(ms, function* () { ... })` or a `scope`, the task
 * whose code that is (Trio's token belongs to the task; corio runs those bodies as helper tasks).
 */
function currentBorrower(action: string): TaskImpl<unknown> {
  return codeOwner(requireCurrentTask(action));
}
