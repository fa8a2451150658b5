/**
 * The default thread pool behind `toThread` and `callInThread`: one per root
 * task, started on first use and closed when that root ends.
 * @module
 */
import { defineOperation } from "../core/_dev.ts";
import type { Loop } from "../core/loop.ts";
import type { Operation } from "../core/operation.ts";
import { createTask, requireCurrentTask } from "../core/spawn.ts";
import type { Task, TaskImpl } from "../core/task.ts";
import type { ThreadFunction } from "./thread-context.ts";
import { ThreadPool, type ThreadPoolOptions } from "./thread-pool.ts";

const pools = new WeakMap<Task<unknown>, ThreadPool>();
let defaultOptions: ThreadPoolOptions = {};

/**
 * Sets the options of the default pools started from now on (those behind
 * `toThread` and `callInThread`); pools already running keep theirs.
 *
 * @example
 * ```ts
 * import { configureDefaultThreadPool } from "corio/threads";
 * configureDefaultThreadPool({ size: 2, idleTimeout: 5000 });
 * configureDefaultThreadPool({});
 * ```
 */
export function configureDefaultThreadPool(options: ThreadPoolOptions): void {
  defaultOptions = { ...options };
}

/** The default pool of the current task's root, started if needed. */
export function defaultThreadPool(api: string): ThreadPool {
  const task = requireCurrentTask(api);
  let root: Task<unknown> = task;
  while (root.parent !== undefined) root = root.parent;
  let pool = pools.get(root);
  if (pool === undefined || pool.closed) {
    pool = ThreadPool.create(root as TaskImpl<unknown>, { name: "corio thread", ...defaultOptions });
    pools.set(root, pool);
  }
  return pool;
}

/**
 * Runs `fn(...args)` in a worker thread of the default pool and gives its
 * result (asyncio's `to_thread`, the seed's `defer_to_thread`): for
 * CPU-bound work that would stall the loop. `fn` must be self-contained (it
 * is sent as source); see `ThreadPool.call` for arguments, transfers,
 * errors and `this.signal`.
 *
 * **Cancellation:** a queued job is dropped; a running one sees
 * `this.signal` aborted, and its worker is replaced if it does not stop
 * within the pool's `abortGrace`.
 *
 * @example
 * ```ts
 * import { run } from "corio";
 * import { toThread } from "corio/threads";
 * await run(function* () {
 *   const fib = yield* toThread((n: number) => {
 *     const f = (k: number): number => (k < 2 ? k : f(k - 1) + f(k - 2));
 *     return f(n);
 *   }, 20);
 *   console.assert(fib === 6765);
 * });
 * ```
 */
export const toThread = defineOperation(function* toThread<A extends unknown[], R>(fn: ThreadFunction<A, R>, ...args: A): Operation<Awaited<R>> {
  return yield* defaultThreadPool("run in a thread").call(fn, ...args);
});

/**
 * Runs `fn(...args)` in a worker thread without waiting for it (the seed's
 * `call_in_thread`, Twisted's `callInThread`). It runs as a child task of
 * the current task, so that task still ends only after the job; an error
 * is reported to the loop's `onError` instead of failing the caller.
 * Returns that task (cancel it to abort the job).
 *
 * @example
 * ```ts
 * import { run } from "corio";
 * import { callInThread } from "corio/threads";
 * await run(function* () {
 *   const job = callInThread((n: number) => { let x = 0; for (let i = 0; i < n; i++) x += i; }, 1000);
 *   yield* job;
 *   console.assert(job.state === "done");
 * });
 * ```
 */
export function callInThread<A extends unknown[]>(fn: ThreadFunction<A, unknown>, ...args: A): Task<void> {
  const parent = requireCurrentTask("call in a thread");
  const pool = defaultThreadPool("call in a thread");
  const loop: Loop = parent.loop;
  // A generator object of one hoisted function, not a closure per call (V8's first call of each new one costs microseconds).
  return createTask(loop, parent, runInThread(pool, loop, fn, args), { name: `callInThread ${fn.name || "(anonymous)"}` }, 0, "call in a thread");
}

/** The body of a `callInThread` task: an error is reported, not thrown (nobody may be waiting for it). */
function* runInThread<A extends unknown[]>(pool: ThreadPool, loop: Loop, fn: ThreadFunction<A, unknown>, args: A): Operation<void> {
  try {
    yield* pool.call(fn, ...args);
  } catch (error) {
    if ((error as { name?: unknown })?.name === "CancelledError") throw error;
    loop.report(error, { kind: "callback", path: `callInThread ${fn.name || "(anonymous)"}` });
  }
}
