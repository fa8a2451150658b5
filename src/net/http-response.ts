/**
 * The response side of an HTTP exchange.
 * @module
 */

import type { ServerResponse } from "node:http";
import { defineOperation, defineOperationMethods } from "../core/_dev.ts";
import { ExternalPark } from "../core/_external-park.ts";
import { DONE, defineStepOperations, FINISHED, FRESH, PARKED, ranTwice, StepOperation } from "../core/_step-operation.ts";
import { BrokenResourceError, ClosedResourceError } from "../core/errors.ts";
import type { Instruction, Operation } from "../core/operation.ts";
import { requireCurrentTask } from "../core/spawn.ts";

/** What a `ResponseEnd` does on its first step. */
const END = 0;
const SEND = 1;
const JSON_BODY = 2;
/** The key of `HttpResponse`'s first-step method, kept off its public names. */
const START = Symbol("corio.httpResponse.start");
/**
 * What a handler writes its answer to: status and headers, then a body that
 * may be streamed. `write` waits while the client is slow to read
 * (backpressure), so a handler never buffers without bound.
 *
 * @example
 * ```ts ignore
 * function* handler(request, response) {
 *   response.setHeader("content-type", "text/plain");
 *   for (let i = 0; i < 3; i++) yield* response.write(`line ${i}\n`);
 *   yield* response.end();
 * }
 * ```
 */
export class HttpResponse {
  /**
   * The status code to send, an integer from 200 to 999 (checked when the
   * head goes out: a 1xx is not a final answer). @default 200
   */
  status = 200;
  /** The underlying Node response, for what this class does not cover. */
  readonly raw: ServerResponse;

  /** @internal */
  constructor(raw: ServerResponse) {
    // A handler's content-length that its bytes do not match would desync the connection: the rest of
    // its body read as the next response (through a proxy's pool, another client's). Node fails the write.
    raw.strictContentLength = true;
    this.raw = raw;
  }

  /** True once the status line and headers have gone out. */
  get headersSent(): boolean {
    return this.raw.headersSent;
  }

  /** True once the whole response has been handed to the OS. */
  get finished(): boolean {
    return this.raw.writableEnded;
  }

  /** Sets a header (before the first `write`). */
  setHeader(name: string, value: string | number | readonly string[]): this {
    if (this.raw.headersSent) throw new ClosedResourceError(`Cannot set the header ${name}: the headers were already sent`);
    this.raw.setHeader(name, value);
    return this;
  }

  /**
   * Sends the status line and headers now (`write` does it too).
   *
   * @throws {RangeError} for a `status` that is not an integer from 200 to 999.
   */
  flushHeaders(): void {
    if (!this.raw.headersSent) {
      this.raw.statusCode = finalStatus(this.status, "send the headers");
      this.raw.flushHeaders();
    }
  }

  /**
   * Writes a chunk of the body; waits while the client is not reading fast
   * enough (the socket's buffer is over its high-water mark).
   *
   * **Cancellation:** the chunk may have been queued; the wait stops.
   *
   * @throws {ClosedResourceError} after `end()`.
   * @throws {BrokenResourceError} if the client went away.
   * @throws {RangeError} for a `status` that is not an integer from 200 to 999.
   */
  *write(chunk: string | Uint8Array): Operation<void> {
    const raw = this.raw;
    if (raw.writableEnded) throw new ClosedResourceError("Cannot write: the response has already ended");
    if (raw.destroyed) throw new BrokenResourceError("Cannot write: the client closed the connection");
    if (!raw.headersSent) raw.statusCode = finalStatus(this.status, "write");
    if (raw.write(chunk)) return;
    yield* waitForDrain(raw);
  }

  /**
   * Ends the response, optionally with a last chunk, and waits until it has
   * been handed to the OS.
   *
   * **Cancellation:** the response is ended anyway; only the wait stops.
   *
   * @throws {RangeError} for a `status` that is not an integer from 200 to 999.
   */
  end(chunk?: string | Uint8Array): Operation<void> {
    return new ResponseEnd(this, END, 0, chunk, undefined);
  }

  /**
   * Ends the response; true if there is nothing to wait for (already ended,
   * or every byte already handed to the OS, as a small answer usually is).
   */
  #end(chunk: string | Uint8Array | undefined): boolean {
    const raw = this.raw;
    if (raw.writableEnded) return true;
    if (!raw.headersSent) raw.statusCode = finalStatus(this.status, "end the response");
    if (raw.destroyed) throw new BrokenResourceError("Cannot end the response: the client closed the connection");
    raw.end(chunk ?? "");
    // The socket took every byte at once (a write error is only reported later: then wait, and 'close' tells).
    const socket = raw.socket;
    return socket !== null && socket.errored === null && raw.writableFinished;
  }

  /**
   * Sends a whole response: status, headers and body, then ends it. A 204
   * or 304 has no body: `body` is dropped and no `content-length` or
   * `content-type` is sent for it, as `node:http`'s `end(body)` does (a
   * `content-type` given in `headers` or set before is kept).
   *
   * **Cancellation:** as for `end`.
   *
   * @param status An integer from 200 to 999: a 1xx is not a final answer
   * (early hints are `response.raw.writeEarlyHints`).
   * @throws {RangeError} for a `status` that is not an integer from 200 to 999.
   */
  send(status: number, body: string | Uint8Array = "", headers?: Record<string, string>): Operation<void> {
    return new ResponseEnd(this, SEND, status, body, headers);
  }

  /**
   * Sends `value` as JSON with `status` (as `send` does).
   *
   * **Cancellation:** as for `end`.
   *
   * @throws {TypeError} for a value with no JSON text (`undefined`, a function, a symbol).
   * @throws {RangeError} for a `status` that is not an integer from 200 to 999.
   */
  json(value: unknown, status = 200): Operation<void> {
    return new ResponseEnd(this, JSON_BODY, status, value, undefined);
  }

  /** @internal The first step of `end`, `send` and `json` (see `ResponseEnd`): true if there is nothing to wait for. */
  [START](kind: number, status: number, body: unknown, headers: Record<string, string> | undefined): boolean {
    if (kind === END) return this.#end(body as string | Uint8Array | undefined);
    if (kind === SEND) return this.#send(status, (body ?? "") as string | Uint8Array, headers, undefined);
    const text = JSON.stringify(body) as string | undefined;
    if (text === undefined) {
      throw new TypeError(`Cannot send the value as JSON: JSON.stringify gives no text for it (undefined, a function or a symbol), received ${typeof body}`);
    }
    return this.#send(status, text, undefined, "application/json; charset=utf-8");
  }

  /** `send` up to the wait: true if there is nothing to wait for. `type` is a content-type that overrides any set. */
  #send(status: number, body: string | Uint8Array, headers: Record<string, string> | undefined, type: string | undefined): boolean {
    this.status = finalStatus(status, "send a response");
    const raw = this.raw;
    if (status === 204 || status === 304) return this.#sendNoBody(status, headers);
    const length = typeof body === "string" ? Buffer.byteLength(body) : body.length;
    if (headers === undefined && !raw.headersSent && !raw.destroyed) {
      // One header object for writeHead: Node then skips its header map (it merges with headers set before, if any).
      if (type === undefined && typeof body === "string" && !raw.hasHeader("content-type")) type = "text/plain; charset=utf-8";
      raw.writeHead(status, type === undefined ? { "content-length": length } : { "content-type": type, "content-length": length });
      // The length is the body's own, so the strict check cannot fail here. Left on, it keeps Node 24
      // off its path for a final chunk (head and body in one write, 'finish' on its callback): an
      // empty write followed, and the two went out as a writev (15% more instructions a request).
      raw.strictContentLength = false;
      return this.#end(body);
    }
    if (headers !== undefined) for (const [name, value] of Object.entries(headers)) this.setHeader(name, value);
    if (type !== undefined) this.setHeader("content-type", type);
    else if (!raw.hasHeader("content-type") && typeof body === "string") this.setHeader("content-type", "text/plain; charset=utf-8");
    this.setHeader("content-length", length);
    return this.#end(body);
  }

  /**
   * `send` for a 204 or 304: the head without a body's `content-length` or
   * `content-type` (RFC 9110 §8.6: none in a 204; in a 304 only the length a
   * 200 would have had, not the dropped body's), then the end.
   */
  #sendNoBody(status: number, headers: Record<string, string> | undefined): boolean {
    const raw = this.raw;
    if (headers !== undefined) for (const [name, value] of Object.entries(headers)) this.setHeader(name, value);
    if (!raw.headersSent && !raw.destroyed) raw.writeHead(status);
    return this.#end(undefined);
  }
}

/**
 * `status` if it can be a response's final status: an integer from 200 to
 * 999 (Node's own bound is 100 to 999, but a 1xx written as the answer
 * leaves the client waiting for the real one, and takes the next pipelined
 * response for it).
 */
function finalStatus(status: number, action: string): number {
  if (Number.isInteger(status) && status >= 200 && status <= 999) return status;
  throw new RangeError(
    `Cannot ${action}: the status must be an integer from 200 to 999 (a 1xx is not a final answer; early hints are response.raw.writeEarlyHints), received ${String(status)}`,
  );
}
defineOperationMethods(HttpResponse);

/**
 * `response.end(…)`, `send(…)`, `json(…)`: a step operation (see
 * `core/_step-operation.ts`; one per request, and a generator was the biggest
 * thing corio added to a response). Its first step ends the response; only
 * when the socket did not take every byte at once (under load, most of the
 * time: Node reports a write done on a later tick) does it park until the
 * response's 'finish', or fail on a 'close' that comes first. The two
 * listeners are functions shared by every response, and the park hangs on
 * the Node response: no closure, no `once` wrapper, no listener removal per
 * request (each event comes once per response).
 */
class ResponseEnd extends StepOperation<void> {
  readonly #response: HttpResponse;
  readonly #kind: number;
  readonly #status: number;
  readonly #body: unknown;
  readonly #headers: Record<string, string> | undefined;

  constructor(response: HttpResponse, kind: number, status: number, body: unknown, headers: Record<string, string> | undefined) {
    super();
    this.state = FRESH;
    this.#response = response;
    this.#kind = kind;
    this.#status = status;
    this.#body = body;
    this.#headers = headers;
  }

  get label(): string {
    return this.#kind === END ? "httpResponse.end" : this.#kind === SEND ? "httpResponse.send" : "httpResponse.json";
  }

  next(): IteratorResult<Instruction, void> {
    if (this.state !== FRESH) {
      if (this.state !== PARKED) throw ranTwice(this);
      // Resumed by 'finish'.
      this.state = FINISHED;
      return DONE;
    }
    this.state = FINISHED;
    if (this.#response[START](this.#kind, this.#status, this.#body, this.#headers)) return DONE;
    const raw = this.#response.raw as AwaitedResponse;
    if (raw.writableFinished) return DONE;
    const park = new ExternalPark<void>(requireCurrentTask("end an HTTP response"), "io", undefined, "an HTTP response to be sent (end)");
    raw[SENT_PARK] = park;
    raw.on("finish", onResponseSent);
    raw.on("close", onResponseClosed);
    this.state = PARKED;
    return { value: park, done: false };
  }

  override throw(error: unknown): IteratorResult<Instruction, void> {
    this.#forget();
    return super.throw(error);
  }

  override return(value?: undefined): IteratorResult<Instruction, void> {
    this.#forget();
    return super.return(value);
  }

  /** A wait that stops early: the listeners stay (they fire once), but find no park. */
  #forget(): void {
    if (this.state === PARKED) (this.#response.raw as AwaitedResponse)[SENT_PARK] = undefined;
  }
}
defineStepOperations(ResponseEnd, (op) => (op as ResponseEnd).label, HttpResponse, {
  end: "httpResponse.end",
  send: "httpResponse.send",
  json: "httpResponse.json",
});

/** Where a Node response holds the park of the `end` waiting for it to be sent. */
const SENT_PARK = Symbol("corio.sentPark");
type AwaitedResponse = ServerResponse & { [SENT_PARK]?: ExternalPark<void> | undefined };

/**
 * 'finish': the response's bytes have been handed to the OS, unless its
 * socket failed first: Node also emits 'finish' when a reset (`ECONNRESET`)
 * ends a write of it, once the socket is detached from the response.
 */
function onResponseSent(this: AwaitedResponse): void {
  const socket = this.req.socket;
  settleSent(this, !this.destroyed && (socket === null || socket.errored === null));
}

/** 'close' before 'finish': the client went away before it could be sent. */
function onResponseClosed(this: AwaitedResponse): void {
  settleSent(this, false);
}

/** Wakes the `end` waiting on `res`, if one still is: done, or a `BrokenResourceError`. */
function settleSent(res: AwaitedResponse, sent: boolean): void {
  const park = res[SENT_PARK];
  if (park === undefined) return;
  res[SENT_PARK] = undefined;
  if (sent) park.resolve();
  else park.reject(new BrokenResourceError("Cannot end the response: the client closed the connection"));
}

/**
 * Waits for 'drain' on a writable, or fails with a `BrokenResourceError` if
 * it closes first (built only then). Only a write over the high-water mark
 * gets here, so its two closures are not on the per-request path.
 */
export const waitForDrain = defineOperation(function* waitForDrain(
  stream: NodeJS.WritableStream & { destroyed: boolean; once: ServerResponse["once"]; off: ServerResponse["off"] },
): Operation<void> {
  const park = new ExternalPark<void>(requireCurrentTask("wait for the client to read"), "io", undefined, "the HTTP client to read (drain)");
  const onDrain = (): void => {
    park.resolve();
  };
  const onClose = (): void => {
    if (park.pending) park.reject(new BrokenResourceError("Cannot write: the client closed the connection"));
  };
  stream.once("drain", onDrain);
  stream.once("close", onClose);
  try {
    yield park;
  } finally {
    stream.off("drain", onDrain);
    stream.off("close", onClose);
  }
});
