/**
 * `corio/redis`: corio past one process, on Redis. A connection owned by a
 * task (`connectRedis`), a cache shared by processes (`redisCache`),
 * server-sent events across processes (`redisEventSource`).
 * Needs the optional peer dependency `ioredis` (and `bullmq` for job queues).
 * @module
 */
export { type RedisCachedFunction, type RedisCacheInfo, type RedisCacheOptions, redisCache } from "./cache.ts";
export { connectRedis, type RedisAddress, type RedisClient, type RedisConnectOptions } from "./connection.ts";
export { type RedisEventSource, type RedisEventSourceOptions, redisEventSource } from "./event-source.ts";
