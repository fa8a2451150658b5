/**
 * Time: the loop's clock, sleeping, time limits, delayed callbacks and
 * periodic work.
 *
 * Which tool do I need?
 * - Wait: `sleep(ms)`, `sleepUntil(time)`. Read the clock: `currentTime()`.
 * - Give up after a while: `timeout(ms, op)`, `deadline(time, op)` throw;
 *   `moveOnAfter(ms, op)`, `moveOnAt(time, op)` return `{ cancelled: true }`;
 *   an `op(limit)` taking an argument gets the `TimeLimit` to move the deadline.
 * - Run a plain callback: `callSoon`, `callLater` (→ `DelayedCall`), `callWhenRunning`.
 * - Repeat: `every(ms, fn)`, or `spawn(op, { period })` with `yield* nextPeriod()`.
 * @module
 */
export { type Clock, RealClock } from "../core/clock.ts";
export { VirtualClock } from "../core/virtual-clock.ts";
export type { TimeLimit } from "./_limit.ts";
export { callLater, callSoon, callWhenRunning, DelayedCall } from "./delayed-call.ts";
export { type MovedOn, moveOnAfter, moveOnAt } from "./move-on.ts";
export { every, nextPeriod } from "./periodic.ts";
export { currentTime, sleep, sleepUntil } from "./sleep.ts";
export { deadline, timeout } from "./timeout.ts";
