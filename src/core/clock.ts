/**
 * Clocks: where a loop reads the time.
 * @module
 */
import { monotonicNow } from "./_host.ts";

/**
 * A source of time in milliseconds. A loop runs on one clock: the real one by
 * default, or a {@link VirtualClock} in tests.
 *
 * @example A clock that starts at zero
 * ```ts
 * import { RealClock } from "corio";
 * const clock = new RealClock();
 * console.assert(clock.now() >= 0 && !clock.virtual);
 * ```
 */
export interface Clock {
  /** The current time in milliseconds; only differences are meaningful. */
  now(): number;
  /** True for clocks the loop advances itself when every task waits on time alone. */
  readonly virtual: boolean;
}

/**
 * The monotonic wall clock (`performance.now()`), measured from when the
 * clock was made.
 *
 * @example
 * ```ts
 * import { RealClock } from "corio";
 * const a = new RealClock().now();
 * console.assert(typeof a === "number");
 * ```
 */
export class RealClock implements Clock {
  readonly virtual = false;
  readonly #origin = monotonicNow();
  now(): number {
    return monotonicNow() - this.#origin;
  }
}
