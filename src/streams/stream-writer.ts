/**
 * Writing bytes to a stream, asyncio-style.
 * @module
 */
import { defineOperationMethods } from "../core/_dev.ts";
import { Park } from "../core/_park.ts";
import { DONE, defineStepOperation, FINISHED, FRESH, PARKED, ranTwice, StepOperation } from "../core/_step-operation.ts";
import { BrokenResourceError, ClosedResourceError } from "../core/errors.ts";
import type { Instruction, Operation } from "../core/operation.ts";
import { requireCurrentTask } from "../core/spawn.ts";
import type { TaskImpl } from "../core/task.ts";
import { told, wasTold } from "./_told-errors.ts";
import type { WriteTransport } from "./transport.ts";

const encoder = new TextEncoder();

/** Waits for the transport to drain or close; busy for the virtual clock when external. */
/** The key of `StreamWriter`'s `drain` step, kept off its public names. */
const DRAIN_STEP = Symbol("corio.streamWriter.drainStep");

class WriterPark extends Park {
  readonly #waiters: Set<WriterPark>;
  readonly #external: boolean;
  constructor(task: TaskImpl<unknown>, waiters: Set<WriterPark>, external: boolean) {
    super(task, "io", "its writes to drain (drain)");
    this.#waiters = waiters;
    this.#external = external;
    waiters.add(this);
    if (external) task.loop.busy++;
  }
  settle(error: unknown): void {
    if (!this.#waiters.delete(this)) return;
    const task = this.task as TaskImpl<unknown>;
    if (this.#external) task.loop.busy--;
    if (task.park === this && !task.woken) task.wake(error !== undefined, error);
  }
  override cancelled(): void {
    if (this.#waiters.delete(this) && this.#external) (this.task as TaskImpl<unknown>).loop.busy--;
  }
}

/**
 * A byte writer over a transport (asyncio's `StreamWriter`). `write` queues
 * bytes at once; `yield* drain()` waits while the transport holds more than
 * its high-water mark, which is how a writer keeps memory bounded when the
 * peer reads slowly. Writing after `close()` throws `ClosedResourceError`;
 * a peer that broke the connection makes `drain` (and later writes) throw
 * `BrokenResourceError` with the OS error as `cause`. Data is never dropped
 * silently.
 *
 * @example
 * ```ts
 * import { createMemoryStreamPair, run } from "corio";
 * const got = await run(function* () {
 *   const [left, right] = createMemoryStreamPair();
 *   left.writer.write("ping\n");
 *   yield* left.writer.drain();
 *   return new TextDecoder().decode(yield* right.reader.readLine());
 * });
 * console.assert(got === "ping\n");
 * ```
 */
export class StreamWriter {
  readonly #transport: WriteTransport;
  readonly #drainWaiters = new Set<WriterPark>();
  readonly #closeWaiters = new Set<WriterPark>();
  #closing = false;
  #closeCalled = false;
  #closed = false;
  #error: Error | undefined;
  /** Whether the transport broke with bytes still queued: `waitClosed` throws `#error`, unless it was thrown already. */
  #lost = false;

  /** @param transport What carries the bytes (see `WriteTransport`). */
  constructor(transport: WriteTransport) {
    this.#transport = transport;
  }

  /** True once `close()` was called or the transport closed. */
  get isClosing(): boolean {
    return this.#closing || this.#closed;
  }

  /** True if `writeEof()` is supported. */
  get canWriteEof(): boolean {
    return this.#transport.canWriteEof;
  }

  /** The peer's address, when the transport has one. */
  get remoteAddress(): WriteTransport["remoteAddress"] {
    return this.#transport.remoteAddress;
  }

  /** The local address, when the transport has one. */
  get localAddress(): WriteTransport["localAddress"] {
    return this.#transport.localAddress;
  }

  /**
   * Bytes queued in the transport. A string that a socket could not send at
   * once counts its length in UTF-16 code units until sent, as Node's
   * `writableLength` counts it.
   */
  get bufferSize(): number {
    return this.#transport.writeBufferSize;
  }

  /**
   * Queues `data` (strings are UTF-8 encoded). Never waits: follow with
   * `yield* drain()` to respect backpressure.
   *
   * Bytes are handed over as they are where the transport allows it: a
   * Node socket (TCP, TLS, Unix, a child's stdin) keeps what it cannot send
   * at once by reference, as Node's own `socket.write` does, so do not
   * change a `Uint8Array` after writing it (asyncio copies; here, write
   * `bytes.slice()` if you will reuse the buffer). A file and the in-memory
   * pair copy. Strings are always safe.
   * @throws {ClosedResourceError} after `close()` or `writeEof()`.
   * @throws {BrokenResourceError} if the connection broke.
   * @throws {TypeError} for data that is neither a string nor a Uint8Array.
   */
  write(data: Uint8Array | string): void {
    this.#checkWritable("write");
    if (typeof data === "string") {
      if (data.length === 0) return;
      if (this.#transport.writeString !== undefined) this.#transport.writeString(data);
      else this.#transport.write(encoder.encode(data));
    } else if (data instanceof Uint8Array) {
      if (data.length > 0) this.#transport.write(data);
    } else {
      throw new TypeError(`Cannot write: data must be a string or a Uint8Array, received ${data === null ? "null" : typeof data}`);
    }
  }

  /**
   * Queues several chunks, sent together: on a socket, in one system call
   * (a `writev`) where a `write` per chunk makes one each, as asyncio's
   * `writelines` does since Python 3.12.
   *
   * @example
   * ```ts
   * import { createMemoryStreamPair, run } from "corio";
   * const got = await run(function* () {
   *   const [left, right] = createMemoryStreamPair();
   *   left.writer.writeLines(["HTTP/1.1 200 OK\r\n", new TextEncoder().encode("\r\n")]);
   *   yield* left.writer.drain();
   *   return new TextDecoder().decode(yield* right.reader.readExactly(19));
   * });
   * console.assert(got === "HTTP/1.1 200 OK\r\n\r\n");
   * ```
   * @throws as `write`; the chunks before a bad one are still sent.
   */
  writeLines(chunks: Iterable<Uint8Array | string>): void {
    const transport = this.#transport;
    if (transport.cork === undefined || transport.uncork === undefined) {
      for (const chunk of chunks) this.write(chunk);
      return;
    }
    transport.cork();
    try {
      for (const chunk of chunks) this.write(chunk);
    } finally {
      transport.uncork();
    }
  }

  /**
   * Waits until the transport's buffer is at or below its high-water mark
   * (returns at once if it already is).
   *
   * **Cancellation:** only the wait stops; queued bytes stay queued.
   *
   * @throws {BrokenResourceError} if the connection broke.
   * @throws {ClosedResourceError} if `abort()` dropped the bytes it waited for.
   */
  drain(): Operation<void> {
    return new Drain(this);
  }

  /** @internal The step of `drain` (see `Drain`): the park to wait on, or `null` if there is room. */
  [DRAIN_STEP](): WriterPark | null {
    if (this.#error !== undefined) throw this.#seenError();
    if (this.#closed) return null;
    if (this.#transport.writeBufferSize <= this.#transport.highWaterMark) return null;
    return new WriterPark(requireCurrentTask("drain a stream writer"), this.#drainWaiters, this.#transport.external);
  }

  /** Sends end-of-file after the queued bytes (TCP half-close); reading goes on. @throws {Error} if unsupported. */
  writeEof(): void {
    if (!this.#transport.canWriteEof) throw new Error("Cannot write EOF: this transport does not support half-closing");
    this.#checkWritable("write EOF");
    this.#closing = true;
    this.#transport.writeEof();
  }

  /** Closes the stream after the queued bytes are sent. Idempotent. */
  close(): void {
    if (this.#closeCalled) return;
    this.#closeCalled = true;
    this.#closing = true;
    if (!this.#closed) this.#transport.close();
  }

  /**
   * Closes at once, dropping queued bytes. A `drain()` waiting then throws
   * `ClosedResourceError`: the bytes it waited for will never go out (as
   * Trio's `send_all` does when its stream is closed under it).
   */
  abort(): void {
    this.#closing = true;
    if (this.#drainWaiters.size > 0) {
      const dropped = new ClosedResourceError("Cannot drain: the stream writer was aborted, and the bytes queued were dropped");
      for (const waiter of [...this.#drainWaiters]) waiter.settle(dropped);
    }
    this.#transport.abort();
  }

  /**
   * Waits until the transport has closed (asyncio's `wait_closed`).
   *
   * **Cancellation:** only the wait stops.
   *
   * @throws {BrokenResourceError} if the connection broke before what was
   * written had all gone out (after `close()` too): those bytes are lost.
   * Unless a write, a drain or a read of the same connection has thrown
   * that error already: then it is not thrown again.
   */
  *waitClosed(): Operation<void> {
    if (!this.#closed) yield new WriterPark(requireCurrentTask("wait for a stream to close"), this.#closeWaiters, this.#transport.external);
    if (this.#lost && !wasTold(this.#error)) throw this.#error;
  }

  /** For transports: the buffer fell back to the high-water mark or below. */
  transportDrained(): void {
    for (const waiter of [...this.#drainWaiters]) waiter.settle(undefined);
  }

  /**
   * For transports: the transport closed; `error` if the peer or the OS broke
   * it. Call it while `writeBufferSize` still counts the bytes that did not
   * go out: those are lost, and `waitClosed` says so; `lost` says it
   * instead where the transport knows better (its own flush at the close
   * failed).
   */
  transportClosed(error?: unknown, lost = this.#transport.writeBufferSize > 0): void {
    if (error !== undefined && this.#error === undefined && !this.#closed) {
      // Bytes still queued are lost: `waitClosed` says so, unless a write, a drain or a read (a socket's reader
      // shares its break) has thrown it already. After close() nothing else will.
      this.#lost = lost;
      if (this.#lost || !this.#closing) {
        this.#error =
          error instanceof BrokenResourceError
            ? error
            : new BrokenResourceError(`Cannot write: the connection broke (${error instanceof Error ? error.message : String(error)})`, { cause: error });
      }
    }
    this.#closed = true;
    if (this.#error !== undefined && this.#drainWaiters.size > 0) told(this.#error);
    for (const waiter of [...this.#drainWaiters]) waiter.settle(this.#error);
    // Woken without an error: `waitClosed` throws `#error` itself, also to one that comes later.
    for (const waiter of [...this.#closeWaiters]) waiter.settle(undefined);
  }

  /** `#error`, now thrown to someone. */
  #seenError(): Error {
    return told(this.#error as Error);
  }

  #checkWritable(action: string): void {
    if (this.#error !== undefined) throw this.#seenError();
    if (this.#closing || this.#closed) throw new ClosedResourceError(`Cannot ${action}: the stream writer is closed`);
  }
}
defineOperationMethods(StreamWriter);

/**
 * `writer.drain()`: a step operation (see `core/_step-operation.ts`), as the
 * call a write loop makes after every write: no generator when there is room,
 * which is nearly always.
 */
class Drain extends StepOperation<void> {
  readonly #writer: StreamWriter;
  constructor(writer: StreamWriter) {
    super();
    this.state = FRESH;
    this.#writer = writer;
  }
  next(): IteratorResult<Instruction, void> {
    if (this.state !== FRESH) {
      if (this.state !== PARKED) throw ranTwice(this);
      this.state = FINISHED;
      return DONE;
    }
    this.state = FINISHED;
    const park = this.#writer[DRAIN_STEP]();
    if (park === null) return DONE;
    this.state = PARKED;
    return { value: park, done: false };
  }
}
defineStepOperation(Drain, "streamWriter.drain", StreamWriter, "drain");
