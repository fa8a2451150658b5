/**
 * A message and its framing as one write. Each `StreamWriter.write` on a
 * socket is a send system call, so the ported TCP classes (Calvin's
 * `TCPServer`/`TCPClient`, Twisted's `LineReceiver`) join what the originals
 * sent in pieces: the message, then its delimiter or after its length.
 * @module
 */
const encoder = new TextEncoder();

/** A delimiter's bytes, and its text when its UTF-8 round-trips (a string message is then joined as a string, which the socket encodes). */
export interface Delimiter {
  readonly bytes: Uint8Array;
  readonly text: string | undefined;
}

/** `bytes` as a `Delimiter`. */
export function delimiterOf(bytes: Uint8Array): Delimiter {
  return { bytes, text: roundTrippedText(bytes) };
}

/** `bytes` as text, if they are UTF-8 that decodes and encodes back to the same bytes; else `undefined`. */
function roundTrippedText(bytes: Uint8Array): string | undefined {
  const text = new TextDecoder().decode(bytes);
  const back = encoder.encode(text);
  return back.length === bytes.length && back.every((byte, i) => byte === bytes[i]) ? text : undefined;
}

/**
 * `data` followed by the delimiter, in one string or one buffer. A string
 * is joined as a string only with the delimiter's round-tripped text, which
 * never begins with a lone surrogate that could pair with one ending `data`.
 */
export function withDelimiter(data: string | Uint8Array, delimiter: Delimiter): string | Uint8Array {
  if (typeof data === "string" && delimiter.text !== undefined) return data + delimiter.text;
  return concatBytes(typeof data === "string" ? encoder.encode(data) : data, delimiter.bytes);
}

/** `head` then `tail`, in one buffer (either one itself when the other is empty). */
export function concatBytes(head: Uint8Array, tail: Uint8Array): Uint8Array {
  if (head.length === 0) return tail;
  if (tail.length === 0) return head;
  const joined = new Uint8Array(head.length + tail.length);
  joined.set(head);
  joined.set(tail, head.length);
  return joined;
}
