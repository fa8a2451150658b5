/**
 * Twisted's `threads.deferToThread`: a worker-thread job as a `Deferred`.
 * @module
 */

import { createTask, requireCurrentTask } from "../../core/spawn.ts"; // compat-internal: deferToThread starts a task from plain code, outside any operation
import { getCurrentTask, type TaskImpl } from "../../core/task.ts"; // compat-internal: a reactor callback's job has no task of its own
import { isCancellation, type Operation } from "../../index.ts";
import type { ThreadFunction } from "../../threads/index.ts";
import { toThread } from "../../threads/index.ts";
import { Deferred, deferredError } from "./deferred.ts";
import { runningReactorTask } from "./reactor.ts";

/**
 * Twisted's `deferToThread(func, *args)` (and Calvin's `defer_to_thread`): runs `func(...args)` in a worker
 * thread and gives a Twisted `Deferred` that fires with its result (or
 * errbacks with its error) on the loop, so the original chains
 * (`addCallback`, `addErrback`, `addBoth(wakeup)`) port unchanged. Native
 * corio: `yield* toThread(fn, ...args)` (`corio/threads`), which just
 * returns the result or throws.
 *
 * `func` runs in another thread: it must be self-contained (it is sent as
 * source, so it sees no variables of the caller), and its arguments and
 * result are copied (structured clone). Python threads shared the caller's
 * memory; here, pass what it needs as arguments.
 *
 * The job belongs to the calling task: that task finishes only after the
 * job. Called from a reactor's own callbacks (`callWhenRunning`,
 * `callLater`, a `LoopingCall`), where no task runs, it belongs to that
 * reactor while it runs, as in Twisted. `deferred.cancel()` aborts the job (its
 * `this.signal`) and errbacks with Twisted's `CancelledError`; in the original the
 * thread ran on and its result was dropped.
 *
 * @param func A self-contained function.
 * @param args Its arguments.
 * @returns A Deferred of its result.
 * @throws {Error} outside a corio task and a running reactor's callbacks.
 * @example
 * ```ts
 * import { run } from "corio";
 * import { deferToThread } from "corio/compat/twisted";
 * await run(function* () {
 *   const seen: unknown[] = [];
 *   const d = deferToThread((n: number) => n * 2, 21);
 *   d.addCallback((value: number) => seen.push(value));
 *   yield* d;
 *   const failed = deferToThread(() => { throw new RangeError("too big"); });
 *   failed.addErrback((failure) => seen.push(failure.getErrorMessage()));
 *   yield* failed.addBoth(() => undefined);
 *   console.assert(seen.join() === "42,too big");
 * });
 * ```
 */
export function deferToThread<A extends unknown[], R>(func: ThreadFunction<A, R>, ...args: A): Deferred<Awaited<R>> {
  // From a reactor callback (callWhenRunning, callLater, a LoopingCall) there is no task: the job is the reactor's.
  const parent = getCurrentTask() ?? (runningReactorTask() as TaskImpl<unknown> | null) ?? requireCurrentTask("defer to a thread");
  if (typeof func !== "function") throw new TypeError(`Cannot defer to a thread: func must be a function, received ${typeof func}`);
  const answer: { deferred?: Deferred<Awaited<R>> } = {};
  // A generator object of one hoisted function, not a closure per call (V8's first call of each new one costs microseconds).
  const task = createTask(
    parent.loop,
    parent,
    callThenFire(func, args, answer),
    { name: `deferToThread ${func.name || "(anonymous)"}` },
    0,
    "defer to a thread",
  );
  const deferred = new Deferred<Awaited<R>>(() => {
    task.cancel("the Deferred was cancelled");
  });
  answer.deferred = deferred;
  return deferred;
}

/** The body of a `deferToThread` task: fires `answer.deferred` with the result, or errbacks it. */
function* callThenFire<A extends unknown[], R>(func: ThreadFunction<A, R>, args: A, answer: { deferred?: Deferred<Awaited<R>> }): Operation<void> {
  let result: Awaited<R>;
  try {
    result = yield* toThread(func, ...args);
  } catch (error) {
    // Cancelled with its task (the caller was cancelled): the Deferred errbacks with Twisted's CancelledError.
    if (!answer.deferred?.called) answer.deferred?.errback(deferredError(error));
    if (isCancellation(error)) throw error;
    return;
  }
  if (!answer.deferred?.called) answer.deferred?.callback(result);
}
