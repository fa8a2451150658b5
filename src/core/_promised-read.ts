/**
 * Reads from a promise-based source (an async iterator's `next()`, a Web
 * stream reader's `read()`), one at a time, for the tasks that wait on it
 * in turn. A wait that is cancelled loses nothing: the read it started goes
 * on, and what it gives goes to the next wait, in order. `each` waits on
 * one per item with one object and no closures (the two callbacks are made
 * once per source), where `yield* until(promise)` inside a generator made a
 * generator, a park and two closures per item.
 * @module
 */
import { IteratorPark } from "./_park.ts";
import { FINISHED, FRESH, PARKED } from "./_step-operation.ts";
import type { Instruction } from "./operation.ts";
import { requireCurrentTask } from "./spawn.ts";
import type { TaskImpl } from "./task.ts";

/**
 * The reads of one source. Subclasses say how to start a read and what its
 * result means; `wait()` is the operation for the next result. Waits are
 * served in the order they came, as an async generator serves its `next()`
 * calls; only the first has a read in flight.
 */
export abstract class PromisedRead<R, V> {
  /** A read was started and has not settled. */
  #inFlight = false;
  /** The wait the read in flight (or its outcome) is for: parked, or woken and not yet run. */
  #first: ReadWait<V> | null = null;
  /** Waits behind the first, in order (made when a second task waits). */
  #behind: ReadWait<V>[] | null = null;
  /** A settled read that no wait has taken (its wait was cancelled, and none was behind it). */
  #hasOutcome = false;
  #outcomeIsThrow = false;
  #outcome: unknown = undefined;
  readonly #onValue = (result: R): void => this.#settle(false, result);
  readonly #onError = (error: unknown): void => this.#settle(true, error);

  /** Starts a read (called only when none is in flight). */
  protected abstract read(): PromiseLike<R>;
  /** What a read's result gives the wait that takes it. It may throw. */
  protected abstract finish(result: R): V;
  /** Called when a wait takes a failed read (its rejection, or what `finish` threw). */
  protected abstract failed(error: unknown): void;

  /** True while a read is in flight (an async generator would answer `return()` only after it). */
  get inFlight(): boolean {
    return this.#inFlight;
  }

  /** The operation's iterator for the next result. */
  wait(): Iterator<Instruction, V, unknown> {
    return new ReadWait<V>(this as PromisedRead<unknown, V>) as Iterator<Instruction, unknown, unknown> as Iterator<Instruction, V, unknown>;
  }

  /** @internal A wait's first step: `false` if a kept outcome is its to take now, else it joins the line (and parks). */
  begin(wait: ReadWait<V>): boolean {
    if (this.#first !== null) {
      (this.#behind ??= []).push(wait);
      return true;
    }
    if (this.#hasOutcome) return false;
    if (!this.#inFlight) this.#start(this.read());
    this.#first = wait;
    return true;
  }

  /** @internal The kept outcome, now taken (after `begin` said so). */
  takeKept(): { isThrow: boolean; value: unknown } {
    const outcome = { isThrow: this.#outcomeIsThrow, value: this.#outcome };
    this.#hasOutcome = false;
    this.#outcome = undefined;
    return outcome;
  }

  /** @internal What an outcome gives the wait that takes it: the value, or it throws the error. */
  deliver(isThrow: boolean, value: unknown): V {
    if (!isThrow) {
      try {
        return this.finish(value as R);
      } catch (error) {
        value = error;
      }
    }
    try {
      this.failed(value);
    } catch (error) {
      // Its cleanup failed too: that error is the one to see (as a `catch` that throws).
      value = error;
    }
    throw value;
  }

  /** @internal The first wait took its outcome, or a parked wait gave up: the next one's read starts, if none is in flight. */
  leave(wait: ReadWait<V>): void {
    if (this.#first !== wait) {
      this.#leaveBehind(wait);
      return;
    }
    this.#advance();
    if (this.#first === null || this.#inFlight) return;
    let pending: PromiseLike<R>;
    try {
      pending = this.read();
    } catch (error) {
      // Started on another task's step: the error is the waiting task's, delivered as a rejection.
      pending = Promise.reject(error);
    }
    this.#start(pending);
  }

  /** @internal A woken wait gave up before it ran: its outcome goes to the next wait, or is kept. */
  handOn(wait: ReadWait<V>, isThrow: boolean, value: unknown): void {
    if (this.#first !== wait) {
      this.#leaveBehind(wait);
      return;
    }
    this.#advance();
    this.#give(isThrow, value);
  }

  #settle(isThrow: boolean, value: unknown): void {
    this.#inFlight = false;
    this.#give(isThrow, value);
  }

  /** Wakes the first wait with the outcome; one whose task moved on makes way for the next. */
  #give(isThrow: boolean, value: unknown): void {
    for (let wait = this.#first; wait !== null; wait = this.#first) {
      if (wait.settle(isThrow, value)) return;
      this.#advance();
    }
    this.#hasOutcome = true;
    this.#outcomeIsThrow = isThrow;
    this.#outcome = value;
  }

  #advance(): void {
    const behind = this.#behind;
    this.#first = behind !== null && behind.length > 0 ? (behind.shift() as ReadWait<V>) : null;
  }

  #leaveBehind(wait: ReadWait<V>): void {
    const behind = this.#behind;
    const index = behind === null ? -1 : behind.indexOf(wait);
    if (index >= 0) (behind as ReadWait<V>[]).splice(index, 1);
  }

  #start(pending: PromiseLike<R>): void {
    // Through a native promise: a foreign thenable could call back before the wait is parked.
    Promise.resolve(pending).then(this.#onValue, this.#onError);
    this.#inFlight = true;
  }
}

/** A `ReadWait`'s state between `PARKED` and `FINISHED`: settled, its task woken and not yet run. */
const WOKEN = 3;

/**
 * One wait for a result: the iterator its operation runs, and the park it
 * yields. While parked it counts as busy, so a virtual clock holds still
 * (as `until` does).
 */
class ReadWait<V> extends IteratorPark {
  declare task: TaskImpl<unknown>;
  readonly #read: PromisedRead<unknown, V>;
  /** `FRESH`, `PARKED`, `WOKEN` or `FINISHED`. */
  #state = FRESH;
  /** The outcome it was woken with, until it takes it or hands it on. */
  #isThrow = false;
  #value: unknown = undefined;
  /** Closed from elsewhere while its task waits on it: the task still wakes, and the outcome goes on. */
  #abandoned = false;

  constructor(read: PromisedRead<unknown, V>) {
    super(requireCurrentTask("wait for the next item"), "io", "the next item of the source (each)");
    this.#read = read;
  }

  next(): IteratorResult<Instruction, V> {
    const state = this.#state;
    if (state === WOKEN) {
      // Resumed with the outcome (a failure comes in through `throw`).
      this.#state = FINISHED;
      const value = this.#value;
      this.#value = undefined;
      try {
        return { value: this.#read.deliver(false, value), done: true };
      } finally {
        // After `deliver`: a Web stream's end releases its reader before the next read starts on it.
        this.#read.leave(this);
      }
    }
    if (state === FINISHED) return { value: undefined as V, done: true };
    if (state === PARKED) return { value: this, done: false };
    if (this.#read.begin(this)) {
      this.#state = PARKED;
      this.task.loop.busy++;
      return { value: this, done: false };
    }
    this.#state = FINISHED;
    const kept = this.#read.takeKept();
    return { value: this.#read.deliver(kept.isThrow, kept.value), done: true };
  }

  override throw(error: unknown): IteratorResult<Instruction, unknown> {
    if (this.#state === WOKEN) {
      // The read failed (a cancel never interrupts a wait woken with an error).
      this.#state = FINISHED;
      this.#value = undefined;
      try {
        this.#read.deliver(true, error);
      } finally {
        this.#read.leave(this);
      }
    }
    throw error;
  }

  /** @internal The read settled and this wait is first: wake the task, unless it moved on. */
  settle(isThrow: boolean, value: unknown): boolean {
    if (this.#state !== PARKED) return false;
    const task = this.task;
    task.loop.busy--;
    if (task.park !== this || task.woken || this.#abandoned) {
      this.#state = FINISHED;
      // Its task resumes the generators that were not closed (the closed one gives undefined, as it would have).
      if (this.#abandoned && task.park === this && !task.woken) task.wake(false, undefined);
      return false;
    }
    this.#state = WOKEN;
    this.#isThrow = isThrow;
    this.#value = value;
    task.wake(isThrow, value);
    return true;
  }

  override cancelled(): void {
    this.#giveUp();
  }

  override return(value?: unknown): IteratorResult<Instruction, unknown> {
    const task = this.task;
    if (this.#state === PARKED && task.park === this && !task.woken) {
      // A generator around it was closed from elsewhere while its task waits here: the task
      // must still wake when the read settles (else it would wait for ever), and the item is the next wait's.
      this.#abandoned = true;
    } else this.#giveUp();
    return { value, done: true };
  }

  /** Leaves the line; an outcome it was woken with goes to the next wait. */
  #giveUp(): void {
    const state = this.#state;
    this.#state = FINISHED;
    if (state === PARKED) {
      this.task.loop.busy--;
      this.#read.leave(this);
    } else if (state === WOKEN) {
      const value = this.#value;
      this.#value = undefined;
      this.#read.handOn(this, this.#isThrow, value);
    }
  }
}
