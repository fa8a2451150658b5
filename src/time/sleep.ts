/**
 * Sleeping on the loop's clock.
 * @module
 */
import { defineOperation } from "../core/_dev.ts";
import { FOREVER, RESCHEDULE } from "../core/_park.ts";
import { parkUntil } from "../core/_timer-park.ts";
import type { Operation } from "../core/operation.ts";
import { currentLoop } from "../core/run.ts";
import { requireCurrentTask } from "../core/spawn.ts";

/**
 * Reads the current loop's clock, in milliseconds (the default loop's outside
 * a task). On a `VirtualClock` this is virtual time.
 *
 * @example
 * ```ts
 * import { currentTime, sleep } from "corio";
 * import { runVirtual } from "corio/testing";
 * await runVirtual(function* () {
 *   const start = currentTime();
 *   yield* sleep(500);
 *   console.assert(currentTime() - start === 500);
 * });
 * ```
 */
export function currentTime(): number {
  return currentLoop().now();
}

/**
 * Suspends the current task for `ms` milliseconds of the loop's clock.
 * `sleep(0)` lets every other ready task of the same or a more urgent
 * priority run first, then returns (priority is strict: a less urgent task
 * waits until no more urgent one is ready).
 * `sleep(Infinity)` waits until cancelled.
 *
 * **Cancellation:** the timer is removed and `CancelledError` is thrown here.
 *
 * @param ms How long, in ms.
 * @throws {RangeError} if `ms` is NaN, negative or not a number.
 * @example
 * ```ts
 * import { currentTime, sleep } from "corio";
 * import { runVirtual } from "corio/testing";
 * await runVirtual(function* () { yield* sleep(1000); console.assert(currentTime() === 1000); });
 * ```
 */
export const sleep = defineOperation(function* sleep(ms: number): Operation<void> {
  if (!(typeof ms === "number" && ms >= 0))
    throw new RangeError(`Cannot sleep: ms must be a non-negative number, received ${typeof ms === "number" ? ms : typeof ms}`);
  const task = requireCurrentTask("sleep");
  if (ms === 0) yield RESCHEDULE;
  else if (ms === Number.POSITIVE_INFINITY) yield FOREVER;
  else yield parkUntil(task, task.loop.now() + ms, "sleep");
});

/**
 * Suspends the current task until the loop's clock reads `time` (ms, as
 * `currentTime()` gives it). A time in the past yields once and returns.
 *
 * **Cancellation:** the timer is removed and `CancelledError` is thrown here.
 *
 * @param time The clock time to wake at.
 * @throws {RangeError} if `time` is NaN or not a number.
 * @example
 * ```ts
 * import { currentTime, sleepUntil } from "corio";
 * import { runVirtual } from "corio/testing";
 * await runVirtual(function* () { yield* sleepUntil(250); console.assert(currentTime() === 250); });
 * ```
 */
export const sleepUntil = defineOperation(function* sleepUntil(time: number): Operation<void> {
  if (typeof time !== "number" || Number.isNaN(time))
    throw new RangeError(`Cannot sleep until: time must be a number, received ${typeof time === "number" ? time : typeof time}`);
  const task = requireCurrentTask("sleep until");
  if (time <= task.loop.now()) yield RESCHEDULE;
  else if (time === Number.POSITIVE_INFINITY) yield FOREVER;
  else yield parkUntil(task, time, "sleep");
});
