/**
 * Reaching the main thread: `callFromThread`.
 * @module
 */
import { currentLoop } from "../core/run.ts";

interface ThreadHook {
  callFromThread(name: string, ...args: unknown[]): Promise<unknown>;
}

/**
 * From a worker thread of a corio pool, calls the main-thread function
 * exposed under `name` (see `exposeToThreads`) and gives a promise of its
 * result; its error arrives with its class where the worker has it (see
 * `ThreadContext.callFromThread`). On the main thread, schedules `fn(...args)` on the running loop
 * (like `callSoon`), which is what the seed's `call_from_thread` did there.
 *
 * @example
 * ```ts
 * import { run } from "corio";
 * import { callFromThread, exposeToThreads, ThreadPool } from "corio/threads";
 * const unexpose = exposeToThreads("log", (line: string) => line.length);
 * await run(function* () {
 *   // In a module run with pool.run(...), import callFromThread and call callFromThread("log", "hi").
 *   let called = false;
 *   callFromThread(() => { called = true; });
 *   const pool = yield* ThreadPool.start({ size: 1 });
 *   console.assert((yield* pool.call(async function () { return await this.callFromThread("log", "hi"); })) === 2);
 *   console.assert(called);
 * });
 * unexpose();
 * ```
 */
export function callFromThread(name: string, ...args: unknown[]): Promise<unknown>;
export function callFromThread<A extends unknown[]>(fn: (...args: A) => unknown, ...args: A): void;
export function callFromThread(target: string | ((...args: never[]) => unknown), ...args: unknown[]): Promise<unknown> | undefined {
  const hook = (globalThis as { [key: symbol]: ThreadHook | undefined })[Symbol.for("corio.thread")];
  if (hook !== undefined) {
    if (typeof target !== "string") {
      return Promise.reject(new TypeError("callFromThread in a worker takes the name of a function exposed with exposeToThreads, not a function"));
    }
    return hook.callFromThread(target, ...args);
  }
  if (typeof target !== "function") {
    throw new TypeError(`callFromThread on the main thread takes a function; ${JSON.stringify(target)} names an exposed function, which only workers call`);
  }
  currentLoop().callSoon(target, args);
  return undefined;
}
