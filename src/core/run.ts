/**
 * Starting root tasks from ordinary code, and stopping the loop.
 * @module
 */
import { programStartHooks } from "./_host.ts";
import { getDefaultLoop, getRunningLoop, Loop, type LoopOptions } from "./loop.ts";
import type { OperationLike } from "./operation.ts";
import { createTask } from "./spawn.ts";
import { getCurrentTask, type Task } from "./task.ts";

/** Options of `run`: the task's name and priority, and (making a loop of its own) a clock and error handling. */
export interface RunOptions extends LoopOptions {
  /** The root task's name. @default `task-<id>` */
  name?: string;
  /** The root task's priority, 1..100. @default 10 */
  priority?: number;
  /**
   * Cancels the task when it aborts, with `signal.reason` as the cancel
   * reason; a signal already aborted cancels the task before its first
   * step (its body never runs). The listener is removed when the task ends.
   */
  signal?: AbortSignal;
}

/**
 * Starts `op` as a root task and returns its `Task`, which is also a promise:
 * `await run(op)` gives the result or throws the error. Without `clock`,
 * `onError` or `stopOnError` it runs on the shared default loop (or, called
 * inside a task, on that task's loop); with any of them it gets a loop of
 * its own. The task starts in a microtask, never inside this call.
 *
 * A root task that fails while nobody awaits it is reported to the loop's
 * `onError` (by default printed with its task path).
 *
 * With `signal`, aborting it cancels the task (the way promise-based code
 * stops corio work): the `CancelledError` carries `signal.reason`.
 *
 * @param op The operation, or a function returning one.
 * @param options Name, priority, an `AbortSignal`, and loop options.
 * @throws {TypeError} for a `signal` that is not an `AbortSignal`.
 * @returns The root task.
 * @example
 * ```ts
 * import { run, sleep } from "corio";
 * const value = await run(function* () { yield* sleep(5); return "ok"; });
 * console.assert(value === "ok");
 * ```
 * @example Cancelled by an AbortSignal
 * ```ts
 * import { isCancellation, run, suspend } from "corio";
 * const controller = new AbortController();
 * const task = run(suspend, { signal: controller.signal });
 * controller.abort("user went away");
 * await task.then(
 *   () => console.assert(false),
 *   (e) => console.assert(isCancellation(e) && e.reason === "user went away"),
 * );
 * ```
 */
export function run<T>(op: OperationLike<T>, options: RunOptions = {}): Task<T> {
  const signal = options.signal;
  if (signal !== undefined && (signal === null || typeof signal !== "object" || typeof signal.addEventListener !== "function")) {
    throw new TypeError(`Cannot run: signal must be an AbortSignal, received ${signal === null ? "null" : typeof signal}`);
  }
  const ownLoop = options.clock !== undefined || options.onError !== undefined || options.stopOnError !== undefined;
  const loop = ownLoop ? new Loop(options) : currentLoop();
  const task = startRoot(loop, op, options);
  if (signal !== undefined) cancelOnAbort(task, signal);
  // As `main` does: a cluster worker asked to close while no program ran stops the one starting here.
  if (!ownLoop) for (const hook of programStartHooks) hook();
  return task;
}

/** Cancels `task` when `signal` aborts (at once if it has), until the task ends. */
function cancelOnAbort(task: Task<unknown>, signal: AbortSignal): void {
  if (signal.aborted) {
    task.cancel(signal.reason);
    return;
  }
  const onAbort = (): void => {
    task.cancel(signal.reason);
  };
  signal.addEventListener("abort", onAbort, { once: true });
  task.addDoneCallback(() => signal.removeEventListener("abort", onAbort));
}

/** Starts a root task on `loop`. */
export function startRoot<T>(loop: Loop, op: OperationLike<T>, options: { name?: string; priority?: number }): Task<T> {
  const name = options.name;
  const priority = options.priority;
  // No name and no priority (most calls): createTask's short path, with no options to check.
  const spawnOptions = name === undefined && priority === undefined ? undefined : { ...(name !== undefined && { name }), priority: priority ?? 10 };
  // Before the task exists: it is queued as it is created.
  loop.useClock(true);
  let task: Task<T>;
  try {
    task = createTask(loop, null, op, spawnOptions, 0, "run");
  } catch (error) {
    loop.releaseClockIfDone();
    throw error;
  }
  loop.roots.add(task as never);
  return task;
}

/**
 * Stops the current loop (or the default loop, called outside a task):
 * every root task is cancelled, so their cleanup runs and `main` returns.
 * The seed scheduler's "kill the OS", asyncio's `loop.stop()`, Twisted's
 * `reactor.stop()`.
 *
 * @param reason Carried by the `CancelledError`s.
 * @example
 * ```ts
 * import { run, stop, suspend, isCancellation } from "corio";
 * const server = run(suspend);
 * stop("shutting down");
 * await server.then(() => {}, (e) => console.assert(isCancellation(e)));
 * ```
 */
export function stop(reason: unknown = "stop() was called"): void {
  currentLoop().stop(reason);
}

/**
 * The loop a task runs on: the current task's, or the default one.
 * @internal
 */
export function currentLoop(): Loop {
  return getCurrentTask()?.loop ?? getRunningLoop() ?? getDefaultLoop();
}
