/**
 * The virtual clock for deterministic tests.
 * @module
 */
import type { Clock } from "./clock.ts";

/**
 * A clock that only moves when told to. A loop on a virtual clock with
 * `autoAdvance` (the default) jumps straight to the next timer whenever every
 * task waits on the clock alone; a task waiting on I/O, a worker or a foreign
 * promise counts as busy and holds time still. Tests of timeouts and periodic
 * tasks therefore run instantly and always in the same order.
 *
 * @example
 * ```ts
 * import { run, sleep, currentTime } from "corio";
 * import { VirtualClock } from "corio/testing";
 * const clock = new VirtualClock();
 * const t = await run(function* () { yield* sleep(60_000); return currentTime(); }, { clock });
 * console.assert(t === 60_000);
 * ```
 */
export class VirtualClock implements Clock {
  readonly virtual = true;
  /** Whether the loop advances this clock by itself when all tasks wait on time. */
  readonly autoAdvance: boolean;
  #now: number;
  readonly #listeners = new Set<() => void>();

  /**
   * @param options.start The initial time in ms. @default 0
   * @param options.autoAdvance Jump to the next timer when idle. @default true
   */
  constructor(options: { start?: number; autoAdvance?: boolean } = {}) {
    this.#now = options.start ?? 0;
    this.autoAdvance = options.autoAdvance ?? true;
  }

  now(): number {
    return this.#now;
  }

  /**
   * Moves time forward by `ms` and lets the loops on this clock fire what is due.
   * @throws {RangeError} if `ms` is negative or not a number.
   */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`Cannot advance the clock: ms must be a non-negative number, received ${ms}`);
    this.#now += ms;
    for (const listener of this.#listeners) listener();
  }

  /**
   * @internal A loop listens while it uses the clock (it has a root task or
   * a timer), so that a manual `advance` fires its timers; it calls the
   * function returned once it is done, so the clock does not keep it alive.
   */
  onAdvance(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** @internal Used by the loop when auto-advancing. */
  jumpTo(time: number): void {
    if (time > this.#now) this.#now = time;
  }
}
