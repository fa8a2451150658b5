/**
 * Starting a child task and waiting until it says it is ready (Trio's
 * `nursery.start`).
 * @module
 */
import { throwFailuresOverCancel, throwPendingCancel, waitUntilDone } from "./_boundary.ts";
import { defineOperation } from "./_dev.ts";
import { FAILS_ALONE, RESOURCES_TO_PARENT, SHIELDED } from "./_scope.ts";
import type { CancelledError } from "./errors.ts";
import { type FutureWait, HandOffFuture, WAIT_WORDS } from "./future.ts";
import type { Operation } from "./operation.ts";
import { createTask, requireCurrentTask, type SpawnOptions } from "./spawn.ts";
import { type Task, type TaskImpl, type Watcher, withContextOf } from "./task.ts";

/** What `start` gives: the value the task passed to `started`, and the task, which runs on. */
export interface Started<T, S> {
  /** What the task passed to `started(value)`. */
  readonly value: S;
  /** The task: a child of the caller, or of the task that entered the time limits and shields around the call. */
  readonly task: Task<T>;
}

/**
 * Starts `fn(started)` as a child task of the current task, as `spawn` does,
 * and waits until the task calls `started(value)`: then returns that value
 * and the task, which runs on (Trio's `nursery.start` and
 * `task_status.started`). The usual use is a service that must be ready
 * before the caller goes on: a server that listens, then serves. Inside a
 * time limit, the task is a child of the task that entered it, so
 * `timeout(ms, start(serve))` limits the start-up only (Trio's
 * `fail_after` around `nursery.start`); `shield(start(serve))` shields the
 * start-up only, the caller's cancel reaching the task once it called
 * `started`; inside a `scope` it is the scope's (a nursery), which waits
 * for it. Each operation of `all` or `race` is a
 * task of its own: a service started in one keeps it running.
 *
 * Until it calls `started`, the task belongs to the `start` call: if it
 * fails, its error is thrown by `start` (and does not fail the caller as a
 * child's error would); if it ends without calling `started`, `start` throws
 * an `Error` saying so; if it is cancelled, `start` throws an `Error` whose
 * `cause` is the cancellation. From `started` on, it is an ordinary child:
 * its failure fails the caller, and the caller ends only after it (unless
 * it is a `daemon`).
 *
 * **Cancellation:** before `started`, cancels the task and waits for its
 * cleanup, then throws the cancel, or the cleanup's error (an error is never
 * replaced by a cancellation, decided case 12); a `started` called during
 * that cleanup does nothing (as in Trio). A task that called `started`
 * before the cancel came gives its value, and the cancel is thrown at the
 * caller's next suspension. Entered with a cancel pending, `start` throws
 * it before the task is made (decided case 11).
 *
 * Unlike Trio's, the task is always the caller's child (or that of the task
 * that entered the time limits and shields around the call): Trio can start
 * a task in another nursery, corio has no handle on another task's children.
 *
 * @param fn Makes the task's operation; called in the task, with `started`.
 * `started(value)` may be called once; a second call throws.
 * @param options As for `spawn`: name, priority, delay, period, daemon.
 * @returns The value given to `started`, and the task.
 * @throws what the task threw before calling `started`, or an `Error` if it
 * ended or was cancelled without calling it.
 * @example A server that is ready once it listens
 * ```ts
 * import { type Operation, sleep, start } from "corio";
 * import { runVirtual } from "corio/testing";
 * function* serve(started: (port: number) => void): Operation<void> {
 *   const port = 8080; // listen here, then:
 *   started(port);
 *   yield* sleep(1000); // serve
 * }
 * await runVirtual(function* () {
 *   const { value: port, task } = yield* start(serve);
 *   console.assert(port === 8080 && task.state !== "done");
 *   task.cancel();
 * });
 * ```
 */
export const start = defineOperation(function* start<T, S = void>(
  fn: (started: (value: S) => void) => Operation<T>,
  options?: SpawnOptions,
): Operation<Started<T, S>> {
  if (typeof fn !== "function") throw new TypeError(`Cannot start: expected a function that takes started and returns an operation, received ${typeof fn}`);
  const caller = requireCurrentTask("start");
  throwPendingCancel(caller);
  const run = new StartedCall<T, S>(fn);
  const owner = serviceOwner(caller);
  // Started inside a shield that the owner is outside of: the start-up is shielded too (the owner's
  // cancel reaches the task only once it has called `started`).
  const flags = shieldedBetween(caller, owner) ? FAILS_ALONE | SHIELDED : FAILS_ALONE;
  const task = withContextOf(caller, owner, () => createTask(caller.loop, owner, run.body, options, flags, "start"));
  run.task = task;
  run.ownerCancelAtStart = owner.cancelError;
  task.addWatcher(run);
  try {
    return { value: yield* run.ready, task };
  } catch (error) {
    // Cancelled while waiting (the call was abandoned as the cancel came, before the task could run):
    // the task is cancelled and its cleanup awaited, still belonging to this call (a `started` meanwhile
    // does nothing); an error of that cleanup, or one it had already thrown, is thrown over the cancel.
    if (error === caller.cancelError && (task.flags & FAILS_ALONE) !== 0) {
      run.abandon();
      yield* waitUntilDone(caller, task as TaskImpl<unknown>, error);
      throwFailuresOverCancel(caller, [task as TaskImpl<unknown>]);
    }
    throw error;
  }
});

/**
 * Whose child the started task is: the caller's, or past the time limits and shields it runs in (they
 * run one operation for their caller, as a resource they return goes to it), so that a time limit or
 * shield around `start` covers the start-up only (Trio's `fail_after` or shielded scope around
 * `nursery.start`) and does not wait for the task. A `scope` is a nursery: a task started in it is its
 * child, and it waits for it. (`startDaemon` stops at shields on purpose: a resource opened in a shield
 * is the shield's, closed as it ends; a started task is a service that outlives the call.)
 */
function serviceOwner(caller: TaskImpl<unknown>): TaskImpl<unknown> {
  let owner = caller;
  while ((owner.flags & RESOURCES_TO_PARENT) !== 0 && owner.parentScope !== null) owner = owner.parentScope as TaskImpl<unknown>;
  return owner;
}

/** Whether a shield lies between `caller` and `owner` (the caller itself included, the owner not). */
function shieldedBetween(caller: TaskImpl<unknown>, owner: TaskImpl<unknown>): boolean {
  for (let task = caller; task !== owner; task = task.parentScope as TaskImpl<unknown>) if ((task.flags & SHIELDED) !== 0) return true;
  return false;
}

/**
 * What the caller of `start` waits on. A wait on it that is cancelled (it has not been woken) abandons
 * the call at once, in the turn of the cancel: the task, cancelled in that same turn, may run its
 * cleanup before the caller runs again, and a `started` there must already do nothing.
 */
class StartGate<S> extends HandOffFuture<S> {
  readonly #onAbandon: () => void;
  readonly #call: StartedCall<unknown, S>;
  constructor(call: StartedCall<unknown, S>, onAbandon: () => void) {
    super();
    this.#call = call;
    this.#onAbandon = onAbandon;
  }
  get [WAIT_WORDS](): string {
    const task = this.#call.task;
    return task === null ? "a task to start (start)" : `task ${task.path} to call started() (start)`;
  }
  override removeWaiter(park: FutureWait): void {
    super.removeWaiter(park);
    if (!this.done) this.#onAbandon();
  }
}

/** One `start` call: the task's body, its `started`, and what ends the wait if it ends first. */
class StartedCall<T, S> implements Watcher {
  task: TaskImpl<T> | null = null;
  /** The owner's cancel when the task was made (one the task did not inherit because it was shielded, or none). */
  ownerCancelAtStart: CancelledError | null = null;
  readonly ready: StartGate<S> = new StartGate<S>(this as StartedCall<unknown, S>, () => this.abandon());
  readonly #fn: (started: (value: S) => void) => Operation<T>;
  #startedCalled = false;
  /** The caller stopped waiting (it was cancelled): `started` does nothing, the task stays this call's. */
  #abandoned = false;
  constructor(fn: (started: (value: S) => void) => Operation<T>) {
    this.#fn = fn;
  }

  /** The task's operation, made in the task (a function, so `fn` runs at the task's first step). */
  readonly body = (): Operation<T> => this.#fn(this.started);

  readonly started = (value: S): void => {
    if (this.#startedCalled) throw new Error("Cannot call started() twice: a task started with start() says it is ready once");
    this.#startedCalled = true;
    if (this.#abandoned) return;
    const task = this.task as TaskImpl<T>;
    task.flags &= ~(FAILS_ALONE | SHIELDED);
    task.removeWatcher(this);
    // Out of the shield of its start-up: the owner's cancel reaches it now if it would reach a child
    // spawned now (pending), or if it came while the task was shielded.
    const owner = task.parentScope as TaskImpl<unknown>;
    const cancel = owner.cancelError;
    if (cancel !== null && (owner.cancelPending || cancel !== this.ownerCancelAtStart)) task.requestCancel(cancel);
    this.ready.resolve(value);
  };

  abandon(): void {
    this.#abandoned = true;
    (this.task as TaskImpl<T>).removeWatcher(this);
  }

  taskFinished(task: TaskImpl<unknown>): void {
    const ready = this.ready;
    if (ready.done) return;
    if (task.state === "failed") {
      task.markObserved();
      ready.reject(task.error);
    } else if (task.state === "cancelled")
      ready.reject(new Error(`Cannot start: ${task.path} was cancelled before it called started()`, { cause: task.error }));
    else ready.reject(new Error(`Cannot start: ${task.path} ended without calling started()`));
  }
}
