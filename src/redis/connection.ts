/**
 * A Redis connection owned by a corio task.
 * @module
 */

import { type RedisOptions as IoRedisOptions, Redis } from "ioredis";
import { defineOperation } from "../core/_dev.ts";
import { adoptResourceWithCleanup } from "../core/_resource.ts";
import { until } from "../core/call.ts";
import { isCancellation, TimeoutError } from "../core/errors.ts";
import type { Operation } from "../core/operation.ts";
import { currentTime, sleep } from "../time/sleep.ts";
import { timeout } from "../time/timeout.ts";

/** Where and how to connect: a URL (`redis://host:port/db`, `rediss://…`, `redis+unix:///path/to/socket`) or options. */
export type RedisAddress = string | RedisConnectOptions;

/** Options of `connectRedis`. */
export interface RedisConnectOptions {
  /** `redis://host:port/db`, `rediss://` (TLS) or `redis+unix:///socket/path`. */
  url?: string;
  host?: string;
  port?: number;
  /** A unix socket path. */
  path?: string;
  password?: string;
  db?: number;
  /** How long to keep trying to reach the server at first, in ms; then a clear error. @default 5000 */
  connectTimeout?: number;
  /** More ioredis options, passed as they are. */
  ioredis?: IoRedisOptions;
}

/** The ioredis client `connectRedis` gives: the library users of Redis on Node already know. */
export type RedisClient = Redis;

/**
 * Connects to Redis and ties the connection to the current task: it is
 * closed (`QUIT`, then dropped) when the task ends, for any reason. An
 * unreachable server gives an `Error` naming the address and the cause
 * after `connectTimeout` (tries every 100 ms meanwhile, so a server that is
 * still starting is waited for), never a hang. Once connected, ioredis
 * reconnects by itself after a server restart (commands issued meanwhile
 * wait, then fail after 20 retries).
 *
 * Needs `ioredis` (an optional peer dependency of corio).
 *
 * **Cancellation:** cancelling the caller while it connects drops the
 * attempt and throws `CancelledError`.
 *
 * @param address A URL or options. @default `redis://127.0.0.1:6379`
 * @returns The connected ioredis client.
 * @throws {Error} "Cannot connect to Redis at …" when the server cannot be reached in time.
 * @example
 * ```ts
 * import { run, until } from "corio";
 * import { connectRedis } from "corio/redis";
 * const greeting = await run(function* () {
 *   const redis = yield* connectRedis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
 *   yield* until(redis.set("greeting", "hello"));
 *   return yield* until(redis.get("greeting"));
 * }); // the connection is closed here, with the task
 * console.assert(greeting === "hello");
 * ```
 */
export const connectRedis = defineOperation(function* connectRedis(address: RedisAddress = {}): Operation<RedisClient> {
  return yield* openClient(address, {}, "redis");
});

/** `connectRedis` with more ioredis options (BullMQ wants `maxRetriesPerRequest: null`), the resource named `purpose`. */
export function* openClient(address: RedisAddress, extra: IoRedisOptions, purpose: string): Operation<RedisClient> {
  const options = typeof address === "string" ? { url: address } : address;
  if (options === null || typeof options !== "object")
    throw new TypeError(`Cannot connect to Redis: expected a URL or options, received ${options === null ? "null" : typeof options}`);
  const connectTimeout = options.connectTimeout ?? 5000;
  if (!(connectTimeout >= 0))
    throw new RangeError(`Cannot connect to Redis: connectTimeout must be a non-negative number of ms, received ${String(connectTimeout)}`);
  const where = describeAddress(options);
  const giveUpAt = currentTime() + connectTimeout;
  /** What made the last attempt fail: an attempt cut short by the deadline has no error of its own to tell. */
  let previousCause: unknown;
  for (;;) {
    const attempt = createClient(options, extra);
    try {
      // A connect that hangs (a dropped SYN) is bounded by the deadline too.
      yield* timeout(Math.max(1, giveUpAt - currentTime()), until(attempt.ready));
      const client = attempt.client;
      const keeper = adoptResourceWithCleanup(`${purpose} ${where}`, () => closeClient(client), "connect to Redis");
      attempt.connected();
      return keeper.returnedAs(client);
    } catch (error) {
      // A failed attempt is already closed; disconnecting it again would start ioredis' 2 s disconnect timer for nothing.
      if (attempt.client.status !== "end") attempt.client.disconnect();
      if (isCancellation(error)) throw error;
      const cause = attempt.lastError() ?? (error instanceof TimeoutError && previousCause !== undefined ? previousCause : error);
      previousCause = cause;
      if (currentTime() >= giveUpAt) {
        throw new Error(`Cannot connect to Redis at ${where} within ${connectTimeout} ms: ${cause instanceof Error ? cause.message : String(cause)}`, {
          cause,
        });
      }
      yield* sleep(Math.min(100, Math.max(0, giveUpAt - currentTime())));
    }
  }
}

/** An ioredis client with options shared by corio's Redis helpers (BullMQ needs `maxRetriesPerRequest: null` on its own connections). */
export function createClient(options: RedisConnectOptions, extra: IoRedisOptions = {}) {
  let everConnected = false;
  let last: unknown;
  const base: IoRedisOptions = {
    lazyConnect: true,
    // corio bounds the attempt itself (ioredis' own connect timer outlives a failed attempt).
    connectTimeout: 0,
    // Before the first connection corio retries by itself (with a deadline); after it, ioredis reconnects with a back-off.
    retryStrategy: (times: number) => (everConnected ? Math.min(times * 100, 2000) : null),
    ...(options.host !== undefined && { host: options.host }),
    ...(options.port !== undefined && { port: options.port }),
    ...(options.path !== undefined && { path: options.path }),
    ...(options.password !== undefined && { password: options.password }),
    ...(options.db !== undefined && { db: options.db }),
    ...options.ioredis,
    ...extra,
  };
  const socket = options.url !== undefined ? unixSocketOf(options.url) : undefined;
  // ioredis' option types do not allow `undefined` members (exactOptionalPropertyTypes): build through one untyped constructor.
  const Client = Redis as unknown as new (...args: unknown[]) => Redis;
  const client =
    options.url !== undefined && socket === undefined ? new Client(options.url, base) : new Client(socket === undefined ? base : { ...base, path: socket });
  // ioredis emits 'error' for every failed attempt; without a listener it prints them. Keep the last for the message.
  client.on("error", (error: unknown) => {
    last = error;
  });
  return {
    client,
    ready: client.connect(),
    lastError: () => last,
    connected() {
      everConnected = true;
    },
  };
}

/** The socket path of a `redis+unix:///path` (or `unix:///path`) URL: ioredis takes unix sockets only as an option. */
function unixSocketOf(url: string): string | undefined {
  const match = /^(?:redis\+unix|unix):\/\/(\/[^?#]*)/.exec(url);
  return match === null ? undefined : decodeURIComponent(match[1] as string);
}

function describeAddress(options: RedisConnectOptions): string {
  if (options.url !== undefined) return options.url.replace(/\/\/[^@/]*@/, "//***@");
  if (options.path !== undefined) return options.path;
  return `${options.host ?? "127.0.0.1"}:${options.port ?? 6379}`;
}

/** Closes politely (QUIT waits for replies in flight), or drops the connection if that fails or the server is gone. */
export function* closeClient(client: Redis): Operation<void> {
  try {
    if (client.status === "ready") yield* until(client.quit());
  } catch {
    // The server went away meanwhile: nothing left to flush.
  }
  yield* dropClient(client);
}

/**
 * Drops the connection at once and waits until its socket is closed, so
 * nothing is left open when the owner ends (also for connections that must
 * not QUIT, such as one blocked in a read).
 */
export function* dropClient(client: Redis): Operation<void> {
  if (client.status === "end") return;
  if (client.status === "reconnecting") {
    // Between two attempts there is no socket, and ioredis emits no "end": disconnect() only clears the reconnect timer. It
    // would also arm a 2 s timer to destroy the socket already closed (whose close event has passed): forget that socket first.
    const internals = client as unknown as ReconnectingInternals;
    if (internals.connector?.stream?.destroyed === true) internals.connector.stream = undefined;
    client.disconnect();
    // Commands queued for the next connection would wait for ever (and a QUIT behind them): end the client as ioredis
    // ends one whose socket closed while closing by hand (its close handler: status "end", queued commands failed).
    if (typeof internals.setStatus === "function" && typeof internals.flushQueue === "function") {
      internals.setStatus("end");
      internals.flushQueue(new Error("Connection is closed."));
    }
    return;
  }
  const ended = new Promise<void>((resolve) => client.once("end", () => resolve()));
  client.disconnect();
  if ((client.status as string) !== "end") yield* until(ended);
}

/** The parts of an ioredis client (5 and 6) that `dropClient` needs between two connection attempts. */
interface ReconnectingInternals {
  connector?: { stream?: { destroyed?: boolean } | undefined };
  setStatus?: (status: "end") => void;
  flushQueue?: (error: Error) => void;
}
