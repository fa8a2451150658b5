/**
 * A read from a promise-based source (an async iterator's `next()`, a Web
 * stream reader's `read()`) that a cancelled wait does not lose: the read
 * in flight is kept, and what it gives goes to the next wait. `each` waits
 * on one per item with one object and no closures (the two callbacks are
 * made once per source), where `yield* until(promise)` inside a generator
 * made a generator, a park and two closures per item.
 * @module
 */
import { IteratorPark } from "./_park.ts";
import type { Instruction } from "./operation.ts";
import { requireCurrentTask } from "./spawn.ts";
import type { TaskImpl } from "./task.ts";

/**
 * The reads of one source, one at a time. Subclasses say how to start a
 * read and what its result means; `wait()` is the operation for the next
 * result.
 */
export abstract class PromisedRead<R, V> {
  /** A read was started and has not settled. */
  #inFlight = false;
  /** A settled read that no wait has taken (its wait was cancelled, or none was parked). */
  #hasOutcome = false;
  #outcomeIsThrow = false;
  #outcome: unknown = undefined;
  /** The wait parked for the read in flight. */
  #parked: ReadWait<V> | null = null;
  readonly #onValue = (result: R): void => this.#settle(false, result);
  readonly #onError = (error: unknown): void => this.#settle(true, error);

  /** Starts a read (called only when none is in flight). */
  protected abstract read(): PromiseLike<R>;
  /** What a read's result gives the wait; called once per read, when it settles. It may throw. */
  protected abstract finish(result: R): V;
  /** Called once per read that failed (its rejection, or what `finish` threw). */
  protected abstract failed(error: unknown): void;

  /** True while a read is in flight (an async generator would answer `return()` only after it). */
  get inFlight(): boolean {
    return this.#inFlight;
  }

  /** True while a wait is parked for the read in flight: a second one would leave the first parked for ever. */
  get waiting(): boolean {
    return this.#parked !== null;
  }

  /** The operation's iterator for the next result: the one a cancelled wait left, or a new read's. */
  wait(): Iterator<Instruction, V, unknown> {
    return new ReadWait<V>(this as PromisedRead<unknown, V>) as Iterator<Instruction, unknown, unknown> as Iterator<Instruction, V, unknown>;
  }

  /** @internal A wait's first step: the outcome at once if one is kept, else `null` and the wait is parked. */
  begin(wait: ReadWait<V>): { isThrow: boolean; value: unknown } | null {
    if (this.#hasOutcome) {
      const outcome = { isThrow: this.#outcomeIsThrow, value: this.#outcome };
      this.#hasOutcome = false;
      this.#outcome = undefined;
      return outcome;
    }
    if (!this.#inFlight) {
      // Through a native promise: a foreign thenable could call back before the wait is parked.
      Promise.resolve(this.read()).then(this.#onValue, this.#onError);
      this.#inFlight = true;
    }
    this.#parked = wait;
    return null;
  }

  /** @internal A parked wait gave up (cancelled): it is no longer the one to hand the result to. */
  unpark(wait: ReadWait<V>): void {
    if (this.#parked === wait) this.#parked = null;
  }

  /** @internal A wait woken with an outcome was cancelled before it could run: keep it for the next wait. */
  keep(isThrow: boolean, value: unknown): void {
    this.#hasOutcome = true;
    this.#outcomeIsThrow = isThrow;
    this.#outcome = value;
  }

  #settle(isThrow: boolean, value: unknown): void {
    this.#inFlight = false;
    if (!isThrow) {
      try {
        value = this.finish(value as R);
      } catch (error) {
        isThrow = true;
        value = error;
      }
    }
    if (isThrow) this.failed(value);
    const wait = this.#parked;
    this.#parked = null;
    if (wait === null || !wait.settle(isThrow, value)) this.keep(isThrow, value);
  }
}

// The states of a `ReadWait`.
const FRESH = 0;
const PARKED = 1;
const OVER = 2;

/**
 * One wait for a result: the iterator its operation runs, and the park it
 * yields. While parked it counts as busy, so a virtual clock holds still
 * (as `until` does).
 */
class ReadWait<V> extends IteratorPark {
  declare task: TaskImpl<unknown>;
  readonly #read: PromisedRead<unknown, V>;
  #state: typeof FRESH | typeof PARKED | typeof OVER = FRESH;
  #wokenWithThrow = false;

  constructor(read: PromisedRead<unknown, V>) {
    super(requireCurrentTask("wait for the next item"), "io", "the next item of the source (each)");
    this.#read = read;
  }

  next(value?: unknown): IteratorResult<Instruction, V> {
    if (this.#state === PARKED) {
      // Woken with the result (an error comes in through `throw`).
      this.#state = OVER;
      return { value: value as V, done: true };
    }
    if (this.#state === OVER) return { value: undefined as V, done: true };
    const outcome = this.#read.begin(this);
    if (outcome === null) {
      this.#state = PARKED;
      this.task.loop.busy++;
      return { value: this, done: false };
    }
    this.#state = OVER;
    if (outcome.isThrow) throw outcome.value;
    return { value: outcome.value as V, done: true };
  }

  /** @internal The read settled: wake the task, unless it moved on. */
  settle(isThrow: boolean, value: unknown): boolean {
    if (this.#state !== PARKED) return false;
    this.task.loop.busy--;
    const task = this.task;
    if (task.park !== this || task.woken) {
      this.#state = OVER;
      return false;
    }
    this.#wokenWithThrow = isThrow;
    task.wake(isThrow, value);
    return true;
  }

  override cancelled(woken: boolean, value: unknown): void {
    if (woken) {
      // The result was handed over but will not be seen: the next wait gets it.
      this.#read.keep(this.#wokenWithThrow, value);
    } else if (this.#state === PARKED) {
      this.task.loop.busy--;
      this.#read.unpark(this);
    }
    this.#state = OVER;
  }

  override return(value?: unknown): IteratorResult<Instruction, unknown> {
    if (this.#state === PARKED) this.cancelled(false, undefined);
    this.#state = OVER;
    return { value, done: true };
  }
}
