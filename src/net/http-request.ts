/**
 * The request side of an HTTP exchange.
 * @module
 */
import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import { Fifo } from "../core/_fifo.ts";
import { BrokenResourceError } from "../core/errors.ts";
import type { Operation } from "../core/operation.ts";
import { requireCurrentTask } from "../core/spawn.ts";
import { ExternalPark } from "./_external-park.ts";

/**
 * An HTTP error a handler can throw to answer with that status (the server
 * answers 413 for a body over the limit this way).
 *
 * @example
 * ```ts
 * import { HttpError } from "corio/net";
 * const error = new HttpError(404, "No such chat room");
 * console.assert(error.status === 404);
 * ```
 */
export class HttpError extends Error {
  override name = "HttpError";
  /** The status code to answer with. */
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/**
 * An incoming request: method, URL, headers, and a body read with a size
 * limit (`bytes`, `text`, `json`, or chunk by chunk with `read`). Reading
 * pauses the socket when nothing is consumed, so a large upload never piles
 * up in memory.
 *
 * @example
 * ```ts ignore
 * function* handler(request, response) {
 *   const message = yield* request.json();
 *   yield* response.json({ echo: message, path: request.path });
 * }
 * ```
 */
export class HttpRequest {
  /** The underlying Node request, for what this class does not cover. */
  readonly raw: IncomingMessage;
  /** `GET`, `POST`, ... */
  readonly method: string;
  /** The request target as sent (`/chat?room=1`). */
  readonly url: string;
  /** The path part of the URL, decoded. */
  readonly path: string;
  /** The query string's parameters. */
  readonly query: URLSearchParams;
  /** The body size limit in bytes. */
  readonly maxBodySize: number;
  readonly #chunks = new Fifo<Uint8Array>();
  #received = 0;
  #ended = false;
  #failure: Error | null = null;
  #reader: ExternalPark<void> | null = null;

  /** @internal */
  constructor(raw: IncomingMessage, maxBodySize: number) {
    this.raw = raw;
    this.method = raw.method ?? "GET";
    this.url = raw.url ?? "/";
    const parsed = new URL(this.url, "http://localhost");
    this.path = decodeURIComponent(parsed.pathname);
    this.query = parsed.searchParams;
    this.maxBodySize = maxBodySize;
    raw.pause();
    raw.on("data", (chunk: Uint8Array) => {
      this.#received += chunk.length;
      if (this.#received > maxBodySize) {
        this.#fail(new HttpError(413, `Cannot read the request body: it is over the limit of ${maxBodySize} bytes`));
        raw.pause();
        return;
      }
      this.#chunks.push(chunk);
      raw.pause();
      this.#wake();
    });
    raw.on("end", () => {
      this.#ended = true;
      this.#wake();
    });
    raw.on("aborted", () => this.#fail(new BrokenResourceError("Cannot read the request body: the client closed the connection")));
    raw.on("error", (error) => this.#fail(new BrokenResourceError(`Cannot read the request body: ${error.message}`, { cause: error })));
  }

  /** The request headers, names in lower case. */
  get headers(): IncomingHttpHeaders {
    return this.raw.headers;
  }

  /** The client's address. */
  get remoteAddress(): string | undefined {
    return this.raw.socket.remoteAddress;
  }

  /**
   * The next chunk of the body, or `undefined` at its end.
   *
   * **Cancellation:** nothing is lost; the chunk stays for the next read.
   *
   * @throws {HttpError} 413 when the body is over `maxBodySize`.
   * @throws {BrokenResourceError} if the client went away mid-body.
   */
  *read(): Operation<Uint8Array | undefined> {
    for (;;) {
      const chunk = this.#chunks.shift();
      if (chunk !== undefined) return chunk;
      if (this.#failure !== null) throw this.#failure;
      if (this.#ended) return undefined;
      const park = new ExternalPark<void>(requireCurrentTask("read a request body"), "io", () => {
        this.#reader = null;
      });
      this.#reader = park;
      this.raw.resume();
      yield park;
    }
  }

  /** The whole body as bytes. **Cancellation:** as for `read`. @throws {HttpError} 413 over the limit. */
  *bytes(): Operation<Uint8Array> {
    const declared = Number(this.raw.headers["content-length"] ?? Number.NaN);
    if (declared > this.maxBodySize)
      throw new HttpError(413, `Cannot read the request body: its ${declared} bytes are over the limit of ${this.maxBodySize} bytes`);
    const parts: Uint8Array[] = [];
    let size = 0;
    for (let chunk = yield* this.read(); chunk !== undefined; chunk = yield* this.read()) {
      parts.push(chunk);
      size += chunk.length;
    }
    const body = new Uint8Array(size);
    let offset = 0;
    for (const part of parts) {
      body.set(part, offset);
      offset += part.length;
    }
    return body;
  }

  /** The whole body decoded as UTF-8. **Cancellation:** as for `read`. */
  *text(): Operation<string> {
    return new TextDecoder().decode(yield* this.bytes());
  }

  /** The whole body parsed as JSON. **Cancellation:** as for `read`. @throws {HttpError} 400 for invalid JSON. */
  *json(): Operation<unknown> {
    const text = yield* this.text();
    try {
      return JSON.parse(text);
    } catch (error) {
      throw new HttpError(400, `Cannot parse the request body as JSON: ${(error as Error).message}`);
    }
  }

  #wake(): void {
    const reader = this.#reader;
    this.#reader = null;
    reader?.resolve();
  }

  #fail(error: Error): void {
    if (this.#failure === null && !this.#ended) this.#failure = error;
    this.#wake();
  }
}
