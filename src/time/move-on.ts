/**
 * Time limits that give up quietly (Trio's `move_on_after` and `move_on_at`).
 * @module
 */
import { defineOperation } from "../core/_dev.ts";
import type { Operation } from "../core/operation.ts";
import { LimitRun, MOVE_ON_AFTER, MOVE_ON_AT, type TimeLimit } from "./_limit.ts";

/** What `moveOnAfter` and `moveOnAt` give: `op`'s value, or `{ value: undefined, cancelled: true }` when the time ran out. */
export type MovedOn<T> = { value: T; cancelled: false } | { value: undefined; cancelled: true };

/**
 * Runs `op`, and if it has not finished after `ms` milliseconds, cancels it,
 * waits for its cleanup, and returns `{ value: undefined, cancelled: true }`
 * instead of throwing (Trio's `move_on_after`). In time, it returns
 * `{ value, cancelled: false }`.
 *
 * Errors thrown by `op` are thrown here, also one thrown during its cleanup
 * after the time ran out (an error is never replaced by a cancellation).
 * Nested limits work as with `timeout`: when several expire together, the
 * outermost one owns the cancellation.
 *
 * A `Task` given as `op` is cancelled with it, as `timeout` does.
 *
 * **Cancellation:** cancelling the caller (or an outer `timeout`) cancels
 * `op` and throws once its cleanup has finished; that cancellation is not
 * turned into `cancelled: true`.
 *
 * @param ms The limit in ms (`Infinity` for none).
 * @param op The operation, or a function returning one; a function taking an argument is given the `TimeLimit`, to read or move the deadline.
 * @returns `{ value, cancelled: false }`, or `{ value: undefined, cancelled: true }` when the time ran out.
 * @throws {RangeError} if `ms` is NaN, negative or not a number.
 * @example
 * ```ts
 * import { moveOnAfter, sleep } from "corio";
 * import { runVirtual } from "corio/testing";
 * await runVirtual(function* () {
 *   const fast = yield* moveOnAfter(100, function* () { yield* sleep(10); return "in time"; });
 *   console.assert(!fast.cancelled && fast.value === "in time");
 *   const slow = yield* moveOnAfter(100, sleep(500));
 *   console.assert(slow.cancelled && slow.value === undefined);
 * });
 * ```
 */
export const moveOnAfter = defineOperation(function moveOnAfter<T>(ms: number, op: Operation<T> | ((limit: TimeLimit) => Operation<T>)): Operation<MovedOn<T>> {
  return new LimitRun(MOVE_ON_AFTER, ms, op) as Operation<unknown> as Operation<MovedOn<T>>;
});

/**
 * Like `moveOnAfter`, with an absolute limit: cancels `op` when the loop's
 * clock reaches `time` and returns `{ value: undefined, cancelled: true }`
 * (Trio's `move_on_at`).
 *
 * **Cancellation:** as for `moveOnAfter`.
 *
 * @param time The clock time (as `currentTime()` reads it) at which to give up.
 * @param op The operation, or a function returning one; a function taking an argument is given the `TimeLimit`, to read or move the deadline.
 * @returns `{ value, cancelled: false }`, or `{ value: undefined, cancelled: true }` when the deadline passed.
 * @throws {RangeError} if `time` is NaN or not a number.
 * @example
 * ```ts
 * import { currentTime, moveOnAt, sleep } from "corio";
 * import { runVirtual } from "corio/testing";
 * await runVirtual(function* () {
 *   const outcome = yield* moveOnAt(currentTime() + 50, sleep(100));
 *   console.assert(outcome.cancelled && currentTime() === 50);
 * });
 * ```
 */
export const moveOnAt = defineOperation(function moveOnAt<T>(time: number, op: Operation<T> | ((limit: TimeLimit) => Operation<T>)): Operation<MovedOn<T>> {
  return new LimitRun(MOVE_ON_AT, time, op) as Operation<unknown> as Operation<MovedOn<T>>;
});
