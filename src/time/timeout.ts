/**
 * Time limits that really interrupt.
 * @module
 */
import { defineOperation } from "../core/_dev.ts";
import type { Operation } from "../core/operation.ts";
import { DEADLINE, LimitRun, TIMEOUT, type TimeLimit } from "./_limit.ts";

/**
 * Runs `op`, and if it has not finished after `ms` milliseconds, cancels it,
 * waits for its cleanup, and throws `TimeoutError` (asyncio's `wait_for`,
 * Trio's `fail_after`). Nested timeouts work: when several expire together,
 * the outermost one owns the cancellation and the inner ones let it pass.
 *
 * `op` runs as a child task (a boundary): what it spawns is cancelled with
 * it, and its failure is thrown here. A `Task` given as `op` is joined, and
 * cancelled (then waited for) when the time runs out or the caller is
 * cancelled, as asyncio's `wait_for(task)` does and as `all` and `race` do
 * with the tasks they are given.
 *
 * **Cancellation:** cancelling the caller cancels `op` and throws once its
 * cleanup has finished.
 *
 * @param ms The limit in ms (`Infinity` for none).
 * @param op The operation, or a function returning one; a function taking an argument is given the `TimeLimit`, to read or move the deadline.
 * @returns What `op` returns.
 * @throws {TimeoutError} when the time ran out.
 * @throws {RangeError} if `ms` is NaN, negative or not a number.
 * @example
 * ```ts
 * import { sleep, timeout, TimeoutError } from "corio";
 * import { runVirtual } from "corio/testing";
 * await runVirtual(function* () {
 *   console.assert((yield* timeout(100, function* () { yield* sleep(10); return "in time"; })) === "in time");
 *   try { yield* timeout(100, sleep(500)); } catch (e) { console.assert(e instanceof TimeoutError); }
 * });
 * ```
 */
export const timeout = defineOperation(function timeout<T>(ms: number, op: Operation<T> | ((limit: TimeLimit) => Operation<T>)): Operation<T> {
  return new LimitRun(TIMEOUT, ms, op) as Operation<unknown> as Operation<T>;
});

/**
 * Like `timeout`, with an absolute limit: cancels `op` when the loop's clock
 * reaches `time` and throws `TimeoutError`.
 *
 * **Cancellation:** as for `timeout`.
 *
 * @param time The clock time (as `currentTime()` reads it) at which to give up.
 * @param op The operation, or a function returning one; a function taking an argument is given the `TimeLimit`, to read or move the deadline.
 * @throws {TimeoutError} when the deadline passed.
 * @example
 * ```ts
 * import { currentTime, deadline, sleep, TimeoutError } from "corio";
 * import { runVirtual } from "corio/testing";
 * await runVirtual(function* () {
 *   try { yield* deadline(currentTime() + 50, sleep(100)); } catch (e) { console.assert(e instanceof TimeoutError); }
 * });
 * ```
 */
export const deadline = defineOperation(function deadline<T>(time: number, op: Operation<T> | ((limit: TimeLimit) => Operation<T>)): Operation<T> {
  return new LimitRun(DEADLINE, time, op) as Operation<unknown> as Operation<T>;
});
