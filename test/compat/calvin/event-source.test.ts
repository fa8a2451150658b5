import assert from "node:assert/strict";
import { type ClientRequest, get, type IncomingMessage } from "node:http";
import { describe, it } from "node:test";
import { EventSource } from "../../../src/compat/calvin/index.ts";
import { type Operation, run, sleep, spawn, until } from "../../../src/index.ts";
import { checkLeaks } from "../../_helpers.ts";

checkLeaks();

/** A browser-like SSE client (node:http): the response's head, and each complete event's data lines as they come. */
interface SseClient {
  response: IncomingMessage;
  /** Waits for the next `data:` payload (JSON-parsed). */
  next(): Operation<unknown>;
  close(): void;
  request: ClientRequest;
}

function* connect(port: number, path: string): Operation<SseClient> {
  let buffer = "";
  const payloads: unknown[] = [];
  let notify: (() => void) | null = null;
  const request = get({ host: "127.0.0.1", port, path, headers: { accept: "text/event-stream" } });
  const response = yield* until(
    new Promise<IncomingMessage>((resolve, reject) => {
      request.once("response", resolve);
      request.once("error", reject);
    }),
  );
  response.setEncoding("utf8");
  response.on("data", (chunk: string) => {
    buffer += chunk;
    for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = event
        .split("\n")
        .filter((line) => line.startsWith("data: "))
        .map((line) => line.slice(6));
      if (data.length > 0) payloads.push(JSON.parse(data.join("\n")));
    }
    notify?.();
  });
  response.on("error", () => {});
  return {
    response,
    request,
    *next() {
      while (payloads.length === 0) {
        yield* until(
          new Promise<void>((resolve) => {
            notify = resolve;
          }),
        );
        notify = null;
      }
      return payloads.shift();
    },
    close() {
      request.destroy();
    },
  };
}

describe("EventSource", () => {
  it("a client opening GET /client_id/<id> gets send(id, data) and broadcast(data) as JSON events", async () => {
    await run(function* () {
      const events = new EventSource(0);
      const { port } = yield* events.ready();
      assert.equal(events.address?.port, port);
      const ui1 = yield* connect(port, "/client_id/ui-1");
      const ui2 = yield* connect(port, "/client_id/ui-2");
      assert.equal(ui1.response.statusCode, 200);
      assert.equal(ui1.response.headers["content-type"], "text/event-stream; charset=utf-8");
      assert.equal(ui1.response.headers["access-control-allow-origin"], "*");
      while (events.clients.length < 2) yield* sleep(5);
      assert.equal(events.send("ui-1", { client_id: "actor-1", state: { count: 1 } }), true);
      assert.equal(events.send("nobody", { lost: true }), false);
      assert.equal(events.broadcast("hello all"), 2);
      assert.deepEqual(yield* ui1.next(), { client_id: "actor-1", state: { count: 1 } });
      assert.equal(yield* ui1.next(), "hello all");
      assert.equal(yield* ui2.next(), "hello all");
      events.stop();
      ui1.close();
      ui2.close();
    });
  });

  it("anything but GET /client_id/<id> gets 400", async () => {
    await run(function* () {
      const events = new EventSource(0);
      const { port } = yield* events.ready();
      for (const path of ["/", "/client_id/", "/client_id/a/b", "/other/a"]) {
        const status = yield* until(fetch(`http://127.0.0.1:${port}${path}`).then(async (r) => `${r.status} ${await r.text()}`));
        assert.equal(status, "400 Bad Request\n", path);
      }
      const post = yield* until(fetch(`http://127.0.0.1:${port}/client_id/x`, { method: "POST" }).then((r) => r.status));
      assert.equal(post, 400);
      events.stop();
    });
  });

  it("a client reconnecting with the same id replaces the old stream; a client leaving is forgotten", async () => {
    await run(function* () {
      const events = new EventSource(0);
      const { port } = yield* events.ready();
      const first = yield* connect(port, "/client_id/ui");
      while (events.clients.length < 1) yield* sleep(5);
      const ended = until(new Promise<void>((resolve) => first.response.once("end", resolve)));
      const second = yield* connect(port, "/client_id/ui");
      yield* ended;
      events.send("ui", 42);
      assert.equal(yield* second.next(), 42);
      second.close();
      while (events.clients.length > 0) yield* sleep(5);
      assert.equal(events.send("ui", 43), false);
      events.stop();
    });
  });

  it("stop() ends every stream and stops listening; the owner ending does the same", async () => {
    await run(function* () {
      const events = new EventSource(0);
      const { port } = yield* events.ready();
      const client = yield* connect(port, "/client_id/ui");
      while (events.clients.length < 1) yield* sleep(5);
      const ended = until(new Promise<void>((resolve) => client.response.once("end", resolve)));
      events.stop();
      events.stop();
      yield* ended;
      const refused = yield* until(
        fetch(`http://127.0.0.1:${port}/client_id/x`).then(
          () => false,
          () => true,
        ),
      );
      assert.ok(refused);
      const owner = yield* spawn(function* () {
        const owned = new EventSource(0);
        return (yield* owned.ready()).port;
      });
      const freed = yield* owner;
      const refusedToo = yield* until(
        fetch(`http://127.0.0.1:${freed}/client_id/x`).then(
          () => false,
          () => true,
        ),
      );
      assert.ok(refusedToo);
    });
  });

  it("checks its port and needs a corio task", async () => {
    assert.throws(() => new EventSource(0), { message: /^Cannot create an EventSource: no corio task is running/ });
    await run(function* () {
      assert.throws(() => new EventSource(-1), { name: "RangeError" });
    });
  });
});
