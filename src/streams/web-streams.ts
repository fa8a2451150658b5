/**
 * `StreamReader` and `StreamWriter` to and from Web streams
 * (`ReadableStream`, `WritableStream`), with backpressure both ways. Node's
 * `Readable.fromWeb` / `Writable.fromWeb` turn the Web streams made here
 * into Node streams.
 * @module
 */
import { BrokenResourceError } from "../core/errors.ts";
import type { Operation } from "../core/operation.ts";
import { run } from "../core/run.ts";
import type { Task } from "../core/task.ts";
import { streamFailed } from "./_stream-failed.ts";
import { READ_NOW, StreamReader, WAIT_READABLE } from "./stream-reader.ts";
import { StreamWriter } from "./stream-writer.ts";
import type { ReadTransport, WriteTransport } from "./transport.ts";

/** The part of a Web `ReadableStream` that `readerFromWebStream` uses. */
export interface WebByteReadable {
  getReader(): {
    read(): Promise<{ done: true; value?: Uint8Array | undefined } | { done: false; value: Uint8Array }>;
    cancel(reason?: unknown): Promise<void>;
    releaseLock(): void;
  };
}

/** The part of a Web `WritableStream` that `writerToWebStream` uses. */
export interface WebByteWritable {
  getWriter(): {
    write(chunk: Uint8Array): Promise<void>;
    close(): Promise<void>;
    abort(reason?: unknown): Promise<void>;
    readonly closed: Promise<unknown>;
  };
}

/** The host's stream constructors (every modern runtime has them). */
const WebStreams = globalThis as unknown as {
  ReadableStream: new <R>(
    source: { pull(controller: { enqueue(chunk: R): void; close(): void }): Promise<void>; cancel(reason: unknown): void },
    strategy: { highWaterMark: number },
  ) => ReadableStream<R>;
  WritableStream: new <W>(
    sink: {
      start(controller: { readonly signal: AbortSignal }): void;
      write(chunk: W): Promise<void>;
      close(): Promise<void>;
      abort(reason: unknown): void;
    },
    strategy: { highWaterMark: number },
  ) => WritableStream<W>;
};

/**
 * A `StreamReader` fed by a Web `ReadableStream` of bytes (a `fetch`
 * body, a file's `stream()`...). The stream is read only while the reader
 * holds at most twice its `limit` unread: a slow reader slows the source.
 * Its end is the reader's EOF; an error makes the next reads throw
 * `BrokenResourceError` (the stream's error as `cause`). The stream is
 * locked to the reader: to stop early, abort `signal`, which cancels the
 * stream (with the signal's reason) and makes the reads throw
 * `BrokenResourceError` once they have given what is buffered (at most
 * twice `limit`).
 *
 * @param stream A `ReadableStream<Uint8Array>`.
 * @param options `limit` of the reader (default 65536); `signal` to cancel the stream.
 * @returns The reader.
 * @throws {TypeError} for something that is not a readable stream.
 * @throws {RangeError} for a `limit` that is not a positive integer (the stream is left unlocked).
 * @example
 * ```ts
 * import { readerFromWebStream, run } from "corio";
 * const body = new Response("hello web").body as ReadableStream<Uint8Array>;
 * const text = await run(function* () {
 *   const reader = readerFromWebStream(body);
 *   return new TextDecoder().decode(yield* reader.read());
 * });
 * console.assert(text === "hello web");
 * ```
 */
export function readerFromWebStream(stream: WebByteReadable, options: { limit?: number; signal?: AbortSignal } = {}): StreamReader {
  if (stream === null || typeof stream !== "object" || typeof stream.getReader !== "function") {
    throw new TypeError(`Cannot read a Web stream: expected a ReadableStream, received ${stream === null ? "null" : typeof stream}`);
  }
  // The reader first: a bad limit must throw before the stream is locked.
  const reader = new StreamReader(options.limit === undefined ? {} : { limit: options.limit });
  const source = stream.getReader();
  let paused = false;
  let pumping = false;
  let finished = false;
  const signal = options.signal;
  const onAbort = (): void => {
    if (finished) return;
    finished = true;
    reader.setException(new BrokenResourceError("Cannot read: the stream was cancelled", { cause: signal?.reason }));
    source.cancel(signal?.reason).catch(() => undefined);
  };
  const end = (): void => {
    finished = true;
    signal?.removeEventListener("abort", onAbort);
  };
  const pump = async (): Promise<void> => {
    if (pumping || finished) return;
    pumping = true;
    try {
      while (!paused && !finished) {
        const result = await source.read();
        if (finished) return;
        if (result.done) {
          end();
          reader.feedEof();
          source.releaseLock();
          return;
        }
        if (!(result.value instanceof Uint8Array)) {
          end();
          reader.setException(new TypeError(`Cannot read a Web stream: it gave ${typeof result.value} chunks, not Uint8Array`));
          source.cancel("not a byte stream").catch(() => undefined);
          return;
        }
        reader.feed(result.value);
      }
    } catch (error) {
      if (!finished) {
        end();
        reader.setException(streamFailed("read", error));
      }
    } finally {
      pumping = false;
    }
  };
  const transport: ReadTransport = {
    external: true,
    pauseReading() {
      paused = true;
    },
    resumeReading() {
      paused = false;
      void pump();
    },
  };
  reader.setTransport(transport);
  if (signal?.aborted) onAbort();
  else {
    signal?.addEventListener("abort", onAbort, { once: true });
    void pump();
  }
  return reader;
}

/**
 * A `StreamWriter` that writes to a Web `WritableStream`. `drain()` waits
 * while more than `highWaterMark` bytes are written but not yet accepted by
 * the stream's sink; `close()` closes the stream after them, `abort()`
 * aborts it, and `waitClosed()` waits until it is closed. A stream error
 * makes `drain` and later writes throw `BrokenResourceError`.
 *
 * @param stream A `WritableStream<Uint8Array>`.
 * @param options `highWaterMark` in bytes. @default 65536
 * @returns The writer.
 * @throws {TypeError} for something that is not a writable stream.
 * @example
 * ```ts
 * import { run, writerToWebStream } from "corio";
 * const parts: string[] = [];
 * const sink = new WritableStream<Uint8Array>({ write(chunk) { parts.push(new TextDecoder().decode(chunk)); } });
 * await run(function* () {
 *   const writer = writerToWebStream(sink);
 *   writer.write("to the web");
 *   writer.close();
 *   yield* writer.waitClosed();
 * });
 * console.assert(parts.join("") === "to the web");
 * ```
 */
export function writerToWebStream(stream: WebByteWritable, options: { highWaterMark?: number } = {}): StreamWriter {
  if (stream === null || typeof stream !== "object" || typeof stream.getWriter !== "function") {
    throw new TypeError(`Cannot write to a Web stream: expected a WritableStream, received ${stream === null ? "null" : typeof stream}`);
  }
  const highWaterMark = options.highWaterMark ?? 65536;
  const sink = stream.getWriter();
  let queued = 0;
  let closed = false;
  const onClosed = (error: unknown, lost?: boolean): void => {
    if (closed) return;
    closed = true;
    writer.transportClosed(error, lost);
  };
  const transport: WriteTransport = {
    external: true,
    canWriteEof: false,
    highWaterMark,
    get writeBufferSize() {
      return queued;
    },
    write(data) {
      queued += data.length;
      sink.write(data).then(
        () => {
          const wasOver = queued > highWaterMark;
          queued -= data.length;
          if (wasOver && queued <= highWaterMark) writer.transportDrained();
        },
        (error: unknown) => onClosed(error),
      );
    },
    writeEof() {
      throw new Error("Cannot write EOF: a WritableStream cannot half-close; use close()");
    },
    close() {
      sink.close().then(
        () => onClosed(undefined),
        // The sink's own flush failed: what it took may not have gone out.
        (error: unknown) => onClosed(error, true),
      );
    },
    abort() {
      sink.abort("the writer was aborted").catch(() => undefined);
      onClosed(undefined);
    },
  };
  const writer = new StreamWriter(transport);
  sink.closed.catch((error: unknown) => onClosed(error));
  return writer;
}

/**
 * A Web `ReadableStream` of the bytes read from `reader`, pulled only as
 * the stream's consumer asks (no read-ahead: a slow consumer leaves the
 * bytes in the reader, whose transport then pauses). The stream ends at the
 * reader's EOF and fails with its errors. Cancelling the stream cancels the
 * read in flight: nothing is lost from the reader, as a chunk is taken
 * only once it can be given to the stream. A pull that finds the reader
 * empty waits in a root task on the current loop. `Readable.fromWeb(stream)`
 * makes a Node `Readable` of it.
 *
 * @param reader The source.
 * @param options `chunkSize`: the most bytes per chunk. @default 65536
 * @returns The stream.
 * @throws {RangeError} for a `chunkSize` that is not a positive integer or Infinity.
 * @example
 * ```ts
 * import { StreamReader, toWebReadableStream } from "corio";
 * const reader = new StreamReader();
 * reader.feed(new TextEncoder().encode("bytes for the web"));
 * reader.feedEof();
 * const text = await new Response(toWebReadableStream(reader)).text();
 * console.assert(text === "bytes for the web");
 * ```
 */
export function toWebReadableStream(reader: StreamReader, options: { chunkSize?: number } = {}): ReadableStream<Uint8Array> {
  if (!(reader instanceof StreamReader)) throw new TypeError(`Cannot make a ReadableStream: expected a StreamReader, received ${typeof reader}`);
  const chunkSize = options.chunkSize ?? 65536;
  if (!((Number.isInteger(chunkSize) && chunkSize > 0) || chunkSize === Number.POSITIVE_INFINITY)) {
    throw new RangeError(
      `Cannot make a ReadableStream: chunkSize must be a positive integer (or Infinity: whatever is buffered), received ${String(chunkSize)}`,
    );
  }
  let waiting: Task<void> | null = null;
  let cancelled = false;
  return new WebStreams.ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        // The task only waits; the bytes are taken here, in the same step as the look at `cancelled`. A task that
        // took them could finish just before a cancel, and the chunk would then go to a cancelled stream: lost.
        let chunk: Uint8Array | null;
        while ((chunk = reader[READ_NOW](chunkSize)) === null) {
          const task = run(reader[WAIT_READABLE](), { name: "web stream read" });
          waiting = task;
          try {
            await task;
          } catch (error) {
            if (cancelled) return;
            throw error;
          } finally {
            waiting = null;
          }
          if (cancelled) return;
        }
        if (chunk.length === 0) controller.close();
        else controller.enqueue(chunk);
      },
      cancel(reason) {
        cancelled = true;
        waiting?.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}

/**
 * A Web `WritableStream` whose chunks go to `writer`: each write waits for
 * `writer.drain()`, so the stream's producer feels the backpressure;
 * closing the stream closes the writer and waits until it is closed;
 * aborting it aborts the writer at once, also while a write waits for the
 * drain (that write then rejects with the abort's reason). A `pipeTo`
 * stopped by its `signal` is different: the standard makes it wait for the
 * write in flight before it aborts the stream, so against a peer that does
 * not read it ends only once the writer drains or closes; abort the writer
 * too (or end the task that owns the connection).
 * `Writable.fromWeb(stream)` makes a Node `Writable` of it. Each chunk is
 * copied: once a write resolves, its producer may reuse the buffer (a
 * socket would still hold it).
 *
 * @param writer The destination.
 * @returns The stream.
 * @example
 * ```ts
 * import { createMemoryStreamPair, run, toWebWritableStream } from "corio";
 * const [a, b] = createMemoryStreamPair();
 * const stream = toWebWritableStream(a.writer);
 * await new Response("through the pipe").body?.pipeTo(stream);
 * const text = await run(function* () { return new TextDecoder().decode(yield* b.reader.read()); });
 * console.assert(text === "through the pipe");
 * ```
 */
export function toWebWritableStream(writer: StreamWriter): WritableStream<Uint8Array> {
  if (!(writer instanceof StreamWriter)) throw new TypeError(`Cannot make a WritableStream: expected a StreamWriter, received ${typeof writer}`);
  const step = (op: () => Operation<void>, name: string): Promise<void> => Promise.resolve(run(op, { name }));
  let signal: AbortSignal | undefined;
  return new WebStreams.WritableStream<Uint8Array>(
    {
      start(controller) {
        // The stream calls abort() below only once the write in flight has settled, and that write waits for a
        // drain that a peer that does not read never gives: the signal is aborted at once, so the writer is aborted
        // then, which ends the drain.
        signal = controller.signal;
        signal.addEventListener("abort", () => writer.abort(), { once: true });
      },
      async write(chunk) {
        // The Web contract lets the producer refill `chunk` once the write resolves; a socket keeps it by reference.
        // A copy: a Buffer's slice() (what Writable.fromWeb passes) is a view.
        writer.write(chunk instanceof Uint8Array ? new Uint8Array(chunk) : chunk);
        try {
          await step(() => writer.drain(), "web stream write");
        } catch (error) {
          // The abort's reason, not the drain's ClosedResourceError: the producer aborted, and knows why.
          if (signal?.aborted) throw signal.reason;
          throw error;
        }
        // Aborted while it waited: the chunk was dropped, so the write must not look done.
        if (signal?.aborted) throw signal.reason;
      },
      close() {
        writer.close();
        return step(() => writer.waitClosed(), "web stream close");
      },
      abort() {
        writer.abort();
      },
    },
    { highWaterMark: 1 },
  );
}
