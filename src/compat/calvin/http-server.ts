/**
 * Calvin's `HTTPServer`: the `http` mode of `TCPServer`, with the routing
 * the original did for the actor (accept, read, call back with a handle).
 * @module
 */
import { randomUUID } from "node:crypto";
import type { Operation } from "../../index.ts";
import type { Address } from "./_address.ts";
import { invoke } from "./_callbacks.ts";
import { ownerTask } from "./_trigger.ts";
import { type ServerConnection, TCPServer } from "./tcp-server.ts";

/**
 * Called once per request with its handle (for `sendResponse`), request
 * line, headers (lower-cased names; repeated ones combined as Node does,
 * `set-cookie` as an array) and data.
 */
export type HTTPRequestCallback = (handle: string, command: string, headers: Record<string, string | string[]>, data: Uint8Array | null) => void;

/** Options of an `HTTPServer` (the original's keyword arguments, in camelCase). */
export interface HTTPServerOptions {
  /** The node whose certificate serves TLS (the original `node_name`); needs `tls`. */
  nodeName?: string;
  /** Serve TLS with the certificate of `nodeName`. @default false */
  tls?: boolean;
  /** Where node certificates are. @default "~/.calvin/security" */
  securityDir?: string;
  /** The largest request body; a larger one closes the connection. @default 1048576 */
  maxBodySize?: number;
}

/**
 * Calvin's `HTTPServer(callback, host, port, node_name)`: an HTTP server
 * whose requests go to `callback(handle, command, headers, data)`, and whose
 * answers the caller writes whole with `sendResponse(handle, header,
 * data)`. Native corio: `serveHttp(handler)` (`corio/net`), where each
 * request is a task with a parsed `HttpRequest` and an `HttpResponse`.
 *
 * `data` is an empty array for a GET, the body's bytes, or `null` for
 * another method without a body. The callback is called from the loop
 * (never from inside a method); an error it throws is reported to the
 * loop's `onError` and the server goes on. Every pending connection is
 * served on each wake-up (the original served one, so a request could wait
 * for an unrelated event).
 *
 * It must be created inside a corio task, which owns it: when that task
 * finishes, the server closes; `stop()` closes it earlier.
 *
 * @example
 * ```ts
 * import { run, until } from "corio";
 * import { HTTPServer } from "corio/compat/calvin";
 * await run(function* () {
 *   const server = new HTTPServer((handle, command, headers, data) => {
 *     const body = `${command} ${headers["content-type"]} ${new TextDecoder().decode(data ?? new Uint8Array())}`;
 *     server.sendResponse(handle, `HTTP/1.0 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`, body);
 *   }, "127.0.0.1", 0);
 *   server.start();
 *   const { port } = yield* server.ready();
 *   const reply = yield* until(fetch(`http://127.0.0.1:${port}/node`, { method: "POST", body: "{}", headers: { "Content-Type": "application/json" } }).then((r) => r.text()));
 *   console.assert(reply === "POST /node HTTP/1.1 application/json {}");
 *   server.stop();
 * });
 * ```
 */
export class HTTPServer {
  readonly #callback: HTTPRequestCallback;
  readonly #host: string;
  readonly #port: number;
  readonly #server: TCPServer<"http">;
  readonly #handles = new Map<string, ServerConnection<"http">>();

  /**
   * @param callback Called once per request.
   * @param host The interface to listen on (`"127.0.0.1"`, `"0.0.0.0"`...).
   * @param port The port; 0 picks a free one.
   * @param options `nodeName`, `tls`, `securityDir`, `maxBodySize`.
   * @throws {Error} outside a corio task.
   */
  constructor(callback: HTTPRequestCallback, host: string, port: number, options: HTTPServerOptions = {}) {
    if (typeof callback !== "function") throw new TypeError(`Cannot create an HTTPServer: callback must be a function, received ${typeof callback}`);
    void ownerTask("HTTPServer"); // throws outside a task, naming this class
    this.#callback = callback;
    this.#host = host;
    this.#port = port;
    this.#server = new TCPServer(() => this.#route(), { ...options, mode: "http" });
  }

  /** The address it listens on, once listening. */
  get address(): Address | undefined {
    return this.#server.address;
  }

  /** Starts listening. @throws {Error} if already started, or (with `tls`) the node's certificate is missing. */
  start(): void {
    this.#server.start(this.#host, this.#port);
  }

  /**
   * Waits until the server listens and gives its address.
   *
   * **Cancellation:** only the wait stops.
   *
   * @throws {Error} with the OS `code` if it could not listen.
   */
  *ready(): Operation<Address> {
    return yield* this.#server.ready();
  }

  /**
   * Answers the request of `handle`: writes `header` (the status line and
   * headers, formatted by the caller), then `data` if any, then closes the
   * connection (unless `closeConnection` is false: the next request on it
   * comes with the same handle). Returns `false` if the client has gone
   * or the handle is unknown (the original raised for an unknown handle).
   */
  sendResponse(handle: string, header: string | Uint8Array, data?: string | Uint8Array | null, closeConnection = true): boolean {
    // Checked before anything is written or the handle forgotten: a bad call leaves the handle usable.
    if (!isText(header) || !(data === undefined || data === null || isText(data))) {
      throw new TypeError(`Cannot send a response: header and data must be strings or Uint8Arrays, received ${typeof header} and ${typeof data}`);
    }
    const connection = this.#handles.get(handle);
    if (connection === undefined) return false;
    if (closeConnection) this.#handles.delete(handle);
    if (connection.connectionLost) {
      this.#handles.delete(handle);
      return false;
    }
    const sent = connection.send(header) && (data === undefined || data === null || data.length === 0 || connection.send(data));
    if (closeConnection) connection.close();
    return sent;
  }

  /** Stops listening and closes every connection. Idempotent. */
  stop(): void {
    this.#server.stop();
  }

  /** On each wake-up: take every new connection, and hand every complete request to the callback. */
  #route(): void {
    while (this.#server.pendingConnections.length > 0) this.#handles.set(randomUUID(), this.#server.accept()[1]);
    for (const [handle, connection] of [...this.#handles]) {
      if (connection.dataAvailable) {
        const [command, headers, data] = connection.dataGet();
        invoke(this.#callback, [handle, command, headers, data]);
      } else if (connection.connectionLost) this.#handles.delete(handle);
    }
  }
}

/** A string or bytes: what a response's header and data may be. */
function isText(value: unknown): boolean {
  return typeof value === "string" || value instanceof Uint8Array;
}
