/**
 * Joining byte chunks into one buffer: the stream reader's reads, a fetch
 * body read whole, a chunked HTTP body.
 * @module
 */

/** The bytes of `parts`, `size` in all, in one new array. */
export function joinBytes(parts: readonly Uint8Array[], size: number): Uint8Array {
  const joined = new Uint8Array(size);
  let at = 0;
  for (const part of parts) {
    joined.set(part, at);
    at += part.length;
  }
  return joined;
}
