/**
 * The Calvin trigger: a data-less "schedule me" call, made from the loop
 * (never from inside a call of the class), several events collapsing into
 * one call. And the internal task each class runs.
 * @module
 */

import { startDaemon } from "../../core/_resource.ts"; // compat-internal: no public way to start a service task at once (see startService)
import { currentLoop } from "../../core/run.ts"; // compat-internal: no public way to report an error to the loop's onError (see report)
import { getCurrentTask, type TaskImpl } from "../../core/task.ts"; // compat-internal: no public way to see the current task's pending cancellation (see startService), or the task running the code inside a boundary (see ownerTask)
import { callSoon, currentTask, type ErrorContext, isCancellation, type Operation, type Task } from "../../index.ts";

/**
 * What a Calvin class calls when it has something for the actor ("data is
 * ready, schedule me"): a function, called with the actor (or actor id)
 * given to the class, or an object with a `trigger(actor)` or
 * `schedule(actor)` method (a scheduler). It carries no data: the actor then
 * polls (`hasData()`, `dataAvailable`, `haveData()`) and pulls (`read()`,
 * `dataGet()`), as with the original `calvinsys.scheduler_wakeup`.
 *
 * It is called from the loop, never from inside a method of the class, and
 * several events in a row may give a single call.
 *
 * @typeParam A The actor (or actor id) it is called with.
 */
export type Trigger<A = unknown> = ((actor: A) => void) | { trigger(actor: A): void } | { schedule(actor: A): void };

/** Turns a `Trigger` into a plain call, or throws a `TypeError` naming `what`. */
function toCall<A>(trigger: Trigger<A>, actor: A, what: string): () => void {
  if (typeof trigger === "function") return () => trigger(actor);
  if (trigger !== null && typeof trigger === "object") {
    if ("trigger" in trigger && typeof trigger.trigger === "function") return () => trigger.trigger(actor);
    if ("schedule" in trigger && typeof trigger.schedule === "function") return () => trigger.schedule(actor);
  }
  throw new TypeError(
    `Cannot create ${named(what)}: trigger must be a function or an object with a trigger(actor) or schedule(actor) method, received ${trigger === null ? "null" : typeof trigger}`,
  );
}

/**
 * Calls a trigger from the loop: `fire()` queues one call unless one is
 * already queued (so a burst of events gives one wake-up), and `stop()`
 * silences it for good. An error the trigger throws is reported to the
 * loop's `onError`; the class goes on.
 */
export class Waker {
  readonly #owner: Task<unknown>;
  readonly #call: (() => void) | null;
  #queued = false;
  #stopped = false;

  /** Silent once `owner` (the task that created the object) has finished: nobody is left to wake. */
  constructor(owner: Task<unknown>, trigger: unknown, actor: unknown, what: string) {
    this.#owner = owner;
    this.#call = trigger === undefined ? null : toCall(trigger as Trigger<unknown>, actor, what);
  }

  fire(): void {
    if (this.#queued || this.#stopped || this.#call === null) return;
    this.#queued = true;
    callSoon(trigger, this);
  }

  stop(): void {
    this.#stopped = true;
  }

  /** @internal Runs the queued call. */
  run(): void {
    this.#queued = false;
    if (!this.#stopped && !this.#owner.done) actingFor(this.#owner, this.#call as () => void);
  }
}

/** Named so that an error it throws is reported as coming from "callback trigger". */
function trigger(waker: Waker): void {
  waker.run();
}

/**
 * The task that is creating a Calvin object: it will own the object's
 * internal task. Inside a `scope`, `shield` or time limit, that is the
 * boundary's own task, as for what corio's own APIs open there (the object
 * closes as the boundary ends; `currentTask()` would name the task that
 * entered it). In a Calvin object's callback, trigger or `DelayedCall`
 * function, the owner of that object. Throws a clear error anywhere else
 * outside a corio task.
 */
export function ownerTask(what: string, action = `create ${named(what)}`): Task<unknown> {
  const task = ownerTaskOrNull();
  if (task === null) throw new Error(`Cannot ${action}: no corio task is running; call it inside an operation started with run() or spawn()`);
  return task;
}

/**
 * The internal task of each Calvin object → the object's owner: callbacks run in the internal task, but
 * what they create belongs to the owner (the internal task may sit under another scope: `startDaemon`
 * puts a service opened in a time limit under the limit's caller).
 */
const serviceOwners = new WeakMap<Task<unknown>, Task<unknown>>();

/** The owner of the trigger or `DelayedCall` function the loop is running outside any task, if any. */
let callbackOwner: Task<unknown> | null = null;

/**
 * Runs `fn`, a callback the loop calls outside any task (a trigger, a
 * `DelayedCall`'s function), as code of `owner`: what it creates belongs to
 * `owner`, as in the original, where the scheduler's own `DelayedCall`
 * re-armed itself from its function and from the trigger.
 */
export function actingFor<T>(owner: Task<unknown>, fn: () => T): T {
  const outer = callbackOwner;
  callbackOwner = owner;
  try {
    return fn();
  } finally {
    callbackOwner = outer;
  }
}

/**
 * The task that owns what code creates now, or `null`: the running task,
 * past the internal tasks of Calvin objects (a client's callback acts for
 * the client's owner); outside any task, the owner of the trigger or
 * `DelayedCall` function being run.
 */
function ownerTaskOrNull(): Task<unknown> | null {
  let task: Task<unknown> | null = getCurrentTask();
  if (task === null) return callbackOwner;
  for (let owner = serviceOwners.get(task); owner !== undefined; owner = serviceOwners.get(task)) task = owner;
  return task;
}

/**
 * Reports `error` to the loop's `onError` at once. (A callback that throws,
 * queued with the public `callSoon`, is lost when the loop is ending, which
 * is when a service's last error comes.)
 */
export function report(error: unknown, path: string, kind: ErrorContext["kind"] = "task"): void {
  currentLoop().report(error, { kind, path });
}

/** "a TCPServer", "an HTTPServer", "an EventSource". */
export function named(what: string): string {
  return /^(?:[AEIO]|HTTP)/.test(what) ? `an ${what}` : `a ${what}`;
}

/**
 * Starts the internal task of a Calvin object: a daemon child of `owner`
 * (so it ends, and its resources close, when the owner has finished), whose
 * unexpected errors are reported to the loop instead of failing the owner.
 * Its first step runs now, inside the caller's step, so that work handed to
 * it before the owner ends (a write, a close) is never skipped: a daemon
 * from the public `spawn` would be cancelled before its first step when the
 * owner ends (or is cancelled) first, and never reach its `finally`.
 */
export function startService(owner: Task<unknown>, name: string, body: () => Operation<void>, action: string): Task<void> {
  if (owner.done) throw new Error(`Cannot ${action}: the task that created it (${owner.path}) has finished`);
  return startDaemon(owner as TaskImpl<unknown>, name, function* service() {
    const self = currentTask() as TaskImpl<void>;
    serviceOwners.set(self, owner);
    try {
      yield* body();
    } catch (error) {
      if (isCancellation(error)) throw error;
      report(error, self.path);
    }
    // `waitClosed()` of a server this task owns swallows a cancellation that reaches this task while
    // it waits (the server shares its CancelledError): end cancelled all the same.
    if (self.cancelError !== null) throw self.cancelError;
  });
}
