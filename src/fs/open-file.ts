/**
 * Files as streams: `openFile` and `FileStream` (the Calvin seed's
 * `GenericFileDescriptor`, asyncio-style).
 * @module
 */

import type { FileHandle } from "node:fs/promises";
import { defineOperation, defineOperationMethods } from "../core/_dev.ts";
import { hostDecodeUtf8 } from "../core/_host.ts";
import { checkMadeByCorio, MADE_BY_CORIO } from "../core/_made-by-corio.ts";
import { daemonReturnedAs, startDaemon } from "../core/_resource.ts";
import { defineStepOperation, FINISHED, FRESH, PARKED, ranTwice, StepOperation } from "../core/_step-operation.ts";
import { ClosedResourceError } from "../core/errors.ts";
import type { Instruction, Operation } from "../core/operation.ts";
import { requireCurrentTask } from "../core/spawn.ts";
import { LINE_TEXT_STEP, type LineScan, type LineTextReader } from "../streams/_message-reads.ts";
import type { StreamReader } from "../streams/stream-reader.ts";
import type { StreamWriter } from "../streams/stream-writer.ts";
import { type FileMode, isDirectoryError, notReadableError, notWritableError, openError } from "./_file-errors.ts";
import { io, openHandle } from "./_file-io.ts";
import { FileTransport } from "./_file-transport.ts";

export type { FileMode } from "./_file-errors.ts";

/** Options of `openFile`. */
export interface OpenFileOptions {
  /**
   * Mode "r" only: at the end of the file, wait for more instead of ending
   * (like `tail -f`). The file is polled every `pollInterval` ms; reads
   * then never see EOF until the file is closed. Without it the end is
   * final, as in asyncio's `StreamReader` (Python's and Node's reads of a
   * file would see bytes appended later): reopen the file to read those.
   * @default false
   */
  follow?: boolean;
  /** How often a followed file is checked for growth, in ms of the loop's clock. @default 250 */
  pollInterval?: number;
  /** The reader's limit: the longest line `readLine` accepts (see `StreamReader`). @default 65536 */
  limit?: number;
  /** Bytes asked of the OS per read; once `read()` waits for the rest of the file, 512 KiB at least (as `fs.readFile` asks). @default 65536 */
  chunkSize?: number;
  /** Queued bytes above which `drain()` waits. @default 65536 */
  highWaterMark?: number;
}

const FLAGS: Record<FileMode, string> = { r: "r", w: "w", a: "a" };
const LINE_STEP = Symbol("corio.fileStream.lineStep");
const LINE_END = new Uint8Array([0x0a]);
const NEWLINE = 0x0a;
const STREAM = { stream: true };
/** The decoder has been given nothing yet: it would drop a byte-order mark. */
const DECODER_AT_START = 0;
/** Past the start, holding no partial character. */
const DECODER_IDLE = 1;
/** Past the start, and it may hold part of a character. */
const DECODER_MID_TEXT = 2;

function positive(value: number | undefined, fallback: number, name: string, integer: boolean): number {
  if (value === undefined) return fallback;
  if (!(typeof value === "number" && value > 0 && Number.isFinite(value) && (!integer || Number.isInteger(value)))) {
    throw new RangeError(`Cannot open a file: ${name} must be a positive ${integer ? "integer" : "number"}, received ${String(value)}`);
  }
  return value;
}

/**
 * An open file (from `openFile`): a `reader` fed from the file for mode
 * "r", a `writer` that writes to it in order for modes "w" and "a", and the
 * seed's text methods on top (`read`, `readLine`, `write`, `writeLine`,
 * `hasData`, `close`). Text is UTF-8, decoded as `TextDecoder` decodes the
 * whole file: a character split across two reads comes whole, and a
 * byte-order mark at the start of the file is dropped.
 *
 * The file belongs to the task that opened it: when that task ends, what is
 * still queued is written and the file is closed before the task finishes.
 * Reading after `close()` gives what was buffered, then EOF; writing after
 * it throws `ClosedResourceError`.
 *
 * A write the OS fails (a full disk, a FIFO whose reader left) stops the
 * writing: what is queued is dropped and the handle is closed. The error is
 * thrown by the next `write`, `drain`, `flush` or `close`; `flush` and
 * `close` throw it once, and not after a `write` or `drain` threw it. An
 * error that none of them threw by the time the owner task ends (or that a
 * `using` close, or a `close()` cancelled while it waited, left) is
 * reported to the loop's `onError`, never lost.
 *
 * @example Write, append, read back
 * ```ts
 * import { run } from "corio";
 * import { openFile } from "corio/fs";
 * import { mkdtempSync, rmSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * const dir = mkdtempSync(join(tmpdir(), "corio-doc-"));
 * const path = join(dir, "notes.txt");
 * try {
 *   const lines = await run(function* () {
 *     const out = yield* openFile(path, "w");
 *     out.writeLine("one");
 *     yield* out.close();
 *     const more = yield* openFile(path, "a");
 *     more.write("two\n");
 *     yield* more.close();
 *     const input = yield* openFile(path, "r");
 *     const got = [yield* input.readLine(), yield* input.readLine(), yield* input.readLine()];
 *     console.assert(input.atEof && !input.hasData());
 *     return got;
 *   });
 *   console.assert(lines.join("|") === "one\n|two\n|");
 * } finally {
 *   rmSync(dir, { recursive: true, force: true });
 * }
 * ```
 */
export class FileStream {
  readonly #path: string;
  readonly #mode: FileMode;
  readonly #transport: FileTransport;
  readonly #decoder = new TextDecoder();
  /**
   * Where the decoder stands (see `DECODER_AT_START`). Once it is idle, a
   * line decodes the same alone, and Node's own decoder does it in a third
   * of the time.
   */
  #decoderState = DECODER_AT_START;

  /** @internal What `openFile` calls: the constructor is private, so that `new FileStream()` does not type-check. */
  static create(path: string, mode: FileMode, transport: FileTransport): FileStream {
    return new FileStream(MADE_BY_CORIO, path, mode, transport);
  }

  private constructor(token: typeof MADE_BY_CORIO, path: string, mode: FileMode, transport: FileTransport) {
    checkMadeByCorio(token, "a FileStream", "use yield* openFile(path, mode)");
    this.#path = path;
    this.#mode = mode;
    this.#transport = transport;
  }

  /** The path it was opened with. */
  get path(): string {
    return this.#path;
  }

  /** The mode it was opened with. */
  get mode(): FileMode {
    return this.#mode;
  }

  /** The bytes of the file (mode "r"); for "w" and "a", reading it throws. */
  get reader(): StreamReader {
    return this.#transport.reader;
  }

  /** Writes to the file in order (modes "w", "a"); for "r", writing to it throws. */
  get writer(): StreamWriter {
    return this.#transport.writer;
  }

  /** True once `close()` was called or the owner task ended. */
  get closed(): boolean {
    return this.#transport.closing;
  }

  /** True once the end of the file was reached and every byte was read (never, in follow mode, until closed). */
  get atEof(): boolean {
    return this.#mode === "r" && this.#transport.reader.atEof;
  }

  /** True if bytes are buffered, so a read returns without waiting; false at EOF with nothing buffered, and for modes "w", "a". */
  hasData(): boolean {
    return this.#mode === "r" && this.#transport.reader.buffered > 0;
  }

  /**
   * Reads up to `n` bytes (`n = -1`: to the end of the file) and decodes
   * them as UTF-8 (bytes of a character cut by `n` come with the next read).
   * Returns what is buffered at once if anything is; `""` means EOF.
   *
   * **Cancellation:** nothing is lost; the bytes stay buffered for the next read.
   *
   * @throws {Error} with `code` `"EBADF"` for a file opened with "w" or "a".
   * @throws {BrokenResourceError} if the OS failed the read (`code`, and `cause`).
   */
  *read(n = -1): Operation<string> {
    this.#checkReadable();
    if (n < 0) this.#transport.readToEnd();
    for (;;) {
      const bytes = yield* this.#transport.reader.read(n);
      const text = this.#decode(bytes);
      // Only part of a character came: read on, so that "" keeps meaning EOF.
      if (text !== "" || bytes.length === 0) return text;
    }
  }

  /**
   * Reads a line, with its `"\n"` (asyncio's and Python's rule), so an empty
   * line (`"\n"`) and the end of the file (`""`) differ. The last line of a
   * file without a final newline comes without one. In follow mode it waits
   * for a whole line.
   *
   * **Cancellation:** nothing is lost.
   *
   * @throws {LimitOverrunError} for a line longer than the `limit` option (the line is skipped).
   * @throws {Error} with `code` `"EBADF"` for a file opened with "w" or "a".
   */
  readLine(): Operation<string> {
    return new ReadTextLine(this);
  }

  /** @internal One step of `readLine` (see `ReadTextLine`): the line (`""` at the end), or the park to wait on. */
  [LINE_STEP](op: LineScan): string | Instruction {
    this.#checkReadable();
    const found = (this.#transport.reader as unknown as LineTextReader)[LINE_TEXT_STEP](op, this.#decodeLine);
    // At the end, flush the decoder: a character a read(n) left cut becomes U+FFFD (then "", the end).
    return found === null ? this.#decoder.decode() : found;
  }

  /**
   * Queues `data` (a string is UTF-8 encoded) to be written after what is
   * already queued. Never waits: `yield* drain()` keeps memory bounded,
   * `yield* flush()` waits until it is written.
   *
   * @throws {Error} with `code` `"EBADF"` for a file opened with "r".
   * @throws {ClosedResourceError} after `close()`.
   * @throws {BrokenResourceError} if an earlier write failed.
   */
  write(data: string | Uint8Array): void {
    if (this.#mode === "r") throw notWritableError(this.#path);
    if (typeof data !== "string" && !(data instanceof Uint8Array)) {
      throw new TypeError(`Cannot write to ${JSON.stringify(this.#path)}: data must be a string or a Uint8Array, received ${typeof data}`);
    }
    if (this.#transport.closing) throw new ClosedResourceError(`Cannot write to ${JSON.stringify(this.#path)}: the file is closed`);
    this.#transport.writer.write(data);
  }

  /** Queues `line` and a `"\n"`. @throws as `write`. */
  writeLine(line: string | Uint8Array = ""): void {
    if (typeof line === "string") this.write(`${line}\n`);
    else {
      this.write(line);
      this.write("\n");
    }
  }

  /**
   * Waits while more than `highWaterMark` bytes are queued.
   *
   * **Cancellation:** only the wait stops; the bytes stay queued.
   *
   * @throws {BrokenResourceError} if a write failed.
   */
  *drain(): Operation<void> {
    yield* this.#transport.writer.drain();
  }

  /**
   * Waits until every byte written so far has been handed to the OS (not
   * `fsync`: the OS may still hold it in its cache). After
   * `writer.abort()` it returns without throwing, also to a `flush()` that
   * was waiting: the bytes it dropped are not written, and not waited for.
   *
   * **Cancellation:** only the wait stops; the bytes are still written.
   *
   * @throws {BrokenResourceError} if a write failed (with `code` and `cause`).
   */
  *flush(): Operation<void> {
    yield* this.#transport.flush();
  }

  /**
   * Writes what is queued, closes the file and waits for it. Idempotent:
   * later calls wait for the same close and return.
   *
   * **Cancellation:** only the wait stops; the file is still flushed and
   * closed. A write error this `close()` would have thrown is then reported
   * to the loop's `onError` (unless another `close()` still waiting throws it).
   *
   * @throws {BrokenResourceError} if a write or the close failed (once; with `code` and `cause`).
   */
  *close(): Operation<void> {
    yield* this.#transport.closeAndWait();
  }

  /**
   * Starts closing without waiting (for `using`): queued writes are still
   * written and the file closed, before the owner task finishes. A write
   * error is then reported to the loop's `onError`.
   */
  [Symbol.dispose](): void {
    this.#transport.requestClose();
  }

  #checkReadable(): void {
    if (this.#mode !== "r") throw notReadableError(this.#path, this.#mode);
  }

  /**
   * A line's text, from the reader's buffer: the host decodes it there when
   * the decoder is idle; else the decoder takes it (the first line, where it
   * drops a byte-order mark, or after a `read(n)` that cut a character). A
   * line without its `"\n"` is the last one of the file: the decoder is
   * flushed.
   */
  readonly #decodeLine = (buffer: Uint8Array, start: number, end: number): string => {
    const wholeLine = buffer[end - 1] === NEWLINE;
    if (wholeLine && this.#decoderState === DECODER_IDLE && hostDecodeUtf8 !== undefined) return hostDecodeUtf8(buffer, start, end);
    const bytes = buffer.subarray(start, end);
    // The last line of the file: flush the decoder.
    if (!wholeLine) {
      if (this.#decoderState === DECODER_AT_START) this.#decoderState = DECODER_MID_TEXT;
      return this.#decoder.decode(bytes);
    }
    const text = this.#decoder.decode(bytes, STREAM);
    this.#decoderState = DECODER_IDLE;
    return text;
  };

  /** The text of bytes `read(n)` took. */
  #decode(bytes: Uint8Array): string {
    if (this.#transport.reader.atEof) {
      // The rest of the text, whole (read() of a whole file): the host decodes it in a quarter of
      // the decoder's time, when the decoder holds nothing. It drops a byte-order mark at the start.
      if (hostDecodeUtf8 !== undefined && this.#decoderState !== DECODER_MID_TEXT) {
        const start = this.#decoderState === DECODER_AT_START && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
        this.#decoderState = DECODER_IDLE;
        return hostDecodeUtf8(bytes, start, bytes.length);
      }
      // Flush the decoder: a dangling partial character becomes U+FFFD.
      return this.#decoder.decode(bytes);
    }
    const text = this.#decoder.decode(bytes, STREAM);
    // Text that ends with a "\n" ends at a character's end: the decoder is idle after it.
    if (bytes.length > 0) this.#decoderState = bytes[bytes.length - 1] === NEWLINE ? DECODER_IDLE : DECODER_MID_TEXT;
    return text;
  }
}
defineOperationMethods(FileStream);

/**
 * `file.readLine()`: a step operation (see `core/_step-operation.ts`), as
 * `lines()` takes a line: no generator per line, and the line is decoded
 * straight from the reader's buffer (no view of it).
 */
class ReadTextLine extends StepOperation<string> implements LineScan {
  readonly separator = LINE_END;
  offset = 0;
  readonly keepsSeparator = true;
  readonly #file: FileStream;

  constructor(file: FileStream) {
    super();
    this.state = FRESH;
    this.#file = file;
  }

  next(): IteratorResult<Instruction, string> {
    if (this.state === FINISHED) throw ranTwice(this);
    let found: string | Instruction;
    try {
      found = this.#file[LINE_STEP](this);
    } catch (error) {
      this.state = FINISHED;
      throw error;
    }
    if (typeof found === "string") {
      this.state = FINISHED;
      return { done: true, value: found };
    }
    this.state = PARKED;
    return { done: false, value: found };
  }
}
defineStepOperation(ReadTextLine, "fileStream.readLine", FileStream, "readLine");

/**
 * Opens a file for reading (`"r"`), writing (`"w"`: created or truncated)
 * or appending (`"a"`: created if missing) and gives a `FileStream`. The
 * file belongs to the current task: when the task ends, queued writes are
 * written and the file is closed before the task finishes.
 *
 * With `{ follow: true }` (mode "r"), reads do not stop at the end of the
 * file: it is polled every `pollInterval` ms of the loop's clock for new
 * data, like `tail -f`, until the file is closed. A file truncated under
 * the reader (a log rotated by copytruncate) is read on from its start; a
 * line cut by the truncation comes out joined to the next one, as in `tail`.
 *
 * **FIFOs and devices** are read as regular files are, through libuv's
 * thread pool (4 threads unless `UV_THREADPOOL_SIZE` says otherwise): the
 * open of a FIFO blocks one of its threads until a writer opens the other
 * end, and so does each read until the writer writes or closes its end.
 * The file's task reads ahead as soon as the file is open, even when
 * nobody reads, and `close()` (or the owner's end) waits for the read in
 * progress: while the writer is silent, closing waits for it. Writing is
 * the same: a write to a FIFO whose reader does not read holds a thread
 * until it does, and a write once started is finished, so the owner's end
 * (also under `timeout` or `moveOnAfter`) waits for it. If all the
 * pool's threads are held so, every file operation of the program (and
 * anything else on the pool, as `dns.lookup`) waits too. Read a pipe
 * that may stay silent through `spawnProcess`'s pipes or a socket instead.
 *
 * **Cancellation:** the open is abandoned (an open cannot be interrupted,
 * and one of a FIFO may never end), and a handle that the OS gives after it
 * is closed then: possibly after the cancelled task, or `run()`, finished.
 *
 * @param path The file's path.
 * @param mode `"r"`, `"w"` or `"a"`.
 * @param options `follow`, `pollInterval`, `limit`, `chunkSize`, `highWaterMark`.
 * @throws {Error} naming the path and the mode, with the OS `code` (`ENOENT`, `EISDIR`, `EACCES`...) and Node's error as `cause`.
 * @throws {TypeError} for a bad path (empty, or with a NUL byte) or mode, or `follow` with a mode other than "r".
 * @throws {RangeError} for a bad numeric option.
 * @example Follow a file as it grows
 * ```ts
 * import { run } from "corio";
 * import { openFile } from "corio/fs";
 * import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * const dir = mkdtempSync(join(tmpdir(), "corio-doc-"));
 * const path = join(dir, "app.log");
 * writeFileSync(path, "started\n");
 * try {
 *   await run(function* () {
 *     const log = yield* openFile(path, "r", { follow: true, pollInterval: 10 });
 *     console.assert((yield* log.readLine()) === "started\n");
 *     appendFileSync(path, "ready\n");
 *     console.assert((yield* log.readLine()) === "ready\n");
 *     yield* log.close();
 *   });
 * } finally {
 *   rmSync(dir, { recursive: true, force: true });
 * }
 * ```
 */
export const openFile = defineOperation(function* openFile(path: string, mode: FileMode, options: OpenFileOptions = {}): Operation<FileStream> {
  if (typeof path !== "string" || path === "") throw new TypeError(`Cannot open a file: path must be a non-empty string, received ${JSON.stringify(path)}`);
  // Node's open() rejects it with a TypeError, which would otherwise be wrapped as an OS error.
  if (path.includes("\0")) throw new TypeError(`Cannot open ${JSON.stringify(path)}: path must not contain a NUL byte`);
  if (!Object.hasOwn(FLAGS, mode)) throw new TypeError(`Cannot open ${JSON.stringify(path)}: mode must be "r", "w" or "a", received ${JSON.stringify(mode)}`);
  const follow = options.follow ?? false;
  if (follow && mode !== "r") throw new TypeError(`Cannot open ${JSON.stringify(path)} with mode "${mode}": follow is only for mode "r"`);
  const settings = {
    path,
    mode,
    follow,
    pollInterval: positive(options.pollInterval, 250, "pollInterval", false),
    chunkSize: positive(options.chunkSize, 65536, "chunkSize", true),
    limit: positive(options.limit, 65536, "limit", true),
    highWaterMark: positive(options.highWaterMark, 65536, "highWaterMark", true),
  };
  const owner = requireCurrentTask("open a file");
  let handle: FileHandle;
  try {
    handle = yield* openHandle(path, FLAGS[mode]);
  } catch (error) {
    throw error instanceof Error && (error as { code?: unknown }).code !== undefined ? openError(error, path, mode) : error;
  }
  const transport = new FileTransport(handle, settings);
  if (mode === "r") {
    try {
      const stats = yield* io(handle.stat(), true);
      if (stats.isDirectory()) throw isDirectoryError(path);
      if (stats.isFile()) yield* transport.prefetch();
    } catch (error) {
      yield* io(
        handle.close().catch(() => {}),
        true,
      );
      throw error;
    }
  }
  const pump = startDaemon(owner, `file ${path}`, () => transport.run());
  return daemonReturnedAs(pump, FileStream.create(path, mode, transport));
});
