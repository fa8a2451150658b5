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
 * A clock drives one loop at a time (as Trio's `MockClock` serves one
 * `trio.run`): a loop drives it while it has root tasks (only then does it
 * jump the clock to its timers), and a root task started meanwhile on
 * another loop (a second `run(op, { clock })` or `runVirtual(op, { clock })`
 * still running) throws an `Error`. Give each such run a `VirtualClock` of
 * its own, or start the work from the first loop's tasks: with `spawn`, or
 * with `run` without loop options, which starts a root on the loop it is
 * called in (`run` given a `clock`, and `runVirtual`, always make a new
 * loop). Runs one after another may share a clock. A loop with no root
 * task left does not drive it, even with a timer left behind: that timer
 * fires once `advance` moves the clock past it.
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
  /** The loops listening to the clock: those that use it (a root task or a timer on it). */
  readonly #listeners = new Set<ClockListener>();

  /**
   * @param options.start The initial time in ms. @default 0
   * @param options.autoAdvance Jump to the next timer when idle. @default true
   * @throws {TypeError} for options that are not an object, a `start` that is not a number, an `autoAdvance` that is not a boolean.
   * @throws {RangeError} for a `start` that is negative, NaN or infinite.
   */
  constructor(options: { start?: number; autoAdvance?: boolean } = {}) {
    if (typeof options !== "object" || options === null) {
      throw new TypeError(`Cannot create a VirtualClock: options must be an object, received ${options === null ? "null" : typeof options}`);
    }
    const { start = 0, autoAdvance = true } = options;
    this.#now = checkMs(start, "create a VirtualClock", "start");
    if (typeof autoAdvance !== "boolean") throw new TypeError(`Cannot create a VirtualClock: autoAdvance must be a boolean, received ${typeof autoAdvance}`);
    this.autoAdvance = autoAdvance;
  }

  now(): number {
    return this.#now;
  }

  /**
   * Moves time forward by `ms` and lets the loop on this clock fire what is due.
   * @throws {TypeError} if `ms` is not a number.
   * @throws {RangeError} if `ms` is negative, NaN or infinite.
   */
  advance(ms: number): void {
    this.#now += checkMs(ms, "advance the clock", "ms");
    for (const listener of this.#listeners) listener.advanced();
  }

  /**
   * @internal A loop listens while it uses the clock (it has a root task or
   * a timer), so that a manual `advance` fires its timers; it calls the
   * function returned once it is done, so the clock does not keep it alive.
   */
  onAdvance(listener: ClockListener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /**
   * @internal Called by a loop about to drive the clock (its first root task).
   * @throws {Error} while another loop listening to it drives it (has a root task).
   */
  claim(listener: ClockListener): void {
    // One loop at a time: each jumps the clock to its own next timer when its tasks wait on time alone,
    // so a second loop's timers would fire early, and its I/O would no longer hold time still. A loop
    // with no root task never jumps it, so it is no obstacle.
    for (const other of this.#listeners) {
      if (other !== listener && other.drivesClock()) {
        throw new Error(
          "Cannot use this VirtualClock in a second loop: another loop still uses it (it has a task running on it). A VirtualClock drives one loop at a time: give this run() or runVirtual() a VirtualClock of its own, or start the work from a task of the other loop with spawn(), or with run() without loop options (a run() given a clock, and every runVirtual(), makes a new loop)",
        );
      }
    }
  }

  /** @internal Used by the loop when auto-advancing. */
  jumpTo(time: number): void {
    if (time > this.#now) this.#now = time;
  }
}

/** @internal What a loop gives the clock it listens to. */
export interface ClockListener {
  /** The clock was advanced by hand: fire what is due. */
  advanced(): void;
  /** Whether the loop has root tasks, so jumps the clock to its own timers when they wait on time alone. */
  drivesClock(): boolean;
}

/** `value` as a time in ms: a finite number, zero or more (a string would be concatenated to the time, NaN or Infinity would stick). */
function checkMs(value: unknown, action: string, name: string): number {
  const unit = name === "ms" ? "" : " of ms";
  if (typeof value !== "number") throw new TypeError(`Cannot ${action}: ${name} must be a number${unit}, received ${value === null ? "null" : typeof value}`);
  if (!(value >= 0 && value !== Number.POSITIVE_INFINITY)) {
    throw new RangeError(`Cannot ${action}: ${name} must be a non-negative finite number${unit}, received ${value}`);
  }
  return value;
}
