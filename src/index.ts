/**
 * corio: asyncio's model for TypeScript. Structured, cancellable tasks on a
 * priority scheduler with a virtual clock, synchronization primitives,
 * byte streams and concurrency utilities.
 * @module corio
 */
export * from "./core/index.ts";
export * from "./streams/index.ts";
export * from "./sync/index.ts";
export * from "./time/index.ts";
export * from "./util/index.ts";
