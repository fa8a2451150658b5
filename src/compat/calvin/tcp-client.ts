/**
 * Calvin's `TCPClientProtocolFactory`, later `TCPClient`: a TCP client in
 * `raw`, `string` (16-bit length prefix) or `delimiter` mode, over corio's
 * `openConnection`.
 * @module
 */
import type { ConnectionOptions } from "node:tls";
import {
  IncompleteReadError,
  isCancellation,
  LimitOverrunError,
  type Operation,
  type StreamEnd,
  type StreamReader,
  type StreamWriter,
  type Task,
} from "../../index.ts";
import { openConnection } from "../../net/index.ts";
import { concatBytes, type Delimiter, delimiterOf, withDelimiter } from "../../streams/_framed-write.ts"; // compat-internal: one write per message, shared with the Twisted port
import { lineDecoder, type RangeDecoder, withoutSeparator } from "../../streams/_message-reads.ts"; // compat-internal: the line step and decoder shared with StreamReader.lines()
import { makeAddress } from "./_address.ts";
import { type ClientCallbacks, checkCallbacks, emit, has } from "./_callbacks.ts";
import { Inbox } from "./_inbox.ts";
import { ownerTask, startService, type Trigger, Waker } from "./_trigger.ts";

/** The framing of a `TCPClient`: `raw` chunks, `string`s with a 2-byte big-endian length prefix, or `delimiter`-ended lines. */
export type TCPClientMode = "raw" | "string" | "delimiter";

/** What a `TCPClient` receives in each mode: bytes, except lines (strings) in `delimiter` mode. */
export type TCPClientData<M extends TCPClientMode> = M extends "delimiter" ? string : Uint8Array;

/** Options of a `TCPClient` (the original's keyword arguments, in camelCase, plus the trigger of the pull style). */
export interface TCPClientOptions<M extends TCPClientMode, A> {
  /** The line delimiter (mode `delimiter`). @default "\r\n" */
  delimiter?: string | Uint8Array;
  /** Unused, as in the original (kept so calls port unchanged). */
  nodeName?: string;
  /** With `tls`: the server name asked for (SNI), so that a server using `nodeCertificateResolver` serves that node's certificate. */
  serverNodeName?: string;
  /** Connect with TLS: `true`, or Node's TLS client options (`ca`...). The original's TLS branch could not run. @default false */
  tls?: boolean | ConnectionOptions;
  /** Event callbacks (the original `callbacks`). */
  callbacks?: ClientCallbacks<TCPClientData<M>>;
  /** Called with `actorId` on each event: the pull style (`dataAvailable`/`dataGet()`), used when there is no `dataReceived` callback. */
  trigger?: Trigger<A>;
  /** What the trigger is called with. */
  actorId?: A;
}

const MAX_LINE = 16384;
const INBOX_BYTES = 64 * 1024;
const encoder = new TextEncoder();
const CLEAN = "Connection was closed cleanly.";

/**
 * Calvin's `TCPClient(mode, delimiter, node_name, server_node_name,
 * callbacks)`: a TCP client whose messages go to `callbacks.dataReceived`
 * (or, without it, wait for `dataGet()`, announced by `trigger(actorId)`).
 * Native corio: `openConnection({ host, port })` (`corio/net`), whose
 * `reader` an operation reads directly.
 *
 * `connect(addr, port)` connects in the background; then `connected`, each
 * message, and `connectionLost` (or `connectionFailed`) are called back.
 * `send(data)` queues data (a string is UTF-8 encoded) in the mode's framing;
 * `disconnect()` closes after what was sent has gone out.
 *
 * It must be created inside a corio task, which owns it: when that task
 * finishes, the connection closes (without callbacks).
 *
 * @typeParam M The mode.
 * @typeParam A What the trigger is called with.
 * @example A delimiter-mode client talking to an echo server
 * ```ts
 * import { Future, run } from "corio";
 * import { TCPClient } from "corio/compat/calvin";
 * import { startServer } from "corio/net";
 * const lines = await run(function* () {
 *   const server = yield* startServer(function* (reader, writer) {
 *     for (let line = yield* reader.readLine(); line.length > 0; line = yield* reader.readLine()) writer.write(line);
 *   });
 *   const got: string[] = [];
 *   const lost = new Future<string>();
 *   const client = new TCPClient("delimiter", {
 *     delimiter: "\n",
 *     callbacks: {
 *       connected: () => { client.send("one"); client.send("two"); },
 *       dataReceived: (line) => { got.push(line); if (got.length === 2) client.disconnect(); },
 *       connectionLost: (_address, reason) => lost.resolve(reason),
 *     },
 *   });
 *   client.connect("127.0.0.1", server.address.port);
 *   console.assert((yield* lost) === "Connection was closed cleanly.");
 *   server.close();
 *   return got;
 * });
 * console.assert(lines.join() === "one,two");
 * ```
 */
export class TCPClient<M extends TCPClientMode = "raw", A = unknown> {
  readonly #mode: M;
  readonly #delimiter: Delimiter;
  readonly #options: TCPClientOptions<M, A>;
  readonly #owner: Task<unknown>;
  readonly #waker: Waker;
  readonly #pull: boolean;
  readonly #inbox = new Inbox<TCPClientData<M>>(INBOX_BYTES, (item) => item.length);
  #task: Task<void> | null = null;
  #writer: StreamWriter | null = null;
  #disconnecting = false;
  /** Between connect() and the connectionLost/connectionFailed callback: connect() may be called again from those. */
  #active = false;

  /** Connecting or connected: the task runs and has not reached its last callback (nor been cancelled with its owner). */
  get #live(): boolean {
    return this.#active && this.#task !== null && !this.#task.done;
  }

  /**
   * @param mode `"raw"`, `"string"` or `"delimiter"`.
   * @param options `delimiter`, `nodeName`, `serverNodeName`, `tls`, `callbacks`, `trigger`, `actorId`.
   * @throws {Error} outside a corio task.
   * @throws {TypeError} for an unknown mode (as the original raised), or bad callbacks.
   */
  constructor(mode: M, options: TCPClientOptions<M, A> = {}) {
    const owner = ownerTask("TCPClient");
    if (mode !== "raw" && mode !== "string" && mode !== "delimiter") {
      throw new TypeError(`Cannot create a TCPClient: mode must be "raw", "string" or "delimiter", received ${JSON.stringify(mode)}`);
    }
    checkCallbacks(options.callbacks, "TCPClient");
    const delimiter = typeof options.delimiter === "string" ? encoder.encode(options.delimiter) : (options.delimiter ?? encoder.encode("\r\n"));
    if (!(delimiter instanceof Uint8Array) || delimiter.length === 0) throw new RangeError("Cannot create a TCPClient: the delimiter must not be empty");
    this.#mode = mode;
    this.#delimiter = delimiterOf(delimiter);
    this.#options = options;
    this.#owner = owner;
    this.#waker = new Waker(owner, options.trigger, options.actorId, "TCPClient");
    this.#pull = !has(options.callbacks, "dataReceived");
  }

  /** True while connected (after `connected`, before `connectionLost`). */
  get isConnected(): boolean {
    return this.#writer !== null && !this.#writer.isClosing;
  }

  /** True while `dataGet()` has a message (pull style: no `dataReceived` callback). */
  get dataAvailable(): boolean {
    return this.#inbox.length > 0;
  }

  /**
   * Takes the oldest message (pull style).
   * @throws {Error} if none is available.
   */
  dataGet(): TCPClientData<M> {
    const item = this.#inbox.shift();
    if (item === undefined) throw new Error("Cannot get data: no data is available from the TCPClient; check dataAvailable first");
    return item;
  }

  /**
   * Connects to `addr`:`port` in the background. Returns at once; the
   * outcome comes as `connected` or `connectionFailed`.
   * @throws {Error} if it is already connecting or connected.
   */
  connect(addr: string, port: number): void {
    if (this.#live) throw new Error("Cannot connect the TCPClient: it is already connecting or connected; disconnect() first");
    if (typeof addr !== "string" || addr === "")
      throw new TypeError(`Cannot connect the TCPClient: addr must be a non-empty string, received ${JSON.stringify(addr)}`);
    this.#disconnecting = false;
    this.#writer = null;
    this.#inbox.reopen();
    this.#active = true;
    this.#task = startService(this.#owner, `TCPClient ${addr}:${port}`, () => this.#run(addr, port), "connect a TCPClient");
  }

  /**
   * Queues `data` in the mode's framing: as is (`raw`), after its 2-byte
   * length (`string`), or followed by the delimiter (`delimiter`).
   * @throws {Error} if not connected.
   * @throws {RangeError} in `string` mode for data over 65535 bytes.
   */
  send(data: string | Uint8Array): void {
    const writer = this.#writer;
    if (writer === null || writer.isClosing) throw new Error("Cannot send: the TCPClient is not connected");
    if (typeof data !== "string" && !(data instanceof Uint8Array))
      throw new TypeError(`Cannot send: data must be a string or a Uint8Array, received ${typeof data}`);
    // One write per message (each is a send system call); a string is encoded by the socket itself.
    if (this.#mode === "string") {
      const bytes = typeof data === "string" ? encoder.encode(data) : data;
      if (bytes.length > 0xffff) throw new RangeError(`Cannot send a string of ${bytes.length} bytes: the 2-byte length prefix allows at most 65535`);
      writer.write(concatBytes(Uint8Array.of(bytes.length >> 8, bytes.length & 0xff), bytes));
    } else writer.write(this.#mode === "delimiter" ? withDelimiter(data, this.#delimiter) : data);
  }

  /** Closes the connection after what was sent (or abandons a connection attempt); `connectionLost` follows. Idempotent. */
  disconnect(): void {
    if (this.#task === null || !this.#live || this.#disconnecting) return;
    this.#disconnecting = true;
    this.#inbox.close();
    if (this.#writer === null) this.#task.cancel("the TCPClient disconnected");
    else this.#writer.close();
  }

  #event(event: "connected" | "connectionLost" | "connectionFailed", args: unknown[]): void {
    emit(this.#options.callbacks, event, args);
    this.#waker.fire();
  }

  *#run(addr: string, port: number): Operation<void> {
    const target = makeAddress(addr, port);
    const tls = this.#options.tls;
    const servername = this.#options.serverNodeName;
    let end: StreamEnd;
    try {
      end = yield* openConnection({
        host: addr,
        port,
        limit: this.#mode === "delimiter" ? MAX_LINE : 65536,
        ...(tls && { tls: { ...(typeof tls === "object" ? tls : {}), ...(servername !== undefined && { servername }) } }),
      });
    } catch (error) {
      if (isCancellation(error) && !this.#disconnecting) throw error;
      this.#active = false;
      this.#event("connectionFailed", [target, isCancellation(error) ? "Connection was aborted by disconnect()" : (error as Error).message]);
      if (isCancellation(error)) throw error;
      return;
    }
    const { reader, writer } = end;
    this.#writer = writer;
    const peer = writer.remoteAddress;
    this.#event("connected", [typeof peer === "object" && peer !== null ? makeAddress(peer.address, peer.port) : target]);
    let reason = CLEAN;
    try {
      const next = this.#messages(reader);
      for (;;) {
        if (this.#pull) yield* this.#inbox.waitForRoom();
        if (writer.isClosing) break;
        const message = yield* next();
        if (message === undefined) break;
        if (this.#pull) {
          this.#inbox.push(message);
          this.#waker.fire();
        } else emit(this.#options.callbacks, "dataReceived", [message]);
      }
    } catch (error) {
      // The owner has finished: the socket is destroyed with this task, without callbacks.
      if (isCancellation(error)) throw error;
      reason = error instanceof LimitOverrunError ? `Line length exceeded (over ${MAX_LINE} bytes)` : (error as Error).message;
    }
    writer.close();
    this.#active = false;
    this.#event("connectionLost", [target, reason]);
  }

  /** The next message in this client's mode, or `undefined` at the end (a partial last message is dropped, as Twisted did). */
  #messages(reader: StreamReader): () => Operation<TCPClientData<M> | undefined> {
    const delimiter = this.#delimiter.bytes;
    // Each message decoded alone keeps a U+FEFF at its start, as lines() does.
    const decode = lineDecoder();
    switch (this.#mode) {
      case "raw":
        return () => readChunk(reader) as Operation<TCPClientData<M> | undefined>;
      case "string":
        return () => readPrefixed(reader) as Operation<TCPClientData<M> | undefined>;
      default:
        return () => readDelimited(reader, delimiter, decode) as Operation<TCPClientData<M> | undefined>;
    }
  }
}

// One message per mode; declared once, not a generator closure per connection.

function* readChunk(reader: StreamReader): Operation<Uint8Array | undefined> {
  const chunk = yield* reader.read(65536);
  return chunk.length === 0 ? undefined : chunk;
}

/** A message with a 2-byte big-endian length prefix; `undefined` at the end (a message cut short is dropped). */
function* readPrefixed(reader: StreamReader): Operation<Uint8Array | undefined> {
  try {
    // read, not readExactly, for the first byte: the usual end, between messages, then throws nothing.
    const first = yield* reader.read(1);
    if (first.length === 0) return undefined;
    const high = first[0] as number;
    const low = (yield* reader.readExactly(1))[0] as number;
    return yield* reader.readExactly((high << 8) | low);
  } catch (error) {
    if (error instanceof IncompleteReadError) return undefined;
    throw error;
  }
}

/** A line without its delimiter; a last line without one is dropped (`undefined`). */
function* readDelimited(reader: StreamReader, delimiter: Uint8Array, decode: RangeDecoder): Operation<string | undefined> {
  const line = withoutSeparator(yield* reader.readLine(delimiter), delimiter);
  return line === undefined ? undefined : decode(line, 0, line.length);
}
