/**
 * Calvin's `ServerProtocolFactory`, later `TCPServer`: a TCP server whose
 * connections an actor polls, in `line`, `raw` or `http` mode, over
 * corio's `startServer`.
 * @module
 */
import { homedir } from "node:os";
import { join } from "node:path";
import { Future, isCancellation, type Operation, type StreamReader, type StreamWriter, spawn, type Task } from "../../index.ts";
import { loadNodeCredentials, type MessageReader, readMessages, type Server, startServer } from "../../net/index.ts";
import { type Delimiter, delimiterOf, withDelimiter } from "../../streams/_framed-write.ts"; // compat-internal: one write per message, shared with the Twisted port
import { type Address, makeAddress } from "./_address.ts";
import { BadRequest, badRequestResponse, type HttpRequestData, readHttpRequest } from "./_http-request.ts";
import { Inbox } from "./_inbox.ts";
import { ownerTask, startService, type Trigger, Waker } from "./_trigger.ts";

export type { HttpRequestData } from "./_http-request.ts";

/** The framing of a `TCPServer`'s connections: `line`, `raw` or `http`. */
export type ServerMode = "line" | "raw" | "http";

/** What `dataGet()` gives in each mode: a line (string), a chunk (bytes), or an HTTP request. */
export type ServerData<M extends ServerMode> = M extends "line" ? string : M extends "raw" ? Uint8Array : HttpRequestData;

/** Options of a `TCPServer` (the original's keyword arguments, in camelCase). */
export interface TCPServerOptions<M extends ServerMode, A> {
  /** `line`: messages end with `delimiter`; `raw`: chunks of at most `maxLength` bytes; `http`: one HTTP request at a time. @default "line" */
  mode?: M;
  /** The line delimiter (mode `line`). @default "\r\n" */
  delimiter?: string | Uint8Array;
  /** The largest chunk (mode `raw`). @default 8192 */
  maxLength?: number;
  /** What the trigger is called with (the original `actor_id`). @default undefined */
  actorId?: A;
  /** The node whose certificate serves TLS (the original `node_name`); needs `tls`. */
  nodeName?: string;
  /** Serve TLS with the certificate of `nodeName` (the original's `control_interface_security == "tls"`). @default false */
  tls?: boolean;
  /** Where node certificates are (the original's `security_dir`). @default "~/.calvin/security" */
  securityDir?: string;
  /** The largest request body (mode `http`); a larger one closes the connection. @default 1048576 */
  maxBodySize?: number;
}

/** The longest line (modes `line` and `http`'s head), as Twisted's `LineReceiver.MAX_LENGTH`: a longer one closes the connection. */
const MAX_LINE = 16384;
/** Bytes (or requests, in `http` mode) waiting for the actor before a connection stops reading. */
const INBOX_BYTES = 64 * 1024;
/** How long `stop()` lets connections flush what was sent before they are cut. */
const STOP_GRACE = 2000;

const encoder = new TextEncoder();

function sizeOf(item: unknown): number {
  return typeof item === "string" ? item.length : item instanceof Uint8Array ? item.length : INBOX_BYTES;
}

/**
 * One connection of a `TCPServer` (the original's protocol object): poll
 * `dataAvailable`, pull with `dataGet()`, answer with `send()`, end with
 * `close()`. `connectionLost` becomes true when the peer has gone (its
 * data stays readable).
 *
 * @typeParam M The server's mode.
 * @example
 * ```ts
 * import { Event, run } from "corio";
 * import { TCPServer } from "corio/compat/calvin";
 * import { openConnection } from "corio/net";
 * await run(function* () {
 *   const wakeup = new Event();
 *   const server = new TCPServer(() => wakeup.set(), { mode: "line", delimiter: "\n" });
 *   server.start("127.0.0.1", 0);
 *   const { port } = yield* server.ready();
 *   const client = yield* openConnection({ port });
 *   client.writer.write("ping\n");
 *   let answered = 0;
 *   while (answered === 0) {
 *     yield* wakeup.wait();
 *     wakeup.clear();
 *     while (server.pendingConnections.length > 0) server.accept();
 *     for (const connection of server.connections) {
 *       for (; connection.dataAvailable; answered++) connection.send(`${connection.dataGet()} pong`);
 *     }
 *   }
 *   console.assert(new TextDecoder().decode(yield* client.reader.readLine()) === "ping pong\n");
 *   server.stop();
 * });
 * ```
 */
export class ServerConnection<M extends ServerMode = ServerMode> {
  readonly #address: Address;
  readonly #mode: M;
  readonly #delimiter: Delimiter;
  readonly #writer: StreamWriter;
  /** @internal */ readonly inbox = new Inbox<ServerData<M>>(INBOX_BYTES, sizeOf);
  /** @internal Resolved by `close()`: the connection's task then returns, and the server closes the socket gracefully. */
  readonly closeRequested = new Future<void>();
  #lost = false;
  #closing = false;

  /** @internal Made by `TCPServer`. */
  constructor(address: Address, mode: M, delimiter: Delimiter, writer: StreamWriter) {
    this.#address = address;
    this.#mode = mode;
    this.#delimiter = delimiter;
    this.#writer = writer;
  }

  /** The peer's address. */
  get address(): Address {
    return this.#address;
  }

  /** True while `dataGet()` has something to give. */
  get dataAvailable(): boolean {
    return this.inbox.length > 0;
  }

  /** True once the connection has closed (the peer left, or `close()`). What it sent before can still be taken. */
  get connectionLost(): boolean {
    return this.#lost;
  }

  /**
   * Takes the oldest message: a line without its delimiter (a string), a
   * chunk (bytes), or, in `http` mode, `[command, headers, data]`.
   * @throws {Error} if none is available (check `dataAvailable` first), as the original did.
   */
  dataGet(): ServerData<M> {
    const item = this.inbox.shift();
    if (item === undefined) throw new Error("Cannot get data: no data is available on this connection; check dataAvailable first");
    return item;
  }

  /**
   * Queues `data` to be sent (a string is UTF-8 encoded); in `line` mode the
   * delimiter is added. Never blocks. Returns `false` if the connection is
   * closed or broken (the original dropped the data silently).
   */
  send(data: string | Uint8Array): boolean {
    if (typeof data !== "string" && !(data instanceof Uint8Array)) {
      throw new TypeError(`Cannot send: data must be a string or a Uint8Array, received ${typeof data}`);
    }
    if (this.#lost || this.#closing || this.#writer.isClosing) return false;
    try {
      // One write per message (each is a send system call); a string is encoded by the socket itself.
      this.#writer.write(this.#mode === "line" ? withDelimiter(data, this.#delimiter) : data);
      return true;
    } catch {
      return false;
    }
  }

  /** Closes the connection once what was sent has gone out. Idempotent. */
  close(): void {
    this.#closing = true;
    this.inbox.close();
    this.closeRequested.resolve();
  }

  /** @internal */
  markLost(): void {
    this.#lost = true;
    this.inbox.close();
  }
}

/**
 * Calvin's `ServerProtocolFactory(trigger, mode, delimiter, max_length,
 * actor_id, node_name)`, later `TCPServer`: a TCP (or TLS) server for an
 * actor. Native corio: `startServer(handler, { framing })` (`corio/net`),
 * one task per connection reading `messages.next()`.
 *
 * `start(host, port)` listens; `yield* ready()` waits for it and gives the
 * address (port 0 picks a free one). Each new connection, each message
 * and each closed connection calls `trigger(actorId)`. The actor then takes
 * new connections with `accept()` while `pendingConnections` is not empty,
 * and drains `dataAvailable`/`dataGet()` on each of `connections`.
 *
 * Modes: `line` gives strings without the delimiter; `raw` gives chunks of
 * at most `maxLength` bytes; `http` gives `[command, headers, data]`, one
 * request at a time per connection, and `send` writes raw bytes (the actor
 * formats the whole response, then `close()`s). A chunked request body is
 * decoded; a malformed first request is answered with 400 (413 for a body
 * over `maxBodySize`, 501 for a transfer coding other than chunked) and
 * the connection closed.
 *
 * It must be created inside a corio task, which owns it: when that task
 * finishes, the server and its connections close; `stop()` closes them
 * earlier.
 *
 * @typeParam M The mode.
 * @typeParam A What the trigger is called with.
 * @example A raw-mode server: 34 bytes arrive as chunks of at most 10
 * ```ts
 * import { Event, run } from "corio";
 * import { type ServerConnection, TCPServer } from "corio/compat/calvin";
 * import { openConnection } from "corio/net";
 * const sizes = await run(function* () {
 *   const wakeup = new Event();
 *   const server = new TCPServer((id: string) => { console.assert(id === "actor-1"); wakeup.set(); }, { mode: "raw", maxLength: 10, actorId: "actor-1" });
 *   server.start("127.0.0.1", 0);
 *   const client = yield* openConnection({ port: (yield* server.ready()).port });
 *   client.writer.write(new Uint8Array(34));
 *   client.writer.close();
 *   const sizes: number[] = [];
 *   let connection: ServerConnection<"raw"> | undefined;
 *   while (connection === undefined || !connection.connectionLost || connection.dataAvailable) {
 *     yield* wakeup.wait();
 *     wakeup.clear();
 *     if (server.pendingConnections.length > 0) [, connection] = server.accept();
 *     while (connection?.dataAvailable) sizes.push(connection.dataGet().length);
 *   }
 *   server.stop();
 *   return sizes;
 * });
 * console.assert(sizes.reduce((a, b) => a + b, 0) === 34 && sizes.every((n) => n <= 10));
 * ```
 */
export class TCPServer<M extends ServerMode = "line", A = unknown> {
  readonly #mode: M;
  readonly #delimiter: Delimiter;
  readonly #maxLength: number;
  readonly #maxBodySize: number;
  readonly #options: TCPServerOptions<M, A>;
  readonly #owner: Task<unknown>;
  readonly #waker: Waker;
  readonly #pending: [Address, ServerConnection<M>][] = [];
  readonly #live = new Set<ServerConnection<M>>();
  readonly #listening = new Future<Address>();
  readonly #stopRequested = new Future<void>();
  #task: Task<void> | null = null;
  #address: Address | undefined;
  #readyAsked = false;
  #stopped = false;

  /**
   * @param trigger Called with `actorId` on each event (see `Trigger`).
   * @param options `mode`, `delimiter`, `maxLength`, `actorId`, `nodeName`, `tls`, `securityDir`, `maxBodySize`.
   * @throws {Error} outside a corio task.
   * @throws {TypeError} for a bad trigger or mode.
   * @throws {RangeError} for an empty delimiter or a bad `maxLength`/`maxBodySize`.
   */
  constructor(trigger: Trigger<A>, options: TCPServerOptions<M, A> = {}) {
    const owner = ownerTask("TCPServer");
    const mode = (options.mode ?? "line") as M;
    if (mode !== "line" && mode !== "raw" && mode !== "http") {
      throw new TypeError(`Cannot create a TCPServer: mode must be "line", "raw" or "http", received ${JSON.stringify(mode)}`);
    }
    const delimiter = typeof options.delimiter === "string" ? encoder.encode(options.delimiter) : (options.delimiter ?? encoder.encode("\r\n"));
    if (!(delimiter instanceof Uint8Array) || delimiter.length === 0) throw new RangeError("Cannot create a TCPServer: the delimiter must not be empty");
    const maxLength = options.maxLength ?? 8192;
    if (!(Number.isInteger(maxLength) && maxLength > 0)) {
      throw new RangeError(`Cannot create a TCPServer: maxLength must be a positive integer, received ${String(maxLength)}`);
    }
    const maxBodySize = options.maxBodySize ?? 1024 * 1024;
    if (!(Number.isInteger(maxBodySize) && maxBodySize >= 0)) {
      throw new RangeError(`Cannot create a TCPServer: maxBodySize must be a non-negative integer, received ${String(maxBodySize)}`);
    }
    if (options.tls && typeof options.nodeName !== "string")
      throw new TypeError("Cannot create a TCPServer: tls needs the nodeName whose certificate to serve");
    this.#mode = mode;
    this.#delimiter = delimiterOf(delimiter);
    this.#maxLength = maxLength;
    this.#maxBodySize = maxBodySize;
    this.#options = options;
    this.#owner = owner;
    this.#waker = new Waker(owner, trigger, options.actorId, "TCPServer");
  }

  /** The address it listens on, once listening. */
  get address(): Address | undefined {
    return this.#address;
  }

  /** Connections not yet taken with `accept()`, oldest first (one that has already closed stays, with its data). */
  get pendingConnections(): readonly [Address, ServerConnection<M>][] {
    return this.#pending;
  }

  /** The open connections, accepted or not. */
  get connections(): ServerConnection<M>[] {
    return [...this.#live];
  }

  /**
   * Starts listening on `host`:`port` (0: a free port). Returns at once;
   * `yield* ready()` waits until it listens.
   * @throws {Error} if it was already started (or stopped), or (with `tls`) the node's certificate is missing.
   */
  start(host: string, port: number): void {
    if (this.#task !== null || this.#stopped) throw new Error("Cannot start the TCPServer: it was already started (or stopped)");
    if (!(Number.isInteger(port) && port >= 0 && port < 65536)) {
      throw new RangeError(`Cannot start the TCPServer: port must be an integer from 0 to 65535, received ${String(port)}`);
    }
    const tls = this.#options.tls
      ? loadNodeCredentials(this.#options.securityDir ?? join(homedir(), ".calvin", "security"), this.#options.nodeName as string)
      : undefined;
    this.#task = startService(this.#owner, `TCPServer ${host}:${port}`, () => this.#serve(host, port, tls), "start a TCPServer");
  }

  /**
   * Waits until the server listens and gives its address.
   *
   * **Cancellation:** only the wait stops.
   *
   * @throws {Error} with the OS `code` (`EADDRINUSE`...) if it could not listen, or if `start()` was not called.
   */
  *ready(): Operation<Address> {
    if (this.#task === null) throw new Error("Cannot wait for the TCPServer: call start(host, port) first");
    this.#readyAsked = true;
    return yield* this.#listening;
  }

  /**
   * Takes the oldest pending connection: `[address, connection]` (the
   * original took the newest).
   * @throws {Error} if none is pending (check `pendingConnections` first), as the original did.
   */
  accept(): [Address, ServerConnection<M>] {
    const entry = this.#pending.shift();
    if (entry === undefined) throw new Error("Cannot accept: no connection is pending; check pendingConnections first");
    return entry;
  }

  /**
   * Stops listening and closes every connection (what was sent still goes
   * out, for up to 2 s). The trigger is not called again. Idempotent.
   */
  stop(): void {
    this.#stopped = true;
    this.#waker.stop();
    this.#stopRequested.resolve();
  }

  *#serve(host: string, port: number, tls: { cert: string; key: string; ca?: string[] } | undefined): Operation<void> {
    let server: Server;
    try {
      server = yield* startServer((reader, writer) => this.#connection(reader, writer), {
        host,
        port,
        limit: this.#mode === "raw" ? Math.max(this.#maxLength, 65536) : MAX_LINE,
        ...(tls !== undefined && { tls }),
      });
    } catch (error) {
      if (isCancellation(error)) throw error;
      this.#listening.reject(error);
      if (!this.#readyAsked) throw error; // reported by startService
      return;
    }
    const bound = server.address;
    this.#address = makeAddress(bound.address, bound.port);
    this.#listening.resolve(this.#address);
    try {
      yield* this.#stopRequested;
    } finally {
      this.#waker.stop();
      for (const connection of this.#live) connection.close();
      server.close(STOP_GRACE);
      yield* server.waitClosed();
    }
  }

  /**
   * One connection's task (run by `startServer`): a child task reads
   * messages into the inbox, while this one waits for the end of the
   * input or for `close()`, then returns, so that `startServer` flushes
   * and closes the socket. (It never closes the writer itself: a socket
   * being ended must not then be reset when the owner's cancellation
   * aborts the connections.)
   */
  *#connection(reader: StreamReader, writer: StreamWriter): Operation<void> {
    const peer = writer.remoteAddress;
    const address = typeof peer === "object" && peer !== null ? makeAddress(peer.address, peer.port) : makeAddress(String(peer ?? ""), 0);
    const connection = new ServerConnection<M>(address, this.#mode, this.#delimiter, writer);
    this.#pending.push([address, connection]);
    this.#live.add(connection);
    this.#waker.fire();
    const pump = yield* spawn(receive(this.#messages(reader), connection, this.#waker, writer), { name: "receive" });
    try {
      yield* connection.closeRequested;
    } finally {
      pump.cancel("the connection is closing");
      connection.markLost();
      this.#live.delete(connection);
      this.#waker.fire();
    }
  }

  /** The connection's next message in this server's mode, or `undefined` at its end. */
  #messages(reader: StreamReader): () => Operation<ServerData<M> | undefined> {
    if (this.#mode === "http") {
      const maxBodySize = this.#maxBodySize;
      return () => readHttpRequest(reader, maxBodySize) as Operation<ServerData<M> | undefined>;
    }
    const messages = readMessages(
      reader,
      this.#mode === "line" ? { mode: "line", delimiter: this.#delimiter.bytes } : { mode: "raw", maxLength: this.#maxLength },
    );
    return () => nextMessage(messages) as Operation<ServerData<M> | undefined>;
  }
}

/** The next message of a framing reader, or `undefined` at its end. */
function* nextMessage(messages: MessageReader): Operation<string | Uint8Array | undefined> {
  const message = yield* messages.next();
  return message.done ? undefined : message.value;
}

/**
 * A connection's receiving task: reads its messages into its inbox until the end, an
 * error, or its cancel (declared once, not a generator closure per connection).
 */
function* receive<M extends ServerMode>(
  next: () => Operation<ServerData<M> | undefined>,
  connection: ServerConnection<M>,
  waker: Waker,
  writer: StreamWriter,
): Operation<void> {
  const inbox = connection.inbox;
  let received = 0;
  try {
    for (;;) {
      // A request fills the inbox: in http mode the next one is read once the actor has taken the last.
      yield* inbox.waitForRoom();
      const message = yield* next();
      if (message === undefined) break;
      inbox.push(message);
      received++;
      waker.fire();
    }
  } catch (error) {
    // A line over the limit (LineReceiver drops the connection), a malformed request, a reset: the connection ends.
    if (isCancellation(error)) throw error;
    // A bad first request is answered (400, 413, 501); after one the actor has, its answer may still be coming, so none is.
    if (error instanceof BadRequest && received === 0 && !writer.isClosing) {
      try {
        writer.write(encoder.encode(badRequestResponse(error)));
      } catch {
        // The peer has gone: nobody to tell.
      }
    }
  } finally {
    connection.closeRequested.resolve();
  }
}
