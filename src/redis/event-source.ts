/**
 * Server-sent events across processes: one `EventSource` per process, its
 * broadcasts and its history in a Redis stream.
 * @module
 */
import { defineOperation } from "../core/_dev.ts";
import { daemonReturnedAs, startDaemon } from "../core/_resource.ts";
import { until } from "../core/call.ts";
import { isCancellation } from "../core/errors.ts";
import type { Operation } from "../core/operation.ts";
import { currentLoop } from "../core/run.ts";
import { requireCurrentTask } from "../core/spawn.ts";
import { EventSource, type EventSourceOptions, type EventSourceStats, encodeEvent, externalEvents } from "../net/event-source.ts";
import type { HttpRequest } from "../net/http-request.ts";
import type { HttpResponse } from "../net/http-response.ts";
import { sleep } from "../time/sleep.ts";
import { timeout } from "../time/timeout.ts";
import { dropClient, type RedisClient } from "./connection.ts";

/** Options of `redisEventSource`: those of `EventSource`, plus where the events go in Redis. */
export interface RedisEventSourceOptions extends EventSourceOptions {
  /** The client broadcasts are written with (from `connectRedis`); the source reads on a second connection of its own, made with `redis.duplicate()`. */
  redis: RedisClient;
  /** The Redis stream (a key) the broadcasts go through; every process that shares events names the same one. */
  channel: string;
  /** How long to wait for the reading connection, in ms. @default 5000 */
  connectTimeout?: number;
}

/**
 * An event source shared by processes (from `redisEventSource`): the
 * surface of `EventSource`, with a `broadcast` that goes through Redis.
 */
export interface RedisEventSource {
  /**
   * Turns the request into an event stream for `clientId` until the client
   * leaves, as `EventSource.attach` does; a client that sends
   * `Last-Event-ID` (an id given by any process) first gets the broadcasts
   * it missed that are still in the history.
   */
  attach(request: HttpRequest, response: HttpResponse, clientId?: string): Operation<void>;
  /**
   * Sends `data` (JSON-encoded unless a string) to every client of every
   * process: appends it to the stream, and returns its id (the stream id,
   * `"<ms>-<seq>"`, the `id:` clients see). Clients get it when their process
   * reads it from the stream, this one included.
   *
   * @throws {TypeError} if `options.event` holds a CR or LF, or if JSON cannot encode `data`.
   * @throws {RangeError} if the event is larger than `maxBuffered` (no client could take it); one
   * another process wrote anyway is skipped here and reported.
   */
  broadcast(data: unknown, options?: { event?: string }): Operation<string>;
  /**
   * Sends `data` to one client connected to this process, without an id and
   * without keeping it for replays; returns whether it was written: `false`
   * if the client is not connected here, or this event found it too slow and
   * it was dropped.
   *
   * @throws {TypeError} as `broadcast` does.
   */
  send(clientId: string, data: unknown, options?: { event?: string }): boolean;
  /** The ids of the clients connected to this process. */
  readonly clients: string[];
  /** This process' counters. */
  readonly stats: EventSourceStats;
  /** Called when a client is dropped for reading too slowly. */
  onSlowClient: ((clientId: string) => void) | undefined;
  /** Ends the streams of this process' clients (the source stops with its owner task). */
  close(): void;
}

/**
 * Server-sent events for a service that runs in several processes: each
 * process has its own `EventSource` for its own clients, and every
 * broadcast goes through a Redis stream (`XADD` with `MAXLEN ~ historySize`).
 * A task of the caller's reads the stream (a blocking `XREAD` on a
 * connection of its own) and hands each event, in stream order, to the
 * local clients. So a client connected to any process gets every broadcast,
 * in the same order everywhere, with the stream id as its `id:`; and a
 * browser that reconnects to another process with `Last-Event-ID` gets what
 * it missed, from that process' copy of the history (the last
 * `historySize` events, read from the stream at start, then kept up as
 * they come).
 *
 * `send(clientId, …)` stays local: it reaches a client connected to this
 * process, carries no id (so the browser's `Last-Event-ID` stays that of the
 * last broadcast) and is not replayed.
 *
 * The source belongs to the calling task: when it ends, the reading
 * connection is closed and the local streams end. If Redis goes away,
 * ioredis reconnects and the reader resumes after the last id it saw
 * (errors are reported to the loop's `onError` once per outage); a
 * `broadcast` meanwhile waits for the connection, then fails after ioredis'
 * retries.
 *
 * **Cancellation:** cancelling the caller while it starts closes what was
 * opened and throws `CancelledError`; `broadcast` cancelled after the
 * command was sent may still be delivered.
 *
 * @param options The client, the stream's name, and `EventSource` options.
 * @returns The source, running until the calling task ends.
 * @throws {TypeError} for a missing client or channel, or a bad `retry`.
 * @throws {RangeError} for a `historySize` that is not a positive integer.
 * @example
 * ```ts
 * import { run, sleep } from "corio";
 * import { connectRedis, redisEventSource } from "corio/redis";
 * await run(function* () {
 *   const redis = yield* connectRedis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
 *   const events = yield* redisEventSource({ redis, channel: "example:news", historySize: 50 });
 *   const id = yield* events.broadcast({ headline: "hello" }); // every process' clients get it
 *   console.assert(/^\d+-\d+$/.test(id));
 *   // In a serveHttp handler: yield* events.attach(request, response);
 * });
 * ```
 */
export const redisEventSource = defineOperation(function* redisEventSource(options: RedisEventSourceOptions): Operation<RedisEventSource> {
  const what = "Cannot start a Redis event source";
  if (options === null || typeof options !== "object") throw new TypeError(`${what}: expected options { redis, channel }`);
  const { redis, channel, connectTimeout = 5000, ...sourceOptions } = options;
  if (redis === null || typeof redis !== "object" || typeof redis.duplicate !== "function")
    throw new TypeError(`${what}: options.redis must be an ioredis client (from connectRedis)`);
  if (typeof channel !== "string" || channel === "") throw new TypeError(`${what}: options.channel must be a non-empty string`);
  const historySize = sourceOptions.historySize ?? 100;
  if (!Number.isSafeInteger(historySize) || historySize < 1)
    throw new RangeError(`${what}: historySize must be a positive integer, received ${String(historySize)}`);
  const owner = requireCurrentTask("start a Redis event source");
  const label = `redisEventSource ${channel}`;
  const local = new EventSource(sourceOptions);
  const hooks = externalEvents(local, streamOrder);

  const reader = redis.duplicate({ lazyConnect: true });
  let lastError: unknown;
  reader.on("error", (error: unknown) => {
    lastError = error;
  });
  function* shutDown(): Operation<void> {
    local.close();
    // Not QUIT: the server answers it only after the blocking XREAD in flight.
    yield* dropClient(reader);
  }

  function deliver(id: string, fields: string[]): void {
    let data: string | undefined;
    let event: string | undefined;
    for (let i = 0; i + 1 < fields.length; i += 2) {
      if (fields[i] === "data") data = fields[i + 1];
      else if (fields[i] === "event") event = fields[i + 1];
    }
    try {
      if (data === undefined) throw new TypeError("the entry has no data field");
      encodeEvent(data, event);
    } catch (error) {
      // Written by something else than `broadcast`: skipped, not sent.
      currentLoop().report(new Error(`${label}: skipped the stream entry ${id}: ${error instanceof Error ? error.message : String(error)}`, { cause: error }), {
        kind: "callback",
        path: label,
      });
      return;
    }
    hooks.deliver(id, data, event);
  }

  // The history so far, oldest first: replays work at once, and reading resumes right after it.
  let lastId = "0-0";
  /**
   * How many entries were ever added to the stream up to `lastId` (delivered,
   * or known lost): with XINFO's `entries-added` and `length` it tells
   * whether entries were trimmed before this process read them.
   */
  let position = 0;
  try {
    // One snapshot: the newest entries, and how many were ever added up to them.
    const [history, info] = ((yield* until(redis.multi().xrevrange(channel, "+", "-", "COUNT", historySize).xinfo("STREAM", channel).exec())) ?? []) as [
      [Error | null, [string, string[]][]]?,
      [Error | null, unknown[]]?,
    ];
    if (history?.[0]) throw history[0];
    position = info?.[0] ? 0 : streamCounts(info?.[1]).added;
    for (const [id, fields] of (history?.[1] ?? []).reverse()) {
      deliver(id, fields);
      lastId = id;
    }
    try {
      yield* timeout(connectTimeout, until(reader.connect()));
    } catch (error) {
      if (isCancellation(error)) throw error;
      const cause = lastError ?? error;
      throw new Error(`${what}: the reading connection failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    }
  } catch (error) {
    // Nothing is left open for the caller's task to hold until it ends.
    yield* shutDown();
    throw error;
  }

  /**
   * Reports broadcasts trimmed from the stream before this process read them:
   * the entries trimmed so far (`entries-added` - `length`), less those of
   * this batch already trimmed, less `position`, were never delivered here.
   */
  function* checkTrimmed(batch: [string, string[]][]): Operation<void> {
    let counts: StreamCounts;
    try {
      counts = streamCounts((yield* until(redis.xinfo("STREAM", channel))) as unknown[]);
    } catch (error) {
      if (isCancellation(error)) throw error;
      return;
    }
    if (counts.firstEntry === undefined) return;
    const first = counts.firstEntry;
    const trimmedOfBatch = batch.filter(([id]) => compareStreamIds(id, first) < 0).length;
    const lost = counts.added - counts.length - trimmedOfBatch - position;
    if (lost <= 0) return;
    position += lost;
    currentLoop().report(
      new Error(
        `${label}: ${lost} broadcast(s) after ${lastId} were trimmed from the stream before this process read them (it fell more than historySize = ${historySize} events behind); its clients missed them`,
      ),
      { kind: "callback", path: label },
    );
  }

  // A service of the caller's (see startDaemon): inside `timeout` it outlives the boundary that returns the
  // source; it closes the reading connection as it ends, so the two always end together (inside `shield`, too).
  const readerTask = startDaemon(owner, label, function* () {
    try {
      yield* readForever();
    } finally {
      yield* shutDown();
    }
  });

  function* readForever(): Operation<never> {
    let failing = false;
    for (;;) {
      let reply: [string, [string, string[]][]][] | null;
      try {
        // A bounded block, so a connection that died silently is noticed.
        reply = (yield* until(reader.xread("COUNT", 1000, "BLOCK", 10_000, "STREAMS", channel, lastId))) as [string, [string, string[]][]][] | null;
      } catch (error) {
        if (isCancellation(error)) throw error;
        if (!failing) {
          failing = true;
          currentLoop().report(new Error(`${label}: reading the stream failed; retrying`, { cause: error }), { kind: "callback", path: label });
        }
        yield* sleep(500);
        continue;
      }
      failing = false;
      for (const [, entries] of reply ?? []) {
        // A batch as long as the history: this process may have fallen further behind than the stream keeps.
        if (entries.length >= Math.max(historySize, 2)) yield* checkTrimmed(entries);
        for (const [id, fields] of entries) {
          deliver(id, fields);
          lastId = id;
          position++;
        }
      }
    }
  }

  const source: RedisEventSource = {
    attach: (request, response, clientId) => local.attach(request, response, clientId),
    *broadcast(data, broadcastOptions = {}) {
      const text = encodeEvent(data, broadcastOptions.event);
      // Refused before it reaches the stream: an event no client can take would be replayed to every one that reconnects.
      // The id Redis will give: `<ms>-<seq>`, a sequence number of a few digits at most in practice.
      hooks.checkSize(text, broadcastOptions.event, `${Date.now()}-0000`.length);
      const fields = broadcastOptions.event === undefined ? ["data", text] : ["data", text, "event", broadcastOptions.event];
      return (yield* until(redis.xadd(channel, "MAXLEN", "~", historySize, "*", ...fields))) as string;
    },
    send: (clientId, data, sendOptions = {}) => hooks.sendUnrecorded(clientId, data, sendOptions.event),
    get clients() {
      return local.clients;
    },
    get stats() {
      return local.stats;
    },
    get onSlowClient() {
      return local.onSlowClient;
    },
    set onSlowClient(hook) {
      local.onSlowClient = hook;
    },
    close: () => local.close(),
  };
  return daemonReturnedAs(readerTask, source);
});

/**
 * Stream ids (`<ms>-<seq>`, or `<ms>`) in stream order; a `Last-Event-ID` that is not one (ASCII digits,
 * nothing around them: not trimmed) replays nothing.
 */
function streamOrder(id: number | string | undefined, lastEventId: string): boolean {
  if (typeof id !== "string") return false;
  const last = parseStreamId(lastEventId);
  const own = parseStreamId(id);
  if (last === undefined || own === undefined) return false;
  return own[0] > last[0] || (own[0] === last[0] && own[1] > last[1]);
}

function parseStreamId(id: string): [bigint, bigint] | undefined {
  const match = /^([0-9]{1,20})(?:-([0-9]{1,20}))?$/.exec(id);
  return match === null ? undefined : [BigInt(match[1] as string), BigInt(match[2] ?? "0")];
}

interface StreamCounts {
  /** Entries ever added (XINFO `entries-added`, Redis 7+; 0 when unknown). */
  added: number;
  /** Entries in the stream now. */
  length: number;
  /** The id of the oldest entry still in the stream. */
  firstEntry: string | undefined;
}

/** The counts of an XINFO STREAM reply (a flat list of names and values). */
function streamCounts(info: unknown[] | undefined): StreamCounts {
  const field = (name: string): unknown => {
    const at = info?.indexOf(name) ?? -1;
    return at < 0 ? undefined : info?.[at + 1];
  };
  const first = field("first-entry");
  const added = Number(field("entries-added"));
  return {
    added: Number.isFinite(added) ? added : 0,
    length: Number(field("length")) || 0,
    firstEntry: Array.isArray(first) && typeof first[0] === "string" ? first[0] : undefined,
  };
}

/** Orders two stream ids (`<ms>-<seq>`). */
function compareStreamIds(a: string, b: string): number {
  const [aMs = "0", aSeq = "0"] = a.split("-");
  const [bMs = "0", bSeq = "0"] = b.split("-");
  const ms = BigInt(aMs) - BigInt(bMs);
  if (ms !== 0n) return ms > 0n ? 1 : -1;
  const seq = BigInt(aSeq) - BigInt(bSeq);
  return seq === 0n ? 0 : seq > 0n ? 1 : -1;
}
