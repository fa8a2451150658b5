/**
 * Files and standard input as corio streams (the Calvin seed's
 * `GenericFileDescriptor` and `StdInFileDescriptor`).
 *
 * - `openFile(path, "r" | "w" | "a", options)` gives a `FileStream`: the
 *   seed's `read`, `readLine`, `write`, `writeLine`, `hasData`, `close` as
 *   text methods, over a `StreamReader` (mode "r") or a `StreamWriter`
 *   ("w", "a") for bytes. `{ follow: true }` tails a growing file.
 * - `stdin()` gives the process's standard input as a `StreamReader`.
 *
 * Both belong to the task that opened them: a file is flushed and closed
 * when that task ends; stdin is paused when every task using it has ended.
 * @module corio/fs
 */
export { type FileMode, FileStream, type OpenFileOptions, openFile } from "./open-file.ts";
export { type StdinOptions, stdin } from "./stdin.ts";
