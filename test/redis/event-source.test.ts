// corio/redis redisEventSource against a real redis-server (issue 15): two
// corio "processes" (two run() roots, each with its own connections, its
// own source and its own HTTP server on 127.0.0.1) share one channel; raw
// HTTP clients read the event streams.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { type ClientRequest, get } from "node:http";
import { beforeEach, describe, it } from "node:test";
import { CancelledError, Event, type Operation, run, sleep, spawn, timeout, until } from "../../src/index.ts";
import { serveHttp } from "../../src/net/index.ts";
import { connectRedis, type RedisClient, type RedisEventSource, redisEventSource } from "../../src/redis/index.ts";
import { checkLeaks, promiseWithResolvers } from "../_helpers.ts";
import { needsRedisServer, type RedisServer, useRedisServer } from "../_redis.ts";

const skip = needsRedisServer();

interface Frame {
  id: string | undefined;
  event: string | undefined;
  data: string;
}

/** A raw client of an event stream over node:http: records each frame that carries data, with its own `id:` line if any. */
class RawSseClient {
  readonly frames: Frame[] = [];
  readonly #request: ClientRequest;
  readonly #closed: Promise<void>;
  #buffer = "";

  constructor(url: string, headers: Record<string, string> = {}) {
    const closed = promiseWithResolvers<void>();
    this.#closed = closed.promise;
    this.#request = get(url, { headers }, (response) => {
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => this.#feed(chunk));
      response.on("error", () => {});
    });
    this.#request.on("error", () => {});
    this.#request.on("close", () => closed.resolve());
  }

  get data(): string[] {
    return this.frames.map((frame) => frame.data);
  }

  /** Waits (polling, bounded) until `count` frames have come. */
  async next(count: number, ms = 5000): Promise<Frame[]> {
    const giveUp = Date.now() + ms;
    while (this.frames.length < count) {
      if (Date.now() > giveUp) assert.fail(`got ${this.frames.length} of ${count} frames within ${ms} ms: ${JSON.stringify(this.data)}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return this.frames.slice(0, count);
  }

  async close(): Promise<void> {
    this.#request.destroy();
    await this.#closed;
  }

  #feed(chunk: string): void {
    this.#buffer += chunk;
    for (let end = this.#buffer.indexOf("\n\n"); end >= 0; end = this.#buffer.indexOf("\n\n")) {
      const block = this.#buffer.slice(0, end);
      this.#buffer = this.#buffer.slice(end + 2);
      const frame: Frame = { id: undefined, event: undefined, data: "" };
      const data: string[] = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("id: ")) frame.id = line.slice(4);
        else if (line.startsWith("event: ")) frame.event = line.slice(7);
        else if (line.startsWith("data: ")) data.push(line.slice(6));
      }
      if (data.length === 0) continue; // the retry block, heartbeats
      frame.data = data.join("\n");
      this.frames.push(frame);
    }
  }
}

/** One corio "process": a root task with its connection, its source on `channel` and its HTTP server (`/events?id=`). */
interface Proc {
  source: RedisEventSource;
  redis: RedisClient;
  url: string;
  /** Runs `body` in a root task (on the default loop). */
  do<T>(body: () => Operation<T>): Promise<T>;
  stop(): Promise<void>;
}

/** Polls `condition` every 5 ms, up to `ms`. */
async function eventually(condition: () => boolean, what: string, ms = 5000): Promise<void> {
  const giveUp = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > giveUp) assert.fail(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function isStreamId(id: string | undefined): boolean {
  return id !== undefined && /^\d+-\d+$/.test(id);
}

/** Whether stream id `a` comes before `b`. */
function before_(a: string, b: string): boolean {
  const [am, as] = a.split("-").map(BigInt) as [bigint, bigint];
  const [bm, bs] = b.split("-").map(BigInt) as [bigint, bigint];
  return am < bm || (am === bm && as < bs);
}

describe("redisEventSource", { skip }, () => {
  checkLeaks();
  const redisServer = useRedisServer();
  let server: RedisServer;
  beforeEach(() => {
    server = redisServer();
  });

  async function startProcess(
    channel: string,
    options: { historySize?: number; maxBuffered?: number; onError?: (error: unknown) => void } = {},
  ): Promise<Proc> {
    const ready = promiseWithResolvers<Proc>();
    const stopping = new Event();
    const root = run(
      function* () {
        const redis = yield* connectRedis({ path: server.path });
        const source = yield* redisEventSource({
          redis,
          channel,
          heartbeat: 0,
          ...(options.historySize !== undefined && { historySize: options.historySize }),
          ...(options.maxBuffered !== undefined && { maxBuffered: options.maxBuffered }),
        });
        const http = yield* serveHttp(function* (request, response) {
          yield* source.attach(request, response, request.query.get("id") ?? undefined);
        });
        ready.resolve({
          source,
          redis,
          url: http.url,
          // broadcast and send hold no state of a loop: any root may call them.
          do: async (body) => await run(body),
          stop: async () => {
            stopping.set();
            await root;
          },
        });
        yield* stopping.wait();
        source.close();
        http.close(0);
        yield* http.waitClosed();
      },
      options.onError === undefined ? {} : { onError: options.onError },
    );
    root.then(undefined, (error: unknown) => ready.reject(error));
    return await ready.promise;
  }

  it("over HTTP: a client of A gets the broadcasts of A and B in order; reconnecting to B with Last-Event-ID replays what it missed", async () => {
    const a = await startProcess("sse1");
    const b = await startProcess("sse1");
    try {
      const client = new RawSseClient(`${a.url}/events?id=c`);
      await eventually(() => a.source.clients.includes("c"), "the client attached to A");
      const ids: string[] = [];
      ids.push(await b.do(() => b.source.broadcast("b1")));
      ids.push(await a.do(() => a.source.broadcast({ from: "a" }, { event: "json" })));
      ids.push(await b.do(() => b.source.broadcast("b2\nsecond line")));
      const frames = await client.next(3);
      assert.deepEqual(frames, [
        { id: ids[0], event: undefined, data: "b1" },
        { id: ids[1], event: "json", data: '{"from":"a"}' },
        { id: ids[2], event: undefined, data: "b2\nsecond line" },
      ]);
      assert.ok(ids.every(isStreamId) && before_(ids[0] as string, ids[1] as string) && before_(ids[1] as string, ids[2] as string));
      await client.close();
      await eventually(() => a.source.clients.length === 0, "the client left A");

      // Missed while away, broadcast on both processes.
      const missed = [await b.do(() => b.source.broadcast("b3")), await a.do(() => a.source.broadcast("a4"))];
      const back = new RawSseClient(`${b.url}/events?id=c`, { "last-event-id": ids[2] as string });
      await eventually(() => b.source.clients.includes("c"), "the client attached to B");
      const live = await a.do(() => a.source.broadcast("a5"));
      assert.deepEqual(await back.next(3), [
        { id: missed[0], event: undefined, data: "b3" },
        { id: missed[1], event: undefined, data: "a4" },
        { id: live, event: undefined, data: "a5" },
      ]);
      await back.close();
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  it("concurrent broadcasts from two processes reach every client in one order, the same everywhere", async () => {
    const a = await startProcess("sse2");
    const b = await startProcess("sse2");
    try {
      const onA = new RawSseClient(`${a.url}/events?id=x`);
      const onB = new RawSseClient(`${b.url}/events?id=y`);
      await eventually(() => a.source.clients.length === 1 && b.source.clients.length === 1, "both clients attached");
      const burst = (proc: Proc, name: string) =>
        proc.do(function* () {
          const tasks = [];
          for (let i = 0; i < 20; i++) tasks.push(yield* spawn(() => proc.source.broadcast(`${name}${i}`)));
          const ids: string[] = [];
          for (const task of tasks) ids.push(yield* task);
          return ids;
        });
      const [idsA, idsB] = await Promise.all([burst(a, "a"), burst(b, "b")]);
      const seenOnA = await onA.next(40);
      const seenOnB = await onB.next(40);
      assert.deepEqual(seenOnA, seenOnB);
      const ids = seenOnA.map((frame) => frame.id as string);
      for (let i = 1; i < ids.length; i++) assert.ok(before_(ids[i - 1] as string, ids[i] as string), `ids in order at ${i}`);
      assert.deepEqual(new Set(ids), new Set([...idsA, ...idsB]));
      // Each process' broadcasts keep the order they were made in.
      for (const name of ["a", "b"]) {
        const own = seenOnA.map((frame) => frame.data).filter((data) => data.startsWith(name));
        assert.deepEqual(
          own,
          Array.from({ length: 20 }, (_, i) => `${name}${i}`),
        );
      }
      await onA.close();
      await onB.close();
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  it("a process started later reads the history from the stream, so it replays events sent before it ran", async () => {
    const a = await startProcess("sse3", { historySize: 3 });
    let late: Proc | undefined;
    try {
      const ids: string[] = [];
      for (let i = 1; i <= 5; i++) ids.push(await a.do(() => a.source.broadcast(`event ${i}`)));
      late = await startProcess("sse3", { historySize: 3 });
      const client = new RawSseClient(`${late.url}/events?id=r`, { "last-event-id": ids[1] as string });
      assert.deepEqual(await client.next(3), [
        { id: ids[2], event: undefined, data: "event 3" },
        { id: ids[3], event: undefined, data: "event 4" },
        { id: ids[4], event: undefined, data: "event 5" },
      ]);
      await client.close();
      // An id that is not a stream id (ASCII digits, one dash between, nothing around) replays nothing.
      const unreadable = ["yesterday", "", "-1", "0x1-0", "+1-0", "1-2-3", `\u00a0${ids[1]}`, `${ids[1]}\u00a0`];
      const others = unreadable.map((id, i) => new RawSseClient(`${late?.url}/events?id=s${i}`, { "last-event-id": id }));
      await eventually(() => late?.source.clients.length === unreadable.length, "attached");
      const next = await a.do(() => a.source.broadcast("event 6"));
      for (const [i, other] of others.entries()) {
        assert.deepEqual(await other.next(1), [{ id: next, event: undefined, data: "event 6" }], JSON.stringify(unreadable[i]));
        await other.close();
      }
    } finally {
      await a.stop();
      await late?.stop();
    }
  });

  it("send stays local: it reaches a client of this process only, without an id, and is not replayed", async () => {
    const a = await startProcess("sse4");
    const b = await startProcess("sse4");
    try {
      const client = new RawSseClient(`${a.url}/events?id=c`);
      await eventually(() => a.source.clients.includes("c"), "attached");
      assert.equal(b.source.send("c", "from b"), false);
      assert.equal(a.source.send("c", { private: true }, { event: "note" }), true);
      const id = await b.do(() => b.source.broadcast("public"));
      assert.deepEqual(await client.next(2), [
        { id: undefined, event: "note", data: '{"private":true}' },
        { id, event: undefined, data: "public" },
      ]);
      await client.close();
      const again = new RawSseClient(`${a.url}/events?id=c`, { "last-event-id": "0" });
      await eventually(() => a.source.clients.includes("c"), "attached again");
      const last = await a.do(() => a.source.broadcast("last"));
      assert.deepEqual(
        (await again.next(2)).map((frame) => [frame.id, frame.data]),
        [
          [id, "public"],
          [last, "last"],
        ],
      );
      await again.close();
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  it("rejects bad events before they reach Redis; skips and reports stream entries it cannot send", async () => {
    const reports: unknown[] = [];
    const a = await startProcess("sse5", { onError: (error) => reports.push(error) });
    try {
      const client = new RawSseClient(`${a.url}/events?id=c`);
      await eventually(() => a.source.clients.includes("c"), "attached");
      await a.do(function* () {
        for (const [data, event] of [
          ["x", "type\ndata: forged"],
          [undefined, undefined],
          [() => 1, undefined],
        ] as const) {
          try {
            yield* a.source.broadcast(data, event === undefined ? {} : { event });
            assert.fail("expected a TypeError");
          } catch (error) {
            assert.ok(error instanceof TypeError && /^Cannot send an event: /.test(error.message), String(error));
          }
        }
        assert.equal(yield* until(a.redis.exists("sse5")), 0, "nothing was written");
        // Entries written by something else: no data field, a type with a line break.
        yield* until(a.redis.xadd("sse5", "*", "payload", "x"));
        yield* until(a.redis.xadd("sse5", "*", "data", "x", "event", "a\r\nid: 1"));
      });
      const id = await a.do(() => a.source.broadcast("fine"));
      assert.deepEqual(await client.next(1), [{ id, event: undefined, data: "fine" }]);
      assert.equal(reports.length, 2);
      assert.match(String(reports[0]), /redisEventSource sse5: skipped the stream entry \d+-\d+: the entry has no data field/);
      assert.match(String(reports[1]), /skipped the stream entry \d+-\d+: Cannot send an event: its type must not hold a line break/);
      await client.close();
    } finally {
      await a.stop();
    }
  });

  it("an event larger than maxBuffered is refused before it reaches Redis; one written anyway is skipped and reported, and no client is dropped", async () => {
    const reports: unknown[] = [];
    const a = await startProcess("sse-big", { maxBuffered: 4096, onError: (error) => reports.push(error) });
    try {
      const client = new RawSseClient(`${a.url}/events?id=c`);
      await eventually(() => a.source.clients.includes("c"), "attached");
      await a.do(function* () {
        try {
          yield* a.source.broadcast("x".repeat(5000));
          assert.fail("expected a RangeError");
        } catch (error) {
          assert.ok(error instanceof RangeError && /over maxBuffered \(4096\)/.test(error.message), String(error));
        }
        assert.throws(() => a.source.send("c", "y".repeat(5000)), RangeError);
        assert.equal(yield* until(a.redis.exists("sse-big")), 0, "nothing was written");
        // Written by a process with a larger maxBuffered.
        yield* until(a.redis.xadd("sse-big", "*", "data", "z".repeat(5000)));
      });
      const id = await a.do(() => a.source.broadcast("fine"));
      assert.deepEqual(await client.next(1), [{ id, event: undefined, data: "fine" }]);
      assert.deepEqual(a.source.clients, ["c"]);
      assert.equal(a.source.stats.droppedSlow, 0);
      assert.equal(reports.length, 1);
      assert.match(String(reports[0]), /skipped an event of \d+ bytes, over maxBuffered \(4096\)/);
      await client.close();
      // A client replaying the history skips it too, and stays.
      const again = new RawSseClient(`${a.url}/events?id=d`, { "last-event-id": "0-1" });
      assert.deepEqual(await again.next(1), [{ id, event: undefined, data: "fine" }]);
      assert.ok(a.source.clients.includes("d"));
      await again.close();
    } finally {
      await a.stop();
    }
  });

  it("a process that falls more than historySize behind reports the broadcasts trimmed before it read them; one that keeps up reports nothing", async () => {
    const reports: unknown[] = [];
    const a = await startProcess("sse-trim", { historySize: 5, onError: (error) => reports.push(error) });
    try {
      const client = new RawSseClient(`${a.url}/events?id=t`);
      await eventually(() => a.source.clients.includes("t"), "the client attached");
      // Keeping up: a few broadcasts at a time, each read before the next, lose nothing.
      for (let i = 0; i < 12; i++) await a.do(() => a.source.broadcast(`kept ${i}`));
      await client.next(12);
      assert.deepEqual(reports, []);
      // redis-cli writes 1,000 broadcasts while this process (and so A's reader) is blocked in spawnSync:
      // the stream keeps about 5 (whole blocks of 100), so A cannot read most of them.
      const lines = Array.from({ length: 1000 }, (_, i) => `XADD sse-trim MAXLEN ~ 5 * data ${i}`).join("\n");
      const written = spawnSync("redis-cli", ["-s", server.path], { input: `${lines}\n`, encoding: "utf8" });
      assert.equal(written.status, 0, written.stderr);
      await eventually(() => reports.length > 0, "the trim was reported");
      const match =
        /(\d+) broadcast\(s\) after \S+ were trimmed from the stream before this process read them \(it fell more than historySize = 5 events behind\)/.exec(
          String(reports[0]),
        );
      assert.ok(match !== null, String(reports[0]));
      // What was delivered and what was reported lost add up to what was written.
      await eventually(() => client.frames.length - 12 + Number(match[1]) >= 1000, "every broadcast delivered or reported", 10_000);
      assert.equal(client.frames.length - 12 + Number(match[1]), 1000);
      await client.close();
    } finally {
      await a.stop();
    }
  });

  it("after Redis restarts, broadcasts reach the clients again, with ids still in order", async () => {
    const reports: unknown[] = [];
    const a = await startProcess("sse6", { onError: (error) => reports.push(error) });
    const b = await startProcess("sse6", { onError: (error) => reports.push(error) });
    try {
      const client = new RawSseClient(`${a.url}/events?id=c`);
      await eventually(() => a.source.clients.includes("c"), "attached");
      const first = await b.do(() => b.source.broadcast("before"));
      await client.next(1);
      await server.restart();
      const second = await b.do(() => b.source.broadcast("after"));
      assert.deepEqual(await client.next(2, 10_000), [
        { id: first, event: undefined, data: "before" },
        { id: second, event: undefined, data: "after" },
      ]);
      assert.ok(before_(first, second));
      await client.close();
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  it("cancelled while it starts (Redis down): throws CancelledError and leaves no connection open", async () => {
    await run(function* () {
      const redis = yield* connectRedis({ path: server.path });
      yield* until(server.kill());
      try {
        const starting = yield* spawn(() => redisEventSource({ redis, channel: "sse7" }));
        yield* sleep(100); // it waits for Redis (cancelled wherever it is, the outcome is the same)
        starting.cancel();
        try {
          yield* starting;
          assert.fail("expected a cancellation");
        } catch (error) {
          assert.ok(error instanceof CancelledError, String(error));
        }
      } finally {
        yield* until(server.restart());
      }
    });
  });

  it("rejects bad options, and closes its reading connection with its owner", async () => {
    await run(function* () {
      const redis = yield* connectRedis({ path: server.path });
      for (const [options, type] of [
        [{ redis: undefined, channel: "c" }, TypeError],
        [{ redis, channel: "" }, TypeError],
        [{ redis, channel: "c", historySize: 0 }, RangeError],
        [{ redis, channel: "c", retry: -1 }, RangeError],
      ] as const) {
        try {
          yield* redisEventSource(options as never);
          assert.fail("expected an error");
        } catch (error) {
          assert.ok(error instanceof type, String(error));
        }
      }
      const clientsBefore = Number(/connected_clients:(\d+)/.exec(yield* until(redis.info("clients")))?.[1]);
      yield* run(function* () {
        yield* redisEventSource({ redis, channel: "c" });
        const during = Number(/connected_clients:(\d+)/.exec(yield* until(redis.info("clients")))?.[1]);
        assert.equal(during, clientsBefore + 1);
      });
      const giveUp = Date.now() + 5000;
      for (;;) {
        const after = Number(/connected_clients:(\d+)/.exec(yield* until(redis.info("clients")))?.[1]);
        if (after === clientsBefore) break;
        assert.ok(Date.now() < giveUp, "the reading connection was closed");
        yield* until(new Promise((resolve) => setTimeout(resolve, 5)));
      }
    });
  });

  it("a source started inside timeout() is the caller's when timeout returns it: its reader goes on until the caller ends", async () => {
    const channel = "sse-timeout";
    const counted = (redis: RedisClient) => until(redis.info("clients").then((info) => Number(/connected_clients:(\d+)/.exec(info)?.[1])));
    await run(function* () {
      const redis = yield* connectRedis({ path: server.path });
      const clientsBefore = yield* counted(redis);
      const delivered = yield* run(function* () {
        const source = yield* timeout(5000, redisEventSource({ redis, channel, heartbeat: 0 }));
        const http = yield* serveHttp(function* (request, response) {
          yield* source.attach(request, response, "c");
        });
        const client = new RawSseClient(`${http.url}/events`);
        yield* until(eventually(() => source.clients.includes("c"), "the client attached"));
        yield* source.broadcast("after the timeout returned");
        const frames = yield* until(client.next(1));
        yield* until(client.close());
        http.close(0);
        return frames.map((frame) => frame.data);
      });
      assert.deepEqual(delivered, ["after the timeout returned"]);
      // The caller has ended: its reading connection went with it.
      const giveUp = Date.now() + 5000;
      while ((yield* counted(redis)) !== clientsBefore) {
        assert.ok(Date.now() < giveUp, "the reading connection was closed with the caller");
        yield* until(new Promise((resolve) => setTimeout(resolve, 5)));
      }
    });
  });
});
