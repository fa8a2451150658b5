/**
 * Waiting on `node:fs/promises` from a task. Each wait is an `ExternalPark`:
 * it counts as busy for the virtual clock while the OS works, so time does
 * not jump ahead of real I/O.
 * @module
 */
import { type FileHandle, open } from "node:fs/promises";
import { ExternalPark } from "../core/_external-park.ts";
import type { Operation } from "../core/operation.ts";
import { requireCurrentTask } from "../core/spawn.ts";

/**
 * Waits for `promise`. A `shielded` wait is not interrupted by cancellation
 * (the cancel is thrown at the next plain suspension): for writes and
 * closes, which must finish once started.
 */
export function* io<T>(promise: Promise<T>, shielded = false): Operation<T> {
  const park = new ExternalPark<T>(requireCurrentTask("wait for file I/O"), "io");
  park.shielded = shielded;
  promise.then(
    (value) => park.resolve(value),
    (error: unknown) => park.reject(error),
  );
  return (yield park) as T;
}

function closeQuietly(handle: FileHandle): void {
  handle.close().catch(() => {});
}

/**
 * Opens `path` with Node's `flags`. **Cancellation:** the open cannot be
 * stopped; a handle that arrives after the cancel is closed.
 */
export function* openHandle(path: string, flags: string): Operation<FileHandle> {
  let abandoned = false;
  const park = new ExternalPark<FileHandle>(requireCurrentTask("open a file"), "io", (woken, value) => {
    abandoned = true;
    if (woken) closeQuietly(value as FileHandle);
  });
  open(path, flags).then(
    (handle) => {
      if (!park.resolve(handle) && abandoned) closeQuietly(handle);
    },
    (error: unknown) => park.reject(error),
  );
  return (yield park) as FileHandle;
}
