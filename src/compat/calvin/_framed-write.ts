/**
 * A message and its framing as one write. Each `StreamWriter.write` on a
 * socket is a send system call, so the TCP classes join what the original
 * sent in pieces (the message, then its delimiter or after its length).
 * @module
 */
import { separatorText } from "../../streams/_message-reads.ts"; // compat-internal: the delimiter as text, shared with StreamReader.lines()

const encoder = new TextEncoder();

/** A delimiter's bytes, and its text when its UTF-8 round-trips (a string message is then joined as a string, which the socket encodes). */
export interface Delimiter {
  readonly bytes: Uint8Array;
  readonly text: string | undefined;
}

/** `bytes` as a `Delimiter`. */
export function delimiterOf(bytes: Uint8Array): Delimiter {
  return { bytes, text: separatorText(bytes, new TextDecoder()) };
}

/** `data` followed by the delimiter, in one string or one buffer. */
export function withDelimiter(data: string | Uint8Array, delimiter: Delimiter): string | Uint8Array {
  if (typeof data === "string" && delimiter.text !== undefined) return data + delimiter.text;
  return joinBytes(typeof data === "string" ? encoder.encode(data) : data, delimiter.bytes);
}

/** `head` then `tail`, in one buffer. */
export function joinBytes(head: Uint8Array, tail: Uint8Array): Uint8Array {
  const joined = new Uint8Array(head.length + tail.length);
  joined.set(head);
  joined.set(tail, head.length);
  return joined;
}
