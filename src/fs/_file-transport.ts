/**
 * The transport between a `FileHandle` and a corio reader/writer pair, and
 * the task that moves the bytes.
 *
 * One daemon task per open file (a child of the task that opened it) does
 * all the I/O: for mode "r" it reads chunks and feeds the `StreamReader`
 * (pausing while the reader's buffer is full, and polling for growth at EOF
 * in follow mode); for "w" and "a" it writes the queued chunks in order.
 * When the file is closed, or its owner task ends, the task's `finally`
 * writes what is still queued and closes the handle, so the owner does not
 * finish before its file is flushed and closed.
 *
 * A failed write (a full disk, a FIFO whose reader left) ends the writing:
 * the queued bytes are dropped, the handle is closed at once and the
 * writer is told, so the next `write`, `drain`, `flush` or `close` throws
 * the error. The task itself waits for `close()` or the owner's end: only
 * then is it known whether anyone was told, and an error nobody was told
 * is reported to the loop rather than lost. A `close()` that stops waiting
 * (cancelled) gives up its claim on the error: it is reported then, by the
 * task's end or by that `close()` if the task ended while it waited.
 *
 * Busy accounting for the virtual clock is done by the task's I/O waits
 * (`io()`), not by the reader's or writer's waits (`external` is false):
 * a reader waiting in follow mode, while the task sleeps between polls,
 * must let virtual time move on.
 * @module
 */

import type { FileHandle } from "node:fs/promises";
import { defineOperationMethods } from "../core/_dev.ts";
import { isCancellation } from "../core/errors.ts";
import { Future } from "../core/future.ts";
import type { Operation } from "../core/operation.ts";
import { requireCurrentTask } from "../core/spawn.ts";
import { suspend } from "../core/suspend.ts";
import type { TaskImpl } from "../core/task.ts";
import { wasTold } from "../streams/_told-errors.ts";
import { StreamReader } from "../streams/stream-reader.ts";
import { StreamWriter } from "../streams/stream-writer.ts";
import type { ReadTransport, WriteTransport } from "../streams/transport.ts";
import { sleep } from "../time/sleep.ts";
import { type FileMode, ioError, notReadableError, notWritableError } from "./_file-errors.ts";
import { io } from "./_file-io.ts";
import { WriteQueue } from "./_write-queue.ts";

/** Bytes asked of the OS per read while a read waits for the end of the file (as `fs.readFile` asks). */
const WHOLE_READ_SIZE = 512 * 1024;
/** Most chunks handed to one `writev`. */
const MAX_BATCH = 256;

export interface FileTransportOptions {
  path: string;
  mode: FileMode;
  follow: boolean;
  pollInterval: number;
  chunkSize: number;
  limit: number;
  highWaterMark: number;
}

export class FileTransport implements ReadTransport, WriteTransport {
  readonly external = false;
  readonly canWriteEof = false;
  readonly highWaterMark: number;
  readonly reader: StreamReader;
  readonly writer: StreamWriter;
  /** Resolved once the handle is closed and the reader and writer know it. */
  readonly done = new Future<void>();
  readonly #handle: FileHandle;
  readonly #options: FileTransportOptions;
  /** Bytes queued, not counting those being written. */
  readonly #queue = new WriteQueue();
  #inFlight = 0;
  #paused = false;
  #closing = false;
  #aborted = false;
  #eofFed = false;
  /** The handle's close has started (after a failed write, before `close()` or the owner's end). */
  #handleClosed = false;
  #error: Error | undefined;
  #errorSeen = false;
  /** The `close()` calls waiting for the handle to close: each will throw the write error, if any, unless it stops waiting. */
  #closesWaiting = 0;
  /** The task has closed the handle and decided whether to report the write error (see `#shutdown`). */
  #shutDown = false;
  #wakeup: Future<void> | null = null;
  /** Bytes ever accepted by `write`, and ever written (or dropped): what `flush` compares. */
  #accepted = 0;
  #settled = 0;
  readonly #flushWaiters: { target: number; done: Future<void> }[] = [];
  /** A read buffer that came back empty, kept for the next poll. */
  #spare: Uint8Array | null = null;
  /** A read waits for the end of the file: read in large chunks. */
  #toEnd = false;
  /** In follow mode, where the next read starts (reads there are positioned, so a truncated file can be read from its start again). */
  #position = 0;
  #task: TaskImpl<void> | null = null;

  constructor(handle: FileHandle, options: FileTransportOptions) {
    this.#handle = handle;
    this.#options = options;
    this.highWaterMark = options.highWaterMark;
    this.reader = new StreamReader({ limit: options.limit });
    this.writer = new StreamWriter(this);
    if (options.mode === "r") this.reader.setTransport(this);
    else this.reader.setException(notReadableError(options.path, options.mode));
  }

  /** True once closing started (by hand, or because the owner ended). */
  get closing(): boolean {
    return this.#closing;
  }

  // ---- WriteTransport (driven by the StreamWriter) -----------------------

  get writeBufferSize(): number {
    return this.#queue.size + this.#inFlight;
  }

  write(data: Uint8Array): void {
    if (!this.#acceptsWrites()) return;
    // Copied: the caller may reuse its buffer before the write happens.
    this.#queue.pushBytes(data);
    this.#accepted += data.length;
    this.#signal();
  }

  /** A string is encoded straight into the queue (no buffer of its own per write). */
  writeString(data: string): void {
    if (!this.#acceptsWrites()) return;
    this.#accepted += this.#queue.pushString(data);
    this.#signal();
  }

  /** Whether a write is queued: throws for a file opened for reading and after a write failed; false once aborted. */
  #acceptsWrites(): boolean {
    if (this.#options.mode === "r") throw notWritableError(this.#options.path);
    if (this.#error !== undefined) {
      this.#errorSeen = true;
      throw this.#error;
    }
    return !this.#aborted;
  }

  writeEof(): void {
    throw new Error(`Cannot write EOF to ${JSON.stringify(this.#options.path)}: a file has no half-close; close it instead`);
  }

  close(): void {
    // The writer of a file opened for reading has nothing to close: it closes with the file.
    if (this.#options.mode === "r") return;
    this.#closing = true;
    this.#signal();
  }

  abort(): void {
    if (this.#options.mode === "r") return;
    this.#aborted = true;
    this.#closing = true;
    this.#drop();
    this.#signal();
  }

  // ---- ReadTransport (driven by the StreamReader) ------------------------

  pauseReading(): void {
    this.#paused = true;
  }

  resumeReading(): void {
    this.#paused = false;
    this.#signal();
  }

  // ---- for FileStream ----------------------------------------------------

  /**
   * A read waits for the whole rest of the file: read in chunks of 512 KiB
   * at least from now on. A read costs a trip to libuv's thread pool, which
   * is most of the time at 64 KiB a read.
   */
  readToEnd(): void {
    this.#toEnd = true;
  }

  /** Starts closing: queued writes are written, then the handle is closed. */
  requestClose(): void {
    if (this.#options.mode === "r") {
      this.#closing = true;
      this.#task?.cancel("the file was closed");
    } else {
      this.writer.close();
      // After a failed write the writer is closed already and does not pass the close on: wake the task here.
      this.#closing = true;
      this.#signal();
    }
  }

  /**
   * Closes and waits for it (`FileStream.close()`).
   * @throws the write error that nobody was told about yet (once). A wait
   * that is cancelled throws nothing more: the error is then reported to
   * the loop instead, unless another `close()` still waiting will throw it.
   */
  *closeAndWait(): Operation<void> {
    this.requestClose();
    if (!this.done.done) {
      this.#closesWaiting++;
      let waited = false;
      try {
        yield* this.done;
        waited = true;
      } finally {
        this.#closesWaiting--;
        // The task decided while this close was waiting, and left the error to it.
        if (!waited && this.#closesWaiting === 0 && this.#shutDown) this.#reportUntold();
      }
    }
    const error = this.takeError();
    if (error !== undefined) throw error;
  }

  /** The write error that nobody was told about yet, by this file or by its writer (then forgets it). */
  takeError(): Error | undefined {
    if (this.#error === undefined || this.#errorSeen || wasTold(this.#error)) return undefined;
    this.#errorSeen = true;
    return this.#error;
  }

  /**
   * Waits until every byte written so far has been handed to the OS.
   * @throws the write error, if a write failed.
   */
  *flush(): Operation<void> {
    if (this.#settled < this.#accepted && !this.done.done) {
      const waiter = { target: this.#accepted, done: new Future<void>() };
      this.#flushWaiters.push(waiter);
      try {
        yield* waiter.done;
      } finally {
        const index = this.#flushWaiters.indexOf(waiter);
        if (index >= 0) this.#flushWaiters.splice(index, 1);
      }
    }
    const error = this.takeError();
    if (error !== undefined) throw error;
  }

  /**
   * Reads the first chunk at once (mode "r", a regular file), so `hasData()`
   * is true right after opening a file that is not empty.
   */
  *prefetch(): Operation<void> {
    const got = yield* this.#readOnce(true);
    if (got === false && !this.#options.follow) this.#feedEof();
  }

  /** The body of the file's task. */
  *run(): Operation<void> {
    this.#task = requireCurrentTask("run a file's task") as TaskImpl<void>;
    try {
      if (this.#options.mode === "r") {
        yield* this.#pumpReads();
        yield* suspend();
      } else {
        yield* this.#pumpWrites();
        if (this.#error !== undefined) {
          // A write failed: nothing more will be written. Close the handle and tell the writer now, and
          // wait for `close()` or the owner's end to know whether the caller takes the error.
          yield* this.#closeHandle();
          while (!this.#closing) yield* this.#waitForSignal();
        }
      }
    } finally {
      this.#closing = true;
      yield* this.#shutdown();
    }
  }

  // ---- the task's work ---------------------------------------------------

  *#pumpReads(): Operation<void> {
    while (!this.#eofFed) {
      if (this.#paused) {
        yield* this.#waitForSignal();
        continue;
      }
      const got = yield* this.#readOnce(false);
      if (got === undefined) return;
      if (got) continue;
      if (!this.#options.follow) {
        this.#feedEof();
        return;
      }
      // Truncated under us (a log rotated by copytruncate): read on from its start, as `tail -f` does.
      if ((yield* this.#sizeNow()) < this.#position) {
        this.#position = 0;
        continue;
      }
      yield* sleep(this.#options.pollInterval);
    }
  }

  /** Reads one chunk into the reader: true if bytes came, false at EOF, undefined after an error (set on the reader). */
  *#readOnce(shielded: boolean): Operation<boolean | undefined> {
    const size = this.#toEnd ? Math.max(this.#options.chunkSize, WHOLE_READ_SIZE) : this.#options.chunkSize;
    const buffer = this.#spare?.length === size ? this.#spare : new Uint8Array(size);
    this.#spare = null;
    let bytesRead: number;
    try {
      ({ bytesRead } = yield* io(this.#handle.read(buffer, 0, size, this.#options.follow ? this.#position : null), shielded));
    } catch (error) {
      if (isCancellation(error)) throw error;
      this.reader.setException(ioError("read", this.#options.path, error));
      return undefined;
    }
    if (bytesRead === 0) {
      this.#spare = buffer;
      return false;
    }
    this.#position += bytesRead;
    if (bytesRead === size) this.reader.feed(buffer);
    else if (bytesRead > size / 4) this.reader.feed(buffer.subarray(0, bytesRead));
    else {
      // A short read (a small append, in follow mode): copy it and keep the big buffer.
      this.reader.feed(buffer.slice(0, bytesRead));
      this.#spare = buffer;
    }
    return true;
  }

  /** The file's size now; `Infinity` if it cannot be read (then nothing is taken for a truncation). */
  *#sizeNow(): Operation<number> {
    try {
      return (yield* io(this.#handle.stat())).size;
    } catch (error) {
      if (isCancellation(error)) throw error;
      return Number.POSITIVE_INFINITY;
    }
  }

  #feedEof(): void {
    if (this.#eofFed) return;
    this.#eofFed = true;
    if (this.reader.exception === undefined) this.reader.feedEof();
  }

  *#pumpWrites(): Operation<void> {
    for (;;) {
      if (this.#aborted || this.#error !== undefined) return;
      if (this.#queue.size > 0) yield* this.#writeBatch();
      else if (this.#closing) return;
      else yield* this.#waitForSignal();
    }
  }

  /** Writes the chunks at the head of the queue, in one `writev`; a partial write puts the rest back first. */
  *#writeBatch(): Operation<void> {
    const batch = this.#queue.take(MAX_BATCH);
    let total = 0;
    for (const chunk of batch) total += chunk.length;
    this.#inFlight = total;
    let written: number;
    try {
      ({ bytesWritten: written } = yield* io(this.#handle.writev(batch), true));
      if (written === 0) throw Object.assign(new Error("the OS accepted 0 bytes"), { code: "EIO" });
    } catch (error) {
      this.#inFlight = 0;
      this.#settled += total;
      this.#fail(ioError("write to", this.#options.path, error));
      return;
    }
    this.#inFlight = 0;
    if (written < total && !this.#aborted) {
      const rest: Uint8Array[] = [];
      let skip = written;
      for (const chunk of batch) {
        if (skip >= chunk.length) skip -= chunk.length;
        else {
          rest.push(skip > 0 ? chunk.subarray(skip) : chunk);
          skip = 0;
        }
      }
      this.#queue.unshift(rest);
      this.#settled += written;
    } else this.#settled += total;
    if (this.writeBufferSize <= this.highWaterMark) this.writer.transportDrained();
    this.#settleFlushes(false);
  }

  #fail(error: Error): void {
    if (this.#error === undefined) this.#error = error;
    this.#drop();
  }

  /** Forgets the queued bytes (after an abort or a failure). */
  #drop(): void {
    this.#queue.clear();
    this.#settled = this.#accepted - this.#inFlight;
    this.#settleFlushes(false);
  }

  /** Wakes the `flush` waiters whose bytes are written (all of them once closed). */
  #settleFlushes(all: boolean): void {
    for (const waiter of [...this.#flushWaiters]) if (all || waiter.target <= this.#settled) waiter.done.resolve();
  }

  *#waitForSignal(): Operation<void> {
    const wakeup = new Future<void>();
    this.#wakeup = wakeup;
    try {
      yield* wakeup;
    } finally {
      if (this.#wakeup === wakeup) this.#wakeup = null;
    }
  }

  #signal(): void {
    this.#wakeup?.resolve();
  }

  /**
   * Writes what is still queued (unless aborted or failed), closes the
   * handle (unless a failed write closed it), and reports a write error
   * that nobody was told about and no waiting `close()` will throw.
   */
  *#shutdown(): Operation<void> {
    if (this.#options.mode !== "r") {
      while (this.#queue.size > 0 && this.#error === undefined && !this.#aborted && !this.#handleClosed) yield* this.#writeBatch();
    }
    yield* this.#closeHandle();
    this.#shutDown = true;
    // Closed because the owner ended (or without waiting), so no `close()` will throw it: report it rather than lose it.
    if (this.#closesWaiting === 0) this.#reportUntold();
  }

  /** Reports the write error to the loop, if nobody was told about it. */
  #reportUntold(): void {
    const task = this.#task;
    if (this.#error !== undefined && !this.#errorSeen && !wasTold(this.#error) && task !== null) {
      this.#errorSeen = true;
      task.loop.report(this.#error, { kind: "task", path: task.path });
    }
  }

  /** Closes the handle (once), and tells the reader, the writer and the waiters. */
  *#closeHandle(): Operation<void> {
    if (this.#handleClosed) return;
    this.#handleClosed = true;
    const { mode, path } = this.#options;
    try {
      yield* io(this.#handle.close(), true);
    } catch (error) {
      if (mode !== "r") this.#fail(ioError("close", path, error));
    }
    if (mode === "r") this.#feedEof();
    this.writer.transportClosed(mode === "r" ? undefined : this.#error);
    this.#settleFlushes(true);
    this.done.resolve();
  }
}
defineOperationMethods(FileTransport);
