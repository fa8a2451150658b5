/**
 * The errors of stream reads.
 * @module
 */
import { registerErrorClasses } from "../core/_error-registry.ts";

/**
 * Thrown by `readExactly` and `readUntil` when the stream ended first. It
 * carries the bytes that were read (`partial`), which are consumed, so
 * nothing is lost.
 *
 * @example
 * ```ts
 * import { IncompleteReadError, run, StreamReader } from "corio";
 * await run(function* () {
 *   const reader = new StreamReader();
 *   reader.feed(new Uint8Array([1, 2]));
 *   reader.feedEof();
 *   try { yield* reader.readExactly(4); } catch (e) {
 *     console.assert(e instanceof IncompleteReadError && e.partial.length === 2 && e.expected === 4);
 *   }
 * });
 * ```
 */
export class IncompleteReadError extends Error {
  override name = "IncompleteReadError";
  /** The bytes read before the end. */
  readonly partial: Uint8Array;
  /** How many bytes were expected; `undefined` for a separator that never came. */
  readonly expected: number | undefined;
  constructor(partial: Uint8Array, expected: number | undefined) {
    super(`Cannot read ${expected === undefined ? "up to the separator" : `${expected} bytes`}: the stream ended after ${partial.length} bytes`);
    this.partial = partial;
    this.expected = expected;
  }
}

/**
 * Thrown by `readUntil` and `readLine` when the separator is not within the
 * reader's `limit`. For `readUntil`, nothing is consumed (`consumed` tells how
 * far it looked, asyncio's rule); `readLine` discards the whole over-long
 * line through its separator, even one still to come, so the next read of
 * any kind returns what follows the line (asyncio's `readline` raises
 * `ValueError` and may return the line's tail as data).
 *
 * @example
 * ```ts
 * import { LimitOverrunError, run, StreamReader } from "corio";
 * await run(function* () {
 *   const reader = new StreamReader({ limit: 4 });
 *   reader.feed(new TextEncoder().encode("far too long\n"));
 *   try { yield* reader.readLine(); } catch (e) { console.assert(e instanceof LimitOverrunError); }
 * });
 * ```
 */
export class LimitOverrunError extends Error {
  override name = "LimitOverrunError";
  /**
   * How many bytes were looked at. After `readUntil` they are still buffered,
   * for the caller to consume (asyncio's rule); after `readLine` the line is
   * already dropped, so consuming them again would lose data.
   */
  readonly consumed: number;
  constructor(message: string, consumed: number) {
    super(message);
    this.consumed = consumed;
  }
}

// An error crossing to or from a worker thread is rebuilt as its class there (see threads/_serialize-error.ts).
registerErrorClasses({ IncompleteReadError, LimitOverrunError });
