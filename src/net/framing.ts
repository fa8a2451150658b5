/**
 * Message framing over a byte stream: the Calvin seed's `line` and `raw`
 * server modes.
 * @module
 */
import type { Operation } from "../core/operation.ts";
import { operationIterator } from "../core/operation-iterator.ts";
import { lineDecoder, nextChunk, nextLine } from "../streams/_message-reads.ts";
import type { StreamReader } from "../streams/stream-reader.ts";

/**
 * How a connection's bytes are cut into messages. `line`: messages end with
 * `delimiter` (any bytes; default `"\r\n"`, as in the seed), are given as
 * strings without it (UTF-8), and a line longer than the reader's limit is
 * dropped and reported; `raw`: chunks as they arrive, at most `maxLength`
 * bytes each (default 8192, as in the seed).
 */
export type Framing = { mode: "line"; delimiter?: string | Uint8Array } | { mode: "raw"; maxLength?: number };

/** Messages read from a connection in its framing; `done` at the end of the stream. */
export interface MessageReader {
  /**
   * The next message (a string in `line` mode, bytes in `raw` mode), or
   * `{ done: true }` at the end of the stream.
   *
   * **Cancellation:** nothing is lost; the bytes stay buffered.
   *
   * @throws {LimitOverrunError} in `line` mode for a line over the reader's limit (it is dropped; the next call goes on).
   */
  next(): Operation<IteratorResult<string | Uint8Array, undefined>>;
  /** The messages, for `for await` in plain async code (each one waits in a root task). */
  [Symbol.asyncIterator](): AsyncIterator<string | Uint8Array, undefined, undefined>;
}

/**
 * Reads a stream as messages in the given framing. The result is a corio
 * iterator: `forEach(messages, function* (m) {...})`, a `next()` loop, or
 * `for await` in plain async code.
 *
 * @example
 * ```ts
 * import { run, StreamReader } from "corio";
 * import { readMessages } from "corio/net";
 * const lines = await run(function* () {
 *   const reader = new StreamReader();
 *   reader.feed(new TextEncoder().encode("a|b|"));
 *   reader.feedEof();
 *   const messages = readMessages(reader, { mode: "line", delimiter: "|" });
 *   const out: unknown[] = [];
 *   for (let m = yield* messages.next(); !m.done; m = yield* messages.next()) out.push(m.value);
 *   return out;
 * });
 * console.assert(lines.join() === "a,b");
 * ```
 */
export function readMessages(reader: StreamReader, framing: Framing): MessageReader {
  return framedMessages(reader, checkFraming(framing));
}

/** A framing that `checkFraming` accepted, its defaults filled in and its delimiter as bytes. */
export type CheckedFraming = { readonly mode: "line"; readonly delimiter: Uint8Array } | { readonly mode: "raw"; readonly maxLength: number };

/**
 * Checks `framing` as `readMessages` does, with the same errors. A server
 * checks its `framing` option with it before it listens: `readMessages`
 * runs in Node's connection listener, where a throw is uncaught and ends the
 * process at the first client.
 * @throws {TypeError} for a mode other than `line` or `raw`, or a delimiter that is neither a string nor bytes.
 * @throws {RangeError} for an empty delimiter, or a `maxLength` that is not a positive integer.
 */
export function checkFraming(framing: Framing): CheckedFraming {
  const mode = framing === null || typeof framing !== "object" ? undefined : framing.mode;
  if (mode === "line") {
    const given = (framing as { delimiter?: unknown }).delimiter ?? "\r\n";
    if (typeof given !== "string" && !(given instanceof Uint8Array)) {
      throw new TypeError(`Cannot frame lines: the delimiter must be a string or a Uint8Array, received ${given === null ? "null" : typeof given}`);
    }
    // A copy: the caller's bytes could change under a server's connections.
    const delimiter = typeof given === "string" ? new TextEncoder().encode(given) : new Uint8Array(given);
    if (delimiter.length === 0) throw new RangeError("Cannot frame lines: the delimiter is empty");
    return { mode, delimiter };
  }
  if (mode === "raw") {
    const maxLength = (framing as { maxLength?: unknown }).maxLength ?? 8192;
    if (!Number.isInteger(maxLength) || (maxLength as number) <= 0)
      throw new RangeError(`Cannot frame raw chunks: maxLength must be a positive integer, received ${String(maxLength)}`);
    return { mode, maxLength: maxLength as number };
  }
  throw new TypeError(`Cannot frame messages: mode must be "line" or "raw", received ${String(mode)}`);
}

/** `readMessages` for a framing already checked: it cannot throw. */
export function framedMessages(reader: StreamReader, framing: CheckedFraming): MessageReader {
  if (framing.mode === "line") {
    const delimiter = framing.delimiter;
    const decode = lineDecoder();
    return operationIterator<string | Uint8Array, undefined>(() => nextLine(reader, delimiter, decode));
  }
  const maxLength = framing.maxLength;
  return operationIterator<string | Uint8Array, undefined>(() => nextChunk(reader, maxLength));
}
