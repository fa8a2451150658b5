/**
 * Byte streams: `StreamReader` and `StreamWriter` (asyncio's), the
 * `Transport` contract that connects them to sockets, pipes and files, an
 * in-memory pair, and adapters to and from Node and Web streams. Pure: no Node import, so they sit on any transport.
 * @module
 */
export { IncompleteReadError, LimitOverrunError } from "./errors.ts";
export { createMemoryStreamPair, type StreamEnd } from "./memory-pair.ts";
export { type NodeReadableLike, type NodeWritableLike, readerFromNodeStream, writerToNodeStream } from "./node-streams.ts";
export { StreamReader } from "./stream-reader.ts";
export { StreamWriter } from "./stream-writer.ts";
export type { ReadTransport, WriteTransport } from "./transport.ts";
export { readerFromWebStream, toWebReadableStream, toWebWritableStream, type WebByteReadable, type WebByteWritable, writerToWebStream } from "./web-streams.ts";
