/**
 * Periodic work.
 * @module
 */
import { defineOperation } from "../core/_dev.ts";
import { iterate, Opened, type Operation } from "../core/operation.ts";
import { currentLoop } from "../core/run.ts";
import { requireCurrentTask, type SpawnOptions, spawn } from "../core/spawn.ts";
import type { Periodic, Task } from "../core/task.ts";

/**
 * Ends the current round of a periodic task: it resumes at the next period
 * tick. The same as a bare `yield`, spelled out; inside `scope`, `shield`
 * or a time limit it ends the round of the task that entered them. In a
 * task without a period it lets the other ready tasks of the same or a more
 * urgent priority run first, as `sleep(0)` does.
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
 * `fn` is a generator function, or a plain function that returns an
 * operation: an `async` function is refused at the call, and a round whose
 * `fn()` returns no operation (a plain function that does the work itself)
 * fails the task with a `TypeError` that says so.
 *
 * The period must be one the clock can step by at its reading: a double
 * holds a clock time of `t` ms only to about `t / 2**52` ms (some 0.4 µs at
 * the wall clock's 1.7e12 ms), and ticks a period that small apart would
 * be the same time, or a different step than asked, so rounds would spin
 * without the clock advancing. Such a period is refused with a
 * `RangeError`: at the call if it is too small for the clock now
 * (the step it gives differs from it by more than 1%), or, if the clock
 * later outgrows it (a virtual clock that jumped ahead), as the task's
 * failure at that round. No period is rounded up in silence.
 *
 * @param ms The period in ms, more than 0.
 * @param fn Called once per round; must return a fresh operation each time.
 * @param options Spawn options (name, priority, delay, daemon).
 * @throws {RangeError} for a period that is not a positive number, or too
 * small for the clock's reading.
 * @throws {TypeError} if `fn` is not a function, or is an `async` function.
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
  const kind = (fn as { constructor?: { name?: unknown } }).constructor?.name;
  if (kind === "AsyncFunction" || kind === "AsyncGeneratorFunction") {
    throw new TypeError(
      `Cannot run every ${ms} ms: expected a function returning an operation, received an async function; ` +
        "write it as a generator (function* () { ... }), or wrap the promise: () => call(fn)",
    );
  }
  // The first round's tick (a bad delay is spawn's to refuse).
  const delay = options.delay;
  const first = currentLoop().now() + (typeof delay === "number" && delay >= 0 ? delay : ms);
  if (!isMultipleOf(first + ms - first, ms)) throw new RangeError(tooSmall(ms, first));
  const api = `run every ${ms} ms`;
  return yield* spawn<never>(
    function* rounds() {
      const periodic = requireCurrentTask(api).periodic as Periodic;
      for (;;) {
        yield* new Opened(iterate(fn, api));
        const tick = periodic.lastTick;
        // (One the clock cannot step by at all is refused by the runtime at the `yield`: say why here first.)
        if (!(tick + ms > tick)) throw new RangeError(tooSmall(ms, tick));
        yield;
        // The round's tick and the next, as the clock holds them: a period it can no longer step by
        // (it read much less when this task started) would spin here without the clock advancing.
        if (!isMultipleOf(periodic.lastTick - tick, ms)) throw new RangeError(tooSmall(ms, periodic.lastTick));
      }
    },
    { name: `every ${ms} ms`, ...options, period: ms },
  );
});

/** True if `step` is a whole number (at least 1) of `period`s, to within 1% of a period. */
function isMultipleOf(step: number, period: number): boolean {
  const periods = Math.round(step / period);
  return periods >= 1 && Math.abs(step - periods * period) <= period / 100;
}

function tooSmall(ms: number, now: number): string {
  return (
    `Cannot run every ${ms} ms: the period is below what the clock can step by at ${now} ms ` +
    `(it holds times that large only to about ${(now / 2 ** 52).toPrecision(2)} ms), so rounds would not advance it, received ${ms}`
  );
}
