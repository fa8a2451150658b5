/**
 * `corio/redis`: corio past one process, on Redis. A connection owned by a
 * task (`connectRedis`); work queues on BullMQ (`openJobQueue`: jobs
 * processed as corio tasks by any number of processes, put back when a
 * worker stops, cancellable by id from anywhere); a cache shared by
 * processes (`redisCache`); server-sent events across processes
 * (`redisEventSource`). Needs the optional peer dependencies `ioredis` and,
 * for job queues, `bullmq`.
 * @module
 */
export { type RedisCachedFunction, type RedisCacheInfo, type RedisCacheOptions, redisCache } from "./cache.ts";
export { connectRedis, type RedisAddress, type RedisClient, type RedisConnectOptions } from "./connection.ts";
export { type RedisEventSource, type RedisEventSourceOptions, redisEventSource } from "./event-source.ts";
export { JobCompletions, type JobOutcome } from "./job-completions.ts";
export { type AddJobOptions, type JobInfo, JobQueue, type JobQueueOptions, openJobQueue, type ProcessJobsOptions } from "./job-queue.ts";
