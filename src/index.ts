/**
 * corio: asyncio's model for TypeScript. Structured, cancellable tasks on a
 * priority scheduler with a virtual clock.
 * @module
 */
export * from "./core/index.ts";
export * from "./time/index.ts";
