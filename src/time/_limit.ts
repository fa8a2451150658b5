/**
 * The time limit shared by `timeout`, `deadline`, `moveOnAfter` and `moveOnAt`.
 * @module
 */
import { joinBoundary, startBoundary } from "../core/_boundary.ts";
import type { TimerEntry } from "../core/_timer-heap.ts";
import { createCancelledError, TimeoutError } from "../core/errors.ts";
import type { Operation, OperationLike } from "../core/operation.ts";
import { requireCurrentTask } from "../core/spawn.ts";
import type { TaskImpl } from "../core/task.ts";

/** What a time limit gives: the operation's value, or `cancelled: true` when the time ran out. */
export type Limited<T> = { value: T; cancelled: false } | { value: undefined; cancelled: true };

/** The timer of one limit: when it fires, it cancels the operation's task. */
class LimitTimer implements TimerEntry {
  deadline = 0;
  seq = 0;
  heapIndex = -1;
  /** True if this timer's cancel was the one taken (no other cancel came first). */
  fired = false;
  child: TaskImpl<unknown> | null = null;
  readonly ms: number;
  constructor(ms: number) {
    this.ms = ms;
  }
  fire(): void {
    const child = this.child;
    if (!this.fired && child !== null && !child.done) this.fired = child.requestCancel(createCancelledError(new TimeoutError(this.ms)));
  }
}

/**
 * Runs `op` as a boundary child and cancels it at `time`. Returns
 * `{ cancelled: true }` only if this limit's cancel is what ended `op`; the
 * caller's own cancellation and `op`'s errors are thrown.
 */
export function* limited<T>(time: number, ms: number, op: OperationLike<T>, api: string): Operation<Limited<T>> {
  const caller = requireCurrentTask(api);
  const loop = caller.loop;
  const timer = new LimitTimer(ms);
  // Armed before the operation starts, so an outer limit fires before an inner one set for the same time.
  const armed = time !== Number.POSITIVE_INFINITY;
  if (armed) loop.addTimer(timer, time);
  try {
    const child = startBoundary(op, api);
    timer.child = child as TaskImpl<unknown>;
    // Read the clock only for an operation still running (most finish without suspending).
    if (armed && !child.done && time <= loop.now()) timer.fire();
    return { value: yield* joinBoundary(child), cancelled: false };
  } catch (error) {
    if (timer.fired && timer.child?.cancelled === true && error !== caller.cancelError) return { value: undefined, cancelled: true };
    throw error;
  } finally {
    if (armed) loop.removeTimer(timer);
  }
}
