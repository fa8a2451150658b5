/**
 * The bytes a file's writer queued and the task has not written yet, small
 * writes copied side by side into shared buffers.
 *
 * A log written a line at a time queued one chunk per line: each string
 * encoded into a buffer of its own, copied again by the transport, and
 * `writev` handed 256 tiny buffers. Here a small write is copied (a string
 * encoded) straight into the open end of a 64 KiB buffer, so a batch is a
 * few large chunks and a line costs no allocation.
 * @module
 */
import { Buffer } from "node:buffer";

/** The size of a shared buffer. */
const STAGE_SIZE = 64 * 1024;
/** Writes up to this many bytes share a buffer; a larger one is queued as a chunk of its own. */
const SMALL_WRITE = 8 * 1024;

/**
 * A queue of bytes to write, in order. The last chunk is open: small writes
 * are appended to it until it is taken (`take`) or full.
 *
 * ```ts
 * const queue = new WriteQueue();
 * queue.pushString("one line\n");
 * queue.pushBytes(new Uint8Array([0x32, 0x0a]));
 * const batch = queue.take(256); // one chunk: "one line\n2\n"
 * ```
 */
export class WriteQueue {
  #size = 0;
  readonly #chunks: Uint8Array[] = [];
  /** The open chunk: `#stage[#start..#end)`; the bytes before `#start` were taken already. */
  #stage: Buffer = Buffer.alloc(0);
  #start = 0;
  #end = 0;

  /** Bytes queued. */
  get size(): number {
    return this.#size;
  }

  /** Queues a copy of `data` (the caller may reuse its buffer at once). */
  pushBytes(data: Uint8Array): void {
    if (data.length > SMALL_WRITE) {
      this.#seal();
      // A copy (not slice(), which is a view of a Node Buffer).
      this.#chunks.push(new Uint8Array(data));
    } else {
      const at = this.#room(data.length);
      this.#stage.set(data, at);
      this.#end = at + data.length;
    }
    this.#size += data.length;
  }

  /** Queues `text` encoded as UTF-8; returns its size in bytes. */
  pushString(text: string): number {
    let bytes: number;
    // A UTF-16 code unit takes at most 3 bytes of UTF-8: with that much room the text fits whole.
    if (text.length * 3 > SMALL_WRITE) {
      this.#seal();
      const encoded = Buffer.from(text, "utf8");
      this.#chunks.push(encoded);
      bytes = encoded.length;
    } else {
      const at = this.#room(text.length * 3);
      bytes = this.#stage.write(text, at, "utf8");
      this.#end = at + bytes;
    }
    this.#size += bytes;
    return bytes;
  }

  /** Removes and returns up to `max` chunks from the head, in order. */
  take(max: number): Uint8Array[] {
    this.#seal();
    const batch = this.#chunks.splice(0, max);
    for (const chunk of batch) this.#size -= chunk.length;
    return batch;
  }

  /** Puts back the chunks of a batch that were not written, in front. */
  unshift(chunks: Uint8Array[]): void {
    this.#chunks.unshift(...chunks);
    for (const chunk of chunks) this.#size += chunk.length;
  }

  /** Forgets every queued byte. */
  clear(): void {
    this.#chunks.length = 0;
    this.#start = this.#end;
    this.#size = 0;
  }

  /** Where `n` bytes fit in the open chunk, after sealing it and opening a new one if they do not. */
  #room(n: number): number {
    if (this.#stage.length - this.#end < n) {
      this.#seal();
      this.#stage = Buffer.allocUnsafe(STAGE_SIZE);
      this.#start = this.#end = 0;
    }
    return this.#end;
  }

  /** Closes the open chunk: the next small write starts a new one (in the same buffer, after it). */
  #seal(): void {
    if (this.#end > this.#start) {
      this.#chunks.push(this.#stage.subarray(this.#start, this.#end));
      this.#start = this.#end;
    }
  }
}
