/**
 * The errors of `corio/fs`: what failed, on which path, and the OS code.
 * @module
 */
import { BrokenResourceError } from "../core/errors.ts";

/** How a file is opened: read, write (truncate or create) or append (create). */
export type FileMode = "r" | "w" | "a";

const PURPOSE: Record<FileMode, string> = { r: "reading", w: "writing", a: "appending" };

/** An `Error` carrying the OS error code, like Node's own. */
export type CodedError = Error & { code: string; path: string };

function reasonOf(code: string | undefined, mode: FileMode, error: unknown): string {
  switch (code) {
    case "ENOENT":
      return mode === "r" ? "it does not exist" : "a directory on its path does not exist";
    case "EISDIR":
      return "it is a directory";
    case "ENOTDIR":
      return "a part of its path is not a directory";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    default:
      return error instanceof Error ? error.message : String(error);
  }
}

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/** `Cannot open "<path>" for reading (mode "r"): it does not exist (ENOENT)`, with `code`, `path` and the Node error as `cause`. */
export function openError(error: unknown, path: string, mode: FileMode): CodedError {
  const code = codeOf(error) ?? "EIO";
  const message = `Cannot open ${JSON.stringify(path)} for ${PURPOSE[mode]} (mode "${mode}"): ${reasonOf(code, mode, error)} (${code})`;
  return Object.assign(new Error(message, { cause: error }), { code, path });
}

/** The `EISDIR` that Node does not give for a directory opened for reading (it opens fine on Linux). */
export function isDirectoryError(path: string): CodedError {
  return Object.assign(new Error(`Cannot open ${JSON.stringify(path)} for reading (mode "r"): it is a directory (EISDIR)`), { code: "EISDIR", path });
}

/** A read, write or close that the OS failed: a `BrokenResourceError` with `code` and the Node error as `cause`. */
export function ioError(action: "read" | "write to" | "close", path: string, error: unknown): BrokenResourceError & { code: string; path: string } {
  const code = codeOf(error) ?? "EIO";
  const detail = error instanceof Error ? error.message : String(error);
  return Object.assign(new BrokenResourceError(`Cannot ${action} ${JSON.stringify(path)}: ${code} (${detail})`, { cause: error }), { code, path });
}

/** Writing to a file opened with mode "r". */
export function notWritableError(path: string): CodedError {
  return Object.assign(new Error(`Cannot write to ${JSON.stringify(path)}: it was opened for reading (mode "r"); open it with mode "w" or "a" to write`), {
    code: "EBADF",
    path,
  });
}

/** Reading from a file opened with mode "w" or "a". */
export function notReadableError(path: string, mode: FileMode): CodedError {
  return Object.assign(new Error(`Cannot read ${JSON.stringify(path)}: it was opened for ${PURPOSE[mode]} (mode "${mode}"); open it with mode "r" to read`), {
    code: "EBADF",
    path,
  });
}
