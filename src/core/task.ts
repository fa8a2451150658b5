/**
 * Tasks: the unit the scheduler runs. A task drives one generator (its body)
 * and owns the children spawned from it; it finishes only when its body and
 * its non-daemon children have finished. `docs/architecture.md` walks
 * through the life of a task.
 * @module
 */

import { setMacrotask } from "./_host.ts";
import { DoneCallback, join, pendingPromise } from "./_join.ts";
import { type OneOrMany, withItem, withoutItem } from "./_one-or-many.ts";
import { Park, RESCHEDULE } from "./_park.ts";
import type { Runnable } from "./_ready-queue.ts";
import { BODY_CANCELLED, BODY_DONE, BOUNDARY, CANCEL_DELIVERED, CONCURRENT, DAEMON, errorOrigins, Scope, SHIELDED } from "./_scope.ts";
import { nextRound } from "./_timer-park.ts";
import { CancelledError, createCancelledError, describe, TaskGroupError } from "./errors.ts";
import { instruments, notifyInstruments } from "./instruments.ts";
import type { Loop } from "./loop.ts";
import {
  type Instruction,
  isOperationThen,
  iterate,
  type Operation,
  type OperationLike,
  operationLabel,
  SharedGenerator,
  sharedGeneratorPrototype,
} from "./operation.ts";

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

/**
 * How many finished tasks are telling their parents inside one another now (see `finish`): past
 * `MAX_TELL_DEPTH` a task waits in `childrenEnded`, and the outermost one tells its parent after.
 */
let tellDepth = 0;
const MAX_TELL_DEPTH = 100;
const childrenEnded: TaskImpl<unknown>[] = [];

// Task-only flags, packed into the scope's flag number (see _scope.ts for the others: 1-16, 512-2048, 32768).
const WOKEN = 32;
const RESUME_THROW = 64;
const QUEUED = 128;
const OBSERVED = 256;
/** The task's context map is its own (no child shares it): a set may change it in place. */
export const OWN_CONTEXT = 4096;
/** The body is a plain generator with the shared prototype: resumed with %GeneratorPrototype%.next directly. */
const NATIVE = 8192;
/** The first step has run: `#body` holds the iterator (or `null` once the body has ended). */
const STARTED = 16384;
/**
 * A boundary whose eager first step was put off (`startBoundary`, past its depth): that step runs even if
 * a cancel came first, as it would have run before any could, and the cancel is thrown at its first suspension.
 */
export const FIRST_STEP_DUE = 262144;
/**
 * Its cancel came from code calling `task.cancel()` (its own, or another task's holding it), not from
 * its caller, a time limit or a group: a boundary that then completes without suspending must not keep
 * its value over it, for nobody else would throw that cancel (the caller's own comes at its next
 * suspension only when the cancel is the caller's).
 */
const CANCELLED_BY_HAND = 524288;

/** The task's cancel came through `task.cancel()` (its own code's or another task's), not from its owner, a limit or a group. */
export function cancelledByHand(task: TaskImpl<unknown>): boolean {
  return task.cancelError !== null && (task.flags & CANCELLED_BY_HAND) !== 0;
}

/**
 * The task whose code `task` runs, for what belongs to a task (a limiter's token): the boundaries
 * that run one operation in sequence (`scope`, `shield`, `timeout`, ...) are their caller's code,
 * so look past them; one of the operations `all` or `race` runs at once is a task of its own.
 */
export function codeOwner(task: TaskImpl<unknown>): TaskImpl<unknown> {
  let owner = task;
  while ((owner.flags & (BOUNDARY | CONCURRENT)) === BOUNDARY && owner.parentScope !== null) owner = owner.parentScope as TaskImpl<unknown>;
  return owner;
}

/**
 * Runs `make` (which creates a child of `owner`) so that the child starts with `code`'s context, not
 * `owner`'s: a task that `start` or a service makes for the task past the boundaries around its
 * caller (`owner`) still runs in the context the caller's code set inside them, as Trio's
 * `nursery.start` copies the calling task's context. The owner's map is lent for the constructor
 * (which copies it and tells instruments), then given back, so spawning pays nothing for this.
 */
export function withContextOf<T>(code: TaskImpl<unknown>, owner: TaskImpl<unknown>, make: () => T): T {
  if (code === owner || code.context === owner.context) return make();
  const ownerContext = owner.context;
  const ownerFlag = owner.flags & OWN_CONTEXT;
  owner.context = code.context;
  try {
    return make();
  } finally {
    owner.context = ownerContext;
    owner.flags = (owner.flags & ~OWN_CONTEXT) | ownerFlag;
    // The child shares the caller's map now: the next set on either copies it first.
    code.flags &= ~OWN_CONTEXT;
  }
}

/** `next` and `throw` of every generator object (a direct call skips the lookup on each closure's own map). */
const generatorNext = (sharedGeneratorPrototype as Generator).next;
const generatorThrow = (sharedGeneratorPrototype as Generator).throw;

let nextId = 1;
let current: TaskImpl<unknown> | null = null;

/** The task whose step is running, if any. */
export function getCurrentTask(): TaskImpl<unknown> | null {
  return current;
}

/** Periodic schedule of a task spawned with `period`. */
export interface Periodic {
  period: number;
  lastTick: number;
}

export class TaskImpl<T = unknown> extends Scope implements Task<T>, Runnable {
  readonly id = nextId++;
  readonly loop: Loop;
  readonly priority: number;
  readonly #name: string | undefined;
  #state = PENDING;
  /**
   * The operation before the first step (`STARTED` not set), then the
   * iterator the task drives, then `null` once the body has ended (one field
   * for both: a parked task is smaller).
   */
  #body: OperationLike<T> | Iterator<Instruction, T, unknown> | null;
  /** What the task is parked on; kept until it next runs so a cancel can undo a hand-off. */
  park: Park | null = null;
  #resumeValue: unknown;
  /** The body's value, then the final value or error. */
  #result: unknown;
  /** One watcher, or an array of them once there are several (most tasks have one joiner). */
  #watchers: OneOrMany<Watcher> = null;
  periodic: Periodic | null = null;
  /** Loop time at creation, for the inspector. */
  readonly createdAt: number;
  /**
   * Task-local values (`createContext`), copied at spawn as asyncio copies
   * its context: the child gets the parent's map, and whichever of them sets
   * a value next copies it first (`OWN_CONTEXT` says the map is this task's alone).
   */
  context: Map<object, unknown> | null;

  constructor(loop: Loop, parent: TaskImpl<unknown> | null, body: OperationLike<T>, name: string | undefined, priority: number, flags: number) {
    super(parent, flags);
    this.loop = loop;
    this.#body = body;
    this.#name = name;
    this.priority = priority;
    this.createdAt = loop.recentTime();
    if (parent !== null && parent.context !== null) {
      this.context = parent.context;
      parent.flags &= ~OWN_CONTEXT;
    } else this.context = null;
    this.attach();
    if (instruments.length !== 0) notifyInstruments("taskSpawned", this as TaskImpl<unknown>);
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
    return (this.parentScope as TaskImpl<unknown> | null) ?? undefined;
  }
  get children(): Task<unknown>[] {
    return this.childList() as TaskImpl<unknown>[];
  }
  /** True once finished (the scope's view of `done`). */
  get finished(): boolean {
    return this.#state >= DONE;
  }
  /** True if the task ended failed; its failure is `error`. */
  get failed(): boolean {
    return this.#state === FAILED;
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
    if (this.cancelError === null) {
      this.flags |= CANCELLED_BY_HAND;
      this.requestCancel(createCancelledError(reason));
    }
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
    return join(this);
  }

  then<R1 = T, R2 = never>(
    onFulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onRejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    this.flags |= OBSERVED;
    const state = this.#state;
    // A finished task needs no watcher: a settled promise gives the same outcome in the same microtask.
    const promise =
      state === DONE
        ? Promise.resolve(this.#result as T)
        : state >= FAILED
          ? Promise.reject(this.#result)
          : (pendingPromise(this as TaskImpl<unknown>, this.#watchers) as Promise<T>);
    return promise.then(onFulfilled, onRejected);
  }

  override toString(): string {
    return `Task(${this.path}, ${this.state})`;
  }

  // ---- runtime ----------------------------------------------------------

  /** Gives the outcome to a joiner: the value, or throws the error. */
  outcome(): T {
    return this.result();
  }

  addWatcher(watcher: Watcher): void {
    this.#watchers = withItem(this.#watchers, watcher);
  }

  removeWatcher(watcher: Watcher): void {
    this.#watchers = withoutItem(this.#watchers, watcher);
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

  /** Queues a task that has not started, to run after this turn's I/O callbacks (`Loop.scheduleAfterIo`). */
  enqueueAfterIo(): void {
    if ((this.flags & QUEUED) === 0) {
      this.flags |= QUEUED;
      this.loop.scheduleAfterIo(this);
    }
  }

  /**
   * Throws the pending cancellation at the body's suspension point, if it is
   * suspended; once the body has returned, the task ends cancelled instead,
   * its value dropped (decided case 13, CPython's TaskGroup): a timeout around
   * it must not see a value.
   */
  protected deliverCancel(): void {
    if ((this.flags & BODY_DONE) !== 0) {
      this.flags |= BODY_CANCELLED;
      this.#result = this.cancelError;
      return;
    }
    const park = this.park;
    if (park === null) {
      // Queued after a bare `yield`: that is a suspension point too.
      if ((this.flags & STARTED) !== 0 && this.#body !== null && (this.flags & QUEUED) !== 0) {
        this.flags |= CANCEL_DELIVERED | RESUME_THROW;
        this.#resumeValue = this.cancelError;
      }
      // Otherwise it is running (or not started): handled at its next suspension (or first step).
      return;
    }
    // A shielded wait holds the cancel back; so does an error already on its way to this
    // suspension point (cancel must not hide a failure), and a wake its park says is to be given
    // over a later cancel: all see the cancel at the next suspension.
    if (park.shielded) return;
    if ((this.flags & WOKEN) !== 0 && ((this.flags & RESUME_THROW) !== 0 || park.givesWakeOverCancel())) return;
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
    let it = (flags & STARTED) !== 0 ? (this.#body as Iterator<Instruction, T, unknown> | null) : null;
    const prev = current;
    current = this as TaskImpl<unknown>;
    if (it === null) {
      if (this.#state >= DONE || (flags & BODY_DONE) !== 0) {
        current = prev;
        return;
      }
      if (this.cancelError !== null && (flags & FIRST_STEP_DUE) === 0) {
        // Cancelled before its first step: the body never runs.
        this.flags |= CANCEL_DELIVERED;
        current = prev;
        this.#bodyEnded(false, this.cancelError);
        return;
      }
      this.#state = RUNNING;
      try {
        it = iterate(this.#body as OperationLike<T>, "run the task");
      } catch (error) {
        current = prev;
        this.#bodyEnded(false, error);
        return;
      }
      this.#body = it;
      this.flags |= it instanceof SharedGenerator ? STARTED | NATIVE : STARTED;
      isThrow = false;
      value = undefined;
    }
    for (;;) {
      let step: IteratorResult<Instruction, T>;
      try {
        step =
          (this.flags & NATIVE) !== 0
            ? ((isThrow ? generatorThrow.call(it, value) : generatorNext.call(it, value)) as IteratorResult<Instruction, T>)
            : isThrow
              ? throwInto(it, value)
              : it.next(value);
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
        let periodic = this.periodic;
        // Inside scope/shield/a time limit, the round is that of the task that entered them.
        if (periodic === null && (this.flags & BOUNDARY) !== 0) periodic = codeOwner(this as TaskImpl<unknown>).periodic;
        if (periodic === null) {
          this.enqueue();
          break;
        }
        const round = nextRound(this as TaskImpl<unknown>, periodic);
        if (round !== null) {
          this.park = round;
          break;
        }
        isThrow = true;
        value = new RangeError(
          `Cannot start the next round of task ${this.path}: the clock, at ${this.loop.now()} ms, cannot step by its period of ${periodic.period} ms`,
        );
        continue;
      }
      isThrow = true;
      value = new TypeError(yieldMistake(instruction, this.path));
    }
    current = prev;
  }

  #bodyEnded(ok: boolean, value: unknown): void {
    this.flags |= BODY_DONE;
    this.#body = null;
    this.park = null;
    if (this.#state === PENDING) this.#state = RUNNING;
    if (ok) {
      if (this.cancelError !== null && (this.flags & CANCEL_DELIVERED) === 0) {
        if ((this.flags & (BOUNDARY | CANCELLED_BY_HAND)) === BOUNDARY && !this.hasChildren) {
          // A boundary's operation completed before any cancel reached it (it was woken with a
          // finished child's outcome): as inline code would, it gives its caller the value, so
          // nothing it took is lost; the caller's own cancel comes at its next suspension. Not
          // when code cancelled it by hand (an operation of `all` that cancels itself, or that
          // another operation cancels): that cancel is no one else's to throw, and asyncio's task
          // ends cancelled.
          this.#result = value;
        } else {
          // Cancelled but never suspended again: it ends cancelled and its value is dropped.
          this.flags |= BODY_CANCELLED;
          this.#result = this.cancelError;
        }
      } else {
        this.#result = value;
        if (this.cancelError !== null && !this.hasFailures) {
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
      // Not its own cancel (it let out the CancelledError of a task it waited for): nobody cancelled its
      // children, and a body that ended cancelled does not wait for them (asyncio's TaskGroup aborts them).
      // The task's own cancelError stays null: it was not cancelled, it ended so.
      if (this.cancelError === null && this.hasChildren) {
        this.cancelChildren(createCancelledError(`task ${this.path} ended with a CancelledError of another task`));
      }
    } else {
      this.addBodyFailure(value);
    }
    this.tryFinish();
  }

  protected finish(failures: unknown[] | null): void {
    if (failures !== null) {
      this.#state = FAILED;
      this.#result = failures.length === 1 ? failures[0] : new TaskGroupError(failures);
    } else {
      this.#state = (this.flags & BODY_CANCELLED) !== 0 ? CANCELLED : DONE;
    }
    if (instruments.length !== 0) notifyInstruments("taskExited", this as TaskImpl<unknown>);
    const watchers = this.#watchers;
    this.#watchers = null;
    if (watchers !== null) {
      if (Array.isArray(watchers)) for (const watcher of watchers) watcher.taskFinished(this as TaskImpl<unknown>);
      else watchers.taskFinished(this as TaskImpl<unknown>);
    }
    const parent = this.parentScope;
    if ((this.flags & (BOUNDARY | CONCURRENT)) === BOUNDARY) this.#contextToCaller(parent as TaskImpl<unknown>);
    if (parent !== null) {
      // A parent that ends as its child does ends inside this call. Past a depth (a chain of thousands of
      // nested tasks ending at once would overflow the stack) the rest is told in a loop by the outermost
      // call; below it, in place, so what runs as a parent ends (its cleanups) sees the same tree as ever.
      if (tellDepth >= MAX_TELL_DEPTH) {
        childrenEnded.push(this as TaskImpl<unknown>);
        return;
      }
      tellDepth++;
      try {
        parent.childEnded(this);
        if (tellDepth === 1) {
          for (let i = 0; i < childrenEnded.length; i++) {
            const child = childrenEnded[i] as TaskImpl<unknown>;
            (child.parentScope as Scope).childEnded(child);
          }
        }
      } finally {
        tellDepth--;
        // Only when something was queued: setting an array's length goes through the runtime.
        if (tellDepth === 0 && childrenEnded.length !== 0) childrenEnded.length = 0;
      }
    } else {
      this.loop.rootFinished(this as TaskImpl<unknown>);
      // `await task` subscribes in a later microtask: decide "unhandled" only after they have run.
      if (this.#state === FAILED && (this.flags & OBSERVED) === 0) setMacrotask(() => this.#reportIfUnobserved());
    }
  }

  /**
   * A boundary that runs its operation in sequence (`scope`, `timeout`, `shield`) is its caller's code
   * (see `codeOwner`): a context value it set is still set after it, as a `ContextVar` set inside
   * asyncio's `async with timeout()` is. Its map goes to the caller, shared if a child took it since.
   */
  #contextToCaller(caller: TaskImpl<unknown>): void {
    if (this.context === caller.context) return;
    caller.context = this.context;
    if ((this.flags & OWN_CONTEXT) !== 0) caller.flags |= OWN_CONTEXT;
    else caller.flags &= ~OWN_CONTEXT;
  }

  #reportIfUnobserved(): void {
    if ((this.flags & OBSERVED) === 0) this.loop.report(this.#result, { kind: "task", task: this, path: errorOriginOf(this.#result, this.path) });
  }

  protected bodyValue(): unknown {
    return this.#result;
  }

  protected startFinalizer(run: () => Operation<void>): void {
    new TaskImpl<void>(this.loop, this as TaskImpl<unknown>, run, "cleanup", this.priority, SHIELDED).runStep();
  }

  /** What kind of thing the task waits on, for the inspector. */
  waitKind(): string {
    if (this.#state >= DONE) return "finished";
    if ((this.flags & BODY_DONE) !== 0) return "children";
    if (this.park !== null) return this.park.kind;
    return (this.flags & QUEUED) !== 0 || (this.flags & STARTED) === 0 ? "ready" : "running";
  }

  /** What the task waits on, for the inspector; `path` is the task's own, if the caller has it (see `Park.describe`). */
  waitDescription(path?: string): string {
    if (this.#state >= DONE) return "";
    if ((this.flags & BODY_DONE) !== 0) return "its children to finish";
    if (this.park !== null) return this.park.describe(path);
    return (this.flags & QUEUED) !== 0 || (this.flags & STARTED) === 0 ? "its turn to run (ready)" : "nothing: it is running now";
  }
}

/** How a step is run once `wrapTaskSteps` has installed a wrapper: the plain step, for the wrapper to call. */
export type TaskStepWrapper = (task: TaskImpl<unknown>, step: (task: TaskImpl<unknown>) => void) => void;

const plainRunStep = TaskImpl.prototype.runStep;
const callPlainStep = (task: TaskImpl<unknown>): void => plainRunStep.call(task);

/**
 * Runs every task step through `wrapper` from now on (`null`: plainly again).
 * `corio/otel`'s `TaskContextManager` enters the task's OpenTelemetry
 * context into `AsyncLocalStorage` around each step, so promise code a step
 * starts inherits it. The wrapper replaces `runStep` on the prototype instead
 * of being tested inside it: the step is the scheduler's hottest path, and a
 * program that installs none pays nothing for it. One wrapper at a time.
 */
export function wrapTaskSteps(wrapper: TaskStepWrapper | null): void {
  TaskImpl.prototype.runStep =
    wrapper === null
      ? plainRunStep
      : function runStep(this: TaskImpl<unknown>): void {
          wrapper(this, callPlainStep);
        };
}

/** The message for a value yielded without `*`: what to write instead. */
function yieldMistake(value: unknown, path: string): string {
  if (value !== null && typeof value === "object") {
    if (typeof (value as { then?: unknown }).then === "function" && !isOperationThen((value as { then?: unknown }).then)) {
      return `Cannot yield a promise in task ${path}: wait for it with yield* until(promise); a bare yield only ends a periodic round`;
    }
    if (Symbol.iterator in value) {
      const label = operationLabel(value);
      return `Cannot yield ${label} in task ${path}: write yield* ${label} (with the star) to run an operation; a bare yield only ends a periodic round`;
    }
  }
  return `Cannot yield ${describe(value)} in task ${path}: an operation suspends only through yield* on another operation; a bare yield only ends a periodic round`;
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
