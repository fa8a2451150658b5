/**
 * `openFile` for the Calvin descriptors, with one difference: the open
 * itself is not interrupted by a cancellation (the owner of a descriptor
 * may finish while its file is still opening). The cancellation then comes
 * at the next wait, with the file already owned by the task, so it is
 * closed, and waited for, as any other.
 * @module
 */
import type { FileHandle } from "node:fs/promises";
import { open } from "node:fs/promises";
import { startDaemon } from "../../core/_resource.ts";
import type { Operation } from "../../core/operation.ts";
import { requireCurrentTask } from "../../core/spawn.ts";
import { type FileMode, openError } from "../../fs/_file-errors.ts";
import { io } from "../../fs/_file-io.ts";
import { FileTransport } from "../../fs/_file-transport.ts";
import { FileStream } from "../../fs/open-file.ts";

export function* openFileWhole(path: string, mode: FileMode, chunkSize: number): Operation<FileStream> {
  const owner = requireCurrentTask("open a file");
  let handle: FileHandle;
  try {
    handle = yield* io(open(path, mode), true);
  } catch (error) {
    throw typeof (error as { code?: unknown }).code === "string" ? openError(error, path, mode) : error;
  }
  const transport = new FileTransport(handle, { path, mode, follow: false, pollInterval: 250, chunkSize, limit: 65536, highWaterMark: 65536 });
  startDaemon(owner, `file ${path}`, () => transport.run());
  return new FileStream(path, mode, transport);
}
