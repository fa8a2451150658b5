import assert from "node:assert/strict";
import { connect } from "node:net";
import { describe, it } from "node:test";
import fc from "fast-check";
import { Future, run, sleep, spawn, timeout, until } from "../../src/index.ts";
import { externalEvents } from "../../src/net/event-source.ts";
import { EventSource, type HttpRequest, type HttpResponse, type HttpServer, serveHttp } from "../../src/net/index.ts";
import { runVirtual } from "../../src/testing/index.ts";
import { checkLeaks, promiseWithResolvers } from "../_helpers.ts";

checkLeaks();

interface Frame {
  id?: string;
  event?: string;
  data?: string;
}

/** An event as a browser dispatches it. */
interface DispatchedEvent {
  type: string;
  data: string;
  lastEventId: string;
}

/**
 * A parser of `text/event-stream` that follows the WHATWG HTML spec's
 * "interpreting an event stream" (9.2.6) to the letter, so the tests see
 * what a browser sees: lines end at CRLF, LF or CR (a CR at the end of a
 * chunk may pair with an LF at the start of the next), one space after the
 * colon is dropped, an `id` holding NUL is ignored, a blank line dispatches,
 * a block without data dispatches nothing. Feed it decoded text (the
 * caller's streaming `TextDecoder` does the UTF-8 decode and BOM strip).
 */
class EventStreamParser {
  readonly events: DispatchedEvent[] = [];
  /** Called at every blank line with the event dispatched, if any (heartbeats and `retry` blocks dispatch none). */
  onBlock: ((event: DispatchedEvent | undefined) => void) | undefined;
  retry: number | undefined;
  #line = "";
  #afterCr = false;
  #data = "";
  #type = "";
  #lastEventId = "";

  feed(text: string): void {
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      if (this.#afterCr) {
        this.#afterCr = false;
        if (c === "\n") {
          start = i + 1;
          continue;
        }
      }
      if (c === "\r" || c === "\n") {
        this.#processLine(this.#line + text.slice(start, i));
        this.#line = "";
        this.#afterCr = c === "\r";
        start = i + 1;
      }
    }
    this.#line += text.slice(start);
  }

  #processLine(line: string): void {
    if (line === "") {
      this.#dispatch();
      return;
    }
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") this.#type = value;
    else if (field === "data") this.#data += `${value}\n`;
    else if (field === "id") {
      if (!value.includes("\0")) this.#lastEventId = value;
    } else if (field === "retry") {
      if (/^[0-9]+$/.test(value)) this.retry = Number(value);
    }
  }

  #dispatch(): void {
    const lastEventId = this.#lastEventId;
    if (this.#data === "") {
      this.#type = "";
      this.onBlock?.(undefined);
      return;
    }
    const event = { type: this.#type === "" ? "message" : this.#type, data: this.#data.slice(0, -1), lastEventId };
    this.#data = "";
    this.#type = "";
    this.events.push(event);
    this.onBlock?.(event);
  }
}

/** A minimal SSE client over fetch: reads frames (blocks up to a blank line) as they come, parsed as a browser would. */
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
    const parser = new EventStreamParser();
    parser.onBlock = (event) => {
      const frame: Frame = {};
      if (event !== undefined) {
        frame.id = event.lastEventId;
        if (event.type !== "message") frame.event = event.type;
        frame.data = event.data;
      }
      this.frames.push(frame);
      for (const wake of this.#waiters.splice(0)) wake();
    };
    for await (const chunk of response.body as AsyncIterable<Uint8Array>) parser.feed(decoder.decode(chunk, { stream: true }));
  }
}

/** Runs `body` with an SSE server whose handler attaches clients by `?id=` (after calling `prepare`, if given). */
async function withEvents(
  options: ConstructorParameters<typeof EventSource>[0],
  body: (events: EventSource, server: HttpServer) => Promise<void>,
  prepare?: (request: HttpRequest, response: HttpResponse) => void,
): Promise<void> {
  const finished = new Future<void>();
  let failure: unknown;
  await run(function* () {
    const events = new EventSource(options);
    const server = yield* serveHttp(function* (request, response) {
      prepare?.(request, response);
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

/**
 * Runs `body` with one client of `events` attached to an in-memory response
 * (no socket, so a property can run it hundreds of times) and gives the
 * bytes of the stream, as Node would have encoded them.
 */
async function streamBytes(events: EventSource, body: () => void): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const raw = {
    destroyed: false,
    writableEnded: false,
    writableLength: 0,
    hasHeader: () => false,
    writeHead: () => raw,
    write: (chunk: string) => chunks.push(Buffer.from(chunk, "utf8")) > 0,
    end: () => {
      raw.writableEnded = true;
    },
    once: () => raw,
    off: () => raw,
  };
  const request = { headers: {} } as unknown as HttpRequest;
  const response = { raw } as unknown as HttpResponse;
  await run(function* () {
    const attached = yield* spawn(() => events.attach(request, response, "p"));
    while (events.clients.length === 0) yield* sleep(0);
    try {
      body();
    } finally {
      events.close();
      yield* attached;
    }
  });
  return Buffer.concat(chunks);
}

/**
 * A fake client response: each write waits in `writableLength` (a client that never reads) unless `reads`,
 * until `flush()` (the client reads all); `chunks` are the chunks written, as they were given, and `frames`
 * the same as text.
 */
function fakeClient(
  reads = false,
  headers: Record<string, string> = {},
): {
  raw: { writableLength: number; destroyed: boolean };
  frames: string[];
  chunks: (string | Buffer)[];
  flush(): void;
  request: HttpRequest;
  response: HttpResponse;
} {
  const frames: string[] = [];
  const chunks: (string | Buffer)[] = [];
  /** The callbacks of the writes not flushed yet. */
  const waiting: (() => void)[] = [];
  const flush = (): void => {
    raw.writableLength = 0;
    for (const callback of waiting.splice(0)) callback();
  };
  const raw = {
    destroyed: false,
    writableEnded: false,
    writableLength: 0,
    hasHeader: () => false,
    writeHead: () => raw,
    write(chunk: string | Buffer, callback?: () => void) {
      chunks.push(chunk);
      frames.push(String(chunk));
      if (callback !== undefined) waiting.push(callback);
      if (reads) queueMicrotask(flush);
      else raw.writableLength += Buffer.byteLength(chunk);
      return true;
    },
    end() {
      raw.writableEnded = true;
    },
    destroy() {
      raw.destroyed = true;
    },
    once: () => raw,
    off: () => raw,
  };
  return { raw, frames, chunks, flush, request: { headers } as unknown as HttpRequest, response: { raw } as unknown as HttpResponse };
}

/** `s` with each lone surrogate replaced by U+FFFD, as UTF-8 encoding does it (`String.prototype.toWellFormed`, ES2024). */
function wellFormed(s: string): string {
  return s.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, "\uFFFD");
}

/** Parses `bytes` cut at `cuts` (byte offsets, in any order), each piece decoded as it comes, as a browser would. */
function parseInChunks(bytes: Buffer, cuts: number[]): EventStreamParser {
  const parser = new EventStreamParser();
  const decoder = new TextDecoder();
  let start = 0;
  for (const cut of [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)) {
    parser.feed(decoder.decode(bytes.subarray(start, cut), { stream: true }));
    start = cut;
  }
  parser.feed(decoder.decode(bytes.subarray(start)));
  return parser;
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

  it("a client attached without an id never takes the stream of a client whose id the application chose", async () => {
    await withEvents({ heartbeat: 0 }, async (events, server) => {
      // Ids an application could give (a user named "client-1"), among them those of a counter's form.
      const named = ["client-1", "client-2", "1", "anonymous"].map((id) => new SseClient(`${server.url}/?id=${id}`));
      await clientsConnected(events, named.length);
      const anonymous = new SseClient(`${server.url}/`);
      await anonymous.frameCount(1); // the retry frame: it is attached
      assert.deepEqual(events.clients.slice(0, named.length), ["client-1", "client-2", "1", "anonymous"]);
      assert.equal(events.clients.length, named.length + 1);
      assert.equal(events.send("client-1", "private"), true);
      events.broadcast("all");
      assert.deepEqual(await named[0]?.next(2), [
        { id: "1", data: "private" },
        { id: "2", data: "all" },
      ]);
      assert.deepEqual(await anonymous.next(1), [{ id: "2", data: "all" }]);
      for (const client of [...named, anonymous]) await client.close();
    });
  });

  it("a HEAD request gets the stream's headers and no body at once, is no client, and its keep-alive connection goes on", { timeout: 30_000 }, async () => {
    await withEvents({ heartbeat: 0 }, async (events, server) => {
      const { port } = new URL(server.url);
      const socket = connect(Number(port), "127.0.0.1");
      let received = "";
      const streaming = promiseWithResolvers<void>();
      socket.setEncoding("latin1");
      socket.on("data", (chunk: string) => {
        received += chunk;
        if (received.includes("retry:")) streaming.resolve();
      });
      // The HEAD, then a GET on the same connection: it is answered only once the HEAD's answer is complete.
      socket.write("HEAD /?id=head HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\nGET /?id=get HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n");
      await streaming.promise;
      const [head, get] = received.split(/(?=HTTP\/1\.1 )/);
      assert.match(head ?? "", /^HTTP\/1\.1 200 OK\r\n/);
      assert.match(head ?? "", /\r\ncontent-type: text\/event-stream; charset=utf-8\r\n/i);
      assert.ok(head?.endsWith("\r\n\r\n"), "no body after the HEAD's headers");
      assert.match(get ?? "", /^HTTP\/1\.1 200 OK\r\n[\s\S]*retry: 1000\n\n/);
      assert.deepEqual(events.clients, ["get"]);
      socket.destroy();
    });
  });

  it("sends cache-control, x-accel-buffering and access-control-allow-origin: * only if the handler has not set them (or credentials)", async () => {
    const prepare = (request: HttpRequest, response: HttpResponse): void => {
      // ?set=all: a handler that allows one origin with credentials and wants no caching at all.
      if (request.query.get("set") === "all") {
        response.setHeader("access-control-allow-origin", "https://app.example");
        response.setHeader("access-control-allow-credentials", "true");
        response.setHeader("cache-control", "no-store");
        response.setHeader("x-accel-buffering", "yes");
        response.setHeader("content-type", "text/plain");
      } else if (request.query.get("set") === "credentials") response.setHeader("access-control-allow-credentials", "true");
    };
    await withEvents(
      { heartbeat: 0 },
      async (_events, server) => {
        const headers = async (query: string): Promise<Headers> => {
          const controller = new AbortController();
          const response = await fetch(`${server.url}/${query}`, { signal: controller.signal, headers: { origin: "https://other.example" } });
          controller.abort();
          await response.body?.cancel().catch(() => {});
          return response.headers;
        };
        const plain = await headers("");
        assert.equal(plain.get("content-type"), "text/event-stream; charset=utf-8");
        assert.equal(plain.get("cache-control"), "no-cache");
        assert.equal(plain.get("x-accel-buffering"), "no");
        assert.equal(plain.get("access-control-allow-origin"), "*");
        const set = await headers("?set=all");
        assert.equal(set.get("content-type"), "text/event-stream; charset=utf-8"); // a stream, whatever the handler said
        assert.equal(set.get("cache-control"), "no-store");
        assert.equal(set.get("x-accel-buffering"), "yes");
        assert.equal(set.get("access-control-allow-origin"), "https://app.example");
        assert.equal(set.get("access-control-allow-credentials"), "true");
        const credentials = await headers("?set=credentials");
        assert.equal(credentials.get("access-control-allow-origin"), null);
      },
      prepare,
    );
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

  it("splits data on CR and CRLF as well as LF, so data cannot forge fields or events (they arrive as LF)", async () => {
    await withEvents({ heartbeat: 0 }, async (events, server) => {
      const client = new SseClient(`${server.url}/?id=c`);
      await clientsConnected(events, 1);
      events.broadcast("hello\rid: 999\rdata: forged");
      events.broadcast("two\r\revent: forged\r\ndata: events?");
      events.broadcast("crlf\r\nlf\ncr\rend");
      const frames = await client.next(3);
      await client.close();
      assert.deepEqual(client.frames.slice(1), [
        { id: "1", data: "hello\nid: 999\ndata: forged" },
        { id: "2", data: "two\n\nevent: forged\ndata: events?" },
        { id: "3", data: "crlf\nlf\ncr\nend" },
      ]);
      assert.equal(frames.length, 3);
    });
  });

  it("rejects an event name holding CR or LF, before sending or recording anything", async () => {
    await withEvents({ heartbeat: 0 }, async (events, server) => {
      const client = new SseClient(`${server.url}/?id=c`);
      await clientsConnected(events, 1);
      for (const event of ["news\ndata: forged", "news\r", "\r\nid: 7"]) {
        assert.throws(() => events.broadcast("x", { event }), { name: "TypeError", message: /^Cannot send an event: .*line break.*received/ });
        assert.throws(() => events.send("c", "x", { event }), TypeError);
      }
      assert.equal(events.stats.sent, 0);
      events.broadcast("ok", { event: "news" });
      assert.deepEqual(await client.next(1), [{ id: "1", event: "news", data: "ok" }]);
      await client.close();
    });
  });

  it("rejects a retry that a browser would not read as a delay (not digits only)", () => {
    for (const retry of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 1e21]) {
      assert.throws(() => new EventSource({ retry }), { name: "RangeError", message: /^Cannot create an EventSource: retry .*received/ });
    }
    assert.throws(() => new EventSource({ retry: "1000\ndata: forged" as unknown as number }), TypeError);
    new EventSource({ retry: 0 }).close();
  });

  it("rejects data JSON cannot encode (undefined, a function) before recording it, so it cannot break later replays", async () => {
    await withEvents({ heartbeat: 0 }, async (events, server) => {
      events.broadcast("before");
      for (const data of [undefined, () => 1, Symbol("s")]) {
        assert.throws(() => events.broadcast(data), { name: "TypeError", message: /^Cannot send an event: .*received/ });
        assert.throws(() => events.send("r", data), TypeError);
      }
      const client = new SseClient(`${server.url}/?id=r`, { "last-event-id": "0" });
      await clientsConnected(events, 1);
      events.broadcast("after");
      assert.deepEqual(await client.next(2), [
        { id: "1", data: "before" },
        { id: "2", data: "after" },
      ]);
      await client.close();
    });
  });

  it("a Last-Event-ID greater than any id given (from before a restart) replays the whole history", async () => {
    // A new source, as in a restarted process: its ids start at 1 again, below the browser's.
    const events = new EventSource({ heartbeat: 0 });
    events.broadcast("new 1");
    events.send("back", "new 2");
    events.send("other", "not for back");
    events.broadcast("new 4");
    const replayed = async (lastEventId: string): Promise<string[]> => {
      const client = fakeClient(true, { "last-event-id": lastEventId });
      await run(function* () {
        const attached = yield* spawn(() => events.attach(client.request, client.response, "back"));
        yield* sleep(0);
        events.close();
        yield* attached;
      });
      return client.frames.slice(1).map((frame) => /^id: (\d+)/.exec(frame)?.[1] ?? frame);
    };
    assert.deepEqual(await replayed("10"), ["1", "2", "4"]);
    assert.deepEqual(await replayed("5"), ["1", "2", "4"]); // the next id: not given either
    assert.deepEqual(await replayed("4"), []);
    assert.deepEqual(await replayed("1"), ["2", "4"]);
  });

  it("a Last-Event-ID that is not ASCII digits, as the ids sent, replays nothing", async () => {
    const events = new EventSource({ heartbeat: 0 });
    for (let i = 1; i <= 5; i++) events.broadcast(`e${i}`);
    const replayed = async (lastEventId: string): Promise<string[]> => {
      const client = fakeClient(true, { "last-event-id": lastEventId });
      await run(function* () {
        const attached = yield* spawn(() => events.attach(client.request, client.response));
        yield* sleep(0);
        events.close();
        yield* attached;
      });
      return client.frames.slice(1).map((frame) => /^id: (\d+)/.exec(frame)?.[1] ?? frame);
    };
    for (const unreadable of ["", " ", "-1", "0x3", "3e0", "3.0", "+3", " 3", "３", "abc", "Infinity"]) {
      assert.deepEqual(await replayed(unreadable), [], JSON.stringify(unreadable));
    }
    assert.deepEqual(await replayed("4"), ["5"]);
    assert.deepEqual(await replayed("03"), ["4", "5"]);
  });

  it("replays to a client only the broadcasts and the events sent to it, never another client's", async () => {
    await withEvents({ heartbeat: 0 }, async (events, server) => {
      events.send("alice", "for alice"); // 1: alice is not connected: recorded for her replay
      events.broadcast("for all"); // 2
      events.send("bob", "for bob"); // 3
      events.send("alice", "for alice again"); // 4
      const alice = new SseClient(`${server.url}/?id=alice`, { "last-event-id": "0" });
      const bob = new SseClient(`${server.url}/?id=bob`, { "last-event-id": "1" });
      const anonymous = new SseClient(`${server.url}/`, { "last-event-id": "0" });
      await clientsConnected(events, 3);
      events.broadcast("done"); // 5: everyone's last frame, so each replay is complete once it arrives
      const data = async (client: SseClient, n: number): Promise<string[]> => (await client.next(n)).map((f) => `${f.id} ${f.data}`);
      assert.deepEqual(await data(alice, 4), ["1 for alice", "2 for all", "4 for alice again", "5 done"]);
      assert.deepEqual(await data(bob, 3), ["2 for all", "3 for bob", "5 done"]);
      assert.deepEqual(await data(anonymous, 2), ["2 for all", "5 done"]);
      for (const client of [alice, bob, anonymous]) await client.close();
    });
  });

  it("the tests' parser reads the spec's examples as a browser does, wherever the stream is cut (even inside a CRLF)", () => {
    const stream =
      ": comment\r\ndata: first\r\ndata:second\r\rid: 7\nevent: add\ndata\n\nid: bad\0id\ndata:  two spaces\r\n\r\nevent: lost\n\ndata: x\nretry: 12\nretry: 1e3\n\ndata: unfinished";
    const expected: DispatchedEvent[] = [
      { type: "message", data: "first\nsecond", lastEventId: "" },
      { type: "add", data: "", lastEventId: "7" },
      { type: "message", data: " two spaces", lastEventId: "7" },
      { type: "message", data: "x", lastEventId: "7" },
    ];
    const bytes = Buffer.from(stream, "utf8");
    for (let cut = 0; cut <= bytes.length; cut++) {
      const parser = parseInChunks(bytes, [cut]);
      assert.deepEqual(parser.events, expected, `cut at ${cut}`);
      assert.equal(parser.retry, 12);
    }
  });

  it("property: any data and any event type without a line break reach a browser intact, however the stream is cut; a type with one is rejected", async () => {
    // Characters that matter to the format, mixed with any code point and lone surrogates (which Node's UTF-8 encoder writes as U+FFFD).
    const unit = fc.oneof(
      fc.constantFrom("\r", "\n", "\r\n", "\0", ":", " ", "data:", "id: 9", "event: x", "retry: 1", "\uFEFF", "\uD800", "\uDC00"),
      fc.string({ unit: "binary", minLength: 1, maxLength: 1 }),
    );
    const text = fc.string({ unit, maxLength: 12 });
    const message = fc.record({ data: text, event: fc.option(text, { nil: undefined }), broadcast: fc.boolean() });
    await fc.assert(
      fc.asyncProperty(fc.array(message, { maxLength: 6 }), fc.array(fc.nat(), { maxLength: 8 }), async (messages, cuts) => {
        const events = new EventSource({ heartbeat: 0, retry: 5 });
        const expected: DispatchedEvent[] = [];
        const bytes = await streamBytes(events, () => {
          for (const { data, event, broadcast } of messages) {
            const options = event === undefined ? {} : { event };
            const send = (): unknown => (broadcast ? events.broadcast(data, options) : events.send("p", data, options));
            if (event !== undefined && /[\r\n]/.test(event)) {
              assert.throws(send, TypeError);
              continue;
            }
            send();
            const type = event === undefined || event === "" ? "message" : event;
            expected.push({ type: wellFormed(type), data: wellFormed(data.replace(/\r\n?/g, "\n")), lastEventId: String(expected.length + 1) });
          }
        });
        const parser = parseInChunks(bytes, cuts);
        assert.deepEqual(parser.events, expected);
        assert.equal(parser.retry, 5);
      }),
      { seed: 0x55e12, numRuns: 400 },
    );
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

  it("a client with more than maxBuffered waiting is dropped at the next event: it never holds more than twice maxBuffered", async () => {
    const events = new EventSource({ heartbeat: 0, maxBuffered: 1000 });
    const stalled = fakeClient();
    const reading = fakeClient(true);
    await run(function* () {
      const a = yield* spawn(() => events.attach(stalled.request, stalled.response, "stalled"));
      const b = yield* spawn(() => events.attach(reading.request, reading.response, "reading"));
      while (events.clients.length < 2) yield* sleep(0);
      for (let i = 0; i < 5; i++) events.broadcast("x".repeat(300));
      assert.deepEqual(events.clients, ["reading"]);
      assert.ok(stalled.raw.writableLength > 1000 && stalled.raw.writableLength <= 2000, `${stalled.raw.writableLength} bytes waiting`);
      assert.equal(events.stats.droppedSlow, 1);
      // An event that could never fit is refused, and nobody is dropped for it.
      assert.throws(() => events.broadcast("y".repeat(1000)), { name: "RangeError", message: /over maxBuffered \(1000\)/ });
      assert.deepEqual(events.clients, ["reading"]);
      events.close();
      yield* a;
      yield* b;
    });
  });

  it("an event is encoded once: every client and every replay is written the same bytes", async () => {
    const events = new EventSource({ heartbeat: 0 });
    const live = fakeClient(true);
    const replayed = [fakeClient(true, { "last-event-id": "0" }), fakeClient(true, { "last-event-id": "0" })];
    await run(function* () {
      const a = yield* spawn(() => events.attach(live.request, live.response, "live"));
      while (events.clients.length < 1) yield* sleep(0);
      events.broadcast("first");
      events.broadcast({ second: true });
      const b = yield* spawn(() => events.attach(replayed[0]?.request as HttpRequest, replayed[0]?.response as HttpResponse, "r1"));
      const c = yield* spawn(() => events.attach(replayed[1]?.request as HttpRequest, replayed[1]?.response as HttpResponse, "r2"));
      yield* sleep(0);
      events.close();
      yield* a;
      yield* b;
      yield* c;
    });
    const frames = live.chunks.slice(1); // after the retry block
    assert.deepEqual(frames.map(String), ["id: 1\ndata: first\n\n", 'id: 2\ndata: {"second":true}\n\n']);
    for (const client of replayed) {
      const again = client.chunks.slice(1);
      assert.equal(again.length, 2);
      for (const [i, chunk] of again.entries()) assert.ok(Buffer.isBuffer(chunk) && chunk === frames[i], `replayed frame ${i} is the one written live`);
    }
  });

  it("a replay stops once its client is gone: the rest of the history is not even looked at", async () => {
    const events = new EventSource({ heartbeat: 0, maxBuffered: 1000 });
    let looked = 0;
    // The hooks of corio/redis: an order of ids that counts what the replay looks at.
    const hooks = externalEvents(events, () => {
      looked++;
      return true;
    });
    for (let i = 1; i <= 10; i++) hooks.deliver(`${i}`, "x".repeat(300), undefined);
    const stalled = fakeClient(false, { "last-event-id": "0" });
    await run(function* () {
      const attached = yield* spawn(() => events.attach(stalled.request, stalled.response, "stalled"));
      // Four frames of 314 bytes and the retry block: over maxBuffered (1000), the replay waits for the client to read.
      while (stalled.frames.length < 5) yield* sleep(0);
      yield* sleep(0);
      assert.equal(looked, 5);
      events.close();
      yield* attached;
    });
    assert.equal(stalled.frames.length, 5);
    assert.equal(looked, 5);
    assert.equal(events.stats.droppedSlow, 0);
  });

  it("a replay larger than maxBuffered is written as the client reads, not dropped; events sent meanwhile come after it, in order", async () => {
    const events = new EventSource({ heartbeat: 0, maxBuffered: 1000 });
    for (let i = 1; i <= 10; i++) events.broadcast(`${i}`.padEnd(300, "r"));
    const client = fakeClient(false, { "last-event-id": "2" });
    const ids = (): string[] => client.frames.slice(1).map((frame) => /^id: (\d+)/.exec(frame)?.[1] ?? frame);
    await run(function* () {
      const attached = yield* spawn(() => events.attach(client.request, client.response, "c"));
      while (client.frames.length < 5) yield* sleep(0);
      yield* sleep(0);
      assert.deepEqual(ids(), ["3", "4", "5", "6"]); // then over maxBuffered: the replay waits
      // Live events while it waits: queued behind the replay (it still counts as a client that got them).
      assert.equal(events.broadcast("live 11"), 1);
      assert.equal(events.send("c", "live 12"), true);
      assert.deepEqual(ids(), ["3", "4", "5", "6"]);
      while (ids().length < 10) {
        client.flush(); // the client reads what it has
        yield* sleep(0);
      }
      assert.deepEqual(ids(), ["3", "4", "5", "6", "7", "8", "9", "10", "11", "12"]);
      client.flush();
      yield* sleep(0);
      // The replay over, events are written as they come.
      events.broadcast("live 13");
      assert.equal(ids().at(-1), "13");
      assert.deepEqual(events.clients, ["c"]);
      assert.equal(events.stats.droppedSlow, 0);
      events.close();
      yield* attached;
    });
  });

  it("a client replaced (same id) while its replay waits for it to read is let go: its attach ends, though it never reads", async () => {
    const events = new EventSource({ heartbeat: 0, maxBuffered: 1000 });
    for (let i = 1; i <= 10; i++) events.broadcast("x".repeat(300));
    const stalled = fakeClient(false, { "last-event-id": "0" });
    const again = fakeClient(true);
    await runVirtual(function* () {
      const first = yield* spawn(() => events.attach(stalled.request, stalled.response, "c"));
      while (stalled.frames.length < 5) yield* sleep(0);
      const second = yield* spawn(() => events.attach(again.request, again.response, "c"));
      // Out of the source's clients, no event, drop or close() would ever reach it: the replacement ends it.
      yield* timeout(1000, first);
      assert.equal((stalled.raw as { writableEnded?: boolean }).writableEnded, true);
      assert.deepEqual(events.clients, ["c"]);
      assert.equal(events.broadcast("live"), 1);
      events.close();
      yield* second;
    });
  });

  it("a client being replayed is dropped as slow once more than maxBuffered of events wait behind the replay", async () => {
    const events = new EventSource({ heartbeat: 0, maxBuffered: 1000 });
    const dropped: string[] = [];
    events.onSlowClient = (id) => dropped.push(id);
    for (let i = 1; i <= 10; i++) events.broadcast("x".repeat(300));
    const stalled = fakeClient(false, { "last-event-id": "0" });
    await run(function* () {
      const attached = yield* spawn(() => events.attach(stalled.request, stalled.response, "stalled"));
      while (stalled.frames.length < 5) yield* sleep(0);
      // 314 bytes each: the fourth finds 942 queued (kept), the fifth 1256 (dropped).
      const counts = [1, 2, 3, 4, 5].map(() => events.broadcast("y".repeat(300)));
      assert.deepEqual(counts, [1, 1, 1, 1, 0]);
      assert.deepEqual(dropped, ["stalled"]);
      assert.equal(events.stats.droppedSlow, 1);
      yield* attached; // the replay ends with the client
    });
    assert.equal(stalled.frames.length, 5);
  });

  it("a client reading as fast as it can gets the whole replay of a history many times maxBuffered, then live events", { timeout: 30_000 }, async () => {
    await withEvents({ heartbeat: 0, maxBuffered: 256 * 1024, historySize: 100 }, async (events, server) => {
      for (let i = 1; i <= 100; i++) events.broadcast(`${i} `.padEnd(60_000, "r"));
      const client = new SseClient(`${server.url}/?id=reader`, { "last-event-id": "0" });
      await clientsConnected(events, 1);
      for (let i = 101; i <= 103; i++) events.broadcast(`${i} live`);
      const frames = await client.next(103);
      assert.deepEqual(
        frames.map((frame) => frame.id),
        Array.from({ length: 103 }, (_, i) => String(i + 1)),
      );
      assert.equal(frames.at(-1)?.data, "103 live");
      assert.equal(events.stats.droppedSlow, 0);
      await client.close();
    });
  });

  it("send returns false for the event at which the client is dropped as slow, and for a connection already gone", async () => {
    const events = new EventSource({ heartbeat: 0, maxBuffered: 1000 });
    const stalled = fakeClient();
    const destroyed = fakeClient();
    await run(function* () {
      const a = yield* spawn(() => events.attach(stalled.request, stalled.response, "stalled"));
      const b = yield* spawn(() => events.attach(destroyed.request, destroyed.response, "destroyed"));
      while (events.clients.length < 2) yield* sleep(0);
      // 314 bytes each after the retry block: the fifth finds over 1000 waiting.
      const results = [1, 2, 3, 4, 5, 6].map(() => events.send("stalled", "x".repeat(300)));
      assert.deepEqual(results, [true, true, true, true, false, false]);
      assert.equal(events.stats.droppedSlow, 1);
      destroyed.raw.destroyed = true; // its "close" not seen yet
      assert.equal(events.send("destroyed", "lost"), false);
      assert.deepEqual(events.clients, []);
      yield* a;
      yield* b;
    });
  });

  it("an onSlowClient hook that throws is reported; the slow client is dropped all the same and the others go on", async () => {
    const reports: unknown[] = [];
    const events = new EventSource({ heartbeat: 0, maxBuffered: 1000 });
    events.onSlowClient = () => {
      throw new Error("hook broke");
    };
    const stalled = fakeClient();
    const reading = fakeClient(true);
    await run(
      function* () {
        const a = yield* spawn(() => events.attach(stalled.request, stalled.response, "stalled"));
        const b = yield* spawn(() => events.attach(reading.request, reading.response, "reading"));
        while (events.clients.length < 2) yield* sleep(0);
        for (let i = 0; i < 5; i++) assert.equal(events.broadcast("x".repeat(300)), i < 4 ? 2 : 1);
        assert.deepEqual(events.clients, ["reading"]);
        events.close();
        yield* a;
        yield* b;
      },
      { onError: (error) => reports.push(error) },
    );
    assert.deepEqual(
      reports.map((error) => (error as Error).message),
      ["hook broke"],
    );
    assert.equal(reading.frames.filter((frame) => frame.startsWith("id:")).length, 5);
  });

  it("an onSlowClient hook that broadcasts is called after the event being sent has reached every client, so ids never go backwards", async () => {
    const events = new EventSource({ heartbeat: 0, maxBuffered: 1000 });
    events.onSlowClient = (id) => {
      events.broadcast({ left: id }, { event: "left" });
    };
    const stalled = fakeClient();
    const reading = fakeClient(true);
    await run(function* () {
      // The slow client first: dropped while the broadcast has the other still to write.
      const a = yield* spawn(() => events.attach(stalled.request, stalled.response, "stalled"));
      const b = yield* spawn(() => events.attach(reading.request, reading.response, "reading"));
      while (events.clients.length < 2) yield* sleep(0);
      for (let i = 0; i < 5; i++) events.broadcast("x".repeat(300));
      events.close();
      yield* a;
      yield* b;
    });
    assert.equal(events.stats.droppedSlow, 1);
    // The fifth broadcast found the stalled client with too much waiting (over 1000 bytes); the hook's event is 6.
    assert.deepEqual(
      reading.frames.slice(1).map((frame) => /^id: (\d+)\n(?:event: (\w+))?/.exec(frame)?.slice(1, 3).join(" ").trim()),
      ["1", "2", "3", "4", "5", "6 left"],
    );
  });

  it("rejects a heartbeat, historySize or maxBuffered that is not a number from 0 (and an infinite heartbeat)", () => {
    for (const options of [
      { heartbeat: Number.NaN },
      { heartbeat: Number.POSITIVE_INFINITY },
      { historySize: -1 },
      { maxBuffered: "1" as unknown as number },
    ]) {
      assert.throws(() => new EventSource(options), { name: "RangeError", message: /^Cannot create an EventSource: \w+ must be a/ });
    }
  });

  it("a fast client is not dropped for events written in one turn that come to more than maxBuffered (Node corks them until the next)", async () => {
    await withEvents({ heartbeat: 0 }, async (events, server) => {
      let received = 0;
      const all = promiseWithResolvers<void>();
      const reading = fetch(`${server.url}/?id=fast`).then(async (response) => {
        for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
          received += chunk.length;
          if (received >= 1_200_000) all.resolve();
        }
      });
      await clientsConnected(events, 1);
      const event = "x".repeat(600_000);
      assert.equal(events.broadcast(event), 1);
      assert.equal(events.broadcast(event), 1);
      assert.equal(events.stats.droppedSlow, 0);
      await all.promise;
      assert.deepEqual(events.clients, ["fast"]);
      events.close();
      await reading;
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
      const big = "x".repeat(32 * 1024);
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
