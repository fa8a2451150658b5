/**
 * In-memory streams: two connected ends, for tests and for plumbing tasks
 * together without a socket.
 * @module
 */
import { BrokenResourceError } from "../core/errors.ts";
import { StreamReader } from "./stream-reader.ts";
import { StreamWriter } from "./stream-writer.ts";
import type { ReadTransport, WriteTransport } from "./transport.ts";

/** One end of a stream pair: read what the other end writes, and write to it. */
export interface StreamEnd {
  reader: StreamReader;
  writer: StreamWriter;
}

/** One direction of a pair: bytes written on one side, delivered to the other side's reader. */
class MemoryPipe implements WriteTransport, ReadTransport {
  readonly external = false;
  readonly canWriteEof = true;
  readonly highWaterMark: number;
  readonly reader: StreamReader;
  writer: StreamWriter | null = null;
  /** The pipe the other way, between the same two ends: an abort cuts it too. */
  reverse: MemoryPipe | null = null;
  readonly #queue: Uint8Array[] = [];
  #queued = 0;
  #paused = false;
  #ended = false;
  #closed = false;

  constructor(reader: StreamReader, highWaterMark: number) {
    this.reader = reader;
    this.highWaterMark = highWaterMark;
    reader.setTransport(this);
  }

  get writeBufferSize(): number {
    return this.#queued;
  }

  write(data: Uint8Array): void {
    if (this.#closed) return;
    // A copy (not slice(), which is a view of a Node Buffer): the writer may change its buffer at once.
    this.#queue.push(new Uint8Array(data));
    this.#queued += data.length;
    this.#deliver();
  }

  writeEof(): void {
    this.#ended = true;
    this.#deliver();
  }

  close(): void {
    this.writeEof();
  }

  abort(): void {
    const wasClosed = this.#closed;
    this.#queue.length = 0;
    this.#queued = 0;
    this.#closed = true;
    if (!wasClosed) this.reader.setException(new BrokenResourceError("Cannot read: the other end aborted the stream"));
    this.writer?.transportClosed();
    // An abort is a reset of the whole connection, as on a socket: the other end's writer, which may be waiting
    // for a drain that this end will never give, breaks, and this end's reader sees the end.
    if (this.reverse !== null) this.reverse.#cut();
  }

  /** The end this pipe delivers to was aborted: what is queued is lost, the reader sees the end, the writer breaks. */
  #cut(): void {
    if (this.#closed) return;
    this.#closed = true;
    const lost = this.#queued > 0;
    this.#queue.length = 0;
    this.#queued = 0;
    this.reader.feedEof();
    this.writer?.transportClosed(new BrokenResourceError("Cannot write: the other end aborted the stream"), lost);
  }

  pauseReading(): void {
    this.#paused = true;
  }

  resumeReading(): void {
    this.#paused = false;
    this.#deliver();
  }

  #deliver(): void {
    const wasOver = this.#queued > this.highWaterMark;
    while (!this.#paused && this.#queue.length > 0) {
      const chunk = this.#queue.shift() as Uint8Array;
      this.#queued -= chunk.length;
      this.reader.feed(chunk);
    }
    if (wasOver && this.#queued <= this.highWaterMark) this.writer?.transportDrained();
    if (this.#ended && this.#queue.length === 0 && !this.#closed) {
      this.#closed = true;
      this.reader.feedEof();
      this.writer?.transportClosed();
    }
  }
}

/**
 * Makes two connected stream ends: what one end's `writer` writes, the other
 * end's `reader` reads. Backpressure is real: a reader whose buffer is full
 * stops taking data, the bytes wait in the pipe, and the writer's `drain()`
 * waits once more than `highWaterMark` bytes are queued. `close()` is a
 * half-close (the other end reads EOF and may still answer); `abort()` on
 * either end is a reset of both ways, as on a socket: the other end's reads
 * throw `BrokenResourceError` once its buffer is empty, its writes and a
 * `drain()` waiting there throw it at once (its `waitClosed()` too if it
 * had bytes queued, now lost), and the aborting end's reader reads what it
 * had buffered, then EOF.
 *
 * @param options `limit` of each reader (default 65536) and `highWaterMark` of each writer (default 65536).
 * @example
 * ```ts
 * import { createMemoryStreamPair, run } from "corio";
 * await run(function* () {
 *   const [client, server] = createMemoryStreamPair();
 *   client.writer.write("hello");
 *   client.writer.close();
 *   console.assert(new TextDecoder().decode(yield* server.reader.read()) === "hello");
 * });
 * ```
 */
export function createMemoryStreamPair(options: { limit?: number; highWaterMark?: number } = {}): [StreamEnd, StreamEnd] {
  const highWaterMark = options.highWaterMark ?? 65536;
  const end = (): StreamReader => new StreamReader(options.limit === undefined ? {} : { limit: options.limit });
  const aReader = end();
  const bReader = end();
  const aToB = new MemoryPipe(bReader, highWaterMark);
  const bToA = new MemoryPipe(aReader, highWaterMark);
  const aWriter = new StreamWriter(aToB);
  const bWriter = new StreamWriter(bToA);
  aToB.writer = aWriter;
  bToA.writer = bWriter;
  aToB.reverse = bToA;
  bToA.reverse = aToB;
  return [
    { reader: aReader, writer: aWriter },
    { reader: bReader, writer: bWriter },
  ];
}
