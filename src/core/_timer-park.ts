/**
 * Waiting on the loop's clock: sleeps, delayed starts and periodic rounds.
 * @module
 */
import { Park } from "./_park.ts";
import type { Periodic, TaskImpl } from "./task.ts";

/**
 * A periodic task's bare `yield`: park `task` until the next tick of
 * `periodic` (missed ticks are skipped). `task` is the periodic task, or a
 * boundary it entered (`scope`, `shield`, a time limit), whose round is the
 * periodic task's. `null` if the clock cannot step by the period at this time (a
 * period below a double's resolution there): the tick would never move, and
 * the task would run its rounds for ever at one instant.
 */
export function nextRound(task: TaskImpl<unknown>, periodic: Periodic): Park | null {
  const now = task.loop.now();
  const period = periodic.period;
  let tick = periodic.lastTick + period;
  if (tick < now) {
    // The first tick at or after now: rounding, then a correction, so a round that lasted an exact
    // number of periods resumes on the tick it ended on (ceil of a quotient a rounding error above
    // an integer would skip it).
    let n = Math.max(1, Math.round((now - periodic.lastTick) / period));
    if (periodic.lastTick + n * period < now) n++;
    tick = periodic.lastTick + n * period;
  }
  if (!(tick > periodic.lastTick)) return null;
  const park = new RoundPark(task, periodic, periodic.lastTick);
  periodic.lastTick = tick;
  task.loop.addTimer(park, tick);
  return park;
}

/** Parks `task` until the loop's clock reaches `deadline`. */
export function parkUntil(task: TaskImpl<unknown>, deadline: number, kind: "sleep" | "idle"): TimerPark {
  const park = new TimerPark(task, kind);
  task.loop.addTimer(park, deadline);
  return park;
}

/**
 * A park that a timer wakes: sleeps, delayed starts and periodic rounds. A base class (`RoundPark`):
 * its fields are declared and set in its constructor (see docs/architecture.md, "Base classes declare their fields").
 */
export class TimerPark extends Park {
  declare deadline: number;
  declare seq: number;
  declare heapIndex: number;
  constructor(task: TaskImpl<unknown>, kind: "sleep" | "idle") {
    super(task, kind);
    this.deadline = 0;
    this.seq = 0;
    this.heapIndex = -1;
  }
  fire(): void {
    const task = this.task as TaskImpl<unknown>;
    if (task.park === this && !task.woken) task.wake(false, undefined);
  }
  override cancelled(woken: boolean): void {
    if (!woken) (this.task as TaskImpl<unknown>).loop.removeTimer(this);
  }
  override describe(): string {
    const task = this.task as TaskImpl<unknown>;
    return `a sleep until ${this.deadline} ms (${Math.max(0, Math.round(this.deadline - task.loop.now()))} ms from now)`;
  }
}

/**
 * The wait for a periodic round's tick. Given up before the tick (a time limit around `nextPeriod()`
 * inside a boundary), it gives the tick back: the task's next round waits for that tick, not the one after.
 */
class RoundPark extends TimerPark {
  readonly #periodic: Periodic;
  readonly #tickBefore: number;
  constructor(task: TaskImpl<unknown>, periodic: Periodic, tickBefore: number) {
    super(task, "sleep");
    this.#periodic = periodic;
    this.#tickBefore = tickBefore;
  }
  override cancelled(woken: boolean): void {
    super.cancelled(woken);
    if (!woken && this.#periodic.lastTick === this.deadline) this.#periodic.lastTick = this.#tickBefore;
  }
}
