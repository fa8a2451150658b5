/**
 * The process's standard input as a `StreamReader` (the Calvin seed's
 * `StdInFileDescriptor`).
 * @module
 */

import { fstatSync } from "node:fs";
import { adoptResource } from "../core/_resource.ts";
import { BrokenResourceError } from "../core/errors.ts";
import { requireCurrentTask } from "../core/spawn.ts";
import type { TaskImpl } from "../core/task.ts";
import { StreamReader } from "../streams/stream-reader.ts";
import type { ReadTransport } from "../streams/transport.ts";

/** Options of `stdin`. */
export interface StdinOptions {
  /** The reader's limit (the longest line `readLine` accepts). Only the first call sets it. @default 65536 */
  limit?: number;
}

/** Whether descriptor 0 is a directory (`prog < some/dir`). */
function stdinIsDirectory(): boolean {
  try {
    return fstatSync(0).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Drives `process.stdin`: it flows while some task owns the reader and the
 * reader's buffer is not full, and is paused otherwise, so that a process
 * whose readers have all finished can exit even if its stdin stays open.
 */
class StdinTransport implements ReadTransport {
  readonly external = true;
  readonly reader: StreamReader;
  readonly owners = new Set<TaskImpl<unknown>>();
  #full = false;
  #ended = false;

  constructor(limit: number) {
    this.reader = new StreamReader({ limit });
    this.reader.setTransport(this);
    const input = process.stdin;
    input.on("data", (chunk: Uint8Array) => {
      if (!this.#ended) this.reader.feed(chunk);
    });
    input.on("end", () => this.#end());
    input.on("error", (error: NodeJS.ErrnoException) => this.#fail(error));
    // Destroyed without an end or an error (process.stdin.destroy()): no more bytes will come (asyncio's
    // connection_lost(None) feeds EOF too); 'close' follows 'end' and 'error', which ended it already.
    input.on("close", () => this.#end());
    // Other code may have read stdin to its end, or destroyed it, before the first call: Node emits
    // 'end', 'error' and 'close' once, so the reader would wait for them forever.
    if (input.errored !== null) this.#fail(input.errored as NodeJS.ErrnoException);
    else if (input.readableEnded || input.destroyed) this.#end();
    else if (stdinIsDirectory()) {
      // Node gives an empty stream for a descriptor it cannot read as a stream; reading a directory fails (cat, Python).
      this.#fail(Object.assign(new Error("EISDIR: illegal operation on a directory, read"), { code: "EISDIR", syscall: "read" }));
    }
    this.update();
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.reader.feedEof();
  }

  #fail(error: NodeJS.ErrnoException): void {
    if (this.#ended) return;
    this.#ended = true;
    const message = `Cannot read stdin: ${error.code ?? error.message}${error.code ? ` (${error.message})` : ""}`;
    this.reader.setException(Object.assign(new BrokenResourceError(message, { cause: error }), { code: error.code }));
  }

  pauseReading(): void {
    this.#full = true;
    this.update();
  }

  resumeReading(): void {
    this.#full = false;
    this.update();
  }

  /** Flows if someone owns the reader and its buffer has room; paused otherwise. */
  update(): void {
    const input = process.stdin;
    if (this.owners.size > 0 && !this.#full && !this.#ended) input.resume();
    else input.pause();
  }
}

let shared: StdinTransport | null = null;

/**
 * The process's standard input as a `StreamReader` (one per process: every
 * call gives the same reader, so bytes are never split between two readers).
 * Use its `readLine`, `read`, `readExactly`... as with a socket; text is up
 * to you (`new TextDecoder().decode(bytes)`).
 *
 * stdin flows (with backpressure: it is paused while the reader holds more
 * than `2 * limit` bytes) as long as a task that called `stdin()` is
 * running; when all of them have finished, stdin is paused, so it does not
 * keep the process alive, and unread bytes wait for the next caller.
 *
 * stdin that ended, or that other code destroyed (`process.stdin.destroy()`),
 * reads as EOF, also when that happened before the first call; a read
 * error (a directory given as stdin: `EISDIR`) is thrown as a
 * `BrokenResourceError` with the OS `code`.
 *
 * **Cancellation:** cancelling a read loses nothing (the bytes stay
 * buffered); the task that called `stdin()` ending only pauses stdin.
 *
 * @param options `limit` (only the first call sets it).
 * @throws {Error} outside a corio task.
 * @throws {RangeError} for a `limit` other than the one the reader already has.
 * @example One reader per process
 * ```ts
 * import { run } from "corio";
 * import { stdin } from "corio/fs";
 * await run(function* () {
 *   console.assert(stdin() === stdin());
 * });
 * ```
 * @example Echo the lines of stdin (a program run with input on a pipe)
 * ```ts ignore
 * import { main } from "corio";
 * import { stdin } from "corio/fs";
 * await main(function* () {
 *   const input = stdin();
 *   for (let line = yield* input.readLine(); line.length > 0; line = yield* input.readLine()) {
 *     process.stdout.write(`got: ${new TextDecoder().decode(line)}`);
 *   }
 * });
 * ```
 */
export function stdin(options: StdinOptions = {}): StreamReader {
  const owner = requireCurrentTask("read stdin");
  const limit = options.limit;
  if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) {
    throw new RangeError(`Cannot read stdin: limit must be a positive integer, received ${String(limit)}`);
  }
  if (shared === null) shared = new StdinTransport(limit ?? 65536);
  else if (limit !== undefined && limit !== shared.reader.limit) {
    throw new RangeError(`Cannot read stdin: its reader was created with limit ${shared.reader.limit}, received ${limit}`);
  }
  const transport = shared;
  if (!transport.owners.has(owner)) {
    transport.owners.add(owner);
    adoptResource(
      "stdin",
      () => {
        transport.owners.delete(owner);
        transport.update();
      },
      "read stdin",
    );
    transport.update();
  }
  return transport.reader;
}
