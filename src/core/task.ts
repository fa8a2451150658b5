/**
 * Tasks: the unit the scheduler runs. A task drives one generator (its body)
 * and owns the children spawned from it; it finishes only when its body and
 * its non-daemon children have finished. `docs/architecture.md` walks
 * through the life of a task.
 * @module
 */

import { setMacrotask } from "./_host.ts";
import { Park, RESCHEDULE } from "./_park.ts";
import type { Runnable } from "./_ready-queue.ts";
import { CancelledError, createCancelledError, describe, TaskGroupError } from "./errors.ts";
import type { Loop } from "./loop.ts";
import { type Instruction, iterate, type Operation, type OperationLike } from "./operation.ts";

/** The life of a task: `pending` until its first step, `running` until it has finished, then one of the three outcomes. */
export type TaskState = "pending" | "running" | "done" | "failed" | "cancelled";

/**
 * A running operation: spawn one with `spawn`, start a root with `run`.
 * A task is an operation (`yield* task` waits for it and gives its result or
 * throws its error) and a promise (`await task` from plain async code).
 *
 * @typeParam T The value the task's operation returns.
 * @example
 * ```ts
 * import { run, spawn, sleep } from "corio";
 * const total = await run(function* () {
 *   const a = yield* spawn(function* () { yield* sleep(10); return 1; }, { name: "a" });
 *   const b = yield* spawn(function* () { yield* sleep(5); return 2; }, { name: "b" });
 *   return (yield* a) + (yield* b);
 * });
 * console.assert(total === 3);
 * ```
 */
export interface Task<T> extends Operation<T>, PromiseLike<T> {
  /** A number unique within the process. */
  readonly id: number;
  /** The name given at spawn, or `task-<id>`. */
  readonly name: string;
  /** 1 (most urgent) to 100 (background); 10 by default. */
  readonly priority: number;
  /** Where the task is in its life. */
  readonly state: TaskState;
  /** True once finished in any way: value, error or cancel (asyncio's `done()`). */
  readonly done: boolean;
  /** True if the task ended cancelled. */
  readonly cancelled: boolean;
  /** The failure, or the `CancelledError` of a cancelled task; `undefined` otherwise. */
  readonly error: unknown;
  /** The unfinished children, oldest first. */
  readonly children: readonly Task<unknown>[];
  /** The task that spawned this one; `undefined` for a root task. */
  readonly parent: Task<unknown> | undefined;
  /** The names from the root down to this task, joined with `/`. */
  readonly path: string;
  /**
   * Requests cancellation: a `CancelledError` carrying `reason` is thrown
   * into the task at its suspension point, and its children are cancelled
   * too. Returns `true` if the task had not finished yet. A second request
   * never interrupts the cleanup the first one started.
   */
  cancel(reason?: unknown): boolean;
  /** The value of a task that is done; throws its error if it failed or was cancelled, and throws if it has not finished. */
  result(): T;
  /** Calls `callback(task)` soon after the task finishes (at once, soon, if it already has). */
  addDoneCallback(callback: (task: Task<T>) => void): void;
  /** Removes a callback added with `addDoneCallback`; returns whether it was there. */
  removeDoneCallback(callback: (task: Task<T>) => void): boolean;
}

/** Something told when a task finishes (joiners, combinators, promises). */
export interface Watcher {
  taskFinished(task: TaskImpl<unknown>): void;
}

const PENDING = 0;
const RUNNING = 1;
const DONE = 2;
const FAILED = 3;
const CANCELLED = 4;
const STATE_NAMES: readonly TaskState[] = ["pending", "running", "done", "failed", "cancelled"];

// Flags, packed into one number to keep a parked task small.
export const DAEMON = 1;
export const BOUNDARY = 2; // its failure goes to whoever joins it, not to its parent
export const SHIELDED = 4; // a parent's cancellation does not reach it
const BODY_DONE = 8;
const CANCEL_DELIVERED = 16;
const WOKEN = 32;
const RESUME_THROW = 64;
const QUEUED = 128;
const OBSERVED = 256;
const DAEMONS_CANCELLED = 512;
const BODY_CANCELLED = 1024;
/** Started by the runtime before it inherits a pending cancel (see `startDaemon`). */
export const INHERIT_LATER = 2048;

let nextId = 1;
let current: TaskImpl<unknown> | null = null;

/** The task whose step is running, if any. */
export function getCurrentTask(): TaskImpl<unknown> | null {
  return current;
}

/** Where each failure first happened, so `main` can print the task path of its origin. */
export const errorOrigins = new WeakMap<object, string>();

/** Periodic schedule of a task spawned with `period`. */
interface Periodic {
  period: number;
  lastTick: number;
}

export class TaskImpl<T = unknown> implements Task<T>, Runnable {
  readonly id = nextId++;
  readonly loop: Loop;
  readonly priority: number;
  readonly #name: string | undefined;
  #parent: TaskImpl<unknown> | null;
  #firstChild: TaskImpl<unknown> | null = null;
  #lastChild: TaskImpl<unknown> | null = null;
  #prevSibling: TaskImpl<unknown> | null = null;
  #nextSibling: TaskImpl<unknown> | null = null;
  #childCount = 0;
  #liveChildren = 0;
  #state = PENDING;
  flags: number;
  /** The operation before the first step, then `null`. */
  #body: OperationLike<T> | null;
  #iterator: Iterator<Instruction, T, unknown> | null = null;
  /** What the task is parked on; kept until it next runs so a cancel can undo a hand-off. */
  park: Park | null = null;
  #resumeValue: unknown;
  /** The body's value, then the final value or error. */
  #result: unknown;
  #failures: unknown[] | null = null;
  cancelError: CancelledError | null = null;
  /** One watcher, or an array of them once there are several (most tasks have one joiner). */
  #watchers: Watcher | Watcher[] | null = null;
  periodic: Periodic | null = null;
  /** Destructors of the resources this task owns, run in reverse order once everything else has ended. */
  #destructors: Set<Destructor> | null = null;
  /** Loop time at creation, for the inspector. */
  readonly createdAt: number;

  constructor(loop: Loop, parent: TaskImpl<unknown> | null, body: OperationLike<T>, name: string | undefined, priority: number, flags: number) {
    this.loop = loop;
    this.#parent = parent;
    this.#body = body;
    this.#name = name;
    this.priority = priority;
    this.flags = flags;
    this.createdAt = loop.time;
    if (parent !== null) parent.#link(this);
  }

  // ---- public API -------------------------------------------------------

  get name(): string {
    return this.#name ?? `task-${this.id}`;
  }
  get state(): TaskState {
    return STATE_NAMES[this.#state] as TaskState;
  }
  get done(): boolean {
    return this.#state >= DONE;
  }
  get cancelled(): boolean {
    return this.#state === CANCELLED;
  }
  get error(): unknown {
    return this.#state >= FAILED ? this.#result : undefined;
  }
  get parent(): Task<unknown> | undefined {
    return this.#parent ?? undefined;
  }
  get children(): Task<unknown>[] {
    const list: Task<unknown>[] = [];
    for (let child = this.#firstChild; child !== null; child = child.#nextSibling) list.push(child);
    return list;
  }
  get path(): string {
    return this.#parent === null ? this.name : `${this.#parent.path}/${this.name}`;
  }
  /** True once the task has been handed a value or error and waits only for its turn. */
  get woken(): boolean {
    return (this.flags & WOKEN) !== 0;
  }
  get isDaemon(): boolean {
    return (this.flags & DAEMON) !== 0;
  }

  cancel(reason?: unknown): boolean {
    if (this.#state >= DONE) return false;
    if (this.cancelError === null) this.requestCancel(createCancelledError(reason));
    return true;
  }

  result(): T {
    const state = this.#state;
    if (state === DONE) return this.#result as T;
    if (state >= FAILED) throw this.#result;
    throw new Error(`Cannot read the result of task ${this.path}: it has not finished, its state is ${this.state}`);
  }

  addDoneCallback(callback: (task: Task<T>) => void): void {
    if (typeof callback !== "function") throw new TypeError(`Cannot add a done callback: expected a function, received ${typeof callback}`);
    const watcher = new DoneCallback(this, callback as (task: Task<unknown>) => void);
    if (this.#state >= DONE) watcher.taskFinished(this as TaskImpl<unknown>);
    else this.addWatcher(watcher);
  }

  removeDoneCallback(callback: (task: Task<T>) => void): boolean {
    const watchers = this.#watchers;
    const list = watchers === null ? [] : Array.isArray(watchers) ? watchers : [watchers];
    const found = list.findLast((w) => w instanceof DoneCallback && w.callback === callback);
    if (found === undefined) return false;
    this.removeWatcher(found);
    return true;
  }

  [Symbol.iterator](): Iterator<Instruction, T, unknown> {
    this.flags |= OBSERVED;
    return join(this)[Symbol.iterator]();
  }

  then<R1 = T, R2 = never>(
    onFulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onRejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    this.flags |= OBSERVED;
    return toPromise(this).then(onFulfilled, onRejected);
  }

  toString(): string {
    return `Task(${this.path}, ${this.state})`;
  }

  // ---- runtime ----------------------------------------------------------

  /** Gives the outcome to a joiner: the value, or throws the error. */
  outcome(): T {
    return this.result();
  }

  addWatcher(watcher: Watcher): void {
    const watchers = this.#watchers;
    if (watchers === null) this.#watchers = watcher;
    else if (Array.isArray(watchers)) watchers.push(watcher);
    else this.#watchers = [watchers, watcher];
  }

  removeWatcher(watcher: Watcher): void {
    const watchers = this.#watchers;
    if (watchers === watcher) this.#watchers = null;
    else if (Array.isArray(watchers)) {
      const index = watchers.lastIndexOf(watcher);
      if (index >= 0) watchers.splice(index, 1);
    }
  }

  /** Marks the outcome as awaited, so a root failure is not reported as unhandled. */
  markObserved(): void {
    this.flags |= OBSERVED;
  }

  /** Hands the task a value or an error and queues it to run. */
  wake(isThrow: boolean, value: unknown): void {
    this.flags = isThrow ? this.flags | WOKEN | RESUME_THROW : (this.flags | WOKEN) & ~RESUME_THROW;
    this.#resumeValue = value;
    if ((this.flags & QUEUED) === 0) {
      this.flags |= QUEUED;
      this.loop.schedule(this);
    }
  }

  /** Queues a task that has not started (or that parks on nothing). */
  enqueue(): void {
    if ((this.flags & QUEUED) === 0) {
      this.flags |= QUEUED;
      this.loop.schedule(this);
    }
  }

  /**
   * Records a cancellation and passes it down to the children (except
   * shielded ones) and into the body. Returns `true` if this request was the
   * one taken (no earlier cancel was pending).
   */
  requestCancel(error: CancelledError): boolean {
    if (this.#state >= DONE || this.cancelError !== null) return false;
    this.cancelError = error;
    for (let child = this.#firstChild; child !== null; child = child.#nextSibling) {
      if ((child.flags & SHIELDED) === 0) child.requestCancel(error);
    }
    if ((this.flags & BODY_DONE) === 0) this.#deliverCancel();
    else {
      // The body has returned and children still run: the task now ends cancelled, its value dropped
      // (decided case 13, CPython's TaskGroup): a timeout around it must not see a value.
      this.flags |= BODY_CANCELLED;
      if (this.#failures === null) this.#result = error;
    }
    return true;
  }

  /**
   * True while a cancel has been requested but not yet thrown into the body:
   * children spawned now inherit it (decided case 11, Trio's cancel status).
   */
  get cancelPending(): boolean {
    return this.cancelError !== null && (this.flags & CANCEL_DELIVERED) === 0;
  }

  /**
   * Called by a boundary that throws an error in place of the cancel that was
   * delivered to this task (decided case 12): the cancel is due again at the
   * next suspension, so catching that error does not cancel the cancellation.
   */
  redeliverCancel(): void {
    if (this.cancelError !== null && (this.flags & BODY_DONE) === 0) this.flags &= ~CANCEL_DELIVERED;
  }

  /** Applies the parent's pending cancel to a child started with `INHERIT_LATER`, once its first step has run. */
  inheritCancel(): void {
    this.flags &= ~INHERIT_LATER;
    const parent = this.#parent;
    if (parent?.cancelPending && (this.flags & SHIELDED) === 0) this.requestCancel(parent.cancelError as CancelledError);
  }

  /** Throws the pending cancellation at the body's suspension point, if it is suspended. */
  #deliverCancel(): void {
    const park = this.park;
    if (park === null) {
      // Queued after a bare `yield`: that is a suspension point too.
      if (this.#iterator !== null && (this.flags & QUEUED) !== 0) {
        this.flags |= CANCEL_DELIVERED | RESUME_THROW;
        this.#resumeValue = this.cancelError;
      }
      // Otherwise it is running (or not started): handled at its next suspension (or first step).
      return;
    }
    // A shielded wait holds the cancel back; so does an error already on its way to this
    // suspension point (cancel must not hide a failure): both see it at the next suspension.
    if (park.shielded || (this.flags & (WOKEN | RESUME_THROW)) === (WOKEN | RESUME_THROW)) return;
    park.cancelled((this.flags & WOKEN) !== 0, this.#resumeValue);
    this.flags |= CANCEL_DELIVERED;
    this.wake(true, this.cancelError);
  }

  /** One step: resume the body until it suspends or finishes. */
  runStep(): void {
    let flags = this.flags & ~QUEUED;
    let isThrow = (flags & RESUME_THROW) !== 0;
    let value = this.#resumeValue;
    this.flags = flags & ~(WOKEN | RESUME_THROW);
    this.#resumeValue = undefined;
    this.park = null;
    let it = this.#iterator;
    const prev = current;
    current = this as TaskImpl<unknown>;
    if (it === null) {
      if (this.#state >= DONE || (flags & BODY_DONE) !== 0) {
        current = prev;
        return;
      }
      if (this.cancelError !== null) {
        // Cancelled before its first step: the body never runs.
        this.flags |= CANCEL_DELIVERED;
        current = prev;
        this.#bodyEnded(false, this.cancelError);
        return;
      }
      this.#state = RUNNING;
      try {
        it = this.#iterator = iterate(this.#body as OperationLike<T>, "run the task");
      } catch (error) {
        current = prev;
        this.#bodyEnded(false, error);
        return;
      }
      this.#body = null;
      isThrow = false;
      value = undefined;
    }
    for (;;) {
      let step: IteratorResult<Instruction, T>;
      try {
        step = isThrow ? throwInto(it, value) : it.next(value);
      } catch (error) {
        current = prev;
        this.#bodyEnded(false, error);
        return;
      }
      if (step.done === true) {
        current = prev;
        this.#bodyEnded(true, step.value);
        return;
      }
      const instruction = step.value;
      flags = this.flags;
      if (this.cancelError !== null && (flags & CANCEL_DELIVERED) === 0) {
        if (instruction === undefined || (instruction instanceof Park && !instruction.shielded)) {
          // A cancel arrived while the task ran: throw it here, at this suspension point.
          if (instruction !== undefined) instruction.cancelled(false, undefined);
          this.flags = flags | CANCEL_DELIVERED;
          isThrow = true;
          value = this.cancelError;
          continue;
        }
      }
      if (instruction instanceof Park) {
        if (instruction === RESCHEDULE) this.enqueue();
        else this.park = instruction;
        break;
      }
      if (instruction === undefined) {
        if (this.periodic !== null) this.park = nextRound(this as TaskImpl<unknown>);
        else this.enqueue();
        break;
      }
      isThrow = true;
      value = new TypeError(
        `Cannot yield ${describe(instruction)} in task ${this.path}: an operation suspends only through yield* on another operation; use a bare yield only to end a periodic round`,
      );
    }
    current = prev;
  }

  #bodyEnded(ok: boolean, value: unknown): void {
    this.flags |= BODY_DONE;
    this.#iterator = null;
    this.#body = null;
    this.park = null;
    if (this.#state === PENDING) this.#state = RUNNING;
    if (ok) {
      if (this.cancelError !== null && (this.flags & CANCEL_DELIVERED) === 0) {
        // Cancelled but never suspended again: it ends cancelled and its value is dropped.
        this.flags |= BODY_CANCELLED;
        this.#result = this.cancelError;
      } else {
        this.#result = value;
        if (this.cancelError !== null && this.#failures === null) {
          this.loop.report(
            new Error(
              `Task ${this.path} caught its cancellation and returned a value: rethrow cancellation from catch blocks (if (isCancellation(e)) throw e)`,
              { cause: this.cancelError },
            ),
            { kind: "swallowed-cancel", task: this, path: this.path },
          );
        }
      }
    } else if (value instanceof CancelledError) {
      this.flags |= BODY_CANCELLED;
      this.#result = value;
    } else {
      this.#addFailure(value);
    }
    this.#tryFinish();
  }

  #addFailure(error: unknown): void {
    if (error !== null && typeof error === "object" && !errorOrigins.has(error)) errorOrigins.set(error, this.path);
    if (this.#failures === null) {
      this.#failures = [error];
      this.requestCancel(createCancelledError(`task ${this.path} failed: ${describe(error)}`));
    } else {
      this.#failures.push(error);
    }
  }

  #tryFinish(): void {
    if ((this.flags & BODY_DONE) === 0 || this.#liveChildren > 0 || this.#state >= DONE) return;
    if (this.#childCount > 0) {
      // Only daemons are left: they are cancelled when the rest is done.
      if ((this.flags & DAEMONS_CANCELLED) === 0) {
        this.flags |= DAEMONS_CANCELLED;
        const reason = createCancelledError(`daemon of ${this.path}: its parent has finished`);
        for (let child = this.#firstChild; child !== null; child = child.#nextSibling) child.requestCancel(reason);
      }
      return;
    }
    if (this.#destructors !== null) {
      this.#runDestructors();
      if (this.#childCount > 0) return;
    }
    this.#finish();
  }

  /**
   * Registers a resource's destructor: it runs when the task's body, children
   * and daemons have all ended, in reverse order of registration (Effection's
   * `ensure`, Trio's exit stack).
   */
  ensure(destructor: Destructor): void {
    if (this.#destructors === null) this.#destructors = new Set();
    this.#destructors.add(destructor);
  }

  /** The names of the resources this task will close when it ends, oldest first (for the inspector). */
  resourceNames(): string[] {
    return this.#destructors === null ? [] : [...this.#destructors].map((d) => d.name);
  }

  /** Forgets a destructor (its resource was closed by hand). */
  unensure(destructor: Destructor): void {
    this.#destructors?.delete(destructor);
  }

  #runDestructors(): void {
    const list = [...(this.#destructors as Set<Destructor>)].reverse();
    this.#destructors = null;
    if (list.every((d) => d.cleanup === undefined)) {
      for (const destructor of list) {
        try {
          destructor.close?.();
        } catch (error) {
          this.#addFailure(error);
        }
      }
      return;
    }
    // Some cleanup suspends (stop a process, wait for its exit): run them all, in order, in a
    // shielded child, so a second cancel does not interrupt it (decided case 4).
    const finalizer = new TaskImpl<void>(this.loop, this as TaskImpl<unknown>, () => runAll(list), "cleanup", this.priority, SHIELDED);
    finalizer.runStep();
  }

  #finish(): void {
    const failures = this.#failures;
    if (failures !== null) {
      this.#state = FAILED;
      this.#result = failures.length === 1 ? failures[0] : new TaskGroupError(failures);
      this.#failures = null;
    } else {
      this.#state = (this.flags & BODY_CANCELLED) !== 0 ? CANCELLED : DONE;
    }
    const watchers = this.#watchers;
    this.#watchers = null;
    if (watchers !== null) {
      if (Array.isArray(watchers)) for (const watcher of watchers) watcher.taskFinished(this as TaskImpl<unknown>);
      else watchers.taskFinished(this as TaskImpl<unknown>);
    }
    const parent = this.#parent;
    if (parent !== null) {
      parent.#childFinished(this as TaskImpl<unknown>);
    } else {
      this.loop.rootFinished(this as TaskImpl<unknown>);
      // `await task` subscribes in a later microtask: decide "unhandled" only after they have run.
      if (this.#state === FAILED && (this.flags & OBSERVED) === 0) setMacrotask(() => this.#reportIfUnobserved());
    }
  }

  #reportIfUnobserved(): void {
    if ((this.flags & OBSERVED) === 0) this.loop.report(this.#result, { kind: "task", task: this, path: errorOriginOf(this.#result, this.path) });
  }

  #link(child: TaskImpl<unknown>): void {
    const last = this.#lastChild;
    child.#prevSibling = last;
    if (last === null) this.#firstChild = child;
    else last.#nextSibling = child;
    this.#lastChild = child;
    this.#childCount++;
    if ((child.flags & DAEMON) === 0) this.#liveChildren++;
    // A child spawned while this task's cancel is pending is cancelled before its first step.
    if (this.cancelError !== null && (this.flags & CANCEL_DELIVERED) === 0 && (child.flags & (SHIELDED | INHERIT_LATER)) === 0) {
      child.requestCancel(this.cancelError);
    }
  }

  #childFinished(child: TaskImpl<unknown>): void {
    const prev = child.#prevSibling;
    const next = child.#nextSibling;
    if (prev === null) this.#firstChild = next;
    else prev.#nextSibling = next;
    if (next === null) this.#lastChild = prev;
    else next.#prevSibling = prev;
    child.#prevSibling = child.#nextSibling = null;
    this.#childCount--;
    if ((child.flags & DAEMON) === 0) this.#liveChildren--;
    if (child.#state === FAILED && (child.flags & BOUNDARY) === 0) this.#addFailure(child.#result);
    this.#tryFinish();
  }

  /** What kind of thing the task waits on, for the inspector. */
  waitKind(): string {
    if (this.#state >= DONE) return "finished";
    if ((this.flags & BODY_DONE) !== 0) return "children";
    if (this.park !== null) return this.park.kind;
    return (this.flags & QUEUED) !== 0 || this.#iterator === null ? "ready" : "running";
  }

  /** What the task waits on, for the inspector. */
  waitDescription(): string {
    if (this.#state >= DONE) return "";
    if ((this.flags & BODY_DONE) !== 0) return "children";
    if (this.park !== null) return this.park.describe();
    return (this.flags & QUEUED) !== 0 || this.#iterator === null ? "ready" : "running";
  }
}

/** How one resource is closed: a plain `close()`, or a `cleanup` operation that may suspend. */
export interface Destructor {
  readonly name: string;
  readonly close?: () => unknown;
  readonly cleanup?: () => Operation<void>;
}

/** Runs destructors in order; each one runs even if an earlier one failed, and every failure is thrown. */
function* runAll(list: Destructor[]): Generator<Instruction, void, unknown> {
  const errors: unknown[] = [];
  for (const destructor of list) {
    try {
      if (destructor.cleanup !== undefined) yield* destructor.cleanup();
      else destructor.close?.();
    } catch (error) {
      errors.push(error);
    }
  }
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new TaskGroupError(errors);
}

/** Throws `error` into an iterator, falling back to `return` for iterators without `throw`. */
function throwInto<T>(it: Iterator<Instruction, T, unknown>, error: unknown): IteratorResult<Instruction, T> {
  if (it.throw !== undefined) return it.throw(error);
  it.return?.();
  throw error;
}

/** The task path where `error` first happened, or `fallback`. */
export function errorOriginOf(error: unknown, fallback: string): string {
  return (error !== null && typeof error === "object" && errorOrigins.get(error)) || fallback;
}

/** Parks the current task until `target` finishes. */
export class JoinPark extends Park implements Watcher {
  readonly target: TaskImpl<unknown>;
  constructor(task: TaskImpl<unknown>, target: TaskImpl<unknown>) {
    super(task, "child");
    this.target = target;
  }
  taskFinished(): void {
    const task = this.task;
    if (task === null || task.park !== this || task.woken) return;
    const target = this.target;
    if (target.state === "done") task.wake(false, target.result());
    else task.wake(true, target.error);
  }
  override cancelled(woken: boolean): void {
    if (!woken) this.target.removeWatcher(this);
  }
  override describe(): string {
    return `task ${this.target.path}`;
  }
}

/** `yield* task`: waits for the task and gives its value, or throws its error. */
export function* join<T>(target: TaskImpl<T>): Generator<Instruction, T, unknown> {
  if (!target.done) {
    const waiter = current;
    if (waiter === null) throw new Error(`Cannot wait for task ${target.path} outside a task: use await instead of yield*`);
    if (waiter === target) throw new Error(`Cannot wait for task ${target.path} from inside itself: it would never finish`);
    const park = new JoinPark(waiter, target as TaskImpl<unknown>);
    target.addWatcher(park);
    return (yield park) as T;
  }
  return target.outcome();
}

class DoneCallback implements Watcher {
  readonly task: TaskImpl<unknown>;
  readonly callback: (task: Task<unknown>) => void;
  constructor(task: TaskImpl<unknown>, callback: (task: Task<unknown>) => void) {
    this.task = task;
    this.callback = callback;
  }
  taskFinished(task: TaskImpl<unknown>): void {
    task.loop.callSoon(this.callback, [task]);
  }
}

const promises = new WeakMap<TaskImpl<unknown>, Promise<unknown>>();

function toPromise<T>(task: TaskImpl<T>): Promise<T> {
  let promise = promises.get(task as TaskImpl<unknown>) as Promise<T> | undefined;
  if (promise === undefined) {
    promise = new Promise<T>((resolve, reject) => {
      const settle = (): void => {
        try {
          resolve(task.outcome());
        } catch (error) {
          reject(error);
        }
      };
      if (task.done) settle();
      else task.addWatcher({ taskFinished: settle });
    });
    promises.set(task as TaskImpl<unknown>, promise);
  }
  return promise;
}

/** A periodic task's bare `yield`: park until the next tick (missed ticks are skipped). */
function nextRound(task: TaskImpl<unknown>): Park {
  const periodic = task.periodic as Periodic;
  const now = task.loop.now();
  const period = periodic.period;
  let tick = periodic.lastTick + period;
  if (tick < now) tick = periodic.lastTick + Math.ceil((now - periodic.lastTick) / period) * period;
  periodic.lastTick = tick;
  return parkUntil(task, tick, "sleep");
}

/** Parks `task` until the loop's clock reaches `deadline`. */
export function parkUntil(task: TaskImpl<unknown>, deadline: number, kind: "sleep" | "idle"): TimerPark {
  const park = new TimerPark(task, kind);
  task.loop.addTimer(park, deadline);
  return park;
}

/** A park that a timer wakes: sleeps, delayed starts and periodic rounds. */
export class TimerPark extends Park {
  deadline = 0;
  seq = 0;
  heapIndex = -1;
  fire(): void {
    const task = this.task as TaskImpl<unknown>;
    if (task.park === this && !task.woken) task.wake(false, undefined);
  }
  override cancelled(woken: boolean): void {
    if (!woken) (this.task as TaskImpl<unknown>).loop.removeTimer(this);
  }
  override describe(): string {
    return `${this.kind} until ${this.deadline} ms`;
  }
}
