/**
 * The request side of an HTTP exchange.
 * @module
 */

import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import { defineOperationMethods } from "../core/_dev.ts";
import { BrokenResourceError } from "../core/errors.ts";
import type { Operation } from "../core/operation.ts";
import { StreamReader } from "../streams/stream-reader.ts";
import type { ReadTransport } from "../streams/transport.ts";
import { bodyOverLimitMessage, refuseBody } from "./_body-limit.ts";
import { parseRequestTarget, type RequestTarget } from "./_request-target.ts";

/** @internal The key of `HttpRequest`'s method that discards what is left of a body once the request's task has ended (see `serveHttp`). */
export const DISCARD_REST = Symbol("corio.httpRequest.discardRest");

/**
 * An HTTP error a handler can throw to answer with that status (the server
 * answers 413 for a body over the limit this way). The status is an error
 * status, 400 to 599: anything else (a `NaN` from `Number(input)`, a 1xx, a
 * 304) would not be an answer the client could read as the request's end.
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
  /**
   * @param status The status to answer with, an integer from 400 to 599.
   * @param message The answer's body (text), and the error's message.
   * @throws {RangeError} for a status that is not an integer from 400 to 599.
   */
  constructor(status: number, message: string) {
    if (!Number.isInteger(status) || status < 400 || status > 599) {
      throw new RangeError(`Cannot make an HttpError: its status must be an integer from 400 to 599, received ${String(status)}`);
    }
    super(message);
    this.status = status;
  }
}

/** Feeds a request body into a StreamReader, with a size limit and backpressure. */
class BodyTransport implements ReadTransport {
  readonly external = true;
  readonly #raw: IncomingMessage;
  constructor(raw: IncomingMessage) {
    this.#raw = raw;
  }
  pauseReading(): void {
    this.#raw.pause();
  }
  resumeReading(): void {
    this.#raw.resume();
  }
}

/**
 * An incoming request: method, URL, headers, and its body as a
 * `StreamReader` (`request.body`) with a size limit, plus `bytes`, `text`
 * and `json` helpers. The socket is paused while the body reader's buffer
 * is full, so a large upload never piles up in memory; a body over
 * `maxBodySize` makes reads throw `HttpError` 413 (and the server answers 413).
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
  /** The body size limit in bytes. */
  readonly maxBodySize: number;
  /** The response, for a refused body (`refuseBody`); without one, a refusal only pauses the request. */
  readonly #res: ServerResponse | undefined;
  /** The body reader, made on first use: a request whose body is never read costs no reader and no listeners. */
  #body: StreamReader | undefined;
  #failed = false;
  /** Set once the request's task has ended with the body part-read: what still comes is counted against the limit and dropped. */
  #discarding = false;
  /** The parsed target, or the 400 it gives; parsed on first use (most handlers of a hot path never need it). */
  #target: RequestTarget | HttpError | undefined;

  /** @internal A refused body stops being read, and the connection of `res` closes after the response. */
  constructor(raw: IncomingMessage, maxBodySize: number, res?: ServerResponse) {
    this.raw = raw;
    this.method = raw.method ?? "GET";
    this.url = raw.url ?? "/";
    this.maxBodySize = maxBodySize;
    this.#res = res;
  }

  /**
   * The body, as a stream. Until it is first used, Node holds the body back
   * (the socket is paused once its buffer is full); a body never read is
   * discarded by Node after the response. A body read in part is discarded
   * once the request's task has ended, so the next request on the
   * connection is read: up to `maxBodySize` in all, past which the
   * connection closes after the response (as for a body over the limit).
   * A task that reads on after that gets what was buffered, then a
   * `BrokenResourceError`, never an end of body that would pass the part
   * read off as whole.
   */
  get body(): StreamReader {
    return this.#body ?? this.#openBody();
  }

  /** A reader with nothing feeding it yet. */
  #newReader(): StreamReader {
    const body = new StreamReader({ limit: Math.max(16 * 1024, Math.min(this.maxBodySize, 256 * 1024)) });
    body.setTransport(new BodyTransport(this.raw));
    this.#body = body;
    return body;
  }

  /** Makes the reader and starts feeding it (the request flows from here). */
  #openBody(): StreamReader {
    const raw = this.raw;
    const maxBodySize = this.maxBodySize;
    const body = this.#newReader();
    // What happened before the first use: the events are gone, the request's state tells.
    if (raw.aborted || (raw.destroyed && !raw.complete)) {
      this.#failed = true;
      body.setException(new BrokenResourceError("Cannot read the request body: the client closed the connection"));
      return body;
    }
    if (raw.errored) {
      this.#failed = true;
      const error = raw.errored;
      body.setException(new BrokenResourceError(`Cannot read the request body: ${error.message}`, { cause: error }));
      return body;
    }
    if (raw.readableEnded) {
      body.feedEof();
      return body;
    }
    let received = 0;
    raw.on("data", (chunk: Uint8Array) => {
      if (this.#failed) return;
      received += chunk.length;
      if (received > maxBodySize) this.#refuse(new HttpError(413, `Cannot read the request body: it is over the limit of ${maxBodySize} bytes`));
      else if (!this.#discarding) body.feed(chunk);
    });
    raw.on("end", () => {
      if (!this.#failed && !this.#discarding) body.feedEof();
    });
    raw.on("aborted", () => {
      this.#failed = true;
      body.setException(new BrokenResourceError("Cannot read the request body: the client closed the connection"));
    });
    raw.on("error", (error) => {
      this.#failed = true;
      body.setException(new BrokenResourceError(`Cannot read the request body: ${error.message}`, { cause: error }));
    });
    return body;
  }

  /**
   * @internal The request's task has ended (its handler and the tasks it
   * started): the rest of a body it opened but did not read to the end is
   * read and dropped, so the connection's next request can be parsed. The
   * body reader paused the request when its buffer filled, and Node discards
   * only a body nobody listened to: without this, the next request waited
   * for `requestTimeout` and got a 408. Past `maxBodySize` in all, the body
   * is refused as a read would have refused it: the connection closes after
   * the response (a lingering close).
   */
  [DISCARD_REST](): void {
    const raw = this.raw;
    if (this.#body === undefined || this.#failed || this.#discarding || raw.complete || raw.destroyed) return;
    this.#discarding = true;
    // A reader that goes on (a task outside the request's) must not take the dropped rest for the body's end.
    this.#body.setException(new BrokenResourceError("Cannot read the request body: its request's task has ended, and the rest of the body was discarded"));
    raw.resume();
  }

  /** Gives up on the body: reads throw `error`, and the rest of the body is never read. */
  #refuse(error: HttpError): HttpError {
    if (!this.#failed) {
      this.#failed = true;
      (this.#body ?? this.#newReader()).setException(error);
      if (this.#res === undefined) this.raw.pause();
      else refuseBody(this.raw, this.#res);
    }
    return error;
  }

  /**
   * The path part of the URL, percent-decoded, with `.` and `..` segments
   * resolved (`/a/../b%20c` gives `/b c`), also those an escaped slash makes
   * (`/static/..%2f..%2fetc` gives `/etc`): it never climbs above `/`, so
   * joining it to a directory stays inside it. A `\` in the target is read as `/`, as
   * browsers do; an escaped one (`%5C`) is a character of a segment, not a separator.
   *
   * @throws {HttpError} 400 for a target that is not a valid URL, whose
   * escapes are not UTF-8 (`/%ZZ`) or that holds a NUL (`%00`): thrown out
   * of a handler, the client gets 400.
   */
  get path(): string {
    return this.#parseTarget().path;
  }

  /** The query string's parameters. @throws {HttpError} 400 as for `path`. */
  get query(): URLSearchParams {
    const target = this.#parseTarget();
    if (typeof target.query === "string") target.query = new URLSearchParams(target.query);
    return target.query;
  }

  /** Parses the target once; anything a client sends gives a value or a 400, never another exception. */
  #parseTarget(): RequestTarget {
    let target = this.#target;
    if (target === undefined) {
      const parsed = parseRequestTarget(this.url);
      target = typeof parsed === "string" ? new HttpError(400, parsed) : parsed;
      this.#target = target;
    }
    if (target instanceof HttpError) throw target;
    return target;
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
   * The next chunk of the body (at most 64 KiB), or `undefined` at its end.
   *
   * **Cancellation:** nothing is lost; the bytes stay buffered.
   *
   * @throws {HttpError} 413 when the body is over `maxBodySize`.
   * @throws {BrokenResourceError} if the client went away mid-body.
   */
  *read(): Operation<Uint8Array | undefined> {
    const chunk = yield* this.body.read(64 * 1024);
    return chunk.length === 0 ? undefined : chunk;
  }

  /** The whole body as bytes. **Cancellation:** as for `read`. @throws {HttpError} 413 over the limit. */
  *bytes(): Operation<Uint8Array> {
    const declared = Number(this.raw.headers["content-length"] ?? Number.NaN);
    if (declared > this.maxBodySize) throw this.#refuse(new HttpError(413, bodyOverLimitMessage(declared, this.maxBodySize)));
    return yield* this.body.read();
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
}
defineOperationMethods(HttpRequest);
