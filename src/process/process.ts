/**
 * A child process started by `spawnProcess`: its pipes, its exit status,
 * signals, and `communicate`.
 * @module
 */

import type { ChildProcess } from "node:child_process";
import type { Socket } from "node:net";
import { constants } from "node:os";
import { defineOperationMethods } from "../core/_dev.ts";
import { ExternalPark } from "../core/_external-park.ts";
import { MAX_HOST_DELAY } from "../core/_host.ts";
import { adoptResourceWithCleanup } from "../core/_resource.ts";
import { all } from "../core/all.ts";
import { BrokenResourceError, isCancellation } from "../core/errors.ts";
import type { Operation } from "../core/operation.ts";
import { requireCurrentTask } from "../core/spawn.ts";
import { wrapSocket } from "../net/_socket-transport.ts";
import type { StreamReader } from "../streams/stream-reader.ts";
import type { StreamWriter } from "../streams/stream-writer.ts";

const EMPTY = new Uint8Array(0);

/**
 * How a process ended: its exit `code`, or the `signal` that killed it (the
 * other one is `null`), as Node's `'exit'` event gives them.
 *
 * Node names only the classic signals: a child killed by a real-time signal
 * (Linux's `SIGRTMIN` to `SIGRTMAX`, 34 to 64) is reported as
 * `{ code: 0, signal: null }`, as if it had succeeded (asyncio gives
 * `returncode` -34 and so on). Node drops the number before corio sees it.
 *
 * @example
 * ```ts
 * import { run } from "corio";
 * import { type ProcessExit, spawnProcess } from "corio/process";
 * const exit: ProcessExit = await run(function* () {
 *   const child = yield* spawnProcess(process.execPath, ["-e", "process.exit(3)"]);
 *   return yield* child.wait();
 * });
 * console.assert(exit.code === 3 && exit.signal === null);
 * ```
 */
export interface ProcessExit {
  /** The exit code, or `null` if a signal killed the process. */
  readonly code: number | null;
  /** The signal that killed the process, or `null` if it exited by itself. */
  readonly signal: NodeJS.Signals | null;
}

/**
 * What `Process.communicate` returns: everything the process wrote to its
 * stdout and stderr (empty when that stream is not piped), and how it ended.
 *
 * @example
 * ```ts
 * import { run } from "corio";
 * import { type CommunicateResult, spawnProcess } from "corio/process";
 * const result: CommunicateResult = await run(function* () {
 *   const child = yield* spawnProcess(process.execPath, ["-e", "console.error('oops'); process.exit(1)"]);
 *   return yield* child.communicate();
 * });
 * console.assert(new TextDecoder().decode(result.stderr) === "oops\n" && result.code === 1);
 * ```
 */
export interface CommunicateResult extends ProcessExit {
  /** All of stdout. */
  readonly stdout: Uint8Array;
  /** All of stderr. */
  readonly stderr: Uint8Array;
}

/** @internal What `spawnProcess` hands the constructor. */
export interface ProcessSettings {
  limit: number | undefined;
  signal: NodeJS.Signals;
  killGrace: number;
}

/**
 * A running (or finished) child process, made by `spawnProcess` (asyncio's
 * `Process`). Its piped stdio are corio streams: `stdin` is a `StreamWriter`
 * (`close()` sends EOF), `stdout` and `stderr` are `StreamReader`s; each is
 * `undefined` when that stream was not piped. Once the process has exited, a
 * write to its stdin throws `BrokenResourceError` (so does `drain()` when
 * the process stopped reading), never a crash.
 *
 * The process belongs to the task that spawned it: when that task finishes
 * or is cancelled while the process still runs, the process is sent the
 * `signal` option (`SIGTERM` by default), then `SIGKILL` after `killGrace`
 * ms, and the task finishes only once the process has exited; its pipes are
 * closed then. Output left unread keeps the reader's back-pressure after
 * the exit too (the reader takes in what its `limit` allows, the rest
 * waits in the pipe, as for a grandchild that still writes there): the pipe stays
 * open, and the process among its task's resources, until it is read to
 * its end or the task finishes (asyncio's transport, paused, holds its pipe
 * the same way). Read it, or pass `"ignore"`, to let go of it sooner.
 *
 * @example Talking to a child over its pipes
 * ```ts
 * import { run } from "corio";
 * import { spawnProcess } from "corio/process";
 * const script = "process.stdin.on('data', (d) => process.stdout.write(String(d).toUpperCase()))";
 * await run(function* () {
 *   const child = yield* spawnProcess(process.execPath, ["-e", script]);
 *   child.stdin!.write("hello\n");
 *   console.assert(new TextDecoder().decode(yield* child.stdout!.readLine()) === "HELLO\n");
 *   child.stdin!.close(); // EOF: the child's stdin ends, so it exits
 *   const exit = yield* child.wait();
 *   console.assert(exit.code === 0 && child.returncode === 0);
 * });
 * ```
 */
export class Process {
  /** Writes to the process's stdin; `undefined` unless stdin is `"pipe"`. */
  readonly stdin: StreamWriter | undefined;
  /** Reads the process's stdout; `undefined` unless stdout is `"pipe"`. */
  readonly stdout: StreamReader | undefined;
  /** Reads the process's stderr; `undefined` unless stderr is `"pipe"`. */
  readonly stderr: StreamReader | undefined;
  readonly #child: ChildProcess;
  readonly #pid: number;
  readonly #settings: ProcessSettings;
  #exit: ProcessExit | null = null;
  readonly #waiters = new Set<ExternalPark<ProcessExit>>();
  #stopping = false;
  #killTimer: ReturnType<typeof setTimeout> | undefined;

  /** @internal Built by `spawnProcess`, inside the owning task, once Node has given the child a pid. */
  constructor(child: ChildProcess, settings: ProcessSettings) {
    this.#child = child;
    this.#pid = child.pid as number;
    this.#settings = settings;
    const limit = settings.limit === undefined ? {} : { limit: settings.limit };
    this.stdin = child.stdin === null ? undefined : wrapSocket(child.stdin as Socket, limit).writer;
    // Node resumes the output pipes once the child has exited (so that output nobody reads drains): a
    // grandchild that still writes to them would fill the reader without bound. `holdPause` keeps them paused.
    const output = { ...limit, holdPause: true };
    this.stdout = child.stdout === null ? undefined : wrapSocket(child.stdout as Socket, output).reader;
    this.stderr = child.stderr === null ? undefined : wrapSocket(child.stderr as Socket, output).reader;
    // Node reports a failed kill (EPERM) as an 'error' event: it must never crash the program.
    child.on("error", () => {});
    child.once("exit", (code: number | null, signal: NodeJS.Signals | null) => this.#exited({ code, signal }));
    const keeper = adoptResourceWithCleanup(`process ${this.#pid}`, () => this.#shutdown(), "spawn a process");
    keeper.returnedAs(this);
    // Exited, and every pipe closed: nothing is left to clean up when the owner finishes.
    child.once("close", () => keeper.release());
  }

  /** The operating system's process id. */
  get pid(): number {
    return this.#pid;
  }

  /**
   * `null` while the process runs; then its exit code, or minus the number of
   * the signal that killed it (`-9` for `SIGKILL`), as in asyncio (but `0`
   * for a real-time signal: see `ProcessExit`).
   */
  get returncode(): number | null {
    const exit = this.#exit;
    if (exit === null) return null;
    return exit.code ?? -(constants.signals[exit.signal as NodeJS.Signals] ?? 0);
  }

  /**
   * Sends `signal` to the process. Returns `false` if it has already exited
   * (or could not be signalled), `true` if the signal was sent. (asyncio's
   * `send_signal` raises `ProcessLookupError` once the process has exited.)
   *
   * @param signal A signal name, or a number: `0` (only checks that the
   * process can be signalled) or the number of a signal Node knows
   * (`os.constants.signals`).
   * @throws {RangeError} for a signal name or number the OS does not know.
   */
  kill(signal: NodeJS.Signals | number = "SIGTERM"): boolean {
    checkSignal(signal, `send a signal to process ${this.#pid}`);
    if (this.#exit !== null) return false;
    return this.#child.kill(signal);
  }

  /** Sends `SIGTERM` (`kill()`); `false` if the process has already exited. */
  terminate(): boolean {
    return this.kill("SIGTERM");
  }

  /**
   * Waits for the process to exit and gives its code and signal. Returns at
   * once if it has already exited; any number of calls, from any tasks, get
   * the same answer.
   *
   * A child that writes more than a pipe holds (about 64 KiB on Linux) to a
   * `stdout` or `stderr` nobody reads blocks on the write and never exits,
   * so `wait()` never returns (asyncio warns of the same). Read its output
   * in another task, use `communicate()`, or pass `"ignore"` or `"inherit"`
   * for what you do not read.
   *
   * **Cancellation:** the process is stopped: sent the `signal` option, then
   * `SIGKILL` after `killGrace` ms; the cancellation is thrown once it has
   * exited. So `timeout(ms, child.wait())` leaves nothing running. (asyncio
   * and Trio only stop waiting, and leave the process running; `returncode`
   * says whether it has exited without waiting or stopping it.)
   */
  *wait(): Operation<ProcessExit> {
    if (this.#exit !== null) return this.#exit;
    try {
      return yield* this.#waitForExit();
    } catch (error) {
      if (isCancellation(error)) yield* this.#stop();
      throw error;
    }
  }

  /**
   * Sends `input` (if given) to stdin and closes it, while reading stdout and
   * stderr to their end, all at once (so a process filling both pipes never
   * deadlocks), then waits for the process to exit (asyncio's
   * `communicate`). A process that exits without reading all its input is
   * not an error.
   *
   * All the output is held in memory, however much there is (as asyncio's
   * and Trio's do): for output without a bound, read `stdout` as a stream.
   * The output ends when every process holding the pipe has closed it: a
   * grandchild the process left running in the background (`cmd &` in a
   * shell) keeps `communicate()` waiting until it exits too, as in asyncio,
   * while `wait()` returns at the process's own exit.
   *
   * **Cancellation:** like `wait()`, the process is stopped (signal, then
   * `SIGKILL` after the grace) and has exited when the cancellation is thrown.
   *
   * @throws {Error} if `input` is given but stdin is not piped.
   * @throws {ClosedResourceError} if `input` is given but stdin was already closed.
   */
  *communicate(input?: string | Uint8Array): Operation<CommunicateResult> {
    if (input !== undefined && this.stdin === undefined) {
      throw new Error(`Cannot communicate with process ${this.#pid}: input was given but its stdin is not piped; spawn it with stdin: "pipe"`);
    }
    try {
      const [, stdout, stderr] = yield* all([feed(this.stdin, input), readAll(this.stdout), readAll(this.stderr)]);
      const exit = yield* this.#waitForExit();
      return { stdout, stderr, code: exit.code, signal: exit.signal };
    } catch (error) {
      if (isCancellation(error)) yield* this.#stop();
      throw error;
    }
  }

  /** For the inspector and error messages. */
  toString(): string {
    return `Process(${this.#pid}, ${this.#exit === null ? "running" : `exited ${this.returncode}`})`;
  }

  *#waitForExit(): Operation<ProcessExit> {
    if (this.#exit !== null) return this.#exit;
    const park: ExternalPark<ProcessExit> = new ExternalPark(
      requireCurrentTask("wait for a process"),
      "process",
      () => this.#waiters.delete(park),
      `child process ${this.#pid} to exit (wait)`,
    );
    this.#waiters.add(park);
    return (yield park) as ProcessExit;
  }

  /** Signals the process (once, whoever asks), escalating to SIGKILL after the grace, and waits until it has exited. */
  *#stop(): Operation<void> {
    if (this.#exit !== null) return;
    if (!this.#stopping) {
      this.#stopping = true;
      const { signal, killGrace } = this.#settings;
      this.#send(signal);
      if (signal !== "SIGKILL" && killGrace !== Number.POSITIVE_INFINITY) {
        this.#killTimer = setTimeout(() => this.#send("SIGKILL"), Math.min(killGrace, MAX_HOST_DELAY));
      }
    }
    yield* this.#waitForExit();
  }

  /** The owner finished: stop the process, then close the pipes it left. */
  *#shutdown(): Operation<void> {
    yield* this.#stop();
    for (const stream of this.#child.stdio) stream?.destroy();
  }

  #send(signal: NodeJS.Signals): void {
    try {
      this.#child.kill(signal);
    } catch {
      // Already gone, or not ours to signal: the exit (or the grace timer) decides.
    }
  }

  #exited(exit: ProcessExit): void {
    this.#exit = exit;
    if (this.#killTimer !== undefined) clearTimeout(this.#killTimer);
    // Nobody reads the pipe any more (Node destroys it): queued and later writes fail, loudly.
    this.stdin?.transportClosed(new BrokenResourceError(`Cannot write to the stdin of process ${this.#pid}: the process has exited`));
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const park of waiters) park.resolve(exit);
  }
}
defineOperationMethods(Process);

/** The signal numbers Node can send; it rejects any other number but 0 (the real-time signals too). */
const SIGNAL_NUMBERS: ReadonlySet<number> = new Set(Object.values(constants.signals));

/**
 * Throws a RangeError for a signal the OS does not know: a name of
 * `os.constants.signals` passes, and so does one of their numbers or `0`
 * (what `kill` accepts).
 */
export function checkSignal(signal: unknown, action: string): void {
  const known = typeof signal === "string" ? Object.hasOwn(constants.signals, signal) : signal === 0 || SIGNAL_NUMBERS.has(signal as number);
  if (!known) throw new RangeError(`Cannot ${action}: unknown signal, received ${typeof signal === "string" ? JSON.stringify(signal) : String(signal)}`);
}

/** Writes the input (if any) and closes stdin; a process that stopped reading is not an error here. */
function* feed(stdin: StreamWriter | undefined, input: string | Uint8Array | undefined): Operation<void> {
  if (stdin === undefined) return;
  if (input !== undefined && input.length > 0) {
    try {
      stdin.write(input);
      yield* stdin.drain();
    } catch (error) {
      if (!(error instanceof BrokenResourceError)) throw error;
    }
  }
  stdin.close();
}

/** Reads a pipe to its end. */
function* readAll(reader: StreamReader | undefined): Operation<Uint8Array> {
  if (reader === undefined) return EMPTY;
  return yield* reader.read(-1);
}
