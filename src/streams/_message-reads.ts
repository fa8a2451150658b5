/**
 * One message read from a `StreamReader`, as an iterator result: the steps
 * behind `reader.lines()` and `readMessages`. They are generator functions
 * declared once, and each iterator's `next` only calls one of them: a
 * generator closure per iterator paid V8's first call of a new generator
 * function (about a microsecond) on every connection.
 * @module
 */
import type { Operation } from "../core/operation.ts";
import type { StreamReader } from "./stream-reader.ts";

/** A `TextDecoder`, as far as these reads need one (its type is not a global on every host's typings). */
export interface Decoder {
  decode(bytes: Uint8Array): string;
}

/** The next line of `reader` without its separator `sep`, decoded; done at the end. */
export function* nextLine(reader: StreamReader, sep: Uint8Array, decoder: Decoder): Operation<IteratorResult<string, undefined>> {
  const line = yield* reader.readLine(sep);
  if (line.length === 0) return { done: true, value: undefined };
  return { done: false, value: decoder.decode(withoutSeparator(line, sep) ?? line) };
}

/** `line` without its trailing separator `sep`, or `undefined` if it does not end with one (a last line at EOF). */
export function withoutSeparator(line: Uint8Array, sep: Uint8Array): Uint8Array | undefined {
  const start = line.length - sep.length;
  if (start < 0) return undefined;
  for (let i = 0; i < sep.length; i++) if (line[start + i] !== sep[i]) return undefined;
  return line.subarray(0, start);
}

/** The next chunk of at most `maxLength` bytes; done at the end. */
export function* nextChunk(reader: StreamReader, maxLength: number): Operation<IteratorResult<Uint8Array, undefined>> {
  const chunk = yield* reader.read(maxLength);
  return chunk.length === 0 ? { done: true, value: undefined } : { done: false, value: chunk };
}
