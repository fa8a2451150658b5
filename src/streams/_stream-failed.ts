/**
 * The error a reader or writer over a host stream (Node's or the Web's)
 * fails with once that stream has failed.
 * @module
 */
import { BrokenResourceError } from "../core/errors.ts";

/** `BrokenResourceError` for `action` on a stream that failed with `error` (its `cause`). */
export function streamFailed(action: string, error: unknown): BrokenResourceError {
  return new BrokenResourceError(`Cannot ${action}: the stream failed (${error instanceof Error ? error.message : String(error)})`, { cause: error });
}
