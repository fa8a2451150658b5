/**
 * A flag tasks can wait for.
 * @module
 */
import { defineOperationMethods } from "../core/_dev.ts";
import { resume } from "../core/_park.ts";
import type { Operation } from "../core/operation.ts";
import { requireCurrentTask } from "../core/spawn.ts";
import { Waiter, WaitQueue } from "./_wait-queue.ts";

/**
 * An event (asyncio's `Event`): `wait()` returns at once while it is set,
 * and otherwise waits until `set()` wakes every waiter. `clear()` resets it.
 *
 * @example
 * ```ts
 * import { Event, spawn } from "corio";
 * import { runVirtual, waitAllTasksBlocked } from "corio/testing";
 * await runVirtual(function* () {
 *   const ready = new Event();
 *   const waiter = yield* spawn(function* () { yield* ready.wait(); return "go"; });
 *   yield* waitAllTasksBlocked();
 *   ready.set();
 *   console.assert((yield* waiter) === "go" && ready.isSet);
 * });
 * ```
 */
export class Event {
  #set = false;
  readonly #waiters = new WaitQueue<Waiter<undefined>>();
  readonly #onCancel = (waiter: Waiter<undefined>, woken: boolean): void => {
    if (!woken) this.#waiters.remove(waiter);
  };

  /** True while set. */
  get isSet(): boolean {
    return this.#set;
  }

  /**
   * Waits until the event is set; returns at once if it is.
   *
   * **Cancellation:** the task stops waiting; the event is unaffected. A
   * waiter cancelled in the turn the event was set, before it ran, throws
   * the cancel (asyncio's rule; Trio's wait would return).
   */
  *wait(): Operation<void> {
    if (this.#set) return;
    const waiter = new Waiter<undefined>(requireCurrentTask("wait for an event"), "signal", undefined, this.#onCancel, "an event to be set (wait)");
    this.#waiters.push(waiter);
    yield waiter;
  }

  /** Sets the event and wakes every waiter. */
  set(): void {
    if (this.#set) return;
    this.#set = true;
    for (const waiter of this.#waiters.drain()) resume(waiter, undefined);
  }

  /** Clears the event: later `wait()` calls wait again. */
  clear(): void {
    this.#set = false;
  }
}
defineOperationMethods(Event);
