/**
 * Periodic work.
 * @module
 */
import { defineOperation } from "../core/_dev.ts";
import type { Operation } from "../core/operation.ts";
import { requireCurrentTask, type SpawnOptions, spawn } from "../core/spawn.ts";
import type { Task } from "../core/task.ts";

/**
 * Ends the current round of a periodic task: it resumes at the next period
 * tick. The same as a bare `yield`, spelled out. In a task without a period
 * it lets the other ready tasks run first.
 *
 * **Cancellation:** the wait is interrupted and `CancelledError` thrown here.
 *
 * @example
 * ```ts
 * import { currentTime, nextPeriod, spawn } from "corio";
 * import { runVirtual } from "corio/testing";
 * await runVirtual(function* () {
 *   const ticks: number[] = [];
 *   const task = yield* spawn(function* () {
 *     for (let i = 0; i < 3; i++) { ticks.push(currentTime()); yield* nextPeriod(); }
 *   }, { period: 100 });
 *   yield* task;
 *   console.assert(ticks.join() === "100,200,300");
 * });
 * ```
 */
export const nextPeriod = defineOperation(function* nextPeriod(): Operation<void> {
  requireCurrentTask("end a periodic round");
  yield;
});

/**
 * Runs `fn()` every `ms` milliseconds in a new periodic child task, first
 * after `ms` (or after `options.delay`), and returns that task; cancel it to
 * stop. A round that overruns skips the ticks it missed. The short form of
 * `spawn(function* () { for (;;) { yield* fn(); yield; } }, { period: ms })`.
 *
 * @param ms The period in ms, more than 0.
 * @param fn Called once per round; must return a fresh operation each time.
 * @param options Spawn options (name, priority, delay, daemon).
 * @throws {RangeError} for a period that is not a positive number.
 * @throws {TypeError} if `fn` is not a function.
 * @example
 * ```ts
 * import { every, sleep } from "corio";
 * import { runVirtual } from "corio/testing";
 * await runVirtual(function* () {
 *   let beats = 0;
 *   const heartbeat = yield* every(1000, function* () { beats++; });
 *   yield* sleep(3500);
 *   heartbeat.cancel();
 *   console.assert(beats === 3);
 * });
 * ```
 */
export const every = defineOperation(function* every(
  ms: number,
  fn: () => Operation<unknown>,
  options: Omit<SpawnOptions, "period"> = {},
): Operation<Task<never>> {
  if (!(typeof ms === "number" && ms > 0 && Number.isFinite(ms)))
    throw new RangeError(`Cannot run every ms: the period must be a positive number of ms, received ${String(ms)}`);
  if (typeof fn !== "function") {
    throw new TypeError(`Cannot run every ${ms} ms: expected a function returning an operation (an operation object can only run once), received ${typeof fn}`);
  }
  return yield* spawn<never>(
    function* rounds() {
      for (;;) {
        yield* fn();
        yield;
      }
    },
    { name: `every ${ms} ms`, ...options, period: ms },
  );
});
