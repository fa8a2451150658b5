/**
 * `serveHttp`: an HTTP/1.1 server on Node's own `http` parser, where each
 * request runs as a corio task.
 * @module
 */

import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { Server as TlsServer } from "node:tls";
import { defineOperation, defineOperationMethods } from "../core/_dev.ts";
import { Fifo } from "../core/_fifo.ts";
import { daemonReturnedAs } from "../core/_resource.ts";
import { isCancellation } from "../core/errors.ts";
import type { Operation } from "../core/operation.ts";
import { requireCurrentTask } from "../core/spawn.ts";
import type { TaskImpl, Watcher } from "../core/task.ts";
import { continueWithinLimit, refuseBody } from "./_body-limit.ts";
import { checkWorkers, isClusterPrimary, primaryServer, type ServerBackend, workerSlot } from "./_cluster.ts";
import { checkListenPort, describeAddress, hostPort } from "./_listen.ts";
import { nodeHttps } from "./_node-modules.ts";
import { type RequestHandling, RequestRun } from "./_request-run.ts";
import { checkGrace, DEFAULT_GRACE, ServerCore } from "./_server.ts";
import { DISCARD_REST, HttpError, HttpRequest } from "./http-request.ts";
import { HttpResponse } from "./http-response.ts";

/** Handles one request; runs as its own task, cancelled if the client disconnects. */
export type HttpHandler = (request: HttpRequest, response: HttpResponse) => Operation<void>;

/** Limits that keep a server's memory bounded. Exceeding one gives the matching status code. */
export interface HttpLimits {
  /** Largest request head (request line and headers), in bytes; over it: 431. @default 16384 */
  maxHeaderSize?: number;
  /**
   * Largest request body, in bytes; over it: 413, before `100 Continue` for a request that expects it,
   * and the connection closes once the client could read the answer. @default 1048576
   */
  maxBodySize?: number;
  /** Time to receive the request head, in ms; over it: 408. @default 10000 */
  headersTimeout?: number;
  /** Time to receive the whole request, in ms; over it: 408. @default 30000 */
  requestTimeout?: number;
  /** How long an idle keep-alive connection stays open, in ms. @default 5000 */
  idleTimeout?: number;
  /**
   * Requests of one connection handled at once. The requests a client
   * pipelines behind them wait, in order: the connection stops reading
   * until one ends (those Node's parser had already read, at most one read
   * of 64 KiB, are held). So a client pipelining tiny requests costs a
   * bounded amount of memory, not a handler per 27 bytes it sends. While a
   * connection does not read:
   * - a client that goes away is noticed when a response to it is written
   *   (as in Go's server), not at once;
   * - the request Node's parser is part-way through still counts against
   *   `headersTimeout` and `requestTimeout`, so handlers slower than those
   *   get it a 408 (as `node:http` does when it pauses for a slow reader).
   * A request never starts before `maxPipelined` earlier ones on its
   * connection have ended, so a handler must not wait for a request
   * pipelined after it on the same connection.
   * @default 16
   */
  maxPipelined?: number;
}

/** Options of `serveHttp`. */
export interface ServeHttpOptions {
  /** Interface to listen on. @default "127.0.0.1" */
  host?: string;
  /** Port; 0 picks a free one. @default 0 */
  port?: number;
  /** Serve HTTPS with this certificate and key (PEM). */
  tls?: { cert: string | Buffer; key: string | Buffer; ca?: string | Buffer };
  /** Size and time limits. */
  limits?: HttpLimits;
  /** How long in-flight requests may run on once the server closes (`close()` without a grace, or the owner ending), in ms. @default 5000 */
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

const DEFAULT_LIMITS: Required<HttpLimits> = {
  maxHeaderSize: 16 * 1024,
  maxBodySize: 1024 * 1024,
  headersTimeout: 10_000,
  requestTimeout: 30_000,
  idleTimeout: 5_000,
  maxPipelined: 16,
};

/**
 * A running HTTP server. It belongs to the task that started it: when that
 * task finishes (or is cancelled), the server closes as `close()` does.
 *
 * @example
 * ```ts
 * import { run, until } from "corio";
 * import { serveHttp } from "corio/net";
 * await run(function* () {
 *   const server = yield* serveHttp(function* (request, response) {
 *     yield* response.send(200, `hello ${request.path}`);
 *   });
 *   const reply = yield* until(fetch(`${server.url}/world`).then((r) => r.text()));
 *   console.assert(reply === "hello /world");
 *   server.close();
 * });
 * ```
 */
export class HttpServer {
  readonly #address: () => AddressInfo;
  readonly #core: ServerBackend;
  readonly #secure: boolean;

  /** @internal */
  constructor(address: () => AddressInfo, core: ServerBackend, secure: boolean) {
    this.#address = address;
    this.#core = core;
    this.#secure = secure;
  }

  /** The address the server listens on (in a cluster's primary, the one its workers share), and still the same once closed. */
  get address(): AddressInfo {
    return this.#address();
  }

  /** `http://host:port` (or `https://`), ready for a client. */
  get url(): string {
    const { address, family, port } = this.address;
    const host = family === "IPv6" ? `[${address}]` : address;
    return `${this.#secure ? "https" : "http"}://${host}:${port}`;
  }

  /** Requests being handled right now, in this process (0 in a cluster's primary: they run in the workers). */
  get activeRequests(): number {
    return this.#core.size;
  }

  /**
   * Stops accepting connections at once and closes the idle keep-alive
   * ones (each busy one closes after its response); in-flight requests may
   * finish for up to `grace` ms, then they are cancelled (their `finally`
   * blocks run) and their connections closed (reset if their bytes cannot
   * be flushed in time). Returns at once; `waitClosed()` waits for the end.
   * A second call can only shorten the grace.
   *
   * @param grace Milliseconds. @default the `grace` option (5000)
   * @throws {RangeError} for a negative or non-numeric grace.
   */
  close(grace?: number): void {
    this.#core.close(grace);
  }

  /**
   * Waits until the server has closed and every request task has finished.
   *
   * **Cancellation:** stops waiting; the server is unaffected.
   */
  *waitClosed(): Operation<void> {
    yield* this.#core.waitClosed();
  }

  /**
   * Serves until the server is closed (asyncio's `serve_forever`).
   *
   * **Cancellation:** closes the server (with the default grace) and waits for it.
   */
  *serveForever(): Operation<void> {
    yield* this.#core.serveForever();
  }
}
defineOperationMethods(HttpServer);

/**
 * Starts an HTTP (or HTTPS) server on Node's `http` parser. Each request runs
 * `handler(request, response)` as a task of the server's scope; if the
 * client disconnects before the response is complete, that task is
 * cancelled. A handler that throws gets a 500 answer (or the status of an
 * `HttpError`), and the error is reported to the loop's `onError`; the
 * server goes on. An answer that cannot be written either is reported too,
 * and its connection is cut. Tasks the handler started belong to its request: a
 * response the handler left open is ended once they have ended (its daemons
 * cancelled), and one of them failing is answered and reported as a
 * failing handler is (the response is cut off if it had begun). Limits
 * (`limits`) have safe defaults: a head over `maxHeaderSize` gets 431, a body over `maxBodySize` 413, a slow request 408.
 * An accept error that Node reports is reported to `onError`; running out
 * of descriptors (`EMFILE`) is not seen, as for `startServer`: libuv
 * closes the waiting connections itself and Node emits nothing.
 *
 * **Cancellation:** the task that called `serveHttp` owns the server; when
 * it ends or is cancelled, the server closes gracefully, as `close()` does:
 * it stops listening at once, in-flight requests get the `grace`, then are
 * cancelled.
 *
 * **Every core:** with `workers: n` the server runs in n worker processes
 * on `node:cluster`, which run the program's main script again. In the
 * primary, the first call with `workers` forks them and supervises them
 * (a crash is reported to `onError` and the worker restarted; more than 5
 * crashes in 60 s fail the owner), later ones reuse them; each call returns
 * once every worker listens, with the shared address, and never listens
 * itself. In a worker, the call listens as usual (on the port the primary
 * shares). The owner ending in the primary (Ctrl-C under `main`), or
 * `close()` there, closes every worker with its grace. See `docs/scaling.md`.
 *
 * @param handler Runs once per request.
 * @param options `host`, `port`, `tls`, `limits`, `grace`, `workers`.
 * @returns The running server.
 * @throws {Error} with the OS `code` (`EADDRINUSE`, ...) if it cannot listen.
 * @throws {RangeError} for a negative or non-numeric `grace`, a `port` not from 0 to 65535, or `workers` not a positive integer.
 * @example
 * ```ts
 * import { run, until } from "corio";
 * import { serveHttp } from "corio/net";
 * await run(function* () {
 *   const server = yield* serveHttp(function* (request, response) {
 *     yield* response.json({ method: request.method });
 *   });
 *   const body = (yield* until(fetch(server.url).then((r) => r.json()))) as { method: string };
 *   console.assert(body.method === "GET");
 *   server.close();
 * });
 * ```
 * @example On every core: this whole script runs in the primary and in each worker
 * ```ts ignore
 * import { availableParallelism } from "node:os";
 * import cluster from "node:cluster";
 * import { main, suspend } from "corio";
 * import { serveHttp } from "corio/net";
 * await main(function* () {
 *   const server = yield* serveHttp(function* (_request, response) {
 *     yield* response.send(200, `hello from ${process.pid}`);
 *   }, { port: 8080, workers: availableParallelism() });
 *   if (cluster.isPrimary) console.log(`serving on ${server.url}`);
 *   yield* suspend(); // Ctrl-C: every worker closes gracefully, then the primary exits
 * });
 * ```
 */
export const serveHttp = defineOperation(function* serveHttp(handler: HttpHandler, options: ServeHttpOptions = {}): Operation<HttpServer> {
  if (typeof handler !== "function") throw new TypeError(`Cannot serve HTTP: the handler must be a function, received ${typeof handler}`);
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  const maxPipelined = limits.maxPipelined;
  if (!Number.isInteger(maxPipelined) || maxPipelined < 1) {
    throw new RangeError(`Cannot serve HTTP: limits.maxPipelined must be a positive integer, received ${String(maxPipelined)}`);
  }
  const grace = checkGrace(options.grace ?? DEFAULT_GRACE, "serve HTTP");
  checkListenPort(options.port ?? 0, "serve HTTP");
  const workers = options.workers === undefined ? undefined : checkWorkers(options.workers, "serve HTTP");
  const owner = requireCurrentTask("serve HTTP");
  if (workers !== undefined && isClusterPrimary()) {
    const { address, backend, returned } = yield* primaryServer(owner, workers, grace, "serve HTTP");
    return returned(new HttpServer(() => address as AddressInfo, backend, options.tls !== undefined));
  }
  const slot = workers === undefined ? undefined : workerSlot(owner.loop);
  const serverOptions = {
    maxHeaderSize: limits.maxHeaderSize,
    headersTimeout: limits.headersTimeout,
    requestTimeout: limits.requestTimeout,
    keepAliveTimeout: limits.idleTimeout,
    connectionsCheckingInterval: Math.min(1000, limits.headersTimeout),
  };
  let server: Server;
  try {
    server = options.tls ? nodeHttps().createServer({ ...serverOptions, ...options.tls }) : createHttpServer(serverOptions);
  } catch (error) {
    // A TLS option Node refuses (a bad PEM): in a worker the primary's call throws it, rather than the worker crash-looping.
    slot?.failed(error);
    throw error;
  }
  const where = hostPort(options.host ?? "127.0.0.1", options.port ?? 0);
  const core = new ServerCore({
    loop: owner.loop,
    listener: server,
    name: "http server",
    where: () => describeAddress(server.address(), where),
    grace,
    // Node's close() also closes the idle keep-alive connections now; each busy one closes after its
    // response (Node 20 would keep it alive until the sweep: it is told not to).
    stopListening: () => server.close(),
    onClose: () => {
      for (const requests of live) requests.closeAfterLast();
    },
  });
  const serverTask = core.start(owner);
  if (options.tls) core.trackHandshakes(server as unknown as TlsServer);
  server.on(options.tls ? "secureConnection" : "connection", (socket: Socket) => core.track(socket));

  /**
   * Reports what a handler threw (not a cancellation, not an HttpError under 500) and answers with its
   * status. A cancellation that comes from a failed child task is answered as a failure (the server
   * reports the task's failure), then rethrown.
   */
  function* answerError(request: HttpRequest, response: HttpResponse, error: unknown): Operation<void> {
    if (isCancellation(error)) {
      if (requireCurrentTask("answer a request").hasFailures) yield* answerFailure(response);
      throw error;
    }
    if (!(error instanceof HttpError) || error.status >= 500) {
      owner.loop.report(error, { kind: "task", path: `${serverTask.path}/${requestName(request)}` });
    }
    if (error instanceof HttpError && error.status === 413 && !response.headersSent && !response.raw.destroyed) refuseBody(request.raw, response.raw);
    yield* answerFailure(response, error instanceof HttpError ? error : undefined);
  }

  /** Ends a response once the tasks its handler left running have ended, or answers their failure. */
  function* endAfterChildren(task: TaskImpl<unknown>, response: HttpResponse): Operation<void> {
    if (task.hasFailures) yield* answerFailure(response);
    else if (!response.finished && !response.raw.destroyed) yield* response.end();
  }

  // One per server: each request's task body is a small `RequestRun` over it (no generator, no closure per request).
  const handling: RequestHandling = { handler, answerError, endAfterChildren };

  // The request tasks of each connection: Node emits 'close' only for the response being
  // written, so queued pipelined requests of a client that went away would wait forever. The
  // socket's 'close' is also the only way a response closes before it is sent (corio cuts a
  // response off with its socket: `cutOff`), so no response needs a listener of its own: one
  // cost 1,200 instructions a request (about 2%).
  const connections = new WeakMap<Socket, ConnectionRequests>();
  /** The connections with requests, for the close. */
  const live = new Set<ConnectionRequests>();
  const connectionOf = (socket: Socket): ConnectionRequests => {
    let requests = connections.get(socket);
    if (requests === undefined) {
      const ended = new ConnectionRequests(socket, maxPipelined, startRequest);
      connections.set(socket, ended);
      live.add(ended);
      socket.once("close", () => {
        live.delete(ended);
        ended.cancelAll();
      });
      requests = ended;
    }
    return requests;
  };
  /** Runs a request's task, now or (pipelined behind `maxPipelined` others) once one of them ends. */
  function startRequest(req: IncomingMessage, res: ServerResponse, requests: ConnectionRequests): void {
    // Nothing a client sends may escape from here: an exception in a Node listener ends the process.
    try {
      const request = new HttpRequest(req, limits.maxBodySize, res);
      // Counted in flight from here to the task's end, even if it never takes a step. It starts
      // once this turn's reads are all parsed: the requests they carry are answered together after them.
      const task = core.spawn(requestName(req), new RequestRun(handling, request, new HttpResponse(res)), true);
      if (task === undefined) return;
      requests.add(task, res, request);
      if (core.closing) closeWhenLast(res, requests);
      if (req.socket.destroyed) requests.cancelAll();
    } catch (error) {
      owner.loop.report(error, { kind: "task", path: `${serverTask.path}/${requestName(req)}` });
      cutOff(res);
    }
  }
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    connectionOf(req.socket).request(req, res);
  };
  // Node's graceful close closes the connections it sees as idle, which includes one whose current
  // response has ended while pipelined requests wait behind it: keep those until they are answered.
  const closeIdleConnections = server.closeIdleConnections;
  server.closeIdleConnections = () => closeIdle(server, closeIdleConnections, (socket) => (connections.get(socket)?.size ?? 0) > 0);
  server.on("request", onRequest);
  // `Expect: 100-continue` with a declared body over the limit: 413 before the client sends it.
  server.on("checkContinue", continueWithinLimit(limits.maxBodySize, onRequest));
  server.on("clientError", (error: NodeJS.ErrnoException, socket: Duplex) => answerClientError(error, socket, connections.get(socket as Socket)));

  function* listenOn(port: unknown): Operation<AddressInfo | string | null> {
    yield* core.listen(
      () => server.listen(port as number, options.host ?? "127.0.0.1"),
      (error) => Object.assign(new Error(`Cannot serve HTTP on ${where}: ${error.message}`, { cause: error }), { code: error.code }),
    );
    return server.address();
  }
  try {
    yield* slot === undefined ? listenOn(options.port ?? 0) : slot.listen(options.port ?? 0, listenOn);
  } catch (error) {
    core.close(0);
    slot?.failed(error);
    throw error;
  }
  // Kept: once closed, Node gives null for the address, and `address` and `url` still name the one it had.
  const address = server.address() as AddressInfo;
  slot?.listening(address, { close: (grace) => core.close(grace), task: serverTask });
  // A copy at each read, as Node's server.address() gives: a caller's change cannot reach `url` or the next reader.
  return daemonReturnedAs(serverTask, new HttpServer(() => ({ ...address }), core, options.tls !== undefined));
});

/** Bytes a connection may still send after its parser failed behind requests in flight, before it is cut. */
const AFTER_FAILURE_LIMIT = 64 * 1024;

/** The answer to a request Node's parser refused (or a client too slow to send one), by error code; 400 for the rest. */
const CLIENT_ERROR_ANSWERS: Record<string, string> = {
  HPE_HEADER_OVERFLOW: "431 Request Header Fields Too Large",
  HPE_CHUNK_EXTENSIONS_OVERFLOW: "413 Payload Too Large",
  ERR_HTTP_REQUEST_TIMEOUT: "408 Request Timeout",
};

/**
 * A request Node's parser refused, or a client that did not send its head or
 * body in time: as Node's own handler does, an error status if no response
 * has begun on the connection (one written into a response under way would
 * corrupt it), then the socket is destroyed. Ending it instead left it
 * half-open: a client that never closed its side held the descriptor for
 * good, and the parser went on running the requests it sent after a 408.
 *
 * Requests parsed before the bad bytes whose answers have not begun are
 * answered first: no more requests are parsed, and the status (none after a
 * request that said `Connection: close`: RFC 9112 9.6, what follows it is
 * not a request) goes out once they have been. Answered at once, the status
 * went to the first of them, whose handler had not even run (corio starts
 * handlers after the turn's reads). A response already under way is cut
 * off, as before.
 */
function answerClientError(error: NodeJS.ErrnoException, socket: Duplex, requests: ConnectionRequests | undefined): void {
  // Already deferred: what the client sends after the bad bytes fails the parser again (each read one
  // more error). A little is let through, so a client that leaves is seen; more is hostile: cut.
  if (requests?.failing === true) {
    if ((socket as Socket).bytesRead - requests.failedAt > AFTER_FAILURE_LIMIT) socket.destroy();
    return;
  }
  const current = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
  const answering = current !== undefined && current !== null && current.headersSent;
  // Deferred only when the bad bytes come after every request in flight (a body cut short is theirs: answered now).
  if (!answering && requests !== undefined && requests.size > 0 && requests.allReceived()) {
    requests.readNoMore(() => {
      if (error.code !== "HPE_CLOSED_CONNECTION") writeClientErrorStatus(error, socket);
      (socket as Socket).destroySoon();
    });
    return;
  }
  if (!answering) writeClientErrorStatus(error, socket);
  socket.destroy();
}

function writeClientErrorStatus(error: NodeJS.ErrnoException, socket: Duplex): void {
  if (!socket.writable) return;
  const status = CLIENT_ERROR_ANSWERS[error.code ?? ""] ?? "400 Bad Request";
  socket.write(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
}

/** Printable ASCII but `"` and `\\`: what JSON.stringify leaves as is. */
const PLAIN_TARGET = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/**
 * Answers a failure: its status (500 unless an `HttpError` says otherwise)
 * if nothing was sent yet, else the response is cut off. An answer that
 * cannot be written cuts the response off too (then throws): left neither
 * ended nor destroyed, it held its client, which no timeout of Node's
 * covers once the request is in, and every request pipelined behind it.
 */
function* answerFailure(response: HttpResponse, error?: HttpError): Operation<void> {
  const res = response.raw;
  if (res.headersSent || res.destroyed) {
    cutOff(res);
    return;
  }
  // A status message the handler set was for its own status (and one Node refuses, which may be why it failed, would fail this too).
  res.statusMessage = "";
  try {
    yield* response.send(error?.status ?? 500, error?.message ?? "Internal Server Error");
  } catch (failure) {
    if (!res.writableEnded) cutOff(res);
    throw failure;
  }
}

/**
 * Cuts a response off: it and its connection are destroyed. A response queued behind pipelined
 * ones has no socket yet: Node 20 destroys the socket when the response gets it, once those
 * before it are sent, but Node 24 only closes the response, which left the connection open (and
 * the request tasks on it, which its close cancels). Its socket is destroyed here when it comes.
 */
function cutOff(res: ServerResponse): void {
  const queued = res.socket === null;
  res.destroy();
  if (queued) res.once("socket", destroySocket);
}

function destroySocket(socket: Socket): void {
  socket.destroy();
}

/** The name of a request's task: method and target as sent, shortened, with control characters escaped. */
function requestName(request: { method?: string | undefined; url?: string | undefined }): string {
  const url = String(request.url ?? "");
  if (url.length <= 100 && PLAIN_TARGET.test(url)) return `${String(request.method ?? "?")} ${url}`;
  const shown = url.length > 100 ? `${url.slice(0, 100)}...` : url;
  return `${String(request.method ?? "?")} ${JSON.stringify(shown).slice(1, -1)}`;
}

/**
 * The request tasks of one connection, until each ends; all cancelled when
 * the connection closes. Arrays, not a Map: a keep-alive connection
 * holds one request at a time, and a Map emptied on every request
 * reallocated its table each time. The arrays never shrink (their first
 * `#count` slots are in use): one emptied by `shift()` dropped its backing
 * store, which the next request's `push` allocated again.
 *
 * At most `max` tasks run at once. A request pipelined behind them is held
 * and the socket paused: Node's parser goes through the rest of the read it
 * is in (it cannot stop inside one), then reads no more until a task ends.
 * So one connection holds at most one read's worth of requests, whatever
 * it sends. Node resumes the socket after each request it parses, and when
 * a response is written: while requests are held, its `resume` does
 * nothing. (Node's own `_paused` is not for this: it clears it whenever a
 * pipelined response is buffered.)
 */
class ConnectionRequests implements Watcher {
  readonly #socket: Socket;
  readonly #max: number;
  readonly #start: (req: IncomingMessage, res: ServerResponse, requests: ConnectionRequests) => void;
  /** Each request task, in the order the requests came... */
  readonly #tasks: (TaskImpl<unknown> | undefined)[] = [];
  /** ...and its response, at the same index... */
  readonly #responses: (ServerResponse | undefined)[] = [];
  /** ...and its request, whose unread body is discarded when the task ends. */
  readonly #requests: (HttpRequest | undefined)[] = [];
  /** How many requests are running: the slots in use at the start of the three arrays. */
  #count = 0;
  /** Requests pipelined behind `max` running ones, in order, not started yet. */
  readonly #held = new Fifo<[IncomingMessage, ServerResponse]>();
  /** Whether this paused the socket (Node pauses it too, for its own reasons: those are its to undo). */
  #paused = false;
  /** Set by `readNoMore`: runs once no request is left. */
  #afterLast: (() => void) | null = null;
  /** The bytes read from the connection when its parser failed (`readNoMore`). */
  failedAt = 0;

  constructor(socket: Socket, max: number, start: (req: IncomingMessage, res: ServerResponse, requests: ConnectionRequests) => void) {
    this.#socket = socket;
    this.#max = max;
    this.#start = start;
  }

  /** Requests running or held. */
  get size(): number {
    return this.#count + this.#held.size;
  }

  /** A request came: started, or held if `max` run already. */
  request(req: IncomingMessage, res: ServerResponse): void {
    if (this.#count < this.#max && this.#held.size === 0) {
      this.#start(req, res, this);
      return;
    }
    this.#held.push([req, res]);
    if (!this.#paused) {
      this.#paused = true;
      this.#socket.resume = keepPaused;
      this.#socket.pause();
    }
  }

  add(task: TaskImpl<void>, res: ServerResponse, request: HttpRequest): void {
    if (task.done) {
      request[DISCARD_REST]();
      return;
    }
    const slot = this.#count++;
    this.#tasks[slot] = task as TaskImpl<unknown>;
    this.#responses[slot] = res;
    this.#requests[slot] = request;
    task.addWatcher(this);
  }

  /** True if no request of this connection waits behind `res`. */
  isLast(res: ServerResponse): boolean {
    return this.#held.size === 0 && this.#count > 0 && this.#responses[this.#count - 1] === res;
  }

  /** The close began: each response not started yet ends the connection if it is the last one then. */
  closeAfterLast(): void {
    for (let i = 0; i < this.#count; i++) {
      const res = this.#responses[i] as ServerResponse;
      if (!res.headersSent) closeWhenLast(res, this);
    }
  }

  taskFinished(task: TaskImpl<unknown>): void {
    const tasks = this.#tasks;
    let index = 0;
    while (index < this.#count && tasks[index] !== task) index++;
    if (index === this.#count) return;
    const responses = this.#responses;
    const requests = this.#requests;
    // Nothing reads the body any more: what is left of it is dropped, or the next request would never be read.
    (requests[index] as HttpRequest)[DISCARD_REST]();
    // Read after the discard, which may resume the socket: a request it parses is added behind this one.
    const count = this.#count;
    // Those behind it move up (the usual case has none: one request at a time).
    for (let i = index + 1; i < count; i++) {
      tasks[i - 1] = tasks[i];
      responses[i - 1] = responses[i];
      requests[i - 1] = requests[i];
    }
    const last = count - 1;
    tasks[last] = undefined;
    responses[last] = undefined;
    requests[last] = undefined;
    this.#count = last;
    if (this.#paused) this.#startHeld();
    if (this.#afterLast !== null && this.size === 0) {
      const then = this.#afterLast;
      this.#afterLast = null;
      then();
    }
  }

  /**
   * Starts held requests while there is room; once none is left, reads
   * again, even with every slot taken: the request started last may have a
   * body still to come, and the next request read is held again.
   */
  #startHeld(): void {
    while (this.#count < this.#max && this.#held.size > 0) {
      const [req, res] = this.#held.shift() as [IncomingMessage, ServerResponse];
      this.#start(req, res, this);
    }
    if (this.#held.size > 0 || !this.#paused) return;
    this.#paused = false;
    const socket = this.#socket as Socket & { _paused?: boolean };
    Reflect.deleteProperty(socket, "resume");
    // Node's own pause (`_paused`: its responses are not draining) stays.
    if (!socket.destroyed && socket._paused !== true) socket.resume();
  }

  /** True if every request in flight or held has come in whole (its body too). */
  allReceived(): boolean {
    for (let i = 0; i < this.#count; i++) if (!(this.#requests[i] as HttpRequest).raw.complete) return false;
    for (const [req] of this.#held) if (!req.complete) return false;
    return true;
  }

  /**
   * The parser failed after the requests in flight: once they have all been
   * answered (or cancelled: the client left), `then`. The socket goes on
   * being read, so that a client that leaves is noticed; the parser, failed,
   * makes no more requests of what comes (each read is another client error,
   * which `failing` tells to ignore).
   */
  readNoMore(then: () => void): void {
    this.#afterLast = then;
    this.failedAt = this.#socket.bytesRead;
  }

  /** True once `readNoMore` was called and its `then` has not run yet. */
  get failing(): boolean {
    return this.#afterLast !== null;
  }

  cancelAll(): void {
    this.#held.clear();
    for (const task of this.#tasks.slice(0, this.#count)) task?.cancel("the client disconnected");
  }
}

/** A socket's `resume` while its connection holds requests (see `ConnectionRequests`). */
function keepPaused(this: Socket): Socket {
  return this;
}

/**
 * Makes `res` end its connection (`Connection: close`) if, when its head is
 * written, no pipelined request waits behind it: Node 20 keeps a busy
 * connection alive after `server.close()` until the close's sweep. Only for
 * a closing server, so the usual path pays nothing.
 */
function closeWhenLast(res: ServerResponse, requests: ConnectionRequests): void {
  const writeHead = res.writeHead;
  res.writeHead = function (this: ServerResponse, ...args: unknown[]) {
    if (requests.isLast(this)) this.shouldKeepAlive = false;
    return (writeHead as (...a: unknown[]) => ServerResponse).apply(this, args);
  } as typeof res.writeHead;
}

/**
 * `server.closeIdleConnections()` but keeping the connections for which `busy`
 * is true. Node's own list of idle connections is internal; without it, fall
 * back to Node's method.
 */
function closeIdle(server: Server, nodeCloseIdle: () => void, busy: (socket: Socket) => boolean): void {
  const symbol = Object.getOwnPropertySymbols(server).find((key) => key.description === "http.server.connections");
  const list = symbol === undefined ? undefined : (server as unknown as Record<symbol, { idle?: () => { socket: Socket }[] } | undefined>)[symbol];
  if (typeof list?.idle !== "function") {
    nodeCloseIdle.call(server);
    return;
  }
  for (const { socket } of list.idle()) {
    const message = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
    if ((message && !message.finished) || busy(socket)) continue;
    socket.destroy();
  }
}
