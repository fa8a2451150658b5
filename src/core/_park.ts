/**
 * Parking: how a task waits. An operation that cannot finish at once
 * registers a `Park` with whatever will wake it (a timer, a lock's wait
 * queue, another task) and yields it; the runtime then leaves the task
 * suspended until `resume`/`resumeThrow` is called with that same park.
 *
 * One park is woken at most once. Waking a park whose task has moved on (it
 * was cancelled meanwhile) does nothing and returns `false`, so a primitive
 * knows to hand its item to the next waiter instead.
 * @module
 */
import type { Instruction } from "./operation.ts";
import type { TaskImpl } from "./task.ts";

/** What a parked task waits on, as the inspector shows it. */
export type WaitKind = "sleep" | "lock" | "queue" | "io" | "child" | "future" | "suspend" | "thread" | "process" | "idle" | "signal";

/**
 * The record of one suspension. Subclasses override `cancelled` to unregister.
 *
 * Its fields are `declare`d and set in the constructor, never written as
 * class fields: V8 (Node 20–24) does not inline a base constructor that
 * initializes instance fields or private members into `super()`, and every
 * wait constructs a subclass (see docs/architecture.md, "Base classes declare their fields").
 */
export class Park {
  /** Types a park as an `Instruction` (nothing at run time). */
  declare readonly "write yield* (with the star) to run an operation": never;
  /** The parked task, or `null` for a shared park that is never woken. */
  declare readonly task: TaskImpl | null;
  /** What it waits on (for the inspector and deadlock reports). */
  declare readonly kind: WaitKind;
  /**
   * A shielded park is not interrupted by cancellation: the cancel stays
   * pending and is thrown at the task's next suspension (Trio's shield).
   */
  declare shielded: boolean;

  /** What exactly is awaited, in words (`an item from an empty queue (get)`); else the kind's words. */
  declare readonly what: string | undefined;

  constructor(task: TaskImpl | null, kind: WaitKind, what?: string) {
    this.task = task;
    this.kind = kind;
    this.shielded = false;
    this.what = what;
  }

  /**
   * Called when the parked task is cancelled. If the park was already woken
   * (`woken`), `value` is what it was handed: give it back so nothing is lost.
   * Otherwise just unregister.
   */
  cancelled(_woken: boolean, _value: unknown): void {}

  /**
   * Whether a wake that came before the task's cancel is given to the task
   * all the same, the cancel then thrown at its next suspension (decided case
   * 12); by default the cancel wins and `cancelled(true, value)` gives the
   * value back. A method, not a field: only a cancel asks, never a wait.
   */
  givesWakeOverCancel(): boolean {
    return false;
  }

  /**
   * A short description for the inspector: what exactly is awaited.
   * `_taskPath` is the parked task's path when the caller has it at hand
   * (a walk of the tree does), so a description that names a task below it
   * need not climb to the root for every task of a deep chain.
   */
  describe(_taskPath?: string): string {
    return this.what ?? KIND_WORDS[this.kind];
  }
}

/**
 * A park that is also the iterator of the `yield*` that waits on it (`yield* task`,
 * `yield* future`: no generator per wait). Subclasses write `next`; an error or a
 * cancellation is thrown in through `throw`, after `cancelled` has unregistered it.
 */
export abstract class IteratorPark extends Park implements Iterator<Instruction, unknown, unknown> {
  abstract next(value?: unknown): IteratorResult<Instruction, unknown>;
  throw(error: unknown): IteratorResult<Instruction, unknown> {
    throw error;
  }
  return(value?: unknown): IteratorResult<Instruction, unknown> {
    return { value, done: true };
  }
}

/** What each kind of wait is, in words, for a park that says nothing more. */
const KIND_WORDS: Record<WaitKind, string> = {
  sleep: "a sleep",
  lock: "a lock",
  queue: "a queue",
  io: "the network or a file",
  child: "a child task",
  future: "a Future to be set",
  suspend: "nothing: suspended until cancelled",
  thread: "a worker thread",
  process: "a child process",
  idle: "every other task to block",
  signal: "a signal",
};

/** The park of `suspend()`: never woken, only cancelled. */
export const FOREVER = new Park(null, "suspend", "nothing: suspended until cancelled (suspend())");

/** Not a wait: puts the task at the back of the ready queue (`sleep(0)`). */
export const RESCHEDULE = new Park(null, "sleep");

/**
 * Resumes the task parked on `park` with `value` at its next step. Returns
 * `false` (and does nothing) if the task no longer waits on this park.
 */
export function resume(park: Park, value: unknown): boolean {
  const task = park.task;
  if (task === null || task.park !== park || task.woken) return false;
  task.wake(false, value);
  return true;
}

/** Resumes the task parked on `park` by throwing `error` at its suspension point. */
export function resumeThrow(park: Park, error: unknown): boolean {
  const task = park.task;
  if (task === null || task.park !== park || task.woken) return false;
  task.wake(true, error);
  return true;
}
