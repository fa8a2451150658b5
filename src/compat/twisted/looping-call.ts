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
 * Native corio code would use `every(ms, fn)` instead.
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
  /** When `start` was called, in clock microseconds. */
  #startTime = 0;

  constructor(f: (...args: never[]) => unknown, ...args: unknown[]) {
    this.#fn = () => (f as (...a: unknown[]) => unknown)(...args);
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
    this.#startTime = Math.round(this.clock.seconds() * 1e6);
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

  #scheduleNext(): void {
    // In whole microseconds, as the reactor's callLater rounds (secondsToMs): the due times are then
    // exactly start + k * interval, so a clock stepped by the interval reaches every one (in floats,
    // 0.1 * 3 > 0.3 and that tick would be skipped). An interval under a microsecond counts as 0.
    const interval = Math.round((this.interval ?? 0) * 1e6);
    const elapsed = Math.round(this.clock.seconds() * 1e6) - this.#startTime;
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
