/**
 * `corio/redis`: corio past one process, on Redis. A connection owned by a
 * task (`connectRedis`); work queues on BullMQ (`openJobQueue`: jobs
 * processed as corio tasks by any number of processes, put back when a
 * worker stops, cancellable by id from anywhere). Needs the optional peer
 * dependencies `ioredis` and, for job queues, `bullmq`.
 * @module
 */
export { connectRedis, type RedisAddress, type RedisClient, type RedisConnectOptions } from "./connection.ts";
export { JobCompletions, type JobOutcome } from "./job-completions.ts";
export { type AddJobOptions, type JobInfo, JobQueue, type JobQueueOptions, openJobQueue, type ProcessJobsOptions } from "./job-queue.ts";
