/**
 * Twisted's `task.LoopingCall`.
 * @module
 */
import { Deferred } from "./deferred.ts";
import { reactor as defaultReactor, type IDelayedCall, type Reactor } from "./reactor.ts";

/**
 * Calls `f(...args)` every `interval` seconds (Twisted's
 * `task.LoopingCall`). Calls are aligned to `start + k * interval`; missed
 * ticks are skipped. If `f` returns a Deferred, the next call waits for it.
 * `start()` returns a Deferred that fires with the LoopingCall when
 * `stop()` is called, or errbacks if `f` fails (the loop then stops).
 * `reset()` starts the schedule again from now; `LoopingCall.withCount`
 * makes one that tells `f` how many intervals have passed since its last
 * call. Native corio code would use `every(ms, fn)` instead.
 *
 * @example
 * ```ts
 * import { createReactor, LoopingCall } from "corio/compat/twisted";
 * import { VirtualClock } from "corio/testing";
 * const reactor = createReactor({ clock: new VirtualClock() });
 * const times: number[] = [];
 * const loop = new LoopingCall(() => { times.push(reactor.seconds()); if (times.length === 3) loop.stop(); });
 * loop.clock = reactor;
 * reactor.callWhenRunning(() => { loop.start(2).addCallback(() => reactor.stop()); });
 * await reactor.run();
 * console.assert(times.join() === "0,2,4");
 * ```
 */
export class LoopingCall {
  /** The reactor to schedule on (Twisted's `clock` attribute, set it in tests). */
  clock: Reactor = defaultReactor;
  /** True between `start` and `stop`. */
  running = false;
  /** The interval in seconds, once started. */
  interval: number | undefined;
  readonly #fn: () => unknown;
  #deferred: Deferred<LoopingCall> | null = null;
  #call: IDelayedCall | null = null;
  /** When `start` (or `reset`) was called, in clock microseconds (Twisted's `starttime`). */
  #startTime = 0;
  /** Whether `start` called at once (Twisted's `_runAtStart`): `withCount` then counts the first call as one interval. */
  #runAtStart = false;
  /** For `withCount`: when it last called the function, in clock microseconds (Twisted's `_realLastTime`). */
  #realLastTime: number | undefined;

  constructor(f: (...args: never[]) => unknown, ...args: unknown[]) {
    this.#fn = () => (f as (...a: unknown[]) => unknown)(...args);
  }

  /**
   * A LoopingCall that calls `countCallable(count)`, `count` being the
   * number of intervals that have passed since its last call (Twisted's
   * `LoopingCall.withCount`): normally 1, more when calls were skipped (the
   * clock jumped, a call or the Deferred it returned took longer than an
   * interval). Only whole intervals count, measured from the start (or the
   * last `reset`): a call that comes late, but before the next interval
   * ends, is still 1. If none has passed (`interval` was changed in the
   * meantime), `countCallable` is not called that time, as in Twisted. With
   * an interval of 0 the count is always 1.
   *
   * @param countCallable Called with the count; it may return a Deferred, as `f` may.
   * @returns A LoopingCall to `start`.
   * @example
   * ```ts
   * import { createReactor, LoopingCall } from "corio/compat/twisted";
   * import { VirtualClock } from "corio/testing";
   * const clock = new VirtualClock({ autoAdvance: false });
   * const reactor = createReactor({ clock });
   * const counts: number[] = [];
   * const loop = LoopingCall.withCount((count: number) => counts.push(count));
   * loop.clock = reactor;
   * reactor.callWhenRunning(() => loop.start(1));
   * const done = reactor.run();
   * const advance = async (ms: number) => {
   *   clock.advance(ms);
   *   await new Promise((resolve) => setImmediate(resolve));
   * };
   * await advance(0); // the first call: 1
   * await advance(1000); // at 1 s: 1
   * await advance(3500); // at 4.5 s: the calls at 2, 3 and 4 s were missed, so 3
   * loop.stop();
   * reactor.stop();
   * await done;
   * console.assert(counts.join() === "1,1,3", counts.join());
   * ```
   */
  static withCount<L extends LoopingCall>(this: new (f: () => unknown) => L, countCallable: (count: number) => unknown): L {
    const loop: L = new this(() => loop.#count(countCallable));
    return loop;
  }

  /**
   * Starts calling every `interval` seconds, first at once if `now`.
   * @returns A Deferred fired with this LoopingCall on `stop()`.
   * @throws {Error} if already running; {RangeError} for a negative interval.
   */
  start(interval: number, now = true): Deferred<LoopingCall> {
    if (this.running) throw new Error("Cannot start the LoopingCall: it is already running");
    if (!(typeof interval === "number" && interval >= 0))
      throw new RangeError(`Cannot start the LoopingCall: interval must be a non-negative number, received ${String(interval)}`);
    this.running = true;
    this.interval = interval;
    this.#startTime = this.#now();
    this.#runAtStart = now;
    const deferred = new Deferred<LoopingCall>();
    this.#deferred = deferred;
    if (now) this.#tick();
    else this.#scheduleNext();
    return deferred;
  }

  /**
   * Stops the loop and fires the Deferred that `start` returned: at once
   * between calls; during a call (from inside `f`, or while the Deferred
   * `f` returned is pending), once that call ends, with its error if it
   * fails (as Twisted does).
   */
  stop(): void {
    if (!this.running) throw new Error("Cannot stop the LoopingCall: it is not running");
    this.running = false;
    const call = this.#call;
    if (call === null) return;
    if (call.active()) call.cancel();
    this.#call = null;
    this.#stopped();
  }

  /**
   * Skips the next call and starts the schedule again from now: the next
   * call comes one interval from now (Twisted's `reset`). During a call (in
   * `f`, or while the Deferred it returned is pending) it does nothing, as
   * in Twisted: the call's end schedules the next one as usual.
   *
   * @throws {Error} if the LoopingCall is not running.
   * @example
   * ```ts
   * import { createReactor, LoopingCall } from "corio/compat/twisted";
   * import { VirtualClock } from "corio/testing";
   * const reactor = createReactor({ clock: new VirtualClock() });
   * const times: number[] = [];
   * const loop = new LoopingCall(() => times.push(reactor.seconds()));
   * loop.clock = reactor;
   * reactor.callWhenRunning(() => {
   *   loop.start(2, false);
   *   reactor.callLater(1, () => loop.reset()); // the call due at 2 s moves to 3 s
   *   reactor.callLater(5.5, () => {
   *     loop.stop();
   *     reactor.stop();
   *   });
   * });
   * await reactor.run();
   * console.assert(times.join() === "3,5", times.join());
   * ```
   */
  reset(): void {
    if (!this.running) throw new Error("Cannot reset the LoopingCall: it is not running");
    const call = this.#call;
    if (call === null) return;
    if (call.active()) call.cancel();
    this.#call = null;
    this.#startTime = this.#now();
    this.#scheduleNext();
  }

  #tick(): void {
    this.#call = null;
    let result: unknown;
    try {
      result = this.#fn();
    } catch (error) {
      this.#fail(error);
      return;
    }
    if (result instanceof Deferred) {
      result.addCallbacks(
        () => {
          this.#called();
          return undefined;
        },
        (failure) => {
          this.#fail(failure);
          return undefined;
        },
      );
    } else this.#called();
  }

  /** A call ended well: the next one is scheduled, or, if `stop()` came during it, the Deferred fires now. */
  #called(): void {
    if (this.running) this.#scheduleNext();
    else this.#stopped();
  }

  #stopped(): void {
    const deferred = this.#deferred;
    this.#deferred = null;
    deferred?.callback(this);
  }

  /** The clock's time in whole microseconds, the unit of the schedule. */
  #now(): number {
    return Math.round(this.clock.seconds() * 1e6);
  }

  /** The interval in whole microseconds. */
  #intervalMicros(): number {
    return Math.round((this.interval ?? 0) * 1e6);
  }

  /** Twisted's `_intervalOf`: how many whole intervals separate `time` from the start (truncated towards zero, as Python's `int`). */
  #intervalOf(time: number): number {
    return Math.trunc((time - this.#startTime) / this.#intervalMicros());
  }

  /** `withCount`'s function: Twisted's `counter`. */
  #count(countCallable: (count: number) => unknown): unknown {
    const now = this.#now();
    if (this.#intervalMicros() === 0) {
      this.#realLastTime = now;
      return countCallable(1);
    }
    let lastTime = this.#realLastTime;
    if (lastTime === undefined) {
      lastTime = this.#startTime;
      // Called at start: that first call stands for the interval that ends then.
      if (this.#runAtStart) lastTime -= this.#intervalMicros();
    }
    const count = this.#intervalOf(now) - this.#intervalOf(lastTime);
    if (count <= 0) return undefined;
    this.#realLastTime = now;
    return countCallable(count);
  }

  #scheduleNext(): void {
    // In whole microseconds, as the reactor's callLater rounds (secondsToMs): the due times are then
    // exactly start + k * interval, so a clock stepped by the interval reaches every one (in floats,
    // 0.1 * 3 > 0.3 and that tick would be skipped). An interval under a microsecond counts as 0.
    const interval = this.#intervalMicros();
    const elapsed = this.#now() - this.#startTime;
    // Twisted's howLong(): the time to the next multiple of `interval` after now, counted from the start (missed ticks are skipped).
    const delay = interval === 0 ? 0 : interval - (elapsed % interval);
    this.#call = this.clock.callLater(delay / 1e6, () => this.#tick());
  }

  #fail(error: unknown): void {
    this.running = false;
    const deferred = this.#deferred;
    this.#deferred = null;
    deferred?.errback(error);
  }
}
