/**
 * `corio/threads`: CPU-bound work on worker threads, awaited by tasks.
 * `toThread` and `callInThread` use a default pool per root task;
 * `ThreadPool.start` gives a pool of your own.
 * @module corio/threads
 */
export { callFromThread } from "./call-from-thread.ts";
export { callInThread, configureDefaultThreadPool, toThread } from "./default-pool.ts";
export { WorkerCrashedError, WorkerTerminatedError } from "./errors.ts";
export { exposeToThreads } from "./expose.ts";
export type { ThreadContext, ThreadFunction } from "./thread-context.ts";
export { ThreadPool, type ThreadPoolOptions } from "./thread-pool.ts";
export { transfer } from "./transfer.ts";
