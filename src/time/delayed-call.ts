/**
 * Plain callbacks on the loop: soon, later, or when it starts.
 * @module
 */

import { checkMadeByCorio, MADE_BY_CORIO } from "../core/_made-by-corio.ts";
import type { Loop } from "../core/loop.ts";
import { currentLoop } from "../core/run.ts";

/**
 * Set by `corio/otel`'s `TaskContextManager` while it is enabled: binds a
 * callback given to `callLater`, `callSoon` or `callWhenRunning` to the
 * OpenTelemetry context of the code that scheduled it, as asyncio's
 * `call_later` runs a callback in a copy of the caller's context (else the
 * callback would see whatever context the loop's flush happened to run in).
 * `null`, the default: callbacks run as given.
 */
export const callbackContext: { bind: (<F extends (...args: never[]) => unknown>(fn: F) => F) | null } = { bind: null };

/**
 * A callback scheduled with `callLater` (Twisted's `IDelayedCall`, the Calvin
 * seed's `DelayedCall`). It fires once; `reset` or `delay` can move it, and
 * `reset` re-arms it after it has fired.
 *
 * @example
 * ```ts
 * import { callLater, sleep } from "corio";
 * import { runVirtual } from "corio/testing";
 * await runVirtual(function* () {
 *   const calls: number[] = [];
 *   const call = callLater(100, (n: number) => calls.push(n), 1);
 *   call.delay(50);
 *   console.assert(call.time === 150 && call.active);
 *   yield* sleep(200);
 *   console.assert(calls[0] === 1 && !call.active);
 * });
 * ```
 */
// A timer entry of the loop (structurally: `loop.addTimer(this, ...)` checks
// it); not declared `implements TimerEntry`, which is internal and stripped
// from the published types.
export class DelayedCall {
  /** @internal */ deadline = 0;
  /** @internal */ seq = 0;
  /** @internal */ heapIndex = -1;
  readonly #loop: Loop;
  readonly #fn: (...args: never[]) => unknown;
  readonly #args: unknown[];

  /** @internal What `callLater` calls: the constructor is private, so that `new DelayedCall()` does not type-check. */
  static create(loop: Loop, ms: number, fn: (...args: never[]) => unknown, args: unknown[]): DelayedCall {
    return new DelayedCall(MADE_BY_CORIO, loop, ms, fn, args);
  }

  private constructor(token: typeof MADE_BY_CORIO, loop: Loop, ms: number, fn: (...args: never[]) => unknown, args: unknown[]) {
    checkMadeByCorio(token, "a DelayedCall", "use callLater(ms, fn, ...args)");
    this.#loop = loop;
    this.#fn = fn;
    this.#args = args;
    loop.addTimer(this, loop.now() + ms);
  }

  /** True until the call has started running or was cancelled. */
  get active(): boolean {
    return this.heapIndex >= 0;
  }

  /** The clock time (ms) at which it will run (or last was due to run). */
  get time(): number {
    return this.deadline;
  }

  /** Stops the call from running; returns `false` if it had already run or been cancelled. */
  cancel(): boolean {
    if (!this.active) return false;
    this.#loop.removeTimer(this);
    return true;
  }

  /**
   * Makes the call run `ms` from now, whether it is pending (it moves, it does
   * not run twice) or has already run or been cancelled (it is armed again).
   * @throws {RangeError} for a negative or non-numeric `ms`.
   */
  reset(ms: number): void {
    checkDelay(ms, "reset a delayed call");
    this.#loop.removeTimer(this);
    this.#loop.addTimer(this, this.#loop.now() + ms);
  }

  /**
   * Pushes a pending call `ms` later than it was due.
   * @throws {Error} if the call is no longer active.
   * @throws {RangeError} for a negative or non-numeric `ms`.
   */
  delay(ms: number): void {
    checkDelay(ms, "delay a delayed call");
    if (!this.active) throw new Error("Cannot delay a delayed call: it has already run or been cancelled; use reset() to arm it again");
    const due = this.deadline + ms;
    this.#loop.removeTimer(this);
    this.#loop.addTimer(this, due);
  }

  /** @internal Called by the loop. */
  fire(): void {
    this.#loop.invoke(this.#fn, this.#args);
  }
}

function checkDelay(ms: number, action: string): void {
  if (!(typeof ms === "number" && ms >= 0 && ms !== Number.POSITIVE_INFINITY)) {
    throw new RangeError(`Cannot ${action}: ms must be a finite non-negative number, received ${typeof ms === "number" ? ms : typeof ms}`);
  }
}

/**
 * Calls `fn(...args)` after `ms` milliseconds of the loop's clock. An error it
 * throws is reported to the loop's `onError` and the loop goes on (Twisted's
 * rule), unless `stopOnError` is set.
 *
 * @param ms Delay in ms.
 * @param fn The callback.
 * @param args Its arguments.
 * @returns A `DelayedCall` to cancel or move it.
 * @throws {RangeError} for a negative or non-numeric `ms`.
 * @example
 * ```ts
 * import { callLater, sleep } from "corio";
 * import { runVirtual } from "corio/testing";
 * await runVirtual(function* () {
 *   let fired = false;
 *   callLater(10, () => { fired = true; });
 *   yield* sleep(10);
 *   console.assert(fired);
 * });
 * ```
 */
export function callLater<A extends unknown[]>(ms: number, fn: (...args: A) => unknown, ...args: A): DelayedCall {
  checkDelay(ms, "call later");
  if (typeof fn !== "function") throw new TypeError(`Cannot call later: expected a function, received ${typeof fn}`);
  const bound = callbackContext.bind === null ? fn : callbackContext.bind(fn);
  return DelayedCall.create(currentLoop(), ms, bound as (...args: never[]) => unknown, args);
}

/**
 * Calls `fn(...args)` on the loop as soon as possible, after what is already
 * queued at the default priority (FIFO with other `callSoon` calls). Errors
 * are reported as for `callLater`.
 *
 * @example
 * ```ts
 * import { callSoon, sleep } from "corio";
 * import { runVirtual } from "corio/testing";
 * await runVirtual(function* () {
 *   const order: number[] = [];
 *   callSoon(() => order.push(1));
 *   callSoon(() => order.push(2));
 *   yield* sleep(0);
 *   console.assert(order.join() === "1,2");
 * });
 * ```
 */
export function callSoon<A extends unknown[]>(fn: (...args: A) => unknown, ...args: A): void {
  if (typeof fn !== "function") throw new TypeError(`Cannot call soon: expected a function, received ${typeof fn}`);
  const bound = callbackContext.bind === null ? fn : callbackContext.bind(fn);
  currentLoop().callSoon(bound as (...args: never[]) => unknown, args);
}

/**
 * Calls `fn` when the loop starts running, or at once if it already runs
 * (Twisted's `reactor.callWhenRunning`). Errors are reported as for `callLater`.
 *
 * @example
 * ```ts
 * import { callWhenRunning, run } from "corio";
 * let started = false;
 * await run(function* () { callWhenRunning(() => { started = true; }); });
 * console.assert(started);
 * ```
 */
export function callWhenRunning(fn: () => unknown): void {
  if (typeof fn !== "function") throw new TypeError(`Cannot call when running: expected a function, received ${typeof fn}`);
  currentLoop().whenRunning(callbackContext.bind === null ? fn : callbackContext.bind(fn));
}
