/**
 * Byte streams: `StreamReader` and `StreamWriter` (asyncio's), the
 * `Transport` contract that connects them to sockets, pipes and files, and
 * an in-memory pair. Pure: no Node import, so they sit on any transport.
 * @module
 */
export { IncompleteReadError, LimitOverrunError } from "./errors.ts";
export { createMemoryStreamPair, type StreamEnd } from "./memory-pair.ts";
export { StreamReader } from "./stream-reader.ts";
export { StreamWriter } from "./stream-writer.ts";
export type { ReadTransport, WriteTransport } from "./transport.ts";
