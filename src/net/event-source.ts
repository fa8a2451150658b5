/**
 * Server-sent events: pushing messages to browsers over `serveHttp`.
 * @module
 */

import { randomUUID } from "node:crypto";
import type { ServerResponse } from "node:http";
import { defineOperationMethods } from "../core/_dev.ts";
import { Future } from "../core/future.ts";
import type { Operation } from "../core/operation.ts";
import { currentLoop } from "../core/run.ts";
import { callLater, type DelayedCall } from "../time/delayed-call.ts";
import type { HttpRequest } from "./http-request.ts";
import type { HttpResponse } from "./http-response.ts";

/** Options of an `EventSource`. */
export interface EventSourceOptions {
  /** Send a comment line this often, in ms, so proxies and browsers keep the stream open; 0 for none. @default 15000 */
  heartbeat?: number;
  /** Events kept for `Last-Event-ID` resumption. @default 100 */
  historySize?: number;
  /**
   * Bytes a client may have waiting in its socket: a client with more
   * waiting when an event comes is dropped as too slow, and an event larger
   * than it is refused (`RangeError`), so a client never holds more than
   * twice it. A client being replayed its history (`Last-Event-ID`) is
   * written it as fast as it reads, not dropped for its size; the events
   * that come meanwhile wait behind the replay, up to `maxBuffered` of them
   * (more, and the client is dropped as too slow), so such a client may hold
   * twice as much. @default 1048576
   */
  maxBuffered?: number;
  /** The reconnection delay sent to browsers (`retry:`), in ms: an integer from 0 (browsers read only digits). @default 1000 */
  retry?: number;
}

/** One event as sent: its id, its type and its data. */
export interface SentEvent {
  id: number;
  event: string | undefined;
  data: string;
}

/** What happened to a client, for logs and metrics. */
export interface EventSourceStats {
  clients: number;
  sent: number;
  /** Clients dropped because they read too slowly. */
  droppedSlow: number;
}

/** An event in the history, with whom it was for. */
interface Recorded {
  /** A number of this source's, or an id given from outside (`corio/redis`: a stream id). */
  id: number | string;
  /**
   * The event as it goes on the wire (`frameOf`), encoded once when it is
   * recorded: a replay writes these bytes as they are, however many clients
   * ask for it (a replay that framed each event again cost a large history's
   * worth of CPU per request of a few bytes).
   */
  frame: Buffer;
  /** The client it was sent to; `undefined` for a broadcast. */
  to: string | undefined;
}

/** An option that is an amount from 0 (ms, bytes, events), finite if `finite`. */
function checkAmount(value: number, name: string, finite = false): number {
  if (typeof value !== "number" || !(value >= 0) || (finite && value === Number.POSITIVE_INFINITY)) {
    const what = finite ? "a finite number from 0" : "a number from 0";
    throw new RangeError(`Cannot create an EventSource: ${name} must be ${what}, received ${typeof value === "number" ? value : typeof value}`);
  }
  return value;
}

/**
 * What a response still has waiting once its socket has given the kernel
 * what it takes: Node corks a response's socket for the rest of the turn,
 * so several events written in one turn to a fast client all count as
 * waiting until then.
 */
function waitingAfterFlush(raw: ServerResponse): number {
  const socket = raw.socket;
  if (socket !== null && socket !== undefined) while (socket.writableCorked > 0) socket.uncork();
  return raw.writableLength;
}

/**
 * An event as it goes on the wire, in UTF-8: its `id:` (none if `id` is
 * `undefined`), `event:` and `data:` lines and the blank line that ends it.
 */
function frameOf(id: number | string | undefined, event: string | undefined, data: string): Buffer {
  let frame = id === undefined ? "" : `id: ${id}\n`;
  if (event !== undefined) frame += `event: ${event}\n`;
  // Browsers end lines at CRLF, LF and CR: split at all three, or a CR in data would forge fields.
  for (const line of data.split(/\r\n|\r|\n/)) frame += `data: ${line}\n`;
  return Buffer.from(`${frame}\n`, "utf8");
}

/** Whether the event `id` comes after a client's `Last-Event-ID` (false for anything unreadable). */
type IdOrder = (id: number | string | undefined, lastEventId: string) => boolean;

/**
 * Hooks for sources whose events are numbered elsewhere (`corio/redis`'s
 * `redisEventSource`): not part of the public API.
 */
export interface ExternalEvents {
  /** Records and sends to every client an event with the given id (already encoded by `encodeEvent`); returns how many got it. */
  deliver(id: string, data: string, event: string | undefined): number;
  /** Sends to one connected client an event without an id, not recorded; false if the client is not connected here. @throws {RangeError} as `send`. */
  sendUnrecorded(clientId: string, data: unknown, event: string | undefined): boolean;
  /** Throws the `RangeError` of `broadcast` for an event (encoded) too large to send under an id of `idLength` characters. */
  checkSize(data: string, event: string | undefined, idLength: number): void;
}

let externalHooks: (source: EventSource, order: IdOrder) => ExternalEvents;

/** Gives `source` the order of outside ids (for `Last-Event-ID` replays) and returns its hooks. @internal */
export function externalEvents(source: EventSource, order: IdOrder): ExternalEvents {
  return externalHooks(source, order);
}

/**
 * The checks and encoding of an event (shared with `corio/redis`): data as a
 * string, JSON-encoded unless it is one. @internal
 *
 * @throws {TypeError} if `event` holds a CR or LF, or if JSON cannot encode `data`.
 */
export function encodeEvent(data: unknown, event: string | undefined): string {
  // A line break in the type would end the `event:` line and let the rest forge fields (an `id:`, a `data:`, a new event).
  if (event !== undefined && /[\r\n]/.test(event)) {
    throw new TypeError(
      `Cannot send an event: its type must not hold a line break (CR or LF), received ${JSON.stringify(event)}; send the text in the data instead`,
    );
  }
  const text: unknown = typeof data === "string" ? data : JSON.stringify(data);
  // JSON.stringify gives undefined for undefined, functions and symbols: recorded, such an event would throw at every replay.
  if (typeof text !== "string") {
    throw new TypeError(`Cannot send an event: data must be a string or JSON-encodable, received ${typeof data}; send null or a value instead`);
  }
  return text;
}

/** Whether a client's stream is over: removed, disconnected, or ended (replaced by a reconnection). */
function isGone(client: Client): boolean {
  return client.closed.done || client.response.destroyed || client.response.writableEnded;
}

interface Client {
  id: string;
  response: ServerResponse;
  closed: Future<void>;
  /**
   * While the client is replayed its history (`Last-Event-ID`): the events
   * sent meanwhile, written after the replay, in order; `null` once it is
   * over (events are then written as they come).
   */
  queue: Buffer[] | null;
  /** The bytes in `queue`. */
  queued: number;
  /** What the replay waits for (its last frame flushed), resolved as well when the client goes. */
  flushed: Future<void> | undefined;
}

/**
 * A source of server-sent events (the Calvin seed's `EventSource`): attach
 * it to requests of an `serveHttp` handler with `yield* source.attach(request,
 * response, clientId)`; the handler then stays open until the client goes
 * away. `send(clientId, data)` pushes to one client, `broadcast(data)` to
 * all. Every event gets an id and is kept in a bounded history, so a browser
 * that reconnects with `Last-Event-ID` gets what it missed. A client that
 * reads too slowly is dropped (counted in `stats.droppedSlow`) instead of
 * making the server buffer without bound.
 *
 * Data is sent as one `data:` line per line, so it cannot forge fields or
 * events: it is split at every line end a browser knows (CRLF, LF and CR),
 * and the browser joins the lines with LF, so a CRLF or CR in data arrives
 * as LF. An event type holding a line break is rejected. A replay gives a
 * client only broadcasts and events sent to its own id, never another
 * client's (ids are not secrets, though: authenticate in the handler before
 * attaching a client under an id).
 *
 * @example
 * ```ts ignore
 * import { main } from "corio";
 * import { EventSource, serveHttp } from "corio/net";
 * await main(function* () {
 *   const events = new EventSource();
 *   const server = yield* serveHttp(function* (request, response) {
 *     if (request.path === "/events") yield* events.attach(request, response, request.query.get("id") ?? undefined);
 *     else if (request.method === "POST") { events.broadcast(yield* request.json()); yield* response.send(204); }
 *   });
 *   yield* server.serveForever();
 * });
 * ```
 */
export class EventSource {
  readonly #clients = new Map<string, Client>();
  readonly #history: Recorded[] = [];
  readonly #historySize: number;
  readonly #maxBuffered: number;
  readonly #retry: number;
  readonly #heartbeatMs: number;
  #heartbeat: DelayedCall | null = null;
  #nextId = 1;
  #sent = 0;
  #droppedSlow = 0;
  /** The order of ids given from outside (`corio/redis`); `undefined` for this source's numbers. */
  #order: IdOrder | undefined;
  /** Clients dropped as slow whose `onSlowClient` is still to be called, once the writes in progress are over. */
  readonly #droppedNotCalled: string[] = [];
  /**
   * Called when a client is dropped for reading too slowly (a hook for logs);
   * an error it throws is reported, not thrown. It is called once the
   * `broadcast` or `send` that dropped the client has written to all the
   * others, so an event the hook sends comes after that one everywhere.
   */
  onSlowClient: ((clientId: string) => void) | undefined;

  /**
   * @throws {TypeError} if `retry` is not a number.
   * @throws {RangeError} if `retry` is not an integer from 0 to 2^53 - 1,
   * or `heartbeat` (finite), `historySize` or `maxBuffered` is not a number from 0.
   */
  constructor(options: EventSourceOptions = {}) {
    const retry = options.retry ?? 1000;
    // Browsers take `retry:` only if it is all ASCII digits; anything else (a line break above all) must not reach the stream.
    if (typeof retry !== "number") {
      throw new TypeError(`Cannot create an EventSource: retry must be a number of ms, received ${typeof retry}; pass e.g. { retry: 1000 }`);
    }
    if (!(Number.isSafeInteger(retry) && retry >= 0)) {
      throw new RangeError(
        `Cannot create an EventSource: retry must be an integer number of ms from 0, received ${String(retry)}; round it, e.g. Math.round(ms)`,
      );
    }
    this.#heartbeatMs = checkAmount(options.heartbeat ?? 15_000, "heartbeat", true);
    this.#historySize = checkAmount(options.historySize ?? 100, "historySize");
    this.#maxBuffered = checkAmount(options.maxBuffered ?? 1024 * 1024, "maxBuffered");
    this.#retry = retry;
  }

  /** The ids of the connected clients. */
  get clients(): string[] {
    return [...this.#clients.keys()];
  }

  /** Counters for logs and metrics. */
  get stats(): EventSourceStats {
    return { clients: this.#clients.size, sent: this.#sent, droppedSlow: this.#droppedSlow };
  }

  /**
   * Turns the request into an event stream for `clientId` and keeps it open
   * until the client disconnects (or is dropped, or `close()` is called). A
   * client that sends `Last-Event-ID` first gets the events it missed: the
   * broadcasts and those sent to `clientId`, written as fast as it reads
   * them (however much larger than `maxBuffered` they are), with the events
   * sent meanwhile after them, in order. Event ids start at 1 in every
   * `EventSource`, so a `Last-Event-ID` greater than the newest id given can
   * only come from before a restart (or from another process): such a
   * client gets the whole history. (One that came back after the new
   * process has given as many ids cannot be told apart: it gets the events
   * after its id. Use `corio/redis`' `redisEventSource`, whose ids outlive
   * processes, where that matters.) A `HEAD` request gets the
   * headers of the stream and an empty answer at once, and is no client.
   *
   * An explicit `clientId` already connected replaces that client's stream
   * (the old one is ended and its `attach` returns, even one still being
   * replayed its history): that is how a client reconnects, so attach under
   * an id only a client that may have it can ask for. Without `clientId`, the
   * client gets a random id (`anonymous:` and a UUID) that no connected client
   * has: nobody can take its stream by guessing it, and it never takes the
   * stream of a client whose id the application chose.
   *
   * The response is sent with `content-type: text/event-stream;
   * charset=utf-8`, and these defaults, each left out if the handler has set
   * that header (`response.setHeader`) before attaching:
   * `cache-control: no-cache`, `x-accel-buffering: no` (so nginx does not
   * hold events back) and `access-control-allow-origin: *` (any page may
   * read the stream, as in the original; not added either when the handler
   * has set `access-control-allow-credentials`, since browsers refuse `*`
   * with credentials: set the origin allowed too).
   *
   * **Cancellation:** the stream is closed and the client removed.
   */
  *attach(request: HttpRequest, response: HttpResponse, clientId: string = this.#anonymousId()): Operation<void> {
    const raw = response.raw;
    const headers: Record<string, string> = { "content-type": "text/event-stream; charset=utf-8", connection: "keep-alive" };
    // Defaults only: writeHead's headers win over those set before, and the handler's (CORS for one origin) must stay.
    const byDefault = (name: string, value: string): void => {
      if (!raw.hasHeader(name)) headers[name] = value;
    };
    byDefault("cache-control", "no-cache");
    byDefault("x-accel-buffering", "no");
    if (!raw.hasHeader("access-control-allow-credentials")) byDefault("access-control-allow-origin", "*");
    raw.writeHead(200, headers);
    if (request.method === "HEAD") {
      // The GET's headers and no body (RFC 9110, 9.3.2), answered at once: Node sends nothing of a HEAD response
      // until it ends, so a stream kept open would leave the request, and its keep-alive connection, unanswered.
      raw.end();
      return;
    }
    raw.write(`retry: ${this.#retry}\n\n`);
    const replaced = this.#clients.get(clientId);
    if (replaced !== undefined) {
      replaced.response.end();
      // Let go at once, not at its socket's close: a replay waiting for it to read (it never will, the
      // client is here again) would wait for good, out of reach of every later event, drop and close().
      this.#remove(replaced);
    }
    const lastId = request.headers["last-event-id"];
    const replay = typeof lastId === "string" ? [...this.#history] : [];
    const client: Client = { id: clientId, response: raw, closed: new Future<void>(), queue: replay.length > 0 ? [] : null, queued: 0, flushed: undefined };
    this.#clients.set(clientId, client);
    this.#armHeartbeat();
    const onClose = (): void => {
      this.#remove(client);
    };
    raw.once("close", onClose);
    try {
      if (typeof lastId === "string" && client.queue !== null) yield* this.#replay(client, replay, lastId);
      yield* client.closed;
    } finally {
      raw.off("close", onClose);
      this.#remove(client);
      if (!raw.writableEnded) raw.end();
    }
  }

  /**
   * Writes a reconnecting client the events of `history` (the history when it attached) after
   * `lastId`, then those sent since (in `client.queue`), in order; then the client is live. It is
   * written as fast as it reads: when it has more than `maxBuffered` waiting, the replay waits until
   * that is flushed instead of dropping it as the live path would (it holds at most `maxBuffered`
   * and an event). Ends early once the client is gone.
   */
  *#replay(client: Client, history: readonly Recorded[], lastId: string): Operation<void> {
    const missed = this.#missedAfter(lastId);
    for (const event of history) {
      // Looked at one by one: a client gone (disconnected, replaced) stops the replay, and the rest is not even read.
      if (isGone(client)) return;
      if ((event.to === undefined || event.to === client.id) && missed(event.id) && !(yield* this.#writeReplayed(client, event.frame))) return;
    }
    const queue = client.queue ?? [];
    for (let frame = queue.shift(); frame !== undefined; frame = queue.shift()) {
      client.queued -= frame.length;
      if (!(yield* this.#writeReplayed(client, frame))) return;
    }
    // Nothing left queued, and no yield since the check: from here events are written as they come.
    client.queue = null;
    client.flushed = undefined;
  }

  /** Whether an event of id `id` comes after a client's `Last-Event-ID` (false for any, if it is unreadable). */
  #missedAfter(lastId: string): (id: number | string) => boolean {
    const order = this.#order;
    if (order !== undefined) return (id) => order(id, lastId);
    // Only what this source sends, ASCII digits: Number() would read "" and " " as 0 (everything), "-1" too, "0x3" and "3e0" as 3.
    if (!/^[0-9]+$/.test(lastId)) return () => false;
    const last = Number(lastId);
    // Ids start at 1 in every EventSource: one greater than any this source gave was given before a
    // restart (or by another process), and all of the history may be news to the client.
    if (last >= this.#nextId) return () => true;
    return (id) => typeof id === "number" && id > last;
  }

  /** Writes a frame of a replay once the client has at most `maxBuffered` waiting; false if it is gone. */
  *#writeReplayed(client: Client, frame: Buffer): Operation<boolean> {
    const raw = client.response;
    // Once the last frame written is flushed, so is all that came before it.
    if (client.flushed !== undefined && waitingAfterFlush(raw) > this.#maxBuffered) yield* client.flushed;
    if (isGone(client)) return false;
    const flushed = new Future<void>();
    client.flushed = flushed;
    raw.write(frame, () => flushed.resolve());
    this.#sent++;
    return true;
  }

  /**
   * An id for a client attached without one. Random, not a counter: a
   * counter's ids ("client-3") are names an application may give, or a
   * visitor ask for, and attaching under a connected id takes its stream.
   */
  #anonymousId(): string {
    let id: string;
    do id = `anonymous:${randomUUID()}`;
    while (this.#clients.has(id));
    return id;
  }

  /**
   * Sends `data` (JSON-encoded unless a string) to one client; returns
   * whether it was written (or queued behind the client's replay): `false`
   * if the client is not connected, its connection is gone, or this event
   * found it too slow and it was dropped. The event is kept for its replay
   * all the same.
   *
   * @throws {TypeError} if `options.event` holds a CR or LF, or if JSON cannot encode `data` (`undefined`, a function).
   */
  send(clientId: string, data: unknown, options: { event?: string } = {}): boolean {
    const frame = this.#record(data, options.event, clientId);
    const client = this.#clients.get(clientId);
    if (client === undefined) return false;
    const written = this.#write(client, frame);
    this.#callSlowHooks();
    return written;
  }

  /**
   * Sends `data` to every connected client; returns how many got it.
   *
   * @throws {TypeError} if `options.event` holds a CR or LF, or if JSON cannot encode `data` (`undefined`, a function).
   */
  broadcast(data: unknown, options: { event?: string } = {}): number {
    return this.#sendAll(this.#record(data, options.event, undefined));
  }

  /** Ends every stream. */
  close(): void {
    for (const client of [...this.#clients.values()]) this.#remove(client);
    this.#heartbeat?.cancel();
    this.#heartbeat = null;
  }

  /** Records an event for replay and gives its frame; one larger than `maxBuffered` could never be sent, and is refused. */
  #record(data: unknown, event: string | undefined, to: string | undefined): Buffer {
    const frame = frameOf(this.#nextId, event, encodeEvent(data, event));
    this.#refuseOversize(frame);
    this.#keep({ id: this.#nextId, frame, to });
    this.#nextId++;
    return frame;
  }

  /** Throws if `frame` is larger than `maxBuffered`: no client could ever be sent it. */
  #refuseOversize(frame: Buffer): void {
    const bytes = frame.length;
    if (bytes > this.#maxBuffered) {
      throw new RangeError(`Cannot send the event: its ${bytes} bytes are over maxBuffered (${this.#maxBuffered}); raise maxBuffered above the largest event`);
    }
  }

  #keep(sent: Recorded): Recorded {
    this.#history.push(sent);
    if (this.#history.length > this.#historySize) this.#history.shift();
    return sent;
  }

  /** Writes `frame` to every client (one frame for all: a broadcast to 1,000 clients encodes its event once). */
  #sendAll(frame: Buffer): number {
    if (this.#clients.size === 0) return 0;
    let count = 0;
    for (const client of [...this.#clients.values()]) if (this.#write(client, frame)) count++;
    this.#callSlowHooks();
    return count;
  }

  /**
   * An event from outside (`corio/redis`), recorded and sent; one larger than `maxBuffered` (another
   * process' broadcast with a larger one) is skipped and reported, neither kept nor a reason to drop clients.
   */
  #deliver(id: string, data: string, event: string | undefined): number {
    const frame = frameOf(id, event, data);
    const bytes = frame.length;
    if (bytes > this.#maxBuffered) {
      currentLoop().report(new RangeError(`EventSource: skipped an event of ${bytes} bytes, over maxBuffered (${this.#maxBuffered})`), {
        kind: "callback",
        path: "EventSource",
      });
      return 0;
    }
    this.#keep({ id, frame, to: undefined });
    return this.#sendAll(frame);
  }

  static {
    externalHooks = (source, order) => {
      source.#order = order;
      return {
        deliver: (id, data, event) => source.#deliver(id, data, event),
        sendUnrecorded: (clientId, data, event) => {
          const text = encodeEvent(data, event);
          const client = source.#clients.get(clientId);
          if (client === undefined) return false;
          const frame = frameOf(undefined, event, text);
          source.#refuseOversize(frame);
          const written = source.#write(client, frame);
          source.#callSlowHooks();
          return written;
        },
        checkSize: (data, event, idLength) => source.#refuseOversize(frameOf("0".repeat(idLength), event, data)),
      };
    };
  }

  /**
   * Writes one event's frame (see `frameOf`) to a client, or queues it behind the client's replay;
   * false if the client is gone, or was dropped as slow: it has more than `maxBuffered` waiting (in
   * its socket, or queued behind its replay). Every frame is at most `maxBuffered` (a larger one is
   * refused or skipped before it is kept), so a client never has more than twice that waiting (and
   * one being replayed, as much again in its socket). The caller calls `#callSlowHooks` once its
   * writes are over.
   */
  #write(client: Client, frame: Buffer): boolean {
    const raw = client.response;
    if (raw.destroyed || raw.writableEnded) {
      this.#remove(client);
      return false;
    }
    if (this.#tooSlow(client)) {
      this.#droppedSlow++;
      raw.destroy();
      // Dropped first: a hook that throws must not keep a slow client (every later broadcast would fail at it).
      this.#remove(client);
      this.#droppedNotCalled.push(client.id);
      return false;
    }
    if (client.queue !== null) {
      client.queue.push(frame);
      client.queued += frame.length;
      return true;
    }
    raw.write(frame);
    this.#sent++;
    return true;
  }

  /** Whether the client has more than `maxBuffered` waiting. */
  #tooSlow(client: Client): boolean {
    // Being replayed, what waits is the queue behind the replay (the replay keeps the socket's share under maxBuffered itself).
    if (client.queue !== null) return client.queued > this.#maxBuffered;
    const raw = client.response;
    return raw.writableLength > this.#maxBuffered && waitingAfterFlush(raw) > this.#maxBuffered;
  }

  /**
   * Calls `onSlowClient` for the clients dropped so far. Not from `#write`: in the middle of a broadcast,
   * an event the hook broadcast would reach the clients still to be written before the one being sent.
   */
  #callSlowHooks(): void {
    // One at a time from the queue: a hook's own broadcast may drop others, and call their hooks itself.
    for (let id = this.#droppedNotCalled.shift(); id !== undefined; id = this.#droppedNotCalled.shift()) {
      try {
        this.onSlowClient?.(id);
      } catch (error) {
        currentLoop().report(error, { kind: "callback", path: "EventSource.onSlowClient" });
      }
    }
  }

  #remove(client: Client): void {
    if (this.#clients.get(client.id) === client) this.#clients.delete(client.id);
    client.closed.resolve();
    client.flushed?.resolve(); // a replay waiting for the client's socket ends
    if (this.#clients.size === 0) {
      this.#heartbeat?.cancel();
      this.#heartbeat = null;
    }
  }

  #armHeartbeat(): void {
    if (this.#heartbeatMs <= 0 || this.#heartbeat !== null) return;
    const beat = (): void => {
      for (const client of [...this.#clients.values()]) {
        if (!client.response.destroyed) client.response.write(": heartbeat\n\n");
      }
      this.#heartbeat = this.#clients.size > 0 ? callLater(this.#heartbeatMs, beat) : null;
    };
    this.#heartbeat = callLater(this.#heartbeatMs, beat);
  }
}
defineOperationMethods(EventSource);
