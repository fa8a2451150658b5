/**
 * `serveHttp`: an HTTP/1.1 server on Node's own `http` parser, where each
 * request runs as a corio task.
 * @module
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { ExternalPark } from "../core/_external-park.ts";
import { isCancellation } from "../core/errors.ts";
import { Future } from "../core/future.ts";
import type { Operation } from "../core/operation.ts";
import { createTask, requireCurrentTask } from "../core/spawn.ts";
import type { Task, TaskImpl } from "../core/task.ts";
import { sleep } from "../time/sleep.ts";
import { continueWithinLimit, refuseBody } from "./_body-limit.ts";
import { HttpError, HttpRequest } from "./http-request.ts";
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
}

const DEFAULT_LIMITS: Required<HttpLimits> = {
  maxHeaderSize: 16 * 1024,
  maxBodySize: 1024 * 1024,
  headersTimeout: 10_000,
  requestTimeout: 30_000,
  idleTimeout: 5_000,
};

/**
 * A running HTTP server. It belongs to the task that started it: when that
 * task finishes, the server closes (with the default grace).
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
  readonly #server: Server;
  readonly #task: TaskImpl<void>;
  readonly #closeRequested: Future<number>;
  readonly #secure: boolean;

  /** @internal */
  constructor(server: Server, task: TaskImpl<void>, closeRequested: Future<number>, secure: boolean) {
    this.#server = server;
    this.#task = task;
    this.#closeRequested = closeRequested;
    this.#secure = secure;
  }

  /** The address the server listens on. */
  get address(): AddressInfo {
    return this.#server.address() as AddressInfo;
  }

  /** `http://host:port` (or `https://`), ready for a client. */
  get url(): string {
    const { address, family, port } = this.address;
    const host = family === "IPv6" ? `[${address}]` : address;
    return `${this.#secure ? "https" : "http"}://${host}:${port}`;
  }

  /** Requests being handled right now. */
  get activeRequests(): number {
    return this.#task.children.length;
  }

  /**
   * Stops accepting connections and lets in-flight requests finish for up
   * to `grace` ms; then they are cancelled (their `finally` blocks run) and
   * the connections closed. Returns at once; `waitClosed()` waits for the end.
   */
  close(grace = 5000): void {
    this.#closeRequested.resolve(grace);
  }

  /**
   * Waits until the server has closed and every request task has finished.
   *
   * **Cancellation:** stops waiting; the server is unaffected.
   */
  *waitClosed(): Operation<void> {
    if (this.#task.done) return;
    try {
      yield* this.#task as Task<void>;
    } catch (error) {
      // The server task ends cancelled when it is closed: that is not an error. A cancellation of the caller is.
      if (!isCancellation(error) || error !== this.#task.error) throw error;
    }
  }

  /**
   * Serves until the server is closed (asyncio's `serve_forever`).
   *
   * **Cancellation:** closes the server (with the default grace) and waits for it.
   */
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
 * Starts an HTTP (or HTTPS) server on Node's `http` parser. Each request runs
 * `handler(request, response)` as a task of the server's scope; if the
 * client disconnects before the response is complete, that task is
 * cancelled. A handler that throws gets a 500 answer (or the status of an
 * `HttpError`), and the error is reported to the loop's `onError`; the
 * server goes on. Limits (`limits`) have safe defaults: a head over
 * `maxHeaderSize` gets 431, a body over `maxBodySize` 413, a slow request 408.
 *
 * **Cancellation:** the task that called `serveHttp` owns the server; when
 * it finishes, the server closes.
 *
 * @param handler Runs once per request.
 * @param options `host`, `port`, `tls`, `limits`.
 * @returns The running server.
 * @throws {Error} with the OS `code` (`EADDRINUSE`, ...) if it cannot listen.
 * @example
 * ```ts
 * import { run, until } from "corio";
 * import { serveHttp } from "corio/net";
 * await run(function* () {
 *   const server = yield* serveHttp(function* (request, response) {
 *     yield* response.json({ method: request.method });
 *   });
 *   const body = yield* until(fetch(server.url).then((r) => r.json()));
 *   console.assert(body.method === "GET");
 *   server.close();
 * });
 * ```
 */
export function* serveHttp(handler: HttpHandler, options: ServeHttpOptions = {}): Operation<HttpServer> {
  if (typeof handler !== "function") throw new TypeError(`Cannot serve HTTP: the handler must be a function, received ${typeof handler}`);
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  const owner = requireCurrentTask("serve HTTP");
  const serverOptions = {
    maxHeaderSize: limits.maxHeaderSize,
    headersTimeout: limits.headersTimeout,
    requestTimeout: limits.requestTimeout,
    keepAliveTimeout: limits.idleTimeout,
    connectionsCheckingInterval: Math.min(1000, limits.headersTimeout),
  };
  const server: Server = options.tls ? createHttpsServer({ ...serverOptions, ...options.tls }) : createHttpServer(serverOptions);
  const closeRequested = new Future<number>();
  const closed = new Future<void>();
  server.once("close", () => closed.resolve());
  let inFlight = 0;
  let allDone: Future<void> | null = null;

  const serverTask = createTask<void>(
    owner.loop,
    owner,
    function* httpServer() {
      let grace = 5000;
      try {
        grace = yield* closeRequested;
      } finally {
        server.close();
        server.closeIdleConnections();
        if (inFlight > 0) {
          // Let in-flight requests finish for up to `grace` ms, then cancel them.
          allDone = new Future<void>();
          const done = allDone;
          const deadline = yield* createTaskOp(function* () {
            yield* sleep(grace);
            for (const child of serverTask.children) if (child.name !== "grace") child.cancel("the HTTP server closed");
          });
          yield* done;
          deadline.cancel();
        }
        server.closeAllConnections();
        if (server.listening || !closed.done) yield* waitForClose(server, closed);
      }
    },
    { name: `http server`, daemon: true },
    0,
    "serve HTTP",
  ) as TaskImpl<void>;

  // Declared once per server, not per request: on Node 20 the first call of each new
  // generator function is slow and its objects were promoted, making the collector the main cost.
  function* httpRequest(request: HttpRequest, response: HttpResponse, res: ServerResponse): Operation<void> {
    try {
      yield* handler(request, response);
      if (!response.finished && !res.destroyed) yield* response.end();
    } catch (error) {
      if (isCancellation(error)) throw error;
      if (!(error instanceof HttpError) || error.status >= 500) {
        owner.loop.report(error, { kind: "task", path: `${serverTask.path}/${request.method} ${request.path}` });
      }
      if (!res.headersSent && !res.destroyed) {
        const status = error instanceof HttpError ? error.status : 500;
        const message = error instanceof HttpError ? error.message : "Internal Server Error";
        if (status === 413) refuseBody(request.raw, res);
        yield* response.send(status, message);
      } else res.destroy();
    } finally {
      inFlight--;
      if (inFlight === 0 && allDone !== null) allDone.resolve();
    }
  }

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    inFlight++;
    const request = new HttpRequest(req, limits.maxBodySize, () => refuseBody(req, res));
    const response = new HttpResponse(res);
    const task = createTask(
      owner.loop,
      serverTask as TaskImpl<unknown>,
      httpRequest(request, response, res),
      { name: `${request.method} ${request.path}` },
      0,
      "serve HTTP",
    );
    res.on("close", () => {
      if (!res.writableFinished) task.cancel("the client disconnected");
    });
  };
  server.on("request", onRequest);
  // `Expect: 100-continue` with a declared body over the limit: 413 before the client sends it.
  server.on("checkContinue", continueWithinLimit(limits.maxBodySize, onRequest));
  server.on("clientError", (error: NodeJS.ErrnoException, socket) => {
    // Node answers 431 / 408 / 400 itself when it can; make sure the socket goes.
    if (!socket.destroyed && !socket.writableEnded) {
      const status = error.code === "HPE_HEADER_OVERFLOW" ? 431 : error.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : 400;
      socket.end(
        `HTTP/1.1 ${status} ${status === 431 ? "Request Header Fields Too Large" : status === 408 ? "Request Timeout" : "Bad Request"}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`,
      );
    }
  });

  const listening = new ExternalPark<void>(owner, "io");
  const onError = (error: NodeJS.ErrnoException): void => {
    listening.reject(
      Object.assign(new Error(`Cannot serve HTTP on ${options.host ?? "127.0.0.1"}:${options.port ?? 0}: ${error.message}`, { cause: error }), {
        code: error.code,
      }),
    );
  };
  server.once("error", onError);
  server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => listening.resolve());
  try {
    yield listening;
  } catch (error) {
    closeRequested.resolve(0);
    throw error;
  } finally {
    server.off("error", onError);
  }
  return new HttpServer(server, serverTask, closeRequested, options.tls !== undefined);
}

/** Spawns a helper child of the current task (used for the grace timer). */
function* createTaskOp(op: () => Operation<void>): Operation<Task<void>> {
  const task = requireCurrentTask("serve HTTP");
  return createTask(task.loop, task, op, { name: "grace" }, 0, "serve HTTP");
}

/** Waits for the server's 'close' event (every connection gone); counts as I/O for the virtual clock. */
function* waitForClose(server: Server, closed: Future<void>): Operation<void> {
  if (closed.done) return;
  const park = new ExternalPark<void>(requireCurrentTask("close the HTTP server"), "io");
  server.once("close", () => park.resolve());
  yield park;
}
