/**
 * One message read from a `StreamReader`, as an iterator result: the steps
 * behind `reader.lines()` and `readMessages`. They are generator functions
 * declared once, and each iterator's `next` only calls one of them: a
 * generator closure per iterator paid V8's first call of a new generator
 * function (about a microsecond) on every connection.
 * @module
 */
import { DONE, FINISHED, FRESH, PARKED, StepOperation } from "../core/_step-operation.ts";
import { type Instruction, markOperationPrototype, type Operation } from "../core/operation.ts";
import type { StreamReader } from "./stream-reader.ts";

/** A `TextDecoder`, as far as these reads need one (its type is not a global on every host's typings). */
export interface Decoder {
  decode(bytes: Uint8Array): string;
}

/**
 * A decoder for lines, each decoded alone: it keeps U+FEFF at a line's
 * start. A default `TextDecoder` drops it there as a byte-order mark, which
 * decoding line by line made lose a character from any line that began with
 * one; Node's `readline` and Python's `bytes.decode("utf-8")` keep it too.
 */
export function lineDecoder(): Decoder {
  return new TextDecoder("utf-8", { ignoreBOM: true });
}

/** The next line of `reader` without its separator `sep`, decoded; done at the end. `sepText`: see `separatorText`. */
export function nextLine(reader: StreamReader, sep: Uint8Array, decoder: Decoder, sepText: string | undefined): Operation<IteratorResult<string, undefined>> {
  return new NextLine(reader.readLine(sep)[Symbol.iterator](), sep, decoder, sepText);
}

const END: IteratorReturnResult<undefined> = { done: true, value: undefined };

/**
 * `nextLine`: a step operation (see `core/_step-operation.ts`) around the
 * reader's `readLine`, as `lines()` and line framing take a line per
 * message: no generator per line.
 */
class NextLine extends StepOperation<IteratorResult<string, undefined>> {
  readonly #line: Iterator<Instruction, Uint8Array, unknown>;
  readonly #sep: Uint8Array;
  readonly #decoder: Decoder;
  readonly #sepText: string | undefined;

  constructor(line: Iterator<Instruction, Uint8Array, unknown>, sep: Uint8Array, decoder: Decoder, sepText: string | undefined) {
    super();
    this.state = FRESH;
    this.#line = line;
    this.#sep = sep;
    this.#decoder = decoder;
    this.#sepText = sepText;
  }

  next(): IteratorResult<Instruction, IteratorResult<string, undefined>> {
    if (this.state === FINISHED) return DONE as unknown as IteratorResult<Instruction, IteratorResult<string, undefined>>;
    let step: IteratorResult<Instruction, Uint8Array>;
    try {
      step = this.#line.next();
    } catch (error) {
      this.state = FINISHED;
      throw error;
    }
    if (step.done !== true) {
      this.state = PARKED;
      return step;
    }
    this.state = FINISHED;
    const line = step.value;
    return { done: true, value: line.length === 0 ? END : { done: false, value: decodeLine(line, this.#sep, this.#decoder, this.#sepText) } };
  }
}
markOperationPrototype(NextLine.prototype, "lines.next");

/**
 * `sep` as text, if it is UTF-8 that decodes and encodes back to the same
 * bytes; else `undefined`. Such a separator can be cut off a line after
 * decoding: UTF-8 resynchronizes at its first byte, so the decoded line ends
 * with exactly this text.
 */
export function separatorText(sep: Uint8Array, decoder: Decoder): string | undefined {
  const text = decoder.decode(sep);
  const back = new TextEncoder().encode(text);
  return back.length === sep.length && back.every((byte, i) => byte === sep[i]) ? text : undefined;
}

/**
 * A line decoded, without its separator. Decoding the whole line and then
 * cutting the separator's text off the string spares a view of the bytes (a
 * typed array made through `Buffer`'s species constructor, on each line).
 */
function decodeLine(line: Uint8Array, sep: Uint8Array, decoder: Decoder, sepText: string | undefined): string {
  if (!endsWith(line, sep)) return decoder.decode(line);
  if (sepText !== undefined) return decoder.decode(line).slice(0, -sepText.length);
  return decoder.decode(line.subarray(0, line.length - sep.length));
}

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
