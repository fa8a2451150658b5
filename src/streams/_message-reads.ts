/**
 * One message read from a `StreamReader`, as an iterator result: the steps
 * behind `reader.lines()` and `readMessages`. They are declared once (a step
 * operation for a line, a generator function for a chunk), and each
 * iterator's `next` only calls one of them: a generator closure per
 * iterator paid V8's first call of a new generator function (about a
 * microsecond) on every connection.
 * @module
 */
import { hostDecodeUtf8 } from "../core/_host.ts";
import { FINISHED, FRESH, PARKED, ranTwice, StepOperation } from "../core/_step-operation.ts";
import { type Instruction, markOperationPrototype, type Operation } from "../core/operation.ts";
import type { StreamReader } from "./stream-reader.ts";

/** Decodes `bytes[start..end)` as UTF-8. */
export type RangeDecoder = (bytes: Uint8Array, start: number, end: number) => string;

/** What a line scan of the reader keeps between its steps: the separator, and where the next scan starts. */
export interface LineScan {
  readonly separator: Uint8Array;
  /**
   * Where the next scan starts, as a position in the stream (bytes the
   * reader had given out before it, plus the offset in its buffer), not an
   * offset in the buffer: another read may take bytes while this one waits.
   * 0 for a new scan.
   */
  offset: number;
  /** A text line keeps its separator (a file's `readLine`); by default it is cut off. */
  readonly keepsSeparator?: boolean;
}

/** The key of `StreamReader`'s step for a line read as text (see `NextLine`), kept off its public names. */
export const LINE_TEXT_STEP = Symbol("corio.streamReader.lineTextStep");

/** The reader's step for a line as text, as `NextLine` sees it (the reader's park is an `Instruction`). */
export interface LineTextReader {
  [LINE_TEXT_STEP](op: LineScan, decode: RangeDecoder): string | null | Instruction;
}

/**
 * A decoder for lines, each decoded alone: it keeps U+FEFF at a line's
 * start. A default `TextDecoder` drops it there as a byte-order mark, which
 * decoding line by line made lose a character from any line that began with
 * one; Node's `readline` and Python's `bytes.decode("utf-8")` keep it too.
 */
export function lineDecoder(): RangeDecoder {
  if (hostDecodeUtf8 !== undefined) return hostDecodeUtf8;
  const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
  return (bytes, start, end) => decoder.decode(bytes.subarray(start, end));
}

/** The next line of `reader` without its separator `sep`, decoded; done at the end. */
export function nextLine(reader: StreamReader, sep: Uint8Array, decode: RangeDecoder): Operation<IteratorResult<string, undefined>> {
  return new NextLine(reader as unknown as LineTextReader, sep, decode);
}

const END: IteratorReturnResult<undefined> = { done: true, value: undefined };

/**
 * `nextLine`: a step operation (see `core/_step-operation.ts`), as
 * `lines()` and line framing take a line per message: no generator per
 * line, and the reader decodes the line from its buffer (no view of it).
 * The separator was checked when the iterator was made.
 */
class NextLine extends StepOperation<IteratorResult<string, undefined>> implements LineScan {
  readonly separator: Uint8Array;
  offset = 0;
  readonly #reader: LineTextReader;
  readonly #decode: RangeDecoder;

  constructor(reader: LineTextReader, separator: Uint8Array, decode: RangeDecoder) {
    super();
    this.state = FRESH;
    this.#reader = reader;
    this.separator = separator;
    this.#decode = decode;
  }

  next(): IteratorResult<Instruction, IteratorResult<string, undefined>> {
    if (this.state === FINISHED) throw ranTwice(this);
    let found: string | null | Instruction;
    try {
      found = this.#reader[LINE_TEXT_STEP](this, this.#decode);
    } catch (error) {
      this.state = FINISHED;
      throw error;
    }
    if (typeof found === "string") {
      this.state = FINISHED;
      return { done: true, value: { done: false, value: found } };
    }
    if (found === null) {
      this.state = FINISHED;
      return { done: true, value: END };
    }
    this.state = PARKED;
    return { done: false, value: found };
  }
}
markOperationPrototype(NextLine.prototype, "lines.next");

/** True if `line` ends with the bytes of `sep`. */
function endsWith(line: Uint8Array, sep: Uint8Array): boolean {
  const start = line.length - sep.length;
  if (start < 0) return false;
  for (let i = 0; i < sep.length; i++) if (line[start + i] !== sep[i]) return false;
  return true;
}

/** `line` without its trailing separator `sep`, or `undefined` if it does not end with one (a last line at EOF). */
export function withoutSeparator(line: Uint8Array, sep: Uint8Array): Uint8Array | undefined {
  return endsWith(line, sep) ? line.subarray(0, line.length - sep.length) : undefined;
}

/** The next chunk of at most `maxLength` bytes; done at the end. */
export function* nextChunk(reader: StreamReader, maxLength: number): Operation<IteratorResult<Uint8Array, undefined>> {
  const chunk = yield* reader.read(maxLength);
  return chunk.length === 0 ? { done: true, value: undefined } : { done: false, value: chunk };
}
