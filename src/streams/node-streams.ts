/**
 * `StreamReader` and `StreamWriter` over Node streams (a `Readable`, a
 * `Writable`, a socket or a pipe made elsewhere), with backpressure both
 * ways. Structural types only: this module imports nothing from Node.
 * @module
 */
import { BrokenResourceError } from "../core/errors.ts";
import { streamFailed } from "./_stream-failed.ts";
import { StreamReader } from "./stream-reader.ts";
import { StreamWriter } from "./stream-writer.ts";
import type { ReadTransport, WriteTransport } from "./transport.ts";

const encoder = new TextEncoder();

/** The part of a Node `Readable` that `readerFromNodeStream` uses. */
export interface NodeReadableLike {
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  removeListener(event: string, listener: (...args: unknown[]) => void): unknown;
  pause(): unknown;
  resume(): unknown;
  destroy(error?: Error): unknown;
  /** Node's `Readable` has them: a stream that has ended, failed or been destroyed already emits no event to wait for. */
  readonly readableEnded?: boolean;
  readonly destroyed?: boolean;
  readonly errored?: unknown;
}

/** The part of a Node `Writable` that `writerToNodeStream` uses. */
export interface NodeWritableLike {
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  removeListener(event: string, listener: (...args: unknown[]) => void): unknown;
  /** Node calls `callback` once the chunk went out, or with an error if it never will (the stream was destroyed). */
  write(chunk: Uint8Array, callback?: (error?: Error | null) => void): boolean;
  end(): unknown;
  destroy(error?: Error): unknown;
  readonly writableLength: number;
  readonly writableHighWaterMark: number;
  /** Node's `Writable` has them: an error after `end()` and before `'finish'` then counts the close as failed. */
  readonly writableEnded?: boolean;
  readonly writableFinished?: boolean;
  /** Node's `Writable` has them: a stream destroyed or failed already emits no event to wait for. */
  readonly destroyed?: boolean;
  readonly errored?: unknown;
}

/**
 * Left on a stream once an adapter is done with it, as Node's
 * `stream.finished()` leaves its listeners: an `'error'` that comes later (a
 * Duplex whose other side fails after this one ended, a stream destroyed with
 * an error) would otherwise have no listener and end the process.
 */
function ignoreLateErrors(stream: { on(event: string, listener: (...args: unknown[]) => void): unknown }): void {
  // One listener a stream, however many adapters it has had.
  if (streamsIgnoringLateErrors.has(stream)) return;
  streamsIgnoringLateErrors.add(stream);
  stream.on("error", ignoreError);
}
const streamsIgnoringLateErrors = new WeakSet<object>();
function ignoreError(): void {}

/**
 * A `StreamReader` fed by a Node `Readable` (bytes or strings, encoded as
 * UTF-8). The stream is paused while the reader holds more than twice its
 * `limit` unread, and resumed as the reader is read: a slow reader slows
 * the source. A stream paused by its owner (`stream.pause()`) is resumed:
 * handing it over is asking for it to be read. Its end is the reader's
 * EOF; an error, or a destroy before the end, makes the next reads throw
 * `BrokenResourceError` (the stream's
 * error as `cause`). A stream that has already ended, failed or been
 * destroyed gives the same at once. The stream stays yours: destroy it if
 * you stop reading early (or iterate it with `each`, which does). Once its
 * end or error has come, the reader's listeners go but a no-op `'error'`
 * listener stays, as Node's `stream.finished()` leaves its own: a later
 * error (a Duplex's other side) does not end the process.
 *
 * @param stream A Node `Readable` (not in object mode).
 * @param options `limit` of the reader. @default 65536
 * @returns The reader.
 * @throws {TypeError} for something that is not a readable stream.
 * @example
 * ```ts
 * import { Readable } from "node:stream";
 * import { readerFromNodeStream, run } from "corio";
 * const text = await run(function* () {
 *   const reader = readerFromNodeStream(Readable.from(["line one\n", "line two\n"]));
 *   return new TextDecoder().decode(yield* reader.readLine());
 * });
 * console.assert(text === "line one\n");
 * ```
 */
export function readerFromNodeStream(stream: NodeReadableLike, options: { limit?: number } = {}): StreamReader {
  if (stream === null || typeof stream !== "object" || typeof stream.on !== "function" || typeof stream.pause !== "function") {
    throw new TypeError(`Cannot read a Node stream: expected a Readable (on/pause/resume), received ${stream === null ? "null" : typeof stream}`);
  }
  const reader = new StreamReader(options.limit === undefined ? {} : { limit: options.limit });
  // Its last event has been emitted already: waiting for one would wait for ever. Node's stream.finished() decides in this order.
  if (stream.errored !== undefined && stream.errored !== null) {
    reader.setException(streamFailed("read", stream.errored));
    return reader;
  }
  if (stream.readableEnded === true) {
    reader.feedEof();
    return reader;
  }
  if (stream.destroyed === true) {
    reader.setException(new BrokenResourceError("Cannot read: the stream was destroyed before its end"));
    return reader;
  }
  let finished = false;
  const finish = (): boolean => {
    if (finished) return false;
    finished = true;
    stream.removeListener("data", onData);
    stream.removeListener("end", onEnd);
    stream.removeListener("error", onError);
    stream.removeListener("close", onClose);
    ignoreLateErrors(stream);
    return true;
  };
  const onData = (chunk: unknown): void => {
    if (finished) return;
    if (typeof chunk === "string") reader.feed(encoder.encode(chunk));
    else if (chunk instanceof Uint8Array) reader.feed(chunk);
    else {
      finish();
      reader.setException(
        new TypeError(`Cannot read a Node stream: it gave ${typeof chunk} chunks, not bytes (an object-mode stream? iterate it with each())`),
      );
      stream.destroy();
    }
  };
  const onEnd = (): void => {
    if (finish()) reader.feedEof();
  };
  const onError = (error: unknown): void => {
    if (finish()) reader.setException(streamFailed("read", error));
  };
  const onClose = (): void => {
    if (finish()) reader.setException(new BrokenResourceError("Cannot read: the stream was destroyed before its end"));
  };
  const transport: ReadTransport = {
    external: true,
    pauseReading: () => stream.pause(),
    resumeReading: () => stream.resume(),
  };
  reader.setTransport(transport);
  stream.on("end", onEnd);
  stream.on("error", onError);
  stream.on("close", onClose);
  stream.on("data", onData as (...args: unknown[]) => void);
  // A 'data' listener starts the flow only if nobody paused the stream: one paused by its owner before it was handed
  // over (a socket paused in its connection listener) would never deliver. The reader pauses it itself when full.
  stream.resume();
  return reader;
}

/**
 * A `StreamWriter` that writes to a Node `Writable`. `drain()` waits while
 * the stream holds more than its `writableHighWaterMark` (its `drain`
 * event ends the wait); `close()` ends the stream (`end()`), `abort()`
 * destroys it, and `waitClosed()` waits for its `finish`. A stream error,
 * or a destroy by someone else before its `finish`, makes `drain` and
 * later writes throw `BrokenResourceError`, and `waitClosed()` too if
 * bytes written (or the close) had not gone out. A stream
 * already ended makes writes throw `ClosedResourceError`; one already
 * failed or destroyed, `BrokenResourceError`. Once closed, the writer's
 * listeners go but a no-op `'error'` listener stays (see
 * `readerFromNodeStream`).
 *
 * @param stream A Node `Writable`.
 * @returns The writer.
 * @throws {TypeError} for something that is not a writable stream.
 * @example
 * ```ts
 * import { Writable } from "node:stream";
 * import { run, writerToNodeStream } from "corio";
 * const chunks: string[] = [];
 * const sink = new Writable({ write(chunk, _encoding, done) { chunks.push(String(chunk)); done(); } });
 * await run(function* () {
 *   const writer = writerToNodeStream(sink);
 *   writer.write("hello ");
 *   writer.write("world");
 *   yield* writer.drain();
 *   writer.close();
 *   yield* writer.waitClosed();
 * });
 * console.assert(chunks.join("") === "hello world");
 * ```
 */
export function writerToNodeStream(stream: NodeWritableLike): StreamWriter {
  if (stream === null || typeof stream !== "object" || typeof stream.write !== "function" || typeof stream.end !== "function") {
    throw new TypeError(`Cannot write to a Node stream: expected a Writable (write/end), received ${stream === null ? "null" : typeof stream}`);
  }
  let closed = false;
  // Bytes written that the stream has not yet said went out: a 'close' before 'finish' (a destroy) lost them.
  let unconfirmed = 0;
  const transport: WriteTransport = {
    external: true,
    canWriteEof: false,
    get writeBufferSize() {
      return stream.writableLength;
    },
    get highWaterMark() {
      return stream.writableHighWaterMark;
    },
    write: (data) => {
      unconfirmed += data.length;
      stream.write(data, (error) => {
        if (error === undefined || error === null) unconfirmed -= data.length;
      });
    },
    writeEof() {
      throw new Error("Cannot write EOF: a Node Writable cannot half-close; use close()");
    },
    close: () => {
      stream.end();
    },
    abort: () => {
      stream.destroy();
      onClosed(undefined);
    },
  };
  const writer = new StreamWriter(transport);
  const onClosed = (error: unknown, lost?: boolean): void => {
    if (closed) return;
    closed = true;
    stream.removeListener("drain", onDrain);
    stream.removeListener("finish", onFinish);
    stream.removeListener("close", onClose);
    stream.removeListener("error", onError);
    ignoreLateErrors(stream);
    writer.transportClosed(error, lost);
  };
  const onDrain = (): void => writer.transportDrained();
  const onFinish = (): void => onClosed(undefined);
  // 'close' after 'finish' is the clean end (so is any 'close' of a stream that does not say). Before it, the stream was
  // destroyed (a destroy with an error emits 'error' first): what was not confirmed, and an end() not flushed, are lost.
  const onClose = (): void => {
    if (stream.writableFinished !== false) onClosed(undefined);
    else onClosed(new BrokenResourceError("Cannot write: the stream was destroyed before it finished"), unconfirmed > 0 || stream.writableEnded === true);
  };
  // Bytes not confirmed are lost: a write that failed calls back with its error before 'error' (and one that fails at
  // once leaves the stream errored, so the end() that follows is ignored and writableLength is 0). After end(), an
  // error before 'finish' is the stream's own flush failing (its final()): what it took may not have gone out.
  const onError = (error: unknown): void =>
    onClosed(error, unconfirmed > 0 || stream.writableLength > 0 || (stream.writableEnded === true && stream.writableFinished !== true));
  // Its last event has been emitted already: nothing would close the writer.
  if (stream.errored !== undefined && stream.errored !== null) onClosed(stream.errored);
  else if (stream.writableFinished === true) onClosed(undefined);
  else if (stream.destroyed === true) onClosed(new BrokenResourceError("Cannot write: the stream was destroyed"));
  else {
    stream.on("drain", onDrain);
    stream.on("finish", onFinish);
    stream.on("close", onClose);
    stream.on("error", onError);
    // Ended by someone else, not finished yet: nothing more may be written ('finish' closes the writer).
    if (stream.writableEnded === true) writer.close();
  }
  return writer;
}
