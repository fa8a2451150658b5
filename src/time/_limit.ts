/**
 * The time limit shared by `timeout`, `deadline`, `moveOnAfter` and `moveOnAt`.
 * @module
 */
import { boundaryOutcome, cancelAndJoin, completedOverCancel, isSelfOrAncestor, joinBoundary, startBoundary, waitUntilDone } from "../core/_boundary.ts";
import type { TimerEntry } from "../core/_timer-heap.ts";
import { createCancelledError, TimeoutError, withoutStack } from "../core/errors.ts";
import type { Loop } from "../core/loop.ts";
import { devHooks, type Instruction, markOperationPrototype, type Operation, type OperationLike } from "../core/operation.ts";
import { requireCurrentTask } from "../core/spawn.ts";
import { TaskImpl } from "../core/task.ts";

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

/** How each API built on a limit reads its number, names itself in errors, and ends when the time runs out. */
interface LimitKind {
  /** The number is a length in ms (else a clock time). */
  readonly relative: boolean;
  /** Throw `TimeoutError` when the time runs out (else return `{ cancelled: true }`). */
  readonly throws: boolean;
  /** For `requireCurrentTask` and the RangeError: "set a timeout". */
  readonly action: string;
  /** The boundary child's name: "timeout". */
  readonly api: string;
  /** How messages name the operation: "deadline" (as in "Cannot await deadline(…)"). */
  readonly label: string;
}

export const TIMEOUT: LimitKind = { relative: true, throws: true, action: "set a timeout", api: "timeout", label: "timeout" };
export const DEADLINE: LimitKind = { relative: false, throws: true, action: "set a deadline", api: "timeout", label: "deadline" };
export const MOVE_ON_AFTER: LimitKind = { relative: true, throws: false, action: "move on after a delay", api: "moveOnAfter", label: "moveOnAfter" };
export const MOVE_ON_AT: LimitKind = { relative: false, throws: false, action: "move on at a time", api: "moveOnAt", label: "moveOnAt" };

const NOT_STARTED = 0;
const JOINING = 1;
const ENDED = 2;

/**
 * One time limit, started by `yield*`: the timer entry that cancels the
 * operation's task when it fires, and the iterator that runs that task. An
 * explicit iterator rather than a generator (`timeout` is on hot paths): an
 * operation that finishes in its first step, the common case, costs no
 * generator object; one that suspends is joined through `joinBoundary`.
 *
 * What it gives: `op`'s value (`timeout`, `deadline`), or `{ value, cancelled }`
 * (`moveOnAfter`, `moveOnAt`). `TimeoutError` / `cancelled: true` come only
 * from this limit's own cancel; the caller's cancellation and `op`'s errors
 * are thrown as they are.
 */
export class LimitRun<T> implements TimerEntry, Iterator<Instruction, unknown, unknown> {
  deadline = 0;
  seq = 0;
  heapIndex = -1;
  /** True once the limit expired (fired, or cancelled by hand). */
  expired = false;
  /** True if this limit's cancel was the one taken (no other cancel came first). */
  taken = false;
  /** False once the operation has ended: the handle can no longer cancel. */
  active = true;
  /** Set when the limit expired during the operation's first step, before `child` was known. */
  early = false;
  child: TaskImpl<unknown> | null = null;
  loop: Loop | null = null;
  /** The limit's clock time; `deadline` is the heap's copy while armed. */
  time = 0;
  /** The limit's length in ms, for the `TimeoutError` message (moving the limit changes it). */
  ms = 0;
  /** When (clock time) the limit started: `ms` is measured from it. */
  startedAt = 0;
  readonly #kind: LimitKind;
  /** `ms` or a clock time, as the API was given it (checked when the limit starts). */
  readonly #given: number;
  readonly #op: Operation<T> | ((limit: TimeLimit) => Operation<T>);
  #state = NOT_STARTED;
  #caller: TaskImpl<unknown> | null = null;
  /** The wait for an operation that suspended. */
  #join: Iterator<Instruction, T, unknown> | null = null;

  constructor(kind: LimitKind, given: number, op: Operation<T> | ((limit: TimeLimit) => Operation<T>)) {
    this.#kind = kind;
    this.#given = given;
    this.#op = op;
  }

  // ---- the timer ----------------------------------------------------------

  fire(): void {
    if (this.expired) return;
    const child = this.child;
    if (child === null) {
      this.early = true;
      return;
    }
    this.expired = true;
    if (!child.done) this.taken = child.requestCancel(createCancelledError(timeoutReason(this.ms)));
  }

  arm(): void {
    if (this.time !== Number.POSITIVE_INFINITY) (this.loop as Loop).addTimer(this, this.time);
  }

  disarm(): void {
    this.active = false;
    if (this.heapIndex !== -1) (this.loop as Loop).removeTimer(this);
  }

  // ---- the operation ------------------------------------------------------

  /** The API that made it, for messages. */
  get label(): string {
    return this.#kind.label;
  }

  [Symbol.iterator](): this {
    devHooks.handedOver?.(this);
    return this;
  }

  next(value?: unknown): IteratorResult<Instruction, unknown> {
    if (this.#state === JOINING) return this.#resume(false, value);
    if (this.#state === ENDED) return { value: undefined, done: true };
    return this.#start();
  }

  throw(error: unknown): IteratorResult<Instruction, unknown> {
    if (this.#state === JOINING) return this.#resume(true, error);
    this.#state = ENDED;
    throw error;
  }

  return(value?: unknown): IteratorResult<Instruction, unknown> {
    if (this.#state === JOINING) this.#join?.return?.(undefined as T);
    if (this.#state !== ENDED) this.#end();
    return { value, done: true };
  }

  #start(): IteratorResult<Instruction, unknown> {
    const kind = this.#kind;
    const given = this.#given;
    if (kind.relative ? !(typeof given === "number" && given >= 0) : typeof given !== "number" || Number.isNaN(given)) {
      this.#state = ENDED;
      const what = kind.relative ? "ms must be a non-negative number" : "time must be a number";
      throw new RangeError(`Cannot ${kind.action}: ${what}, received ${typeof given === "number" ? given : typeof given}`);
    }
    const caller = (this.#caller = requireCurrentTask(kind.action));
    const loop = (this.loop = caller.loop);
    const now = loop.now();
    this.time = kind.relative ? now + given : given;
    this.ms = kind.relative ? given : Math.max(0, given - now);
    this.startedAt = now;
    // A limit already past has expired before the operation starts (Trio's cancel_called): an operation
    // that moves the deadline in its first step cannot revive it. It still gives its value if it ends
    // without suspending (asyncio's timeout(0)).
    if (this.time <= now) this.early = true;
    const op = this.#op;
    const task = op instanceof TaskImpl ? (op as TaskImpl<T>) : null;
    if (task !== null && caller.cancelPending) {
      // A task given while the caller's cancel is pending is cancelled and waited for, as `all` does;
      // then the cancel is thrown, whatever the time: no timer is needed.
      this.#join = cancelAndJoin(caller, [task as TaskImpl<unknown>]);
      this.#state = JOINING;
      return this.#resume(false, undefined);
    }
    // Armed before the operation starts, so an outer limit fires before an inner one set for the same time.
    this.arm();
    try {
      // A function that takes the handle gets it; others are left as they are (no closure per call).
      const body =
        task !== null ? joinCancelling(task) : typeof op === "function" && op.length >= 1 ? () => op(new LimitHandle(this)) : (op as OperationLike<T>);
      const child = startBoundary(body, kind.api);
      this.child = child as TaskImpl<unknown>;
      // Read the clock only for an operation still running (most finish without suspending).
      if (!child.done && (this.early || this.time <= loop.now())) this.fire();
      // An operation that finished in its first step needs no join.
      if (child.done) return this.#finished(boundaryOutcome(child as TaskImpl<T>));
      this.#join = joinBoundary(child);
      this.#state = JOINING;
    } catch (error) {
      return this.#failed(error);
    }
    return this.#resume(false, undefined);
  }

  #resume(isThrow: boolean, value: unknown): IteratorResult<Instruction, unknown> {
    const join = this.#join as Iterator<Instruction, T, unknown>;
    let step: IteratorResult<Instruction, T>;
    try {
      step = isThrow ? (join.throw as (e: unknown) => IteratorResult<Instruction, T>)(value) : join.next(value);
    } catch (error) {
      return this.#failed(error);
    }
    return step.done === true ? this.#finished(step.value) : step;
  }

  #end(): void {
    this.#state = ENDED;
    this.#join = null;
    this.disarm();
  }

  #finished(value: T): IteratorResult<Instruction, unknown> {
    this.#end();
    return { value: this.#kind.throws ? value : { value, cancelled: false }, done: true };
  }

  #failed(error: unknown): IteratorResult<Instruction, unknown> {
    this.#end();
    if (this.taken && this.child?.cancelled === true && error !== this.#caller?.cancelError) {
      if (this.#kind.throws) throw new TimeoutError(this.ms, undefined, { cause: error });
      return { value: { value: undefined, cancelled: true }, done: true };
    }
    throw error;
  }
}
markOperationPrototype(LimitRun.prototype, (op) => (op as LimitRun<unknown>).label);

/**
 * The `TimeoutError` a limit cancels its operation with (the reason of the
 * `CancelledError`), made without a stack trace: it would only show the
 * loop's timer, and capturing it was half of a fired `timeout`'s cost. The
 * `TimeoutError` the caller gets is made where it is thrown, so its stack
 * shows the caller's generators.
 */
function timeoutReason(ms: number): TimeoutError {
  return withoutStack(() => new TimeoutError(ms));
}

/** The `TimeLimit` handed to an operation that asks for it. */
class LimitHandle implements TimeLimit {
  readonly #timer: LimitRun<unknown>;
  constructor(timer: LimitRun<unknown>) {
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
    if (timer.heapIndex !== -1) (timer.loop as Loop).removeTimer(timer);
    // From the start, not by the move: a move from or to an infinite deadline would make it NaN.
    timer.ms = Math.max(0, time - timer.startedAt);
    timer.time = time;
    if (time <= (timer.loop as Loop).now()) timer.fire();
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
 * Joins a task given to a time limit, and cancels it when the limit (or the
 * caller's cancel) cancels the join, as `all` and `race` do with the tasks
 * they are given and as asyncio's `wait_for(task)` does; then waits for its
 * cleanup. A task that completes or fails all the same gives its outcome
 * (decided case 12). An ancestor of the joiner is not cancelled (it could
 * only end after the joiner).
 */
function* joinCancelling<T>(task: TaskImpl<T>): Generator<Instruction, T, unknown> {
  try {
    return yield* task;
  } catch (error) {
    const joiner = requireCurrentTask("wait for a task");
    // An ancestor (a task watching its parent with a limit) ends only after the joiner: cancelling it
    // and waiting would wait for ever. As before, the limit just stops watching it.
    if (error !== joiner.cancelError || task.done || isSelfOrAncestor(task as TaskImpl<unknown>, joiner)) throw error;
    yield* waitUntilDone(joiner, task as TaskImpl<unknown>, error);
    if (completedOverCancel(joiner, [task as TaskImpl<unknown>], task.state === "done")) return task.result();
    throw error;
  }
}
