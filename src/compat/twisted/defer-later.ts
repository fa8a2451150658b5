/**
 * Twisted's `task.deferLater`.
 * @module
 */
import { Deferred } from "./deferred.ts";
import type { IReactorTime } from "./interfaces.ts";

/**
 * A Deferred that fires `seconds` from now on `clock` with what
 * `f(...args)` returns (Twisted's `task.deferLater`): its error if it
 * throws, the outcome of the Deferred it returns if it returns one, and
 * `undefined` without `f`. Cancelling it before then stops the call (it
 * fails with `CancelledError`).
 *
 * @param clock What schedules it: the reactor.
 * @param seconds The delay, in seconds.
 * @param f What to call then, if anything.
 * @param args Its arguments.
 * @example
 * ```ts
 * import { createReactor, deferLater } from "corio/compat/twisted";
 * import { VirtualClock } from "corio/testing";
 * const reactor = createReactor({ clock: new VirtualClock() });
 * let seen = "";
 * reactor.callWhenRunning(() => {
 *   deferLater(reactor, 3, (a: string, b: string) => `${a}${b}`, "foo", "bar").addCallback((value: string) => {
 *     seen = `${value} at ${reactor.seconds()}`;
 *     reactor.stop();
 *   });
 * });
 * await reactor.run();
 * console.assert(seen === "foobar at 3", seen);
 * ```
 */
export function deferLater<T = undefined, A extends unknown[] = []>(
  clock: IReactorTime,
  seconds: number,
  f?: (...args: A) => T | Deferred<T>,
  ...args: A
): Deferred<T> {
  const deferred = new Deferred<T>(() => delayedCall.cancel());
  deferred.addCallback(() => (f === undefined ? undefined : f(...args)));
  const delayedCall = clock.callLater(seconds, () => deferred.callback(undefined as T));
  return deferred;
}
