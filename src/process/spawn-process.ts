/**
 * Starting child processes: `spawnProcess`, asyncio's `create_subprocess_exec`.
 * @module
 */

import { type ChildProcess, spawn as nodeSpawn } from "node:child_process";
import { defineOperation } from "../core/_dev.ts";
import { ExternalPark } from "../core/_external-park.ts";
import type { Operation } from "../core/operation.ts";
import { requireCurrentTask } from "../core/spawn.ts";
import { checkSignal, Process } from "./process.ts";

/**
 * What becomes of one of the child's standard streams: `"pipe"` connects it
 * to a corio stream on the `Process`, `"inherit"` shares this program's,
 * `"ignore"` connects it to `/dev/null`.
 *
 * @example
 * ```ts
 * import { run } from "corio";
 * import { type StdioMode, spawnProcess } from "corio/process";
 * const quiet: StdioMode = "ignore";
 * await run(function* () {
 *   const child = yield* spawnProcess(process.execPath, ["-e", "console.log('unseen')"], { stdout: quiet });
 *   console.assert(child.stdout === undefined);
 *   yield* child.wait();
 * });
 * ```
 */
export type StdioMode = "pipe" | "inherit" | "ignore";

/**
 * Options of `spawnProcess`.
 *
 * @example
 * ```ts
 * import { run } from "corio";
 * import { type SpawnProcessOptions, spawnProcess } from "corio/process";
 * const options: SpawnProcessOptions = { env: { ...process.env, GREETING: "hi" }, stdin: "ignore", killGrace: 1000 };
 * const { stdout } = await run(function* () {
 *   const child = yield* spawnProcess(process.execPath, ["-e", "console.log(process.env.GREETING)"], options);
 *   return yield* child.communicate();
 * });
 * console.assert(new TextDecoder().decode(stdout) === "hi\n");
 * ```
 */
export interface SpawnProcessOptions {
  /** The working directory of the child. @default this program's `process.cwd()` */
  cwd?: string | URL;
  /** The child's whole environment (it replaces this program's: spread `process.env` to extend it). @default this program's `process.env` */
  env?: Record<string, string | undefined>;
  /** @default "pipe" */
  stdin?: StdioMode;
  /** @default "pipe" */
  stdout?: StdioMode;
  /** @default "pipe" */
  stderr?: StdioMode;
  /** The `limit` of the stdout and stderr readers (see `StreamReader`). @default 65536 */
  limit?: number;
  /** Milliseconds between `signal` and `SIGKILL` when the process is stopped; `Infinity` never escalates. @default 5000 */
  killGrace?: number;
  /** The signal sent first when the process is stopped (its owner finished, or `wait()` was cancelled): a name, as `"SIGINT"`. @default "SIGTERM" */
  signal?: NodeJS.Signals;
}

const MODES: readonly string[] = ["pipe", "inherit", "ignore"];

/**
 * Starts `command` with `args` (no shell: nothing is interpreted) and gives
 * its `Process` once the OS has started it (asyncio's
 * `create_subprocess_exec`). stdin, stdout and stderr are pipes unless the
 * options say otherwise. The process belongs to the calling task: when that
 * task finishes or is cancelled while the process still runs, the process
 * is sent `signal` (`SIGTERM`), then `SIGKILL` after `killGrace` ms, and the
 * task finishes only once the process has exited, so nothing outlives it.
 *
 * **Cancellation:** a process being started is stopped the same way, and
 * the cancellation is thrown once it has exited.
 *
 * @param command The executable: a path, or a name looked up in `PATH`.
 * @param args Its arguments.
 * @param options `cwd`, `env`, the three stdio modes, `limit`, `killGrace`, `signal`.
 * @returns The running process.
 * @throws {Error} naming the command, with the OS `code` (`ENOENT` for a
 * missing executable or cwd, or a script whose `#!` interpreter is missing,
 * `EACCES` for one that may not be run, `ENOTDIR` for a cwd that is a file,
 * `E2BIG` for arguments too long, `EMFILE` when this program is out of file
 * descriptors, ...) and Node's error as `cause`, if it cannot be started.
 * @throws {TypeError} for a command or arguments that are not strings, or
 * options that are not an object.
 * @throws {RangeError} for a bad option.
 * @example Running a command and collecting its output
 * ```ts
 * import { run } from "corio";
 * import { spawnProcess } from "corio/process";
 * const result = await run(function* () {
 *   const child = yield* spawnProcess(process.execPath, ["-e", "process.stdin.pipe(process.stdout)"]);
 *   return yield* child.communicate("echo me");
 * });
 * console.assert(new TextDecoder().decode(result.stdout) === "echo me" && result.code === 0);
 * ```
 * @example A missing executable
 * ```ts
 * import { run } from "corio";
 * import { spawnProcess } from "corio/process";
 * await run(function* () {
 *   try {
 *     yield* spawnProcess("corio-no-such-command");
 *     console.assert(false, "it should not start");
 *   } catch (e) {
 *     console.assert((e as NodeJS.ErrnoException).code === "ENOENT");
 *   }
 * });
 * ```
 */
export const spawnProcess = defineOperation(function* spawnProcess(
  command: string,
  args: readonly string[] = [],
  options: SpawnProcessOptions = {},
): Operation<Process> {
  const owner = requireCurrentTask("spawn a process");
  if (typeof command !== "string" || command === "") {
    throw new TypeError(`Cannot spawn a process: the command must be a non-empty string, received ${command === "" ? '""' : typeof command}`);
  }
  if (!Array.isArray(args) || !args.every((arg) => typeof arg === "string")) {
    throw new TypeError(`Cannot spawn ${JSON.stringify(command)}: args must be an array of strings`);
  }
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`Cannot spawn ${JSON.stringify(command)}: options must be an object, received ${options === null ? "null" : typeof options}`);
  }
  const stdio = (["stdin", "stdout", "stderr"] as const).map((name) => {
    const mode = options[name] ?? "pipe";
    if (!MODES.includes(mode)) {
      throw new RangeError(`Cannot spawn ${JSON.stringify(command)}: ${name} must be "pipe", "inherit" or "ignore", received ${JSON.stringify(mode)}`);
    }
    return mode;
  });
  const { limit, killGrace = 5000, signal = "SIGTERM" } = options;
  if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) {
    throw new RangeError(`Cannot spawn ${JSON.stringify(command)}: limit must be a positive integer, received ${String(limit)}`);
  }
  if (!(typeof killGrace === "number" && killGrace >= 0)) {
    throw new RangeError(`Cannot spawn ${JSON.stringify(command)}: killGrace must be a non-negative number of ms, received ${String(killGrace)}`);
  }
  if (typeof signal !== "string") {
    throw new RangeError(`Cannot spawn ${JSON.stringify(command)}: signal must be a signal name such as "SIGTERM", received ${String(signal)}`);
  }
  checkSignal(signal, `spawn ${JSON.stringify(command)}`);

  let child: ChildProcess;
  try {
    child = nodeSpawn(command, args, {
      stdio,
      ...(options.cwd !== undefined && { cwd: options.cwd }),
      ...(options.env !== undefined && { env: options.env }),
    });
  } catch (error) {
    // Bad arguments Node refuses (a NUL byte...) are thrown as they are; OS errors get the command's name.
    if ((error as NodeJS.ErrnoException).errno === undefined) throw error;
    throw spawnError(command, error as NodeJS.ErrnoException);
  }

  if (child.pid === undefined) {
    // Not started (ENOENT, EACCES, EMFILE...): Node tells why in an 'error' event on the next tick,
    // so the listener goes on first (unheard, that event crashes the program). On EMFILE and ENFILE
    // Node gives up before it makes the stdio streams: `child.stdio` is then null.
    const failed = new ExternalPark<NodeJS.ErrnoException>(owner, "process", undefined, "a child process to start");
    child.once("error", (error: NodeJS.ErrnoException) => failed.resolve(error));
    for (const stream of child.stdio ?? []) stream?.destroy();
    throw spawnError(command, (yield failed) as NodeJS.ErrnoException);
  }

  // Started: from here on the process is the owner's (a cancellation below stops it).
  const started = new Process(child, { limit, signal, killGrace });
  const spawned = new ExternalPark<void>(owner, "process");
  const onError = (error: NodeJS.ErrnoException): void => {
    spawned.reject(spawnError(command, error));
  };
  child.once("spawn", () => spawned.resolve());
  child.once("error", onError);
  try {
    yield spawned;
  } finally {
    child.off("error", onError);
  }
  return started;
});

const REASONS: Record<string, string> = {
  ENOENT: "no such file or directory (check the command, PATH, cwd, and the interpreter a script's #! line names)",
  EACCES: "permission denied (is it an executable file?)",
  ENOTDIR: "a path component is not a directory",
  EMFILE: "too many open files",
  ENFILE: "too many open files in the system",
  EAGAIN: "too many processes",
  E2BIG: "the arguments and environment are too long for the OS",
};

/** The error of a process that could not be started: names the command, keeps the OS code and Node's error. */
function spawnError(command: string, error: NodeJS.ErrnoException): Error {
  const code = error.code;
  const reason = (code !== undefined && REASONS[code]) || error.message;
  return Object.assign(new Error(`Cannot spawn ${JSON.stringify(command)}: ${reason}${code !== undefined ? ` (${code})` : ""}`, { cause: error }), {
    code,
  });
}
