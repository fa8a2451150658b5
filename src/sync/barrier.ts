/**
 * A meeting point for a fixed number of tasks.
 * @module
 */
import { defineOperationMethods } from "../core/_dev.ts";
import { resume, resumeThrow } from "../core/_park.ts";
import type { Operation } from "../core/operation.ts";
import { requireCurrentTask } from "../core/spawn.ts";
import { Waiter, WaitQueue } from "./_wait-queue.ts";
import { BrokenBarrierError } from "./errors.ts";

/**
 * A barrier (asyncio's `Barrier`): `wait()` blocks until `parties` tasks
 * are waiting, then lets them all through at once, and the barrier is ready
 * for the next round. `wait()` returns the arrival index, 0 for the first
 * task to arrive up to `parties - 1` for the one that filled the barrier.
 *
 * `reset()` sends the waiting tasks a `BrokenBarrierError` and leaves the
 * barrier usable; `abort()` breaks it: waiting and later `wait()` calls
 * throw `BrokenBarrierError` until `reset()`.
 *
 * As asyncio's, once the barrier opens it drains: a task that passed and
 * calls `wait()` again waits until every task of the round has run, then
 * joins the next round. Unlike asyncio's, every waiter is handed its index
 * as the barrier opens, so a `reset()` or `abort()` during the drain does
 * not take it back.
 *
 * @example
 * ```ts
 * import { all, Barrier, sleep } from "corio";
 * import { runVirtual } from "corio/testing";
 * await runVirtual(function* () {
 *   const barrier = new Barrier(3);
 *   const indexes = yield* all([30, 10, 20].map((ms) => function* () {
 *     yield* sleep(ms);
 *     return yield* barrier.wait();
 *   }));
 *   console.assert(indexes.join() === "2,0,1");
 * });
 * ```
 */
export class Barrier {
  readonly #parties: number;
  #broken = false;
  /** Tasks waiting for the barrier to fill; each waiter's value is its arrival index (-1 once sent an error). */
  readonly #waiters = new WaitQueue<Waiter<number>>();
  /** Tasks handed their index that have not run yet: while there are some, the barrier drains. */
  #draining = 0;
  /** Tasks that arrived while the barrier drained, waiting for the next round. */
  readonly #blocked = new WaitQueue<Waiter<undefined>>();
  readonly #onCancel = (waiter: Waiter<number>, woken: boolean): void => {
    // Cancelled while filling: it leaves, and the count goes down (asyncio's rule). Handed its index:
    // it counts as gone through. Sent BrokenBarrierError: there is nothing to undo.
    if (!woken) this.#waiters.remove(waiter);
    else if (waiter.value >= 0) this.#exited();
  };
  readonly #onBlockedCancel = (waiter: Waiter<undefined>, woken: boolean): void => {
    if (!woken) this.#blocked.remove(waiter);
  };

  /**
   * @param parties How many tasks must wait for the barrier to open.
   * @throws {RangeError} unless `parties` is a positive integer no greater
   * than `Number.MAX_SAFE_INTEGER`.
   */
  constructor(parties: number) {
    if (!Number.isSafeInteger(parties) || parties < 1)
      throw new RangeError(`Cannot create a barrier: parties must be a positive safe integer, received ${String(parties)}`);
    this.#parties = parties;
  }

  /** How many tasks must wait for the barrier to open. */
  get parties(): number {
    return this.#parties;
  }

  /** Tasks waiting for the barrier to fill. */
  get nWaiting(): number {
    return this.#waiters.size;
  }

  /** True after `abort()`, until `reset()`. */
  get broken(): boolean {
    return this.#broken;
  }

  /**
   * Waits until `parties` tasks wait, and returns this task's arrival index
   * (0 for the first). The task that fills the barrier does not suspend.
   *
   * **Cancellation:** a task cancelled while it waits leaves the barrier,
   * which then needs one more task to fill (asyncio's rule); a later task
   * may get the same index. A task cancelled after the barrier opened (it
   * had not run yet) throws `CancelledError` and counts as drained; the
   * others pass all the same. A task cancelled while it waits for the drain
   * to end just leaves.
   *
   * @throws {BrokenBarrierError} if the barrier is broken (`abort()`), or
   * becomes broken or is `reset()` while this task waits.
   */
  *wait(): Operation<number> {
    if (this.#broken) throw brokenError();
    while (this.#draining > 0) {
      const blocked = new Waiter<undefined>(requireCurrentTask("wait on a barrier"), "signal", undefined, this.#onBlockedCancel, "a barrier to be reset");
      this.#blocked.push(blocked);
      yield blocked;
      if (this.#broken) throw brokenError();
    }
    const index = this.#waiters.size;
    if (index + 1 === this.#parties) {
      const waiters = this.#waiters.drain();
      this.#draining = waiters.length;
      for (const waiter of waiters) resume(waiter, waiter.value);
      return index;
    }
    const waiter = new Waiter<number>(requireCurrentTask("wait on a barrier"), "signal", index, this.#onCancel, "the other parties of a barrier (wait)");
    this.#waiters.push(waiter);
    yield waiter; // throws BrokenBarrierError after reset() or abort()
    this.#exited();
    return index;
  }

  /** One task of the round went through: the last one ends the drain, and the blocked tasks come in. */
  #exited(): void {
    if (--this.#draining > 0) return;
    for (const blocked of this.#blocked.drain()) resume(blocked, undefined);
  }

  /**
   * Puts the barrier back in its initial state: not broken, nobody waiting.
   * The tasks that were waiting throw `BrokenBarrierError`.
   */
  reset(): void {
    this.#broken = false;
    this.#fail(
      "Cannot pass the barrier: it was reset while this task waited, received reset() with {n} of {parties} parties waiting; call wait() again for the next round",
    );
  }

  /**
   * Breaks the barrier: the waiting tasks, and every later `wait()` until
   * `reset()`, throw `BrokenBarrierError`. Use it when a party cannot come,
   * so the others do not wait forever.
   */
  abort(): void {
    this.#broken = true;
    for (const blocked of this.#blocked.drain()) resume(blocked, undefined); // they throw, seeing it broken
    this.#fail(
      "Cannot pass the barrier: it was aborted while this task waited, received abort() with {n} of {parties} parties waiting; reset() it to use it again",
    );
  }

  #fail(template: string): void {
    const message = template.replace("{n}", String(this.#waiters.size)).replace("{parties}", String(this.#parties));
    for (const waiter of this.#waiters.drain()) {
      waiter.value = -1;
      resumeThrow(waiter, new BrokenBarrierError(message));
    }
  }

  toString(): string {
    return `Barrier(${this.#broken ? "broken" : `${this.#waiters.size}/${this.#parties} waiting`})`;
  }
}
defineOperationMethods(Barrier);

function brokenError(): BrokenBarrierError {
  return new BrokenBarrierError("Cannot wait on the barrier: it is broken, received a wait() after abort(); reset() it to use it again");
}
