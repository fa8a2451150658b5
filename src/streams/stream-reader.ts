/**
 * Reading bytes from a stream, asyncio-style.
 * @module
 */
import { defineOperationMethods } from "../core/_dev.ts";
import { Park } from "../core/_park.ts";
import { defineStepOperation, FINISHED, FRESH, PARKED, ranTwice, StepOperation } from "../core/_step-operation.ts";
import type { Instruction, Operation } from "../core/operation.ts";
import { type IterableOperationIterator, operationIterator } from "../core/operation-iterator.ts";
import { requireCurrentTask } from "../core/spawn.ts";
import type { TaskImpl } from "../core/task.ts";
import { joinBytes } from "./_join-bytes.ts";
import { LINE_TEXT_STEP, type LineScan, lineDecoder, nextLine, type RangeDecoder } from "./_message-reads.ts";
import { told } from "./_told-errors.ts";
import { IncompleteReadError, LimitOverrunError } from "./errors.ts";
import type { ReadTransport } from "./transport.ts";

const EMPTY = new Uint8Array(0);
const NEWLINE = new Uint8Array([10]);
const encoder = new TextEncoder();
let lastSeparator = "\n";
let lastSeparatorBytes: Uint8Array = NEWLINE;
/**
 * The bytes of a separator. A string's are kept for its next use: a
 * protocol reads with the same one each time, and encoding `"\r\n"` cost
 * 60% of a buffered `readUntil`.
 */
function separatorBytes(given: Uint8Array | string): Uint8Array {
  if (typeof given !== "string") return given;
  if (given !== lastSeparator) {
    lastSeparatorBytes = encoder.encode(given);
    lastSeparator = given;
  }
  return lastSeparatorBytes;
}
/**
 * The keys of `StreamReader`'s wait for something to read and its read that
 * never waits: `toWebReadableStream` takes its chunk only once it is sure
 * the Web stream still wants it (see there). Kept off its public names.
 */
export const WAIT_READABLE = Symbol("corio.streamReader.waitReadable");
export const READ_NOW = Symbol("corio.streamReader.readNow");
/** The key of `StreamReader`'s `readLine` step, kept off its public names. */
const LINE_STEP = Symbol("corio.streamReader.lineStep");

/**
 * A `StreamReader`'s `limit`, checked (a positive integer), with `action`
 * in the error. What makes its reader only once something is open (a
 * connection, a request) checks the option first, so that a bad one fails
 * before anything needs closing.
 */
export function checkReaderLimit(limit: number, action: string): number {
  if (!Number.isInteger(limit) || limit <= 0) throw new RangeError(`Cannot ${action}: limit must be a positive integer, received ${String(limit)}`);
  return limit;
}

/** Waits for data; counts as busy (virtual clock) when the transport is external. */
class DataPark extends Park {
  readonly #reader: StreamReader;
  readonly #external: boolean;
  constructor(task: TaskImpl<unknown>, reader: StreamReader, external: boolean) {
    super(task, "io", external ? "data to read from its connection or file (a read)" : "data to read from its stream (a read)");
    this.#reader = reader;
    this.#external = external;
    if (external) task.loop.busy++;
  }
  /** Wakes the reader (data, EOF or an error arrived), if it still waits. */
  settle(): void {
    this.#reader.forgetWaiter(this);
    const task = this.task as TaskImpl<unknown>;
    if (this.#external) task.loop.busy--;
    if (task.park === this && !task.woken) task.wake(false, undefined);
  }
  override cancelled(woken: boolean): void {
    if (woken) return;
    this.#reader.forgetWaiter(this);
    if (this.#external) (this.task as TaskImpl<unknown>).loop.busy--;
  }
}

/** What `#scanUntil` returns when the stream ended before the separator: not an exception, as reaching EOF is how every line-reading connection ends. */
const AT_EOF = Number.NEGATIVE_INFINITY;

/**
 * A buffered byte reader (asyncio's `StreamReader`): a transport (or your
 * code) `feed`s it chunks, and tasks `read`, `readExactly`, `readLine` or
 * `readUntil` from it. A read whose data is already buffered completes
 * without suspending. `readLine` and `readUntil` never buffer more than
 * `limit` bytes looking for a separator, and the transport is paused while
 * the buffer holds more than `2 * limit`, so a peer cannot make it grow
 * without bound. Bytes are `Uint8Array`s: a read that takes a whole
 * received chunk returns that chunk, one that takes part of it a view into
 * it, and only bytes from several chunks are copied. So a result shares its
 * `ArrayBuffer` with other bytes, unread ones too: it stays valid (the
 * reader never writes over bytes it gave out), but write into it, or move
 * its `buffer` (a `postMessage` transfer list), only after a `slice()`.
 * corio's `transfer` copies such a view itself.
 *
 * **Cancellation** of any read loses nothing: the data stays buffered for the
 * next read.
 *
 * @example Fed by hand
 * ```ts
 * import { run, StreamReader } from "corio";
 * const lines = await run(function* () {
 *   const reader = new StreamReader();
 *   reader.feed(new TextEncoder().encode("hello\nwor"));
 *   reader.feed(new TextEncoder().encode("ld\n"));
 *   reader.feedEof();
 *   const text = (b: Uint8Array) => new TextDecoder().decode(b);
 *   return [text(yield* reader.readLine()), text(yield* reader.readLine()), reader.atEof];
 * });
 * console.assert(lines.join() === "hello\n,world\n,true");
 * ```
 */
export class StreamReader {
  /** The most bytes `readLine`/`readUntil` will buffer looking for a separator. */
  readonly limit: number;
  /**
   * The buffered bytes are `#buf[#start..#end)`, always contiguous, so a
   * separator split across chunks needs no special case. The buffer is a
   * chunk we were fed (`#owned` false), or one we own that joins chunks. An
   * owned buffer is only ever written past `#end`, so reads return views of
   * either (no copy): a copy of a 70-byte line cost ~300 ns, a third of a
   * file's line read, where a view costs ~50 ns.
   */
  #buf: Uint8Array = EMPTY;
  #start = 0;
  #end = 0;
  #owned = false;
  /**
   * Bytes taken from the buffer so far: a scan for a separator that waits
   * keeps where it stopped as a position in the stream (this count plus
   * its offset), so bytes that another read takes while it waits, or
   * between its wake and its turn, do not leave it past a separator.
   */
  #taken = 0;
  #eof = false;
  #exception: unknown;
  #waiter: DataPark | null = null;
  #transport: ReadTransport | null = null;
  #paused = false;
  /**
   * While the rest of an over-long line is being dropped (see `readLine`):
   * its separator, and its last bytes seen (fewer than the separator's
   * length: they may be the separator's beginning). `feed` drops the line's
   * bytes as they arrive, so no read ever sees them.
   */
  #dropSep: Uint8Array | null = null;
  #dropTail: Uint8Array = EMPTY;

  /**
   * @param options.limit Separator search limit, and half the pause threshold. @default 65536
   * @throws {RangeError} for a limit that is not a positive integer.
   */
  constructor(options: { limit?: number } = {}) {
    this.limit = options.limit === undefined ? 65536 : checkReaderLimit(options.limit, "create a StreamReader");
  }

  /** True once EOF was fed and every byte has been read. */
  get atEof(): boolean {
    return this.#eof && this.#end === this.#start;
  }

  /** The error set with `setException`, if any. */
  get exception(): unknown {
    return this.#exception;
  }

  /** Bytes buffered and not yet read. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /** Connects the transport that feeds this reader (for backpressure). */
  setTransport(transport: ReadTransport): void {
    this.#transport = transport;
  }

  /**
   * Adds bytes to the buffer (what a transport calls on incoming data).
   * `data` is kept by reference, not copied, until it is read (and reads
   * may return it or a view of it): do not change it afterwards; feed a
   * copy (`data.slice()`) of a buffer you reuse. After `readLine` threw `LimitOverrunError` for a line whose separator
   * had not arrived yet, the rest of that line is dropped here as it comes,
   * through its separator.
   */
  feed(data: Uint8Array): void {
    if (!(data instanceof Uint8Array)) {
      throw new TypeError(
        `Cannot feed the StreamReader: expected bytes (a Uint8Array), received ${typeof data === "string" ? "a string; encode it first: reader.feed(new TextEncoder().encode(text))" : data === null ? "null" : typeof data}`,
      );
    }
    if (this.#eof) throw new Error("Cannot feed the StreamReader: EOF was already fed");
    if (this.#dropSep !== null) data = this.#dropLineTail(data);
    if (data.length === 0) return;
    this.#append(data);
    if (!this.#paused && this.#transport !== null && this.buffered > 2 * this.limit) this.#pause();
    this.#wake();
  }

  /** Marks the end of the stream. */
  feedEof(): void {
    this.#eof = true;
    // A line being dropped ends here.
    this.#dropSep = null;
    this.#dropTail = EMPTY;
    this.#wake();
  }

  /**
   * Makes the next reads throw `error`, once the buffer cannot satisfy them:
   * a read, `readExactly`, `readLine` or `readUntil` that the bytes already
   * buffered can complete still returns them (asyncio raises at once).
   */
  setException(error: unknown): void {
    this.#exception = error;
    this.#wake();
  }

  /**
   * Reads up to `n` bytes (`n = -1`: everything until EOF). Returns what is
   * buffered at once if anything is; an empty array means EOF.
   *
   * **Cancellation:** nothing is lost.
   *
   * @throws {RangeError} for an `n` that is neither an integer nor Infinity (any negative one reads until EOF, as in asyncio).
   */
  *read(n = -1): Operation<Uint8Array> {
    if (n === 0) return EMPTY;
    // A fraction or NaN would reach the buffer's indices: they would lose bytes, or all of them.
    if (!Number.isInteger(n) && n !== Number.POSITIVE_INFINITY) {
      throw new RangeError(`Cannot read n bytes: n must be an integer (-1: until EOF; Infinity: whatever is buffered), received ${String(n)}`);
    }
    if (n < 0) {
      // The bytes are taken chunk by chunk as they come and joined once at the end: left in the
      // buffer, every doubling of it would copy them again (a 32 MiB body cost 1.4x Node's
      // execFile) and the transport would pause at the limit. A read that throws puts them back.
      const parts: Uint8Array[] = [];
      let size = 0;
      try {
        for (;;) {
          if (this.buffered > 0) {
            size += this.buffered;
            parts.push(this.#take(this.buffered));
            // Look again: taking may resume the transport, which may deliver (or end) at once.
            continue;
          }
          if (this.#eof) break;
          this.#throwIfFailed();
          const park = this.#parkForData("read");
          if (park !== null) yield park;
        }
      } catch (error) {
        if (parts.length > 0) this.#putBack(parts, size);
        throw error;
      }
      return parts.length <= 1 ? (parts[0] ?? EMPTY) : joinBytes(parts, size);
    }
    while (this.buffered === 0 && !this.#eof) {
      this.#throwIfFailed();
      const park = this.#parkForData("read");
      if (park !== null) yield park;
    }
    return this.#take(Math.min(n, this.buffered));
  }

  /** @internal Waits until `read` would not wait: bytes are buffered, or EOF or an error was fed. Takes nothing. */
  *[WAIT_READABLE](): Operation<void> {
    while (this.#end === this.#start && !this.#eof && this.#exception === undefined) {
      const park = this.#parkForData("read");
      if (park !== null) yield park;
    }
  }

  /** @internal `read(n)` (`n` > 0) if it would not wait; `null` if it would. Throws as `read` does. */
  [READ_NOW](n: number): Uint8Array | null {
    if (this.#end !== this.#start) return this.#take(Math.min(n, this.buffered));
    if (this.#eof) return EMPTY;
    this.#throwIfFailed();
    return null;
  }

  /**
   * Reads exactly `n` bytes.
   *
   * **Cancellation:** nothing is lost.
   *
   * @throws {IncompleteReadError} if the stream ends first (with the partial bytes, consumed).
   * @throws {RangeError} for a negative `n`.
   */
  *readExactly(n: number): Operation<Uint8Array> {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`Cannot read exactly n bytes: n must be a non-negative integer, received ${String(n)}`);
    while (this.buffered < n) {
      if (this.#eof) throw new IncompleteReadError(this.#take(this.buffered), n);
      this.#throwIfFailed();
      const park = this.#parkForData("readExactly");
      if (park !== null) yield park;
    }
    return this.#take(n);
  }

  /**
   * Reads up to and including `separator` (bytes or a string, any length).
   *
   * **Cancellation:** nothing is lost.
   *
   * @throws {LimitOverrunError} if the separator is not within `limit` bytes (nothing consumed).
   * @throws {IncompleteReadError} if the stream ends first (with all buffered bytes, consumed).
   */
  *readUntil(separator: Uint8Array | string = NEWLINE): Operation<Uint8Array> {
    const sep = separatorBytes(separator);
    if (sep.length === 0) throw new RangeError("Cannot read until a separator: the separator is empty");
    let position = 0;
    for (;;) {
      const end = this.#scanUntil(sep, Math.max(0, position - this.#taken));
      if (end === AT_EOF) throw new IncompleteReadError(this.#take(this.buffered), undefined);
      if (end >= 0) return this.#take(end);
      position = this.#taken - 1 - end;
      const park = this.#parkForData("readUntil");
      if (park !== null) yield park;
    }
  }

  /**
   * One look at the buffer for `readUntil`/`readLine`: the end of the bytes
   * through the separator, `-1 - offset` to wait for more and look again
   * from `offset`, or `AT_EOF` when the stream ended without it (each caller
   * decides: `readUntil` throws, `readLine` returns the rest). Throws
   * `LimitOverrunError` as `readUntil` documents.
   */
  #scanUntil(sep: Uint8Array, offset: number): number {
    const found = this.#indexOf(sep, offset);
    if (found >= 0) {
      if (found > this.limit)
        throw new LimitOverrunError(`Cannot read until the separator: it was found after ${found} bytes, over the limit of ${this.limit}`, found);
      return found + sep.length;
    }
    const next = Math.max(0, this.buffered + 1 - sep.length);
    if (next > this.limit) throw new LimitOverrunError(`Cannot read until the separator: not found within the limit of ${this.limit} bytes`, next);
    if (this.#eof) return AT_EOF;
    this.#throwIfFailed();
    return -1 - next;
  }

  /**
   * Reads a line, up to and including `\n` (or another separator). At EOF it
   * returns what is left, possibly without a separator, then empty arrays
   * (asyncio's rule).
   *
   * A line longer than `limit` (not counting its separator) is dropped whole,
   * through its separator, even when the separator arrives later: the bytes
   * still to come are dropped as they are fed, without being buffered, and
   * the next read of any kind (`read`, `readExactly`, `readUntil`,
   * `readLine`) returns only bytes after that separator, or EOF if the
   * stream ends first. asyncio's `readline` instead clears its buffer (and
   * raises `ValueError`), so the tail of a long line that arrived in pieces
   * comes back from the next read as if it were data; corio drops it, so the
   * lines and errors do not depend on how the input was chunked.
   *
   * **Cancellation:** nothing is lost.
   *
   * @throws {LimitOverrunError} for a line longer than `limit` (dropped, as
   * above), including a last line without separator at EOF.
   */
  readLine(separator: Uint8Array | string = NEWLINE): Operation<Uint8Array> {
    return new ReadLine(this, separator);
  }

  /**
   * @internal One step of `readLine` (see `ReadLine`): the line, or the park
   * to wait on (the scan goes on from `op.offset` next time).
   */
  [LINE_STEP](op: LineScan): Uint8Array | DataPark {
    const end = this.#lineEnd(op);
    if (typeof end !== "number") return end;
    return this.#take(end === AT_EOF ? this.buffered : end);
  }

  /**
   * @internal One step of a line read as text (see `NextLine`): the line
   * without its separator (with it, if `op.keepsSeparator`), decoded by
   * `decode` straight from the buffer (no view of it is made), `null` at the
   * end, or the park to wait on.
   */
  [LINE_TEXT_STEP](op: LineScan, decode: RangeDecoder): string | null | DataPark {
    const end = this.#lineEnd(op);
    if (typeof end !== "number") return end;
    if (end !== AT_EOF) return this.#takeText(end, op.keepsSeparator === true ? 0 : op.separator.length, decode);
    const rest = this.buffered;
    return rest === 0 ? null : this.#takeText(rest, 0, decode);
  }

  /** Where the next line ends (through its separator), `AT_EOF` for the rest as the last line, or the park to wait on. */
  #lineEnd(op: LineScan): number | DataPark {
    for (;;) {
      // Nothing buffered, no EOF, no error: the scan would only say to wait (from offset 0).
      if (this.#end === this.#start && !this.#eof && this.#exception === undefined) {
        op.offset = 0;
        const park = this.#parkForData("readLine");
        if (park !== null) return park;
        continue;
      }
      const end = this.#scanLine(op.separator, Math.max(0, op.offset - this.#taken));
      if (end >= 0 || end === AT_EOF) return end;
      op.offset = this.#taken - 1 - end;
      const park = this.#parkForData("readLine");
      if (park !== null) return park;
    }
  }

  /**
   * `#scanUntil` with `readLine`'s rules for EOF and long lines: at EOF
   * (`AT_EOF`), what is buffered is the last line, as it is.
   */
  #scanLine(sep: Uint8Array, offset: number): number {
    let end: number;
    try {
      end = this.#scanUntil(sep, offset);
    } catch (error) {
      if (error instanceof LimitOverrunError) this.#dropLine(sep, error.consumed);
      throw error;
    }
    // The scan keeps up to `sep.length - 1` bytes past the limit in case they begin the
    // separator; at EOF they are part of the last line, which is then over the limit too.
    const rest = this.buffered;
    if (end !== AT_EOF || rest <= this.limit) return end;
    this.#take(rest);
    throw new LimitOverrunError(`Cannot read a line: it ended at EOF after ${rest} bytes, over the limit of ${this.limit}`, rest);
  }

  /**
   * The stream's lines, as strings (UTF-8) without their separator, until
   * EOF (a last line without separator included): for `each`, `forEach`,
   * a `next()` loop, or `for await` in plain async code. Each line is read
   * with `readLine(separator)`, so its limit and rules apply. Each line is
   * decoded alone (invalid bytes become U+FFFD), and U+FEFF is kept where
   * it is, also at the start of the stream: no byte-order mark is dropped.
   *
   * **Cancellation:** nothing is lost.
   *
   * @param separator What ends a line. @default "\n"
   * @returns A corio iterator over the lines.
   * @throws {LimitOverrunError} from `next()` for a line longer than `limit`
   * (dropped; the next call goes on with the following line).
   * @example
   * ```ts
   * import { forEach, run, StreamReader } from "corio";
   * const lines = await run(function* () {
   *   const reader = new StreamReader();
   *   reader.feed(new TextEncoder().encode("one\ntwo\nthree"));
   *   reader.feedEof();
   *   const out: string[] = [];
   *   yield* forEach(reader.lines(), function* (line) { out.push(line); });
   *   return out;
   * });
   * console.assert(lines.join() === "one,two,three");
   * ```
   */
  lines(separator: Uint8Array | string = NEWLINE): IterableOperationIterator<string, undefined> {
    const sep = separatorBytes(separator);
    if (sep.length === 0) throw new RangeError("Cannot read lines: the separator is empty");
    const decode = lineDecoder();
    return operationIterator<string, undefined>(() => nextLine(this, sep, decode));
  }

  /** Drops the buffered over-long line through its separator, or all of it and (see `feed`) the rest as it comes. */
  #dropLine(sep: Uint8Array, from: number): void {
    const found = this.#indexOf(sep, from);
    if (found >= 0) {
      this.#take(found + sep.length);
      return;
    }
    if (!this.#eof) {
      const keep = Math.min(sep.length - 1, this.buffered);
      this.#dropTail = keep === 0 ? EMPTY : this.#buf.slice(this.#end - keep, this.#end);
      this.#dropSep = sep;
    }
    // Set before taking: taking may resume a transport that feeds us at once.
    this.#take(this.buffered);
  }

  /** Drops `data` through the separator of the line being dropped; returns what follows it (empty if it has not come). */
  #dropLineTail(data: Uint8Array): Uint8Array {
    const sep = this.#dropSep as Uint8Array;
    const tail = this.#dropTail;
    let end = -1;
    if (tail.length > 0) {
      // A separator that starts in the bytes already dropped: look in them plus this chunk's first bytes.
      const head = new Uint8Array(tail.length + Math.min(data.length, sep.length - 1));
      head.set(tail);
      head.set(data.subarray(0, head.length - tail.length), tail.length);
      const at = find(head, sep, 0, head.length);
      if (at >= 0) end = at + sep.length - tail.length;
    }
    if (end < 0) {
      const at = find(data, sep, 0, data.length);
      if (at >= 0) end = at + sep.length;
    }
    if (end >= 0) {
      this.#dropSep = null;
      this.#dropTail = EMPTY;
      return data.subarray(end);
    }
    if (sep.length > 1) {
      // Keep the last bytes seen (tail, then data), fewer than the separator: it may start there.
      const next = new Uint8Array(Math.min(sep.length - 1, tail.length + data.length));
      const fromData = Math.min(data.length, next.length);
      next.set(tail.subarray(tail.length - (next.length - fromData)));
      next.set(data.subarray(data.length - fromData), next.length - fromData);
      this.#dropTail = next;
    }
    return EMPTY;
  }

  /** @internal The waiting read was woken or cancelled. */
  forgetWaiter(park: DataPark): void {
    if (this.#waiter === park) this.#waiter = null;
  }

  #throwIfFailed(): void {
    if (this.#exception !== undefined) throw told(this.#exception);
  }

  /**
   * The park to wait on until data, EOF or an error is fed; `null` if
   * resuming the transport fed something (the caller looks at the buffer
   * again). The reading generator yields the park itself: no generator per wait.
   */
  #parkForData(action: string): DataPark | null {
    if (this.#waiter !== null) throw new Error(`Cannot ${action}: another task is already waiting on this StreamReader`);
    if (this.#paused) {
      // Waiting while paused would wait forever, so resume. A transport may deliver as it resumes (the
      // memory pipe does), before we wait: that wake would be missed, so check for it instead of parking.
      // (Registering the waiter first would not help: a park can only be woken once it is yielded.)
      const before = this.buffered;
      this.#resumeTransport();
      if (this.buffered !== before || this.#eof || this.#exception !== undefined) return null;
    }
    const park = new DataPark(requireCurrentTask(action), this, this.#transport?.external ?? false);
    this.#waiter = park;
    return park;
  }

  #wake(): void {
    this.#waiter?.settle();
  }

  /** Removes and returns the first `n` buffered bytes. */
  #take(n: number): Uint8Array {
    if (n === 0) return EMPTY;
    const start = this.#start;
    const buf = this.#buf;
    // All of a chunk as it was fed (a line per read is the common case): the chunk itself, as a
    // view would be the same bytes. A view of a Node Buffer is made through its species
    // constructor, which is slow.
    const result = start === 0 && n === buf.length ? buf : buf.subarray(start, start + n);
    this.#consume(n);
    return result;
  }
  /** The next `n` bytes (`n` > 0) decoded, without their last `drop` bytes; consumed. */
  #takeText(n: number, drop: number, decode: RangeDecoder): string {
    const start = this.#start;
    const text = decode(this.#buf, start, start + n - drop);
    this.#consume(n);
    return text;
  }
  /** Puts `parts` (`size` bytes in all) back in front of the buffered bytes, as they were before they were taken. */
  #putBack(parts: Uint8Array[], size: number): void {
    if (this.buffered > 0) {
      size += this.buffered;
      parts.push(this.#buf.subarray(this.#start, this.#end));
    }
    // The same bytes at the same places in the stream: a scan that waits may go on from where it was.
    this.#taken -= size - this.buffered;
    this.#buf = joinBytes(parts, size);
    this.#start = 0;
    this.#end = size;
    this.#owned = true;
    if (!this.#paused && this.#transport !== null && size > 2 * this.limit) this.#pause();
  }
  #consume(n: number): void {
    this.#taken += n;
    this.#start += n;
    if (this.#start === this.#end) {
      this.#buf = EMPTY;
      this.#start = this.#end = 0;
      this.#owned = false;
    }
    if (this.#paused && this.buffered <= this.limit) this.#resumeTransport();
  }

  #append(data: Uint8Array): void {
    if (this.#end === this.#start) {
      this.#buf = data;
      this.#start = 0;
      this.#end = data.length;
      this.#owned = false;
      return;
    }
    const size = this.#end - this.#start;
    if (!this.#owned || this.#buf.length - this.#end < data.length) {
      // Grow (doubling) into a buffer of our own: appends stay amortized O(1) per byte.
      const grown = new Uint8Array(Math.max(2 * (size + data.length), 1024));
      grown.set(this.#buf.subarray(this.#start, this.#end));
      this.#buf = grown;
      this.#start = 0;
      this.#end = size;
      this.#owned = true;
    }
    this.#buf.set(data, this.#end);
    this.#end += data.length;
  }

  /** Pauses the transport (the caller found more than twice the limit buffered). */
  #pause(): void {
    this.#paused = true;
    this.#transport?.pauseReading();
  }

  #resumeTransport(): void {
    if (this.#paused && this.#transport !== null) {
      this.#paused = false;
      this.#transport.resumeReading();
    }
  }

  /** Position of `sep` in the buffered bytes at or after `from`, or -1. */
  #indexOf(sep: Uint8Array, from: number): number {
    const start = this.#start;
    const at = find(this.#buf, sep, start + from, this.#end);
    return at < 0 ? -1 : at - start;
  }
}
defineOperationMethods(StreamReader);

/**
 * `reader.readLine()`: a step operation (see `core/_step-operation.ts`),
 * as the read a line protocol makes per message: no generator per line,
 * and a line already buffered is returned by its first step.
 */
class ReadLine extends StepOperation<Uint8Array> implements LineScan {
  readonly #reader: StreamReader;
  readonly #given: Uint8Array | string;
  /** The separator as bytes, once the first step has checked it. */
  separator: Uint8Array = NEWLINE;
  /** Where the next scan starts, as a position in the stream (see `LineScan`). */
  offset = 0;

  constructor(reader: StreamReader, separator: Uint8Array | string) {
    super();
    this.state = FRESH;
    this.#reader = reader;
    this.#given = separator;
  }

  next(): IteratorResult<Instruction, Uint8Array> {
    if (this.state === FINISHED) throw ranTwice(this);
    let found: Uint8Array | DataPark;
    try {
      if (this.state === FRESH) {
        const given = this.#given;
        this.separator = separatorBytes(given);
        if (this.separator.length === 0) throw new RangeError("Cannot read until a separator: the separator is empty");
      }
      found = this.#reader[LINE_STEP](this);
    } catch (error) {
      this.state = FINISHED;
      throw error;
    }
    if (found instanceof DataPark) {
      this.state = PARKED;
      return { value: found, done: false };
    }
    this.state = FINISHED;
    return { value: found, done: true };
  }
}
defineStepOperation(ReadLine, "streamReader.readLine", StreamReader, "readLine");

/** Index of the first `sep` in `buf[from..end)`, or -1. */
function find(buf: Uint8Array, sep: Uint8Array, from: number, end: number): number {
  const last = end - sep.length;
  const first = sep[0] as number;
  for (let i = buf.indexOf(first, from); i !== -1 && i <= last; i = buf.indexOf(first, i + 1)) {
    let match = true;
    for (let j = 1; j < sep.length; j++) {
      if (buf[i + j] !== sep[j]) {
        match = false;
        break;
      }
    }
    if (match) return i;
  }
  return -1;
}
