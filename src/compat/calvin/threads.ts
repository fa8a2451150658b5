/**
 * Calvin's `defer_to_thread`, `call_in_thread` and `call_from_thread`, over
 * `corio/threads`.
 * @module
 */
import { callFromThread as nativeCallFromThread } from "../../threads/call-from-thread.ts";
import { callInThread as nativeCallInThread } from "../../threads/default-pool.ts";
import type { ThreadFunction } from "../../threads/thread-context.ts";
import { deferToThread as twistedDeferToThread } from "../twisted/threads.ts";

/**
 * Calvin's `defer_to_thread(func, *args)`: Twisted's `deferToThread` (see
 * `corio/compat/twisted`), a worker-thread job as a `Deferred`.
 *
 * @example
 * ```ts
 * import { run } from "corio";
 * import { deferToThread } from "corio/compat/calvin";
 * await run(function* () {
 *   const d = deferToThread((n: number) => n * 2, 21);
 *   console.assert((yield* d) === 42);
 * });
 * ```
 */
export const deferToThread: typeof twistedDeferToThread = twistedDeferToThread;

/**
 * Calvin's `call_in_thread(func, *args)`: runs `func(...args)` in a worker
 * thread without waiting for it (fire and forget); an error it throws is
 * reported to the loop's `onError`. Native corio: `callInThread` (`corio/threads`),
 * which this is. `func` must be self-contained, as for `deferToThread`.
 *
 * The job belongs to the calling task, which finishes only after it; the
 * returned task can be cancelled to abort it (the original returned nothing).
 *
 * @param func A self-contained function.
 * @param args Its arguments.
 * @returns The job's task.
 * @throws {Error} outside a corio task.
 * @example
 * ```ts
 * import { run } from "corio";
 * import { callInThread } from "corio/compat/calvin";
 * await run(function* () {
 *   const job = callInThread((path: string) => { void path; }, "/tmp/log.txt");
 *   yield* job;
 *   console.assert(job.state === "done");
 * });
 * ```
 */
export function callInThread<A extends unknown[]>(func: ThreadFunction<A, unknown>, ...args: A): ReturnType<typeof nativeCallInThread> {
  return nativeCallInThread(func, ...args);
}

/**
 * Calvin's `call_from_thread(func, *args)`: has `func(...args)` called on
 * the loop. On the main thread, it is queued like `callSoon` (the original
 * said to use `DelayedCall(0, ...)` there). In a worker thread, functions
 * cannot be sent: the main thread registers them by name with
 * `exposeToThreads(name, fn)` (`corio/threads`), and the worker calls
 * `callFromThread(name, ...args)`, getting a promise of the result. Native
 * corio: `callFromThread` (`corio/threads`), which this is.
 *
 * @example
 * ```ts
 * import { run, sleep } from "corio";
 * import { callFromThread } from "corio/compat/calvin";
 * await run(function* () {
 *   const calls: string[] = [];
 *   callFromThread((what: string) => calls.push(what), "update");
 *   yield* sleep(0);
 *   console.assert(calls.join() === "update");
 * });
 * ```
 */
export const callFromThread: typeof nativeCallFromThread = nativeCallFromThread;
