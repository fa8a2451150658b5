import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Future, run, sleep, until } from "../../src/index.ts";
import { EventSource, type HttpServer, serveHttp } from "../../src/net/index.ts";
import { checkLeaks } from "../_helpers.ts";

checkLeaks();

interface Frame {
  id?: string;
  event?: string;
  data?: string;
}

/** A minimal SSE client over fetch: reads frames as they come. */
class SseClient {
  readonly frames: Frame[] = [];
  readonly controller = new AbortController();
  readonly #waiters: (() => void)[] = [];
  readonly done: Promise<void>;

  constructor(url: string, headers: Record<string, string> = {}) {
    this.done = this.#read(url, headers).catch(() => {});
  }

  async next(count = 1): Promise<Frame[]> {
    while (this.frames.filter((f) => f.data !== undefined).length < count) await new Promise<void>((resolve) => this.#waiters.push(resolve));
    return this.frames.filter((f) => f.data !== undefined);
  }

  /** Waits until `count` frames of any kind (heartbeats included) have arrived. */
  async frameCount(count: number): Promise<void> {
    while (this.frames.length < count) await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  close(): Promise<void> {
    this.controller.abort();
    return this.done;
  }

  async #read(url: string, headers: Record<string, string>): Promise<void> {
    const response = await fetch(url, { headers, signal: this.controller.signal });
    const decoder = new TextDecoder();
    let buffer = "";
    for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
        const frame: Frame = {};
        for (const line of buffer.slice(0, end).split("\n")) {
          const [field, ...rest] = line.split(": ");
          const value = rest.join(": ");
          if (field === "id") frame.id = value;
          else if (field === "event") frame.event = value;
          else if (field === "data") frame.data = frame.data === undefined ? value : `${frame.data}\n${value}`;
        }
        buffer = buffer.slice(end + 2);
        this.frames.push(frame);
        for (const wake of this.#waiters.splice(0)) wake();
      }
    }
  }
}

/** Runs `body` with an SSE server whose handler attaches clients by `?id=`. */
async function withEvents(
  options: ConstructorParameters<typeof EventSource>[0],
  body: (events: EventSource, server: HttpServer) => Promise<void>,
): Promise<void> {
  const finished = new Future<void>();
  let failure: unknown;
  await run(function* () {
    const events = new EventSource(options);
    const server = yield* serveHttp(function* (request, response) {
      yield* events.attach(request, response, request.query.get("id") ?? undefined);
    });
    const test = body(events, server).then(
      () => finished.resolve(),
      (error: unknown) => {
        failure = error;
        finished.resolve();
      },
    );
    yield* finished;
    yield* until(test);
    events.close();
    server.close(0);
    yield* server.waitClosed();
  });
  if (failure !== undefined) throw failure;
}

/** Waits (on the loop) until the source has `n` clients. */
async function clientsConnected(events: EventSource, n: number): Promise<void> {
  await run(function* () {
    while (events.clients.length < n) yield* sleep(1);
  });
}

describe("EventSource", () => {
  it("sends to one client, broadcasts to all, with ids and event types", async () => {
    await withEvents({ heartbeat: 0 }, async (events, server) => {
      const a = new SseClient(`${server.url}/?id=a`);
      const b = new SseClient(`${server.url}/?id=b`);
      await clientsConnected(events, 2);
      assert.deepEqual(events.clients.sort(), ["a", "b"]);
      assert.equal(events.send("a", { only: "a" }), true);
      assert.equal(events.send("nobody", 1), false);
      assert.equal(events.broadcast("to all\nsecond line", { event: "news" }), 2);
      const [first, second] = await a.next(2);
      assert.deepEqual(first, { id: "1", data: '{"only":"a"}' });
      assert.deepEqual(second, { id: "3", event: "news", data: "to all\nsecond line" });
      assert.deepEqual(await b.next(1), [{ id: "3", event: "news", data: "to all\nsecond line" }]);
      await a.close();
      await b.close();
    });
  });

  it("clients attached without an id each get their own, and all receive a broadcast", async () => {
    await withEvents({ heartbeat: 0 }, async (events, server) => {
      const clients = [new SseClient(`${server.url}/`), new SseClient(`${server.url}/`), new SseClient(`${server.url}/`)];
      await clientsConnected(events, 3);
      assert.equal(new Set(events.clients).size, 3);
      assert.equal(events.broadcast("hello"), 3);
      for (const client of clients) assert.deepEqual(await client.next(1), [{ id: "1", data: "hello" }]);
      for (const client of clients) await client.close();
    });
  });

  it("removes a client that disconnects at once", async () => {
    await withEvents({ heartbeat: 0 }, async (events, server) => {
      const client = new SseClient(`${server.url}/?id=gone`);
      await clientsConnected(events, 1);
      await client.close();
      await run(function* () {
        while (events.clients.length > 0) yield* sleep(1);
      });
      assert.equal(events.send("gone", "x"), false);
    });
  });

  it("replays missed events to a client that reconnects with Last-Event-ID", async () => {
    await withEvents({ heartbeat: 0, historySize: 3 }, async (events, server) => {
      for (let i = 1; i <= 5; i++) events.broadcast(`event ${i}`);
      const client = new SseClient(`${server.url}/?id=r`, { "last-event-id": "3" });
      const frames = await client.next(2);
      assert.deepEqual(
        frames.map((f) => [f.id, f.data]),
        [
          ["4", "event 4"],
          ["5", "event 5"],
        ],
      );
      await client.close();
    });
  });

  it("sends heartbeats to keep the stream open", async () => {
    await withEvents({ heartbeat: 20 }, async (events, server) => {
      const client = new SseClient(`${server.url}/?id=h`);
      await clientsConnected(events, 1);
      await client.frameCount(3); // the retry frame, then two heartbeats
      assert.ok(client.frames.slice(1).every((frame) => frame.data === undefined));
      await client.close();
    });
  });

  it("drops a client that reads too slowly, and counts it", async () => {
    const dropped: string[] = [];
    await withEvents({ heartbeat: 0, maxBuffered: 64 * 1024 }, async (events, server) => {
      events.onSlowClient = (id) => dropped.push(id);
      const controller = new AbortController();
      // A client that connects and never reads the body.
      const stalled = fetch(`${server.url}/?id=slow`, { signal: controller.signal }).catch(() => undefined);
      await clientsConnected(events, 1);
      const big = "x".repeat(64 * 1024);
      for (let i = 0; i < 200 && events.clients.length > 0; i++) {
        events.broadcast(big);
        await new Promise((resolve) => setImmediate(resolve));
      }
      assert.deepEqual(dropped, ["slow"]);
      assert.equal(events.stats.droppedSlow, 1);
      controller.abort();
      await stalled;
    });
  });
});
