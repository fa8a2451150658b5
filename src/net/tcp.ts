/**
 * TCP (and TLS, and Unix-socket) streams: `openConnection` and `startServer`.
 * @module
 */

import { type AddressInfo, createServer, isIP, type Server as NetServer, connect as netConnect, type Socket } from "node:net";
import type { ConnectionOptions, SecureContextOptions, TlsOptions, Server as TlsServer } from "node:tls";
import { defineOperation, defineOperationMethods } from "../core/_dev.ts";
import { adoptResource, daemonReturnedAs } from "../core/_resource.ts";
import { type Operation, prepareOperationFunction } from "../core/operation.ts";
import { requireCurrentTask } from "../core/spawn.ts";
import type { StreamEnd } from "../streams/memory-pair.ts";
import { checkReaderLimit, type StreamReader } from "../streams/stream-reader.ts";
import type { StreamWriter } from "../streams/stream-writer.ts";
import { checkWorkers, isClusterPrimary, primaryServer, type ServerBackend, workerSlot } from "./_cluster.ts";
import { waitForConnect } from "./_connect.ts";
import { ConnectionRun } from "./_connection-run.ts";
import { checkListenPort, describeAddress, hostPort, portValue } from "./_listen.ts";
import { nodeTls } from "./_node-modules.ts";
import { checkGrace, DEFAULT_GRACE, ServerCore } from "./_server.ts";
import { describePeer, dropSocket, wrapSocket } from "./_socket-transport.ts";
import { removeStaleSocket } from "./_stale-socket.ts";
import { checkFraming, type Framing, framedMessages, type MessageReader } from "./framing.ts";

/** Where to connect or listen: host and port, or a Unix socket path. */
export interface Endpoint {
  /** @default "127.0.0.1" */
  host?: string;
  /** @default 0 for a server (a free port) */
  port?: number;
  /**
   * A Unix socket (or Windows pipe) path instead of host and port. To
   * listen there, a socket file left by a server that is gone (connecting
   * to it is refused: a process that crashed; Node removes the file at a
   * clean close) is removed first, as asyncio's `create_unix_server`
   * does; a live server's socket is left alone (`EADDRINUSE`; that server
   * sees one connection that sends nothing and ends).
   */
  path?: string;
}

/** asyncio's default TLS handshake timeout. */
const DEFAULT_HANDSHAKE_TIMEOUT = 60_000;

/** Options of `openConnection`. */
export interface OpenConnectionOptions extends Endpoint {
  /**
   * Use TLS: `true` for the system's CAs, or Node's TLS client options
   * (`ca`, `servername`, `cert`, `key`, ...). A TLS connection does not
   * half-close: once the server ends its side, Node ends this one too (and
   * `writer.writeEof()` is refused), as asyncio over SSL does.
   */
  tls?: boolean | ConnectionOptions;
  /** The reader's limit. @default 65536 */
  limit?: number;
  /**
   * How long the TLS handshake may take, in ms of real time, before the
   * connection is given up with an `ETIMEDOUT` error (asyncio's
   * `ssl_handshake_timeout`); `Infinity` for none. Only for `tls`.
   * @default 60000
   */
  handshakeTimeout?: number;
  /**
   * Send each write at once (`TCP_NODELAY`), as asyncio and Trio do. With
   * `false` (Nagle's algorithm, a bare Node socket's default), a small write
   * made while an earlier one is not yet acknowledged waits for the peer's
   * ACK, which the peer may delay by 40 ms: a handler that answers each
   * request with three writes took 44 ms per answer on loopback. No effect
   * on a Unix socket.
   * @default true
   */
  noDelay?: boolean;
  /**
   * Connect from this local IP address (asyncio's `local_addr`, Trio's
   * `local_address`), for a host with several interfaces; with a host name,
   * only its addresses of the same family are tried. Not with `path`.
   * @default the OS's choice
   */
  localAddress?: string;
  /** Connect from this local port (the second half of asyncio's `local_addr`). @default a free port */
  localPort?: number;
}

/** Options of `startServer`. */
export interface StartServerOptions extends Endpoint {
  /**
   * Serve TLS with these options (`cert`, `key`, `ca`, `requestCert`,
   * `SNICallback`, `handshakeTimeout`...); see also `nodeCertificateResolver`.
   * A client whose handshake fails or takes longer than `handshakeTimeout`
   * (Node's default: 120 s) is dropped. A TLS connection does not
   * half-close: once the client ends its side (a Node TLS client's `end()`),
   * Node ends this side too, so what the handler writes after reading EOF
   * never reaches it (asyncio over SSL behaves the same), and
   * `writer.writeEof()` is refused.
   */
  tls?: TlsOptions & SecureContextOptions;
  /** The reader's limit per connection. @default 65536 */
  limit?: number;
  /** Also give the handler a message iterator in this framing (`line` or `raw`). */
  framing?: Framing;
  /** Send each write at once (`TCP_NODELAY`) on every connection; see `OpenConnectionOptions.noDelay`. @default true */
  noDelay?: boolean;
  /** How long handlers may run on once the server closes (`close()` without a grace, or the owner ending), in ms. @default 5000 */
  grace?: number;
  /**
   * Serve from this many worker processes on `node:cluster`, sharing the
   * port. The primary forks them at its first server call with `workers`
   * (later ones reuse them) and supervises them: a crashed worker is
   * reported and restarted; the owner ending (Ctrl-C under `main`) or
   * `close()` closes every worker with its grace. In a worker the call just
   * listens. See `docs/scaling.md`.
   */
  workers?: number;
}

/** Handles one connection; runs as its own task in the server's scope. */
export type ConnectionHandler = (reader: StreamReader, writer: StreamWriter, messages: MessageReader) => Operation<void>;

/**
 * Opens a TCP connection (or a TLS one, or a Unix socket) and gives its
 * `{ reader, writer }` (asyncio's `open_connection`). The connection belongs
 * to the current task: it is closed when the task finishes. Bytes written
 * and still queued then cannot go out: the connection is reset (RST)
 * instead of ended with a FIN, so the peer sees an error, not a stream that
 * looks complete (a TLS connection, which Node cannot reset, is destroyed).
 * To have everything go out, close the writer and wait for it:
 * `writer.close(); yield* writer.waitClosed();` (once `close()` was called,
 * Node can no longer reset the socket: an end not waited for may be cut
 * short silently). A Node peer may still see the reset as an EOF (libuv
 * takes a hang-up after a partial read for one).
 *
 * A host name with several addresses (`localhost` as `::1` and
 * `127.0.0.1`) is connected as Node's `autoSelectFamily` does ("happy
 * eyeballs", RFC 8305 loosely): the addresses are tried one at a time,
 * alternating families, and an attempt not connected after 250 ms of real
 * time is abandoned for the next address (the last one waits for the OS's
 * own timeout). Trio's `open_tcp_stream` keeps the earlier attempts running
 * alongside the next, and asyncio's `open_connection` (without
 * `happy_eyeballs_delay`) waits for each to fail; so a peer slower than
 * 250 ms to answer is reached here only on its last address.
 * When every address fails, the error names each failure ("Multiple
 * exceptions: ...", as asyncio's), its `cause` Node's `AggregateError`.
 *
 * **Cancellation:** a connection being opened is destroyed, with every
 * attempt of a name with several addresses.
 *
 * @throws {Error} with the OS `code` (`ECONNREFUSED`, `ENOTFOUND`, ...) if it cannot connect.
 * @throws {TypeError} for options that are not an object.
 * @throws {RangeError} for a `port` not from 1 to 65535 (without `path`; a string of digits is taken), a `host` that is not a non-empty string, a `localAddress` that is not an IP address, a `localPort` not from 0 to 65535, a `handshakeTimeout` that is not a positive number, or a `limit` that is not a positive integer, before connecting.
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
export const openConnection = defineOperation(function* openConnection(options: OpenConnectionOptions): Operation<StreamEnd> {
  requireCurrentTask("open a connection");
  if (typeof options !== "object" || options === null)
    throw new TypeError(`Cannot open a connection: the options must be an object ({ host, port } or { path }), received ${String(options)}`);
  if (options.host !== undefined && (typeof options.host !== "string" || options.host === ""))
    throw new RangeError(`Cannot open a connection: host must be a host name or an IP address, received ${String(options.host)}`);
  // A string of digits ("8080" from an environment variable) is a port, as Node, startServer and openDatagram take it.
  const port = portValue(options.port);
  if (options.path === undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) {
    throw new RangeError(`Cannot open a connection: port must be an integer from 1 to 65535, received ${String(options.port)}`);
  }
  const local = checkLocal(options);
  const target = options.path ?? hostPort(options.host ?? "127.0.0.1", port);
  const endpoint = options.path !== undefined ? { path: options.path } : { host: options.host ?? "127.0.0.1", port, ...local };
  // Checked before connecting: a throw once the socket is open would leave it open.
  const limit = options.limit === undefined ? undefined : checkReaderLimit(options.limit, "open a connection");
  const tls = options.tls;
  const handshakeTimeout = options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT;
  if (!(typeof handshakeTimeout === "number" && handshakeTimeout > 0)) {
    throw new RangeError(`Cannot open a connection: handshakeTimeout must be a positive number of ms (or Infinity), received ${String(handshakeTimeout)}`);
  }
  // SNI carries host names only: an IP address as servername is invalid (and Node warns, DEP0123).
  const servername =
    typeof tls === "object" && tls.servername !== undefined
      ? tls.servername
      : options.host !== undefined && isIP(options.host) === 0
        ? options.host
        : undefined;
  const socket: Socket = tls
    ? nodeTls().connect({ ...endpoint, ...(typeof tls === "object" ? tls : {}), ...(servername !== undefined && { servername }) })
    : netConnect({ ...endpoint, allowHalfOpen: true });
  yield* waitForConnect(socket, target, tls ? "secureConnect" : "connect", tls ? handshakeTimeout : Number.POSITIVE_INFINITY);
  if (options.noDelay !== false) socket.setNoDelay(true);
  const end = wrapSocket(socket, { ...(limit !== undefined && { limit }), canWriteEof: !tls });
  // Bytes still queued when the owner ends would be lost: a reset, not a clean FIN, tells the peer so.
  const keeper = adoptResource("connection", () => dropSocket(socket), "open a connection");
  socket.once("close", () => keeper.release());
  return keeper.returnedAs(end);
});

/** The local end asked for (`localAddress`, `localPort`), checked: Node would throw its own error from inside the connect. */
function checkLocal(options: OpenConnectionOptions): { localAddress?: string; family?: number; localPort?: number } {
  const { localAddress, localPort } = options;
  if (localAddress === undefined && localPort === undefined) return {};
  if (options.path !== undefined) throw new RangeError("Cannot open a connection: localAddress and localPort are for TCP, not a Unix socket path");
  if (localAddress !== undefined && (typeof localAddress !== "string" || isIP(localAddress) === 0))
    throw new RangeError(`Cannot open a connection: localAddress must be an IP address, received ${String(localAddress)}`);
  const portNumber = localPort === undefined ? undefined : portValue(localPort);
  if (portNumber !== undefined && !(Number.isInteger(portNumber) && portNumber >= 0 && portNumber <= 65535))
    throw new RangeError(`Cannot open a connection: localPort must be an integer from 0 to 65535, received ${String(localPort)}`);
  return {
    // Node binds every address of a name to localAddress and gives up at the first of the other family
    // (bind EINVAL): only the same family is looked up, as asyncio filters the addresses by local_addr's.
    ...(localAddress !== undefined && { localAddress, family: isIP(localAddress) }),
    ...(portNumber !== undefined && { localPort: portNumber }),
  };
}

/**
 * A listening server. It belongs to the task that started it: when that
 * task finishes (or is cancelled), the server closes as `close()` does.
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
  readonly #address: () => AddressInfo | string | null;
  readonly #core: ServerBackend;

  /** @internal */
  constructor(address: () => AddressInfo | string | null, core: ServerBackend) {
    this.#address = address;
    this.#core = core;
  }

  /** The address it listens on (host, port, family; in a cluster's primary, the one its workers share), and still the same once closed. For a Unix socket, `address` is its path and `port` 0. */
  get address(): AddressInfo {
    const address = this.#address();
    return typeof address === "object" && address !== null ? address : { address: String(address), port: 0, family: "unix" };
  }

  /** Open connections being handled, in this process (0 in a cluster's primary: they run in the workers). */
  get connections(): number {
    return this.#core.size;
  }

  /**
   * Stops accepting connections at once; handlers still running after
   * `grace` ms are cancelled (their `finally` blocks run). Each connection
   * then closes cleanly (what was written is flushed, then a FIN), or with
   * a reset if its bytes cannot be flushed within the grace. Returns at
   * once; `waitClosed()` waits for the end. A second call can only shorten
   * the grace.
   *
   * @param grace Milliseconds. @default the `grace` option (5000)
   * @throws {RangeError} for a negative or non-numeric grace.
   */
  close(grace?: number): void {
    this.#core.close(grace);
  }

  /** Waits until the server and every connection task have finished. **Cancellation:** only the wait stops. */
  *waitClosed(): Operation<void> {
    yield* this.#core.waitClosed();
  }

  /** Serves until closed (asyncio's `serve_forever`). **Cancellation:** closes the server (with the default grace) and waits for it. */
  *serveForever(): Operation<void> {
    yield* this.#core.serveForever();
  }
}
defineOperationMethods(Server);

/**
 * Starts a TCP (or TLS, or Unix-socket) server that runs
 * `handler(reader, writer, messages)` as one task per connection, in the
 * server's scope (asyncio's `start_server`). When the handler returns, the
 * connection is closed (flushed, then a FIN); if it throws, the error is
 * reported to the loop's `onError` and only that connection is reset (the
 * peer resetting it or going away, a `BrokenResourceError` from `ECONNRESET`
 * or `EPIPE`, is reported as kind `peer-gone`, which the default printer
 * gives as one line without a stack). Tasks the handler started belong to
 * its connection: the close waits for them (then cancels its daemons), so
 * what they write goes out before the FIN; one that fails is reported like a
 * failing handler and resets the connection, never the server. A handler
 * that fails has the tasks it started cancelled before its connection is
 * reset. With
 * `framing`, `messages` gives the connection's messages as lines or raw
 * chunks (the Calvin seed's server modes). An accept error that Node
 * reports (`ENOBUFS`, `ENOMEM`...) goes to `onError` too, with back-off;
 * the server goes on. Running out of descriptors (`EMFILE`) is not seen:
 * on Unix, libuv then accepts each waiting connection on a spare descriptor
 * and closes it at once (the client sees it closed before any byte) and
 * Node emits nothing; watch the process's descriptor limit instead.
 *
 * **Cancellation:** the server belongs to the calling task. When that task
 * ends or is cancelled, the server closes gracefully, as `close()` does:
 * it stops listening at once, handlers get the `grace`, then are cancelled.
 *
 * **Every core:** with `workers: n` the server runs in n worker processes on
 * `node:cluster`, exactly as `serveHttp` does (the primary forks, supervises
 * and closes them, and shares the port; in a worker the call listens). See
 * `docs/scaling.md`.
 *
 * @throws {Error} with the OS `code` (`EADDRINUSE`, ...) if it cannot listen.
 * @throws {RangeError} for a negative or non-numeric `grace`, a `port` not from 0 to 65535, `workers` or `limit` not a positive integer, or a bad `framing` (an empty delimiter, a `maxLength` that is not a positive integer), before listening.
 * @throws {TypeError} for a `framing` mode other than `line` or `raw`.
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
 * @example The same echo from 4 worker processes (the script runs in each)
 * ```ts ignore
 * import { main, suspend } from "corio";
 * import { startServer } from "corio/net";
 * await main(function* () {
 *   yield* startServer(function* (_reader, writer, messages) {
 *     for (let m = yield* messages.next(); !m.done; m = yield* messages.next()) writer.write(`${process.pid}: ${m.value}\n`);
 *   }, { port: 7001, framing: { mode: "line", delimiter: "\n" }, workers: 4 });
 *   yield* suspend();
 * });
 * ```
 */
export const startServer = defineOperation(function* startServer(handler: ConnectionHandler, options: StartServerOptions = {}): Operation<Server> {
  if (typeof handler !== "function") throw new TypeError(`Cannot start a server: the handler must be a function, received ${typeof handler}`);
  const grace = checkGrace(options.grace ?? DEFAULT_GRACE, "start a server");
  if (options.path === undefined) checkListenPort(options.port ?? 0, "start a server");
  const workers = options.workers === undefined ? undefined : checkWorkers(options.workers, "start a server");
  // Checked now: each connection's reader and messages are made in Node's connection listener, where a throw would end the process.
  const limit = options.limit === undefined ? undefined : checkReaderLimit(options.limit, "start a server");
  const framing = checkFraming(options.framing ?? { mode: "raw" });
  const owner = requireCurrentTask("start a server");
  prepareOperationFunction(handler);
  if (workers !== undefined && isClusterPrimary()) {
    const { address, backend, returned } = yield* primaryServer(owner, workers, grace, "start a server");
    return returned(new Server(() => address, backend));
  }
  const slot = workers === undefined ? undefined : workerSlot(owner.loop);
  let server: NetServer;
  try {
    server = options.tls ? nodeTls().createServer(options.tls) : createServer({ allowHalfOpen: true });
  } catch (error) {
    // A TLS option Node refuses (a bad PEM): in a worker the primary's call throws it, rather than the worker crash-looping.
    slot?.failed(error);
    throw error;
  }
  const where = options.path ?? hostPort(options.host ?? "127.0.0.1", options.port ?? 0);
  const core = new ServerCore({
    loop: owner.loop,
    listener: server,
    name: "tcp server",
    where: () => describeAddress(server.address(), where),
    grace,
    stopListening: () => server.close(),
  });
  const serverTask = core.start(owner);
  if (options.tls) core.trackHandshakes(server as TlsServer);
  let accepted = 0;
  const noDelay = options.noDelay !== false;
  server.on(options.tls ? "secureConnection" : "connection", (socket: Socket) => {
    // A TLS handshake can end after the close began: the listener is stopped, so is this connection.
    if (core.closing) {
      socket.destroy();
      return;
    }
    core.track(socket);
    if (noDelay) socket.setNoDelay(true);
    const { reader, writer } = wrapSocket(socket, { ...(limit !== undefined && { limit }), canWriteEof: !options.tls });
    const messages = framedMessages(reader, framing);
    core.spawn(`connection ${++accepted}`, new ConnectionRun(core, handler, reader, writer, messages), false, describePeer(socket));
  });
  // A tls.Server leaves a failed handshake's socket open to this listener (its `handshakeTimeout` included): drop it.
  server.on("tlsClientError", (_error: Error, socket: Socket) => socket.destroy());
  const failed = (error: NodeJS.ErrnoException): Error =>
    Object.assign(new Error(`Cannot start a server on ${where}: ${error.message}`, { cause: error }), { code: error.code });
  function* listenOn(port: unknown): Operation<AddressInfo | string | null> {
    const listen = (): void => {
      if (options.path !== undefined) server.listen(options.path);
      else server.listen(port as number, options.host ?? "127.0.0.1");
    };
    try {
      yield* core.listen(listen, failed);
    } catch (error) {
      // A socket file left by a server that crashed: listen again once it is removed.
      if (options.path === undefined || (error as NodeJS.ErrnoException).code !== "EADDRINUSE" || !(yield* removeStaleSocket(options.path))) throw error;
      yield* core.listen(listen, failed);
    }
    return server.address();
  }
  try {
    const port = options.path === undefined ? (options.port ?? 0) : undefined;
    yield* slot === undefined || port === undefined ? listenOn(port) : slot.listen(port, listenOn);
  } catch (error) {
    core.close(0);
    slot?.failed(error);
    throw error;
  }
  // Kept: once closed, Node gives null for the address, and `Server.address` still names the one it had.
  const address = server.address();
  slot?.listening(address, { close: (grace) => core.close(grace), task: serverTask });
  // A copy at each read, as Node's server.address() gives: a caller's change cannot reach the next reader.
  return daemonReturnedAs(serverTask, new Server(() => (typeof address === "object" && address !== null ? { ...address } : address), core));
});
