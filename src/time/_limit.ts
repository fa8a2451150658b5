/**
 * The time limit shared by `timeout`, `deadline`, `moveOnAfter` and `moveOnAt`.
 * @module
 */
import { joinBoundary, startBoundary } from "../core/_boundary.ts";
import type { TimerEntry } from "../core/_timer-heap.ts";
import { createCancelledError, TimeoutError } from "../core/errors.ts";
import type { Loop } from "../core/loop.ts";
import type { Operation, OperationLike } from "../core/operation.ts";
import { requireCurrentTask } from "../core/spawn.ts";
import type { TaskImpl } from "../core/task.ts";

/** What a time limit gives: the operation's value, or `cancelled: true` when the time ran out. */
export type Limited<T> = { value: T; cancelled: false } | { value: undefined; cancelled: true };

/**
 * The handle of a running time limit (Trio's `CancelScope` deadline): the
 * operation of `timeout`, `deadline`, `moveOnAfter` or `moveOnAt` receives it
 * when it is a function taking one argument, and may read or move its
 * deadline while it runs.
 *
 * @example Extend the limit while progress is being made
 * ```ts
 * import { moveOnAfter, sleep } from "corio";
 * import { runVirtual } from "corio/testing";
 * await runVirtual(function* () {
 *   const outcome = yield* moveOnAfter(100, function* (limit) {
 *     for (let chunk = 0; chunk < 5; chunk++) {
 *       yield* sleep(60);
 *       limit.deadline += 60; // each chunk earns more time
 *     }
 *     return "all chunks";
 *   });
 *   console.assert(!outcome.cancelled && outcome.value === "all chunks");
 * });
 * ```
 */
export interface TimeLimit {
  /**
   * The clock time (as `currentTime()` reads it) at which the operation is
   * cancelled; `Infinity` for none. Setting it moves the limit, earlier or
   * later; a time already past cancels at once. Once the limit has expired,
   * moving it changes nothing (a cancellation is not taken back).
   */
  deadline: number;
  /** True once the limit expired: its deadline passed or `cancel()` was called. */
  readonly expired: boolean;
  /** Gives up now, as if the deadline had passed (`timeout` throws `TimeoutError`, `moveOnAfter` returns `cancelled: true`). */
  cancel(): void;
}

/** The timer of one limit: when it fires, it cancels the operation's task. */
class LimitTimer implements TimerEntry {
  deadline = 0;
  seq = 0;
  heapIndex = -1;
  /** True once the limit expired (fired, or cancelled by hand). */
  expired = false;
  /** True if this timer's cancel was the one taken (no other cancel came first). */
  taken = false;
  /** False once the operation has ended: the handle can no longer cancel. */
  active = true;
  child: TaskImpl<unknown> | null = null;
  readonly loop: Loop;
  /** The limit's clock time; `deadline` is the heap's copy while armed. */
  time: number;
  /** The limit's length in ms, for the `TimeoutError` message (moving the limit changes it). */
  ms: number;

  constructor(loop: Loop, time: number, ms: number) {
    this.loop = loop;
    this.time = time;
    this.ms = ms;
  }

  /** Set when the limit expired during the operation's first step, before `child` was known. */
  early = false;

  fire(): void {
    if (this.expired) return;
    const child = this.child;
    if (child === null) {
      this.early = true;
      return;
    }
    this.expired = true;
    if (!child.done) this.taken = child.requestCancel(createCancelledError(new TimeoutError(this.ms)));
  }

  arm(): void {
    if (this.time !== Number.POSITIVE_INFINITY) this.loop.addTimer(this, this.time);
  }

  disarm(): void {
    this.active = false;
    if (this.heapIndex !== -1) this.loop.removeTimer(this);
  }
}

/** The `TimeLimit` handed to an operation that asks for it. */
class LimitHandle implements TimeLimit {
  readonly #timer: LimitTimer;
  constructor(timer: LimitTimer) {
    this.#timer = timer;
  }
  get deadline(): number {
    return this.#timer.time;
  }
  set deadline(time: number) {
    if (typeof time !== "number" || Number.isNaN(time))
      throw new RangeError(`Cannot move a time limit: the deadline must be a number, received ${typeof time === "number" ? time : typeof time}`);
    const timer = this.#timer;
    if (!timer.active || timer.expired || timer.early || time === timer.time) return;
    if (timer.heapIndex !== -1) timer.loop.removeTimer(timer);
    timer.ms += time - timer.time;
    timer.time = time;
    if (time <= timer.loop.now()) timer.fire();
    else timer.arm();
  }
  get expired(): boolean {
    return this.#timer.expired || this.#timer.early;
  }
  cancel(): void {
    if (this.#timer.active) this.#timer.fire();
  }
}

/**
 * Runs `op` as a boundary child and cancels it at `time`. Returns
 * `{ cancelled: true }` (or with `throwTimeout`, throws `TimeoutError`)
 * only if this limit's cancel is what ended `op`; the
 * caller's own cancellation and `op`'s errors are thrown.
 */
export function* limited<T>(
  time: number,
  ms: number,
  op: Operation<T> | ((limit: TimeLimit) => Operation<T>),
  api: string,
  throwTimeout = false,
): Operation<Limited<T>> {
  const caller = requireCurrentTask(api);
  const loop = caller.loop;
  const timer = new LimitTimer(loop, time, ms);
  // Armed before the operation starts, so an outer limit fires before an inner one set for the same time.
  timer.arm();
  try {
    // A function that takes the handle gets it; others are left as they are (no closure per call).
    const body =
      typeof op === "function" && op.length >= 1 ? () => (op as (limit: TimeLimit) => Operation<T>)(new LimitHandle(timer)) : (op as OperationLike<T>);
    const child = startBoundary(body, api);
    timer.child = child as TaskImpl<unknown>;
    // Read the clock only for an operation still running (most finish without suspending).
    if (!child.done && (timer.early || timer.time <= loop.now())) timer.fire();
    // An operation that finished in its first step needs no join (one generator fewer).
    return { value: child.done ? child.outcome() : yield* joinBoundary(child), cancelled: false };
  } catch (error) {
    if (timer.taken && timer.child?.cancelled === true && error !== caller.cancelError) {
      if (throwTimeout) throw new TimeoutError(timer.ms);
      return { value: undefined, cancelled: true };
    }
    throw error;
  } finally {
    timer.disarm();
  }
}
