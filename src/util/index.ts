/**
 * Concurrency utilities: bounded gather, a queue worker pool, a cache for
 * operations, `any`, `retry`, `asCompleted` and `wait`.
 * @module
 */
export { any } from "./any.ts";
export { asCompleted } from "./as-completed.ts";
export { type AsyncCacheOptions, asyncCache, type CachedFunction, type CacheInfo } from "./async-cache.ts";
export { type LimitGatherOptions, limitGather } from "./limit-gather.ts";
export { PROCESS_WITH_LIMIT, ProcessingFailure, type ProcessSource, processQueueWithLimit } from "./process-queue-with-limit.ts";
export { type RetryOptions, retry } from "./retry.ts";
export { type WaitOptions, type WaitResult, wait } from "./wait.ts";
