/**
 * `corio/redis`: corio past one process, on Redis. A connection owned by a
 * task (`connectRedis`). Needs the optional peer dependency `ioredis`
 * (and `bullmq` for job queues).
 * @module
 */
export { connectRedis, type RedisAddress, type RedisClient, type RedisConnectOptions } from "./connection.ts";
