/**
 * Calvin's `GenericFileDescriptor` and `StdInFileDescriptor`: non-blocking
 * text files and standard input for actors, over corio's `openFile` and
 * `stdin()`.
 * @module
 */
import { accessSync, constants, statSync } from "node:fs";
import { dirname } from "node:path";
import { type FileMode, type FileStream, stdin } from "../../fs/index.ts";
import { BrokenResourceError, ClosedResourceError, Future, isCancellation, type Operation, race, type Task } from "../../index.ts";
import { openError, openFileWhole, purpose } from "./_open-file.ts";
import { ownerTask, report, startService, type Trigger, Waker } from "./_trigger.ts";

/** Read at most this much at a time, and never hold more than this many unread characters. */
const CHUNK = 64 * 1024;
const STDIN: unique symbol = Symbol("stdin");

function parseMode(mode: unknown): FileMode {
  const plain = typeof mode === "string" ? mode.replace(/[bt]/g, "") : "";
  if (plain === "r" || plain === "w" || plain === "a") return plain;
  throw new TypeError(`Cannot open a GenericFileDescriptor: mode must be "r", "w" or "a" (optionally with "b" or "t"), received ${JSON.stringify(mode)}`);
}

/** Reading a file opened for writing, or the reverse. */
function badModeError(message: string, path: string): Error {
  return Object.assign(new Error(message), { code: "EBADF", path });
}

/** Python's `open()` fails at once; so does the constructor, for the usual reasons (missing, a directory, no permission). */
function checkOpenable(path: string, mode: FileMode): void {
  try {
    if (mode === "r") {
      if (statSync(path).isDirectory()) throw Object.assign(new Error("it is a directory"), { code: "EISDIR" });
      accessSync(path, constants.R_OK);
      return;
    }
    let isDirectory: boolean;
    try {
      isDirectory = statSync(path).isDirectory();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      accessSync(dirname(path), constants.W_OK);
      return;
    }
    if (isDirectory) throw Object.assign(new Error("it is a directory"), { code: "EISDIR" });
    accessSync(path, constants.W_OK);
  } catch (error) {
    throw openError(error, path, mode);
  }
}

/**
 * Calvin's `GenericFileDescriptor(actor, trigger, fname, mode)`: a file read
 * or written without blocking the actor. Native corio: `openFile(path,
 * mode)` (`corio/fs`), whose `readLine()`/`read()` an operation simply waits on.
 *
 * **Reading (`"r"`):** the file is read in the background; each chunk that
 * arrives, and the end of the file, calls `trigger(actor)`. The actor then
 * polls `hasData()` and pulls with `read()` (everything buffered) or
 * `readLine()`. `endOfFile()` is true once everything was read. At most
 * 64 Ki characters wait unread: reading pauses until the actor takes some
 * (the original buffered the whole file), so a line longer than that comes
 * from `readLine()` in pieces.
 *
 * **Writing (`"w"`, `"a"`):** `write(data)` and `writeLine(text)` queue
 * and never block; `close()` writes what is queued, then closes the file.
 *
 * It must be created inside a corio task, which owns it: when that task
 * finishes, the file is closed (queued writes are written first). Opening
 * errors are thrown by the constructor, as Python's `open()` did. A read
 * error makes `hasData()` true and is thrown by `read()`; a write error is
 * reported to the loop's `onError`, and later writes throw
 * `BrokenResourceError`.
 *
 * @typeParam A The actor (or actor id) the trigger is called with.
 * @example An actor that copies a file line by line
 * ```ts
 * import { Event, run } from "corio";
 * import { GenericFileDescriptor } from "corio/compat/calvin";
 * import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * const dir = mkdtempSync(join(tmpdir(), "calvin-doc-"));
 * try {
 *   writeFileSync(join(dir, "in.txt"), "one\ntwo\n");
 *   await run(function* () {
 *     const wakeup = new Event();
 *     const input = new GenericFileDescriptor("copier", () => wakeup.set(), join(dir, "in.txt"), "r");
 *     const output = new GenericFileDescriptor("copier", () => {}, join(dir, "out.txt"), "w");
 *     while (!input.endOfFile()) {
 *       yield* wakeup.wait();
 *       wakeup.clear();
 *       for (let line = input.readLine(); line !== undefined; line = input.readLine()) output.writeLine(line.toUpperCase());
 *     }
 *     input.close();
 *     output.close();
 *   });
 *   console.assert(readFileSync(join(dir, "out.txt"), "utf8") === "ONE\nTWO\n");
 * } finally {
 *   rmSync(dir, { recursive: true, force: true });
 * }
 * ```
 */
export class GenericFileDescriptor<A = unknown> {
  readonly #path: string;
  readonly #mode: FileMode;
  readonly #waker: Waker;
  readonly #task: Task<void>;
  readonly #owner: Task<unknown>;
  readonly #what: string;
  /** Received text; `#text.slice(#pos)` is what the actor has not taken yet. */
  #text = "";
  #pos = 0;
  /** `readLine()` gave a piece of a line longer than the buffer: the line goes on. */
  #inLongLine = false;
  readonly #closeRequested = new Future<void>();
  #room: Future<void> | null = null;
  #eof = false;
  #error: unknown;
  #closed = false;
  #file: FileStream | null = null;
  #queued: (string | Uint8Array)[] = [];

  /**
   * @param actor What `trigger` is called with.
   * @param trigger Called when data is ready (see `Trigger`).
   * @param fname The file's path.
   * @param mode `"r"`, `"w"` or `"a"` (a `"b"` or `"t"` is ignored).
   * @throws {Error} with the OS `code` (`ENOENT`, `EISDIR`, `EACCES`...) if the file cannot be opened so.
   * @throws {TypeError} for a bad trigger or mode.
   */
  constructor(actor: A, trigger: Trigger<A>, fname: string, mode: string) {
    const isStdin = (fname as unknown) === STDIN;
    const what = isStdin ? "StdInFileDescriptor" : "GenericFileDescriptor";
    const owner = ownerTask(what);
    this.#owner = owner;
    this.#what = what;
    this.#mode = parseMode(mode);
    if (!isStdin) {
      if (typeof fname !== "string" || fname === "")
        throw new TypeError(`Cannot open a ${what}: fname must be a non-empty string, received ${JSON.stringify(fname)}`);
      checkOpenable(fname, this.#mode);
    }
    this.#path = isStdin ? "<stdin>" : fname;
    this.#waker = new Waker(owner, trigger, actor, what);
    const body = this.#mode === "r" ? () => this.#read(isStdin) : () => this.#writeFile();
    this.#task = startService(owner, `${what} ${this.#path}`, body, `open a ${what}`);
  }

  /**
   * True if `read()` would return something: text is buffered, or an I/O
   * error is waiting to be thrown by `read()`. Always false for modes "w", "a".
   */
  hasData(): boolean {
    return this.#mode === "r" && (this.#pos < this.#text.length || this.#error !== undefined);
  }

  /**
   * Takes everything buffered, as text (UTF-8; a character cut between two
   * chunks comes whole with the next one); `""` if nothing is buffered.
   * @throws {Error} with `code` `"EBADF"` for modes "w", "a".
   * @throws {BrokenResourceError} (or the open error) if reading failed, once the buffered text was taken.
   */
  read(): string {
    this.#checkReadable();
    const text = this.#pos === 0 ? this.#text : this.#text.slice(this.#pos);
    if (text === "" && this.#error !== undefined) this.#throwError();
    this.#text = "";
    this.#pos = 0;
    this.#inLongLine = false;
    this.#makeRoom();
    return text;
  }

  /**
   * Takes the next whole line, without its `"\n"`; at the end of the file,
   * the last line even without one. `undefined` if no whole line is
   * buffered yet (the original gave the partial line). A line longer than
   * the 64 Ki characters that can wait unread comes in pieces of that size
   * (the last one is the rest of the line, without its `"\n"`).
   * @throws as `read()`.
   */
  readLine(): string | undefined {
    this.#checkReadable();
    const text = this.#text;
    let start = this.#pos;
    if (this.#inLongLine && text[start] === "\n") {
      // The long line ended exactly where the last piece did: that "\n" is not an empty line.
      start++;
      this.#pos = start;
      this.#inLongLine = false;
    }
    const end = text.indexOf("\n", start);
    // A full buffer with no "\n" gives its text as a piece: reading is paused, so the line could never end.
    if (end < 0 && !(this.#eof && start < text.length) && !this.#full()) {
      if (start === text.length && this.#error !== undefined) this.#throwError();
      return undefined;
    }
    const line = text.slice(start, end < 0 ? text.length : end);
    this.#inLongLine = end < 0 && !this.#eof;
    this.#pos = end < 0 ? text.length : end + 1;
    if (this.#pos === text.length) {
      this.#text = "";
      this.#pos = 0;
    }
    this.#makeRoom();
    return line;
  }

  /** True once the whole file was read and taken (mode "r"); for stdin, once it ended. Always false for modes "w", "a". */
  endOfFile(): boolean {
    return this.#mode === "r" && this.#eof && this.#pos === this.#text.length;
  }

  /**
   * Queues `data` (a string is UTF-8 encoded) to be written; never blocks.
   * @throws {Error} with `code` `"EBADF"` for mode "r".
   * @throws {ClosedResourceError} after `close()`.
   * @throws {BrokenResourceError} if an earlier write failed.
   */
  write(data: string | Uint8Array): void {
    if (this.#mode === "r") {
      throw badModeError(
        `Cannot write to ${JSON.stringify(this.#path)}: it was opened for reading (mode "r"); open it with mode "w" or "a" to write`,
        this.#path,
      );
    }
    if (typeof data !== "string" && !(data instanceof Uint8Array)) {
      throw new TypeError(`Cannot write to ${JSON.stringify(this.#path)}: data must be a string or a Uint8Array, received ${typeof data}`);
    }
    if (this.#error !== undefined) this.#throwError();
    if (this.#closed) throw new ClosedResourceError(`Cannot write to ${JSON.stringify(this.#path)}: the file descriptor is closed`);
    const file = this.#file;
    if (file === null) this.#queued.push(data);
    else if (file.closed) {
      // The file closed itself after a write failed; that error went to the loop's onError.
      throw new BrokenResourceError(`Cannot write to ${JSON.stringify(this.#path)}: an earlier write failed and the file was closed`);
    } else file.write(data);
  }

  /** Queues `data` and a `"\n"`. @throws as `write()`. */
  writeLine(data: string): void {
    this.write(`${data}\n`);
  }

  /**
   * Closes it: for writing, what is queued is written first; for reading,
   * reading stops. The trigger is not called again. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#waker.stop();
    if (this.#mode === "r") this.#task.cancel("the file descriptor was closed");
    else this.#closeRequested.resolve();
  }

  #checkReadable(): void {
    if (this.#mode !== "r") {
      const message = `Cannot read ${JSON.stringify(this.#path)}: it was opened for ${purpose(this.#mode)} (mode "${this.#mode}"); open it with mode "r" to read`;
      throw badModeError(message, this.#path);
    }
  }

  #throwError(): never {
    throw this.#error;
  }

  /** @internal How many characters wait unread (for tests of the bound). */
  get bufferedLength(): number {
    return this.#text.length - this.#pos;
  }

  /** Full: the limit's worth waits unread (whether or not it holds a whole line). */
  #full(): boolean {
    return this.#text.length - this.#pos >= CHUNK;
  }

  #makeRoom(): void {
    if (this.#room !== null && !this.#full()) {
      this.#room.resolve();
      this.#room = null;
    }
  }

  *#waitForRoom(): Operation<void> {
    while (this.#full()) {
      this.#room ??= new Future<void>();
      yield* this.#room;
    }
  }

  #received(text: string): void {
    if (text === "") return;
    if (this.#pos > 0) {
      this.#text = this.#text.slice(this.#pos);
      this.#pos = 0;
    }
    this.#text += text;
    this.#waker.fire();
  }

  #failed(error: unknown): void {
    if (isCancellation(error)) throw error;
    this.#error = error;
    this.#waker.fire();
    // Nobody will call write() again once it was closed: report the error instead of losing it.
    if (this.#mode !== "r" && this.#closed) report(error, `${this.#owner.path}/${this.#what} ${this.#path}`);
  }

  /** Reads the file, or stdin, into the buffer, pausing while it is full. */
  *#read(isStdin: boolean): Operation<void> {
    try {
      const file = isStdin ? null : yield* openFileWhole(this.#path, "r", CHUNK);
      const input = file?.reader ?? stdin();
      const decoder = new TextDecoder();
      for (;;) {
        yield* this.#waitForRoom();
        // Only what fits: the buffer then never holds more than CHUNK characters (one more if a 4-byte character completes).
        const bytes = yield* input.read(CHUNK - (this.#text.length - this.#pos));
        if (bytes.length === 0) break;
        this.#received(decoder.decode(bytes, { stream: true }));
      }
      this.#received(decoder.decode());
      this.#eof = true;
      this.#waker.fire();
      if (file !== null) yield* file.close();
    } catch (error) {
      this.#failed(error);
    }
  }

  /**
   * Opens the file, writes what was queued meanwhile, and closes it when
   * asked to. Cancelled because its owner finished, it still writes what was
   * queued (the open is not interrupted), then closes the file. A write
   * that fails closes the file at once: nobody waits on the writes, so the
   * error is reported then, and later writes throw.
   */
  *#writeFile(): Operation<void> {
    let cancellation: unknown;
    try {
      yield* this.#open();
      const file = this.#file as FileStream;
      yield* race([this.#closeRequested, file.writer.waitClosed()]);
      if (!this.#closeRequested.done) {
        // The file closed itself: a write failed. Its close() throws that error.
        try {
          yield* file.close();
        } catch (error) {
          if (isCancellation(error)) throw error;
          report(error, `${this.#owner.path}/${this.#what} ${this.#path}`);
        }
        return;
      }
    } catch (error) {
      if (!isCancellation(error)) return this.#failed(error);
      cancellation = error;
    }
    try {
      // After a cancellation, this wait is not interrupted again.
      this.#closed = true;
      if (this.#file !== null) yield* this.#file.close();
    } catch (error) {
      this.#failed(error);
    }
    if (cancellation !== undefined) throw cancellation;
  }

  *#open(): Operation<void> {
    const file = yield* openFileWhole(this.#path, this.#mode, CHUNK);
    for (const data of this.#queued) file.write(data);
    this.#queued = [];
    this.#file = file;
  }
}

/**
 * Calvin's `StdInFileDescriptor(actor, trigger)`: the process's standard
 * input, read without blocking the actor, as a `GenericFileDescriptor` in
 * mode "r". Native corio: `stdin()` (`corio/fs`), a `StreamReader`.
 *
 * Each chunk of input calls `trigger(actor)`; the actor pulls with `read()`
 * or `readLine()`. Unlike the original (whose `endOfFile()` was always
 * false), `endOfFile()` becomes true once stdin has ended and all was read.
 * `close()` stops reading (stdin is paused when no task reads it, so it does
 * not keep the process alive). The process has one stdin: two of these
 * would share its input.
 *
 * It must be created inside a corio task, which owns it.
 *
 * @typeParam A The actor (or actor id) the trigger is called with.
 * @example An actor echoing its input (a program run with input on a pipe)
 * ```ts ignore
 * import { Event, main } from "corio";
 * import { StdInFileDescriptor } from "corio/compat/calvin";
 * await main(function* () {
 *   const wakeup = new Event();
 *   const input = new StdInFileDescriptor("echo", () => wakeup.set());
 *   while (!input.endOfFile()) {
 *     yield* wakeup.wait();
 *     wakeup.clear();
 *     for (let line = input.readLine(); line !== undefined; line = input.readLine()) console.log(`got: ${line}`);
 *   }
 *   input.close();
 * });
 * ```
 * @example Created inside a task
 * ```ts
 * import { run } from "corio";
 * import { StdInFileDescriptor } from "corio/compat/calvin";
 * await run(function* () {
 *   const input = new StdInFileDescriptor("actor-1", () => {});
 *   console.assert(!input.hasData());
 *   input.close();
 * });
 * ```
 */
export class StdInFileDescriptor<A = unknown> extends GenericFileDescriptor<A> {
  /**
   * @param actor What `trigger` is called with.
   * @param trigger Called when input is ready (see `Trigger`).
   * @throws {Error} outside a corio task.
   */
  constructor(actor: A, trigger: Trigger<A>) {
    super(actor, trigger, STDIN as unknown as string, "r");
  }
}
