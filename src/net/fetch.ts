/**
 * An HTTP client operation over the host's `fetch`, cancellable, with the
 * body as a `StreamReader`.
 * @module
 */
import { defineOperation } from "../core/_dev.ts";
import { adoptResource } from "../core/_resource.ts";
import { until } from "../core/call.ts";
import { isCancellation } from "../core/errors.ts";
import type { Operation } from "../core/operation.ts";
import { joinBytes } from "../streams/_join-bytes.ts";
import { checkReaderLimit, StreamReader } from "../streams/stream-reader.ts";
import { readerFromWebStream, type WebByteReadable } from "../streams/web-streams.ts";

/** Options of `fetch`: those of the standard `fetch`, the body reader's `limit`, and `maxBodySize`. */
export interface FetchOptions extends Omit<RequestInit, "signal"> {
  /** Aborts the request and its body; `undefined` is none given, so a `Request`'s own signal still counts (`null`: none at all). */
  signal?: AbortSignal | null | undefined;
  /** The body reader's `limit` (see `StreamReader`): the longest line `readLine` takes. @default 65536 */
  limit?: number;
  /**
   * The largest body `bytes()`, `text()` and `json()` read whole, in bytes;
   * a longer one aborts the request and throws a `RangeError`, so a peer
   * cannot fill memory. Read `response.body` in pieces for more.
   * @default 67108864 (64 MiB)
   */
  maxBodySize?: number;
}

/** `maxBodySize` unless given: 64 MiB. */
const DEFAULT_MAX_BODY_SIZE = 64 * 1024 * 1024;
/** How much `bytes()` asks the body reader for at a time. */
const WHOLE_BODY_CHUNK = 1024 * 1024;

/** A response whose body is read in operations. */
export interface FetchResponse {
  /** The status code. */
  readonly status: number;
  /** The status text. */
  readonly statusText: string;
  /** True for a 2xx status. */
  readonly ok: boolean;
  /** The response headers. */
  readonly headers: Headers;
  /** The final URL (after redirects). */
  readonly url: string;
  /**
   * The body, read as it arrives (a slow reader slows the download). Ends
   * (EOF) with the body; reads throw `BrokenResourceError` if the
   * connection breaks or the request is aborted, once they have given the
   * bytes that had already arrived (at most twice `limit`; the standard's
   * body stream drops those at an abort).
   */
  readonly body: StreamReader;
  /**
   * True once `bytes()`, `text()` or `json()` has been called (even if its operation has not run yet): a second one throws a `TypeError`, as the
   * standard's does. (Reads from `body` do not set it: `text()` after them gives the rest.)
   */
  readonly bodyUsed: boolean;
  /**
   * The whole body as bytes (what is left of it, after reads from `body`). **Cancellation:** aborts the request.
   * @throws {RangeError} for a body over `maxBodySize`.
   * @throws {TypeError} once `bytes()`, `text()` or `json()` has read the body.
   */
  bytes(): Operation<Uint8Array>;
  /**
   * The whole body as UTF-8 text (what is left of it, after reads from `body`). **Cancellation:** aborts the request.
   * @throws {RangeError} for a body over `maxBodySize`.
   * @throws {TypeError} once `bytes()`, `text()` or `json()` has read the body.
   */
  text(): Operation<string>;
  /**
   * The whole body parsed as JSON.
   * @throws {SyntaxError} for a body that is not JSON.
   * @throws {RangeError} for a body over `maxBodySize`.
   * @throws {TypeError} once `bytes()`, `text()` or `json()` has read the body.
   */
  json<T = unknown>(): Operation<T>;
  /** Aborts the request: the rest of the body is not downloaded. Idempotent. */
  abort(): void;
}

/**
 * Makes an HTTP request with the host's `fetch` (Node 18+) and gives the
 * response once its head has arrived; the body is a `StreamReader` read as
 * it arrives. The request belongs to the calling task: cancelling the task,
 * or its end, aborts the request (the connection is closed, even in the
 * middle of the body), and so does `response.abort()`. A `timeout` or
 * `scope` that returns the response hands the request on to its caller;
 * one that returns only `response.body` aborts it as it ends (the reads
 * then throw `BrokenResourceError`). A signal of your
 * own aborts it too: `init.signal`, or else the `Request`'s own signal (as
 * in the standard `fetch`, an `init.signal` takes its place).
 *
 * **Cancellation:** aborts the request (whether the head or the body was
 * awaited) and throws `CancelledError`.
 *
 * @param input A URL or a `Request`.
 * @param init The standard `fetch` options, `limit` for the body reader and `maxBodySize` for `bytes()`, `text()` and `json()`.
 * @returns The response, with its body as a `StreamReader`.
 * @throws {TypeError} as `fetch` does, for a network failure (the cause in `cause`).
 * @throws {RangeError} for a `limit` that is not a positive integer or a negative `maxBodySize`, before the request is sent.
 * @example
 * ```ts
 * import { createServer } from "node:http";
 * import { run } from "corio";
 * import { fetch } from "corio/net";
 * const server = createServer((_req, res) => res.end("hello from http")).listen(0, "127.0.0.1");
 * await new Promise((resolve) => server.once("listening", resolve));
 * const { port } = server.address() as { port: number };
 * const text = await run(function* () {
 *   const response = yield* fetch(`http://127.0.0.1:${port}/`);
 *   return response.status === 200 ? yield* response.text() : "";
 * });
 * server.close();
 * server.closeAllConnections();
 * console.assert(text === "hello from http");
 * ```
 */
export const fetch = defineOperation(function* fetch(input: string | URL | Request, init: FetchOptions = {}): Operation<FetchResponse> {
  const { limit, maxBodySize = DEFAULT_MAX_BODY_SIZE, signal: initSignal, ...rest } = init;
  // The request is made with corio's own signal, which replaces the caller's: that one is followed
  // instead. As in the standard fetch, `init.signal` (even null; undefined counts as absent, as WebIDL
  // reads a dictionary) takes the place of a Request's own.
  const userSignal = initSignal !== undefined ? initSignal : input instanceof Request ? input.signal : undefined;
  if (!(typeof maxBodySize === "number" && maxBodySize >= 0))
    throw new RangeError(`Cannot fetch: maxBodySize must be a non-negative number of bytes, received ${String(maxBodySize)}`);
  // Checked before the request is sent: the body's reader is made once the response has come.
  if (limit !== undefined) checkReaderLimit(limit, "fetch");
  const controller = new AbortController();
  const abort = (reason?: unknown): void => {
    if (!controller.signal.aborted) controller.abort(reason);
  };
  // Aborted, the request is over, as after `response.abort()`: released at once, not at the task's end
  // (a body waiting for its reader has no read in flight whose failure would release it).
  const onUserAbort = (): void => {
    abort(userSignal?.reason);
    release();
  };
  if (userSignal?.aborted) abort(userSignal.reason);
  else userSignal?.addEventListener("abort", onUserAbort, { once: true });
  const keeper = adoptResource(
    `fetch ${String(input instanceof Request ? input.url : input)}`,
    () => {
      abort("the task that made the request ended");
      userSignal?.removeEventListener("abort", onUserAbort);
    },
    "fetch",
  );
  // Once the body has ended, nothing is left to abort: a long-lived signal must not keep a listener per request.
  const release = (): void => {
    userSignal?.removeEventListener("abort", onUserAbort);
    keeper.release();
  };
  let response: Response;
  try {
    response = yield* until(globalThis.fetch(input, { ...rest, signal: controller.signal }));
  } catch (error) {
    abort(error);
    release();
    throw error;
  }
  const readerOptions = { ...(limit !== undefined && { limit }), signal: controller.signal };
  let body: StreamReader;
  if (response.body === null) {
    body = new StreamReader(limit === undefined ? {} : { limit });
    body.feedEof();
    release();
  } else body = readerFromWebStream(releasedAtEnd(response.body as ReadableStream<Uint8Array>, release), readerOptions);

  const request: BodyRequest = { abort, release, maxBodySize, used: false };
  return keeper.returnedAs({
    status: response.status,
    statusText: response.statusText,
    ok: response.ok,
    headers: response.headers,
    url: response.url,
    body,
    get bodyUsed() {
      return request.used;
    },
    bytes: () => readAll(body, consume(request)),
    text: () => readText(body, consume(request)),
    json: <T>() => readJson(body, consume(request)) as Operation<T>,
    abort() {
      abort("response.abort() was called");
      release();
    },
  });
});

/** `stream`, calling `release` once it has ended or failed (read through `response.body` to its end too). */
function releasedAtEnd(stream: ReadableStream<Uint8Array>, release: () => void): WebByteReadable {
  return {
    getReader() {
      const source = stream.getReader();
      return {
        read: () =>
          source.read().then(
            (result) => {
              if (result.done) release();
              return result;
            },
            (error: unknown) => {
              release();
              throw error;
            },
          ),
        cancel: (reason) => source.cancel(reason),
        releaseLock: () => source.releaseLock(),
      };
    },
  };
}

/** What reading a response's whole body needs of its request. */
interface BodyRequest {
  abort(reason?: unknown): void;
  release(): void;
  readonly maxBodySize: number;
  /** Set by the first call of `bytes()`, `text()` or `json()`: the body can be read whole once (the standard's "disturbed"). */
  used: boolean;
}

/** Marks the body as read whole when `bytes()`, `text()` or `json()` is called (not when it runs): `null` if it already was. */
function consume(request: BodyRequest): BodyRequest | null {
  if (request.used) return null;
  request.used = true;
  return request;
}

// The body readers are declared once, not per response: V8's first call of each new
// generator function costs about a microsecond (see docs/performance.md).

/** The whole body; the request is released once read, and aborted if the read is cancelled. `null`: a second read (`consume`). */
function* readAll(body: StreamReader, request: BodyRequest | null): Operation<Uint8Array> {
  if (request === null) throw new TypeError("Cannot read the response body: it has already been read (bytes(), text() or json() read it whole once)");
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const chunk = yield* body.read(WHOLE_BODY_CHUNK);
      if (chunk.length === 0) break;
      total += chunk.length;
      if (total > request.maxBodySize) {
        const error = new RangeError(
          `Cannot read the response body: it is over maxBodySize (${request.maxBodySize} bytes); pass a larger maxBodySize to fetch, or read response.body in pieces`,
        );
        request.abort(error);
        request.release();
        throw error;
      }
      chunks.push(chunk);
    }
    // At the end the body stream has released the request itself (`releasedAtEnd`).
  } catch (error) {
    if (isCancellation(error)) {
      request.abort(error);
      request.release();
    }
    throw error;
  }
  return chunks.length === 1 ? (chunks[0] as Uint8Array) : joinBytes(chunks, total);
}

function* readText(body: StreamReader, request: BodyRequest | null): Operation<string> {
  return new TextDecoder().decode(yield* readAll(body, request));
}

function* readJson(body: StreamReader, request: BodyRequest | null): Operation<unknown> {
  return JSON.parse(new TextDecoder().decode(yield* readAll(body, request)));
}
