/**
 * `openFile` for the Calvin descriptors, with one difference: the open
 * itself is not interrupted by a cancellation (the owner of a descriptor
 * may finish, or `close()` it, while its file is still opening). The
 * cancellation then comes at the next wait, with the file already owned by
 * the task, so it is closed, and waited for, as any other. (The public
 * `openFile`, cancelled while opening, closes the late handle after the
 * owner has ended.)
 * @module
 */
import type { FileHandle } from "node:fs/promises";
import { open } from "node:fs/promises";
import { startDaemon } from "../../core/_resource.ts"; // compat-internal: no public way to start a service task at once
import { requireCurrentTask } from "../../core/spawn.ts"; // compat-internal: the task running the code owns the file, even inside a boundary (currentTask() names the task that entered it)
import { io } from "../../fs/_file-io.ts"; // compat-internal: no public way to wait for a file's open without being interrupted
import { FileTransport } from "../../fs/_file-transport.ts"; // compat-internal: no public FileStream over an opened handle
import { type FileMode, FileStream } from "../../fs/index.ts";
import type { Operation } from "../../index.ts";

const PURPOSE: Record<FileMode, string> = { r: "reading", w: "writing", a: "appending" };
const REASONS: Record<string, string> = { EISDIR: "it is a directory", ENOTDIR: "a part of its path is not a directory", EACCES: "permission denied" };

/** What the file is opened for: "reading", "writing", "appending". */
export function purpose(mode: FileMode): string {
  return PURPOSE[mode];
}

/** The error `openFile` throws (same message and `code`). */
export function openError(error: unknown, path: string, mode: FileMode): Error {
  const code = (error as { code?: string }).code ?? "EIO";
  const missing = mode === "r" ? "it does not exist" : "a directory on its path does not exist";
  const reason = code === "ENOENT" ? missing : (REASONS[code] ?? (error as Error).message);
  const message = `Cannot open ${JSON.stringify(path)} for ${PURPOSE[mode]} (mode "${mode}"): ${reason} (${code})`;
  return Object.assign(new Error(message, { cause: error }), { code, path });
}

export function* openFileWhole(path: string, mode: FileMode, chunkSize: number): Operation<FileStream> {
  const owner = requireCurrentTask("open a file");
  let handle: FileHandle;
  try {
    handle = yield* io(open(path, mode), true);
  } catch (error) {
    throw typeof (error as { code?: unknown }).code === "string" ? openError(error, path, mode) : error;
  }
  const transport = new FileTransport(handle, { path, mode, follow: false, pollInterval: 250, chunkSize, limit: 65536, highWaterMark: 65536 });
  startDaemon(owner as Parameters<typeof startDaemon>[0], `file ${path}`, () => transport.run());
  return FileStream.create(path, mode, transport); // compat-internal: a FileStream over the transport above
}
