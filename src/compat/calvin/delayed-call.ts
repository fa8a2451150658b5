/**
 * Calvin's `DelayedCall(delay, func, *args)`, over corio's `callLater`.
 * @module
 */
import { callLater, type DelayedCall as NativeDelayedCall, type Task } from "../../index.ts";
import { actingFor, ownerTask } from "./_trigger.ts";

function checkSeconds(seconds: unknown, action: string): number {
  if (!(typeof seconds === "number" && seconds >= 0 && Number.isFinite(seconds))) {
    throw new RangeError(`Cannot ${action}: delay must be a finite non-negative number of seconds, received ${String(seconds)}`);
  }
  return seconds;
}

/**
 * Calvin's `DelayedCall`: calls `func(...args)` after `delay` **seconds**
 * of the loop's clock; armed by the constructor. Native corio:
 * `callLater(ms, fn, ...args)`.
 *
 * It must be created inside a corio task, which owns it: when that task
 * finishes, a call still pending is cancelled. Created in a `DelayedCall`'s
 * function, a trigger or a callback of a Calvin object, it belongs to the
 * owner of that call or object, so a scheduler can re-arm itself from
 * there, as Calvin's did. An error `func` throws is
 * reported to the loop's `onError` and the loop goes on; its return value
 * is ignored.
 *
 * Differences from the Twisted original: `reset()` moves a pending call
 * (the original armed a second one, so the function ran twice), and after
 * the call has run, `reset()` arms it again (as the original did).
 *
 * @typeParam A The arguments of `func`.
 * @example
 * ```ts
 * import { sleep } from "corio";
 * import { DelayedCall } from "corio/compat/calvin";
 * import { runVirtual } from "corio/testing";
 * await runVirtual(function* () {
 *   const calls: string[] = [];
 *   const call = new DelayedCall(2, (who: string) => calls.push(who), "actor-1");
 *   console.assert(call.active() && call.nextcall() === 2);
 *   call.reset(5); // moved, not doubled
 *   yield* sleep(10_000);
 *   console.assert(calls.join() === "actor-1" && !call.active() && call.nextcall() === null);
 *   const never = new DelayedCall(1, () => calls.push("never"));
 *   never.cancel();
 *   never.cancel(); // idempotent
 *   yield* sleep(2000);
 *   console.assert(calls.length === 1);
 * });
 * ```
 */
export class DelayedCall<A extends unknown[] = unknown[]> {
  readonly #call: NativeDelayedCall;
  #delay: number;
  #owner: Task<unknown>;
  #watching = false;
  /** Called soon after the owner finishes: a pending call goes with it (unless another task has re-armed it since). */
  readonly #ownerDone = (owner: Task<unknown>): void => {
    if (owner !== this.#owner) return;
    this.#watching = false;
    this.#call.cancel();
  };

  /**
   * @param delay Seconds from now (0 or more).
   * @param func What to call.
   * @param args Its arguments.
   * @throws {RangeError} for a negative or non-numeric delay.
   * @throws {Error} outside a corio task.
   */
  constructor(delay: number, func: (...args: A) => unknown, ...args: A) {
    this.#delay = checkSeconds(delay, "create a DelayedCall");
    if (typeof func !== "function") throw new TypeError(`Cannot create a DelayedCall: func must be a function, received ${typeof func}`);
    this.#owner = ownerTask("DelayedCall");
    const run = (...callArgs: A): unknown => {
      const owner = this.#owner;
      if (owner.done) return; // due before the owner's done callback ran
      this.#unwatch();
      // Outside any task: what the function creates (the next DelayedCall of a scheduler) is the owner's.
      return actingFor(owner, () => func(...callArgs));
    };
    this.#call = callLater(this.#delay * 1000, run, ...args);
    this.#watch();
  }

  /** The delay in seconds it was armed with (the original's `delay` attribute). */
  get delay(): number {
    return this.#delay;
  }

  /**
   * Arms the call `newDelay` seconds from now (or its last delay): a pending
   * call moves, a call that has run or was cancelled is armed again.
   * @throws {RangeError} for a negative or non-numeric delay.
   */
  reset(newDelay?: number): void {
    if (newDelay !== undefined) this.#delay = checkSeconds(newDelay, "reset a DelayedCall");
    if (this.#owner.done) {
      this.#watching = false;
      this.#owner = ownerTask("DelayedCall", "reset a DelayedCall");
    }
    this.#call.reset(this.#delay * 1000);
    this.#watch();
  }

  /** True until the function starts running or the call is cancelled. */
  active(): boolean {
    // The owner's done callback runs soon after it finishes: until then, act as if it had.
    if (this.#watching && this.#owner.done) this.#ownerDone(this.#owner);
    return this.#call.active;
  }

  /** Stops a pending call; does nothing if it has run or was cancelled. */
  cancel(): void {
    this.#call.cancel();
    this.#unwatch();
  }

  /** When a pending call will run, in seconds of the loop's clock (absolute), or `null` if it is not pending. */
  nextcall(): number | null {
    return this.active() ? this.#call.time / 1000 : null;
  }

  #watch(): void {
    if (this.#watching) return;
    this.#watching = true;
    this.#owner.addDoneCallback(this.#ownerDone);
  }

  #unwatch(): void {
    if (!this.#watching) return;
    this.#watching = false;
    this.#owner.removeDoneCallback(this.#ownerDone);
  }
}
