/**
 * TCP (and TLS, and Unix-socket) streams: `openConnection` and `startServer`.
 * @module
 */
import { type AddressInfo, createServer, type Server as NetServer, connect as netConnect, type Socket } from "node:net";
import { type ConnectionOptions, createServer as createTlsServer, type SecureContextOptions, type TlsOptions, connect as tlsConnect } from "node:tls";
import { ExternalPark } from "../core/_external-park.ts";
import { adoptResource } from "../core/_resource.ts";
import { isCancellation } from "../core/errors.ts";
import { Future } from "../core/future.ts";
import type { Operation } from "../core/operation.ts";
import { createTask, requireCurrentTask } from "../core/spawn.ts";
import type { Task, TaskImpl } from "../core/task.ts";
import type { StreamEnd } from "../streams/memory-pair.ts";
import type { StreamReader } from "../streams/stream-reader.ts";
import type { StreamWriter } from "../streams/stream-writer.ts";
import { sleep } from "../time/sleep.ts";
import { waitForConnect } from "./_connect.ts";
import { wrapSocket } from "./_socket-transport.ts";
import { type Framing, type MessageReader, readMessages } from "./framing.ts";

/** Where to connect or listen: host and port, or a Unix socket path. */
export interface Endpoint {
  /** @default "127.0.0.1" */
  host?: string;
  /** @default 0 for a server (a free port) */
  port?: number;
  /** A Unix socket (or Windows pipe) path instead of host and port. */
  path?: string;
}

/** Options of `openConnection`. */
export interface OpenConnectionOptions extends Endpoint {
  /** Use TLS: `true` for the system's CAs, or Node's TLS client options (`ca`, `servername`, `cert`, `key`, ...). */
  tls?: boolean | ConnectionOptions;
  /** The reader's limit. @default 65536 */
  limit?: number;
}

/** Options of `startServer`. */
export interface StartServerOptions extends Endpoint {
  /** Serve TLS with these options (`cert`, `key`, `ca`, `requestCert`, `SNICallback`...); see also `nodeCertificates`. */
  tls?: TlsOptions & SecureContextOptions;
  /** The reader's limit per connection. @default 65536 */
  limit?: number;
  /** Also give the handler a message iterator in this framing (`line` or `raw`). */
  framing?: Framing;
}

/** Handles one connection; runs as its own task in the server's scope. */
export type ConnectionHandler = (reader: StreamReader, writer: StreamWriter, messages: MessageReader) => Operation<void>;

/**
 * Opens a TCP connection (or a TLS one, or a Unix socket) and gives its
 * `{ reader, writer }` (asyncio's `open_connection`). The connection belongs
 * to the current task: it is closed when the task finishes.
 *
 * **Cancellation:** a connection being opened is destroyed.
 *
 * @throws {Error} with the OS `code` (`ECONNREFUSED`, `ENOTFOUND`, ...) if it cannot connect.
 * @example
 * ```ts
 * import { run } from "corio";
 * import { openConnection, startServer } from "corio/net";
 * await run(function* () {
 *   const server = yield* startServer(function* (reader, writer) {
 *     writer.write(yield* reader.readLine());
 *   });
 *   const { reader, writer } = yield* openConnection({ port: server.address.port });
 *   writer.write("hello\n");
 *   console.assert(new TextDecoder().decode(yield* reader.readLine()) === "hello\n");
 *   server.close();
 * });
 * ```
 */
export function* openConnection(options: OpenConnectionOptions): Operation<StreamEnd> {
  requireCurrentTask("open a connection");
  const target = options.path ?? `${options.host ?? "127.0.0.1"}:${options.port}`;
  if (options.path === undefined && !(typeof options.port === "number" && options.port > 0 && options.port < 65536)) {
    throw new RangeError(`Cannot open a connection: port must be an integer from 1 to 65535, received ${String(options.port)}`);
  }
  const endpoint = options.path !== undefined ? { path: options.path } : { host: options.host ?? "127.0.0.1", port: options.port as number };
  const tls = options.tls;
  const socket: Socket = tls
    ? tlsConnect({
        ...endpoint,
        ...(typeof tls === "object" ? tls : {}),
        ...(options.host !== undefined && typeof tls === "object" && tls.servername === undefined && { servername: options.host }),
      })
    : netConnect({ ...endpoint, allowHalfOpen: true });
  yield* waitForConnect(socket, target, tls ? "secureConnect" : "connect");
  const end = wrapSocket(socket, { ...(options.limit !== undefined && { limit: options.limit }), canWriteEof: !tls });
  const keeper = adoptResource("connection", () => socket.destroy(), "open a connection");
  socket.once("close", () => keeper.release());
  return end;
}

/**
 * A listening server. It belongs to the task that started it: when that
 * task finishes, the server closes.
 *
 * @example
 * ```ts
 * import { run } from "corio";
 * import { startServer } from "corio/net";
 * await run(function* () {
 *   const server = yield* startServer(function* (_reader, writer) { writer.write("hi\n"); });
 *   console.assert(server.address.port > 0);
 *   server.close();
 *   yield* server.waitClosed();
 * });
 * ```
 */
export class Server {
  readonly #server: NetServer;
  readonly #task: TaskImpl<void>;
  readonly #closeRequested: Future<number>;

  /** @internal */
  constructor(server: NetServer, task: TaskImpl<void>, closeRequested: Future<number>) {
    this.#server = server;
    this.#task = task;
    this.#closeRequested = closeRequested;
  }

  /** The address it listens on (host, port, family). For a Unix socket, see `path`. */
  get address(): AddressInfo {
    const address = this.#server.address();
    return typeof address === "object" && address !== null ? address : { address: String(address), port: 0, family: "unix" };
  }

  /** Open connections being handled. */
  get connections(): number {
    return this.#task.children.filter((child) => child.name.startsWith("connection")).length;
  }

  /**
   * Stops accepting connections; handlers still running after `grace` ms are
   * cancelled (their `finally` blocks run) and their connections closed.
   */
  close(grace = 0): void {
    this.#closeRequested.resolve(grace);
  }

  /** Waits until the server and every connection task have finished. **Cancellation:** only the wait stops. */
  *waitClosed(): Operation<void> {
    if (this.#task.done) return;
    try {
      yield* this.#task as Task<void>;
    } catch (error) {
      // The server task ends cancelled when it is closed: that is not an error. A cancellation of the caller is.
      if (!isCancellation(error) || error !== this.#task.error) throw error;
    }
  }

  /** Serves until closed (asyncio's `serve_forever`). **Cancellation:** closes the server and waits for it. */
  *serveForever(): Operation<void> {
    try {
      yield* this.waitClosed();
    } finally {
      if (!this.#task.done) {
        this.close();
        yield* this.waitClosed();
      }
    }
  }
}

/**
 * Starts a TCP (or TLS, or Unix-socket) server that runs
 * `handler(reader, writer, messages)` as one task per connection, in the
 * server's scope (asyncio's `start_server`). When the handler returns, the
 * connection is closed; if it throws, the error is reported to the loop's
 * `onError` and only that connection is closed. With `framing`, `messages`
 * gives the connection's messages as lines or raw chunks (the Calvin
 * seed's server modes).
 *
 * **Cancellation:** the server belongs to the calling task and closes when
 * it finishes; closing cancels the handlers after the grace period.
 *
 * @throws {Error} with the OS `code` (`EADDRINUSE`, ...) if it cannot listen.
 * @example A line-framed echo server
 * ```ts
 * import { run } from "corio";
 * import { openConnection, startServer } from "corio/net";
 * await run(function* () {
 *   const server = yield* startServer(function* (_reader, writer, messages) {
 *     for (let m = yield* messages.next(); !m.done; m = yield* messages.next()) writer.write(`echo: ${m.value}\n`);
 *   }, { framing: { mode: "line", delimiter: "\n" } });
 *   const client = yield* openConnection({ port: server.address.port });
 *   client.writer.write("one\n");
 *   console.assert(new TextDecoder().decode(yield* client.reader.readLine()) === "echo: one\n");
 *   server.close();
 * });
 * ```
 */
export function* startServer(handler: ConnectionHandler, options: StartServerOptions = {}): Operation<Server> {
  if (typeof handler !== "function") throw new TypeError(`Cannot start a server: the handler must be a function, received ${typeof handler}`);
  const owner = requireCurrentTask("start a server");
  const server: NetServer = options.tls ? createTlsServer(options.tls) : createServer({ allowHalfOpen: true });
  const sockets = new Set<Socket>();
  const closeRequested = new Future<number>();
  const closed = new Future<void>();
  server.once("close", () => closed.resolve());
  let connectionId = 0;

  const serverTask = createTask<void>(
    owner.loop,
    owner,
    function* tcpServer() {
      let grace = 0;
      try {
        grace = yield* closeRequested;
      } finally {
        server.close();
        if (serverTask.children.length > 0) {
          if (grace > 0) {
            const deadline = createTask(owner.loop, serverTask as TaskImpl<unknown>, () => sleep(grace), { name: "grace" }, 0, "close a server");
            while (serverTask.children.some((child) => child !== deadline)) {
              try {
                yield* firstToFinish(serverTask);
              } catch {}
              if (deadline.done) break;
            }
            deadline.cancel();
          }
          for (const child of serverTask.children) child.cancel("the server closed");
        }
        for (const socket of sockets) socket.destroy();
        if (!closed.done) yield* waitForClose(server, closed);
      }
    },
    { name: "tcp server", daemon: true },
    0,
    "start a server",
  ) as TaskImpl<void>;

  server.on(options.tls ? "secureConnection" : "connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    const { reader, writer } = wrapSocket(socket, { ...(options.limit !== undefined && { limit: options.limit }), canWriteEof: !options.tls });
    const messages = readMessages(reader, options.framing ?? { mode: "raw" });
    createTask(
      owner.loop,
      serverTask as TaskImpl<unknown>,
      function* connection() {
        try {
          yield* handler(reader, writer, messages);
        } catch (error) {
          if (isCancellation(error)) throw error;
          owner.loop.report(error, { kind: "task", path: `${serverTask.path}/connection ${connectionId}` });
          writer.abort();
          return;
        } finally {
          if (isCancelled(serverTask)) writer.abort();
        }
        writer.close();
        yield* writer.waitClosed();
      },
      { name: `connection ${++connectionId}` },
      0,
      "start a server",
    );
  });
  server.on("tlsClientError", () => {});

  const listening = new ExternalPark<void>(owner, "io");
  const where = options.path ?? `${options.host ?? "127.0.0.1"}:${options.port ?? 0}`;
  const onError = (error: NodeJS.ErrnoException): void => {
    listening.reject(Object.assign(new Error(`Cannot start a server on ${where}: ${error.message}`, { cause: error }), { code: error.code }));
  };
  server.once("error", onError);
  if (options.path !== undefined) server.listen(options.path, () => listening.resolve());
  else server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => listening.resolve());
  try {
    yield listening;
  } catch (error) {
    closeRequested.resolve(0);
    throw error;
  } finally {
    server.off("error", onError);
  }
  return new Server(server, serverTask, closeRequested);
}

function isCancelled(task: TaskImpl<unknown>): boolean {
  return task.cancelError !== null;
}

/** Waits until one of the children (connections, or the grace timer) finishes. */
function* firstToFinish(parent: TaskImpl<void>): Operation<void> {
  const done = new Future<void>();
  for (const child of parent.children) child.addDoneCallback(() => done.resolve());
  yield* done;
}

/** Waits for the server's 'close' event (all connections gone), as I/O for the virtual clock. */
function* waitForClose(server: NetServer, closed: Future<void>): Operation<void> {
  if (closed.done) return;
  const park = new ExternalPark<void>(requireCurrentTask("close a server"), "io");
  server.once("close", () => park.resolve());
  yield park;
}
