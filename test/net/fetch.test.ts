import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, it } from "node:test";
import { BrokenResourceError, CancelledError, forEach, type Operation, spawn, type Task, until } from "../../src/index.ts";
import { snapshotTasks } from "../../src/inspect/index.ts";
import { fetch } from "../../src/net/index.ts";
import { runVirtual, waitAllTasksBlocked } from "../../src/testing/index.ts";
import { checkLeaks, promiseWithResolvers, rejectsOp } from "../_helpers.ts";

checkLeaks();

/** A node:http server on 127.0.0.1 for one test; `close()` also drops keep-alive connections. */
async function withServer(handler: (req: IncomingMessage, res: ServerResponse) => void, body: (url: string) => Promise<void>): Promise<void> {
  const server: Server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  try {
    await body(`http://127.0.0.1:${port}`);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

describe("fetch", () => {
  it("bytes(), text() and json() read the body once: a second call throws a TypeError (the standard's consume body), and bodyUsed says so", async () => {
    await withServer(
      (_req, res) => res.end('{"a":1}'),
      (url) =>
        runVirtual(function* () {
          const response = yield* fetch(url);
          assert.equal(response.bodyUsed, false);
          const text = response.text();
          assert.equal(response.bodyUsed, true, "set by the call, as the standard's, not when the operation runs");
          assert.equal(yield* text, '{"a":1}');
          for (const again of [response.text(), response.json(), response.bytes()]) {
            const error = yield* rejectsOp(again, TypeError);
            assert.match(error.message, /^Cannot read the response body: it has already been read/);
          }
        }),
    );
  });

  it("text() after reads from body gives the rest of it, as its TSDoc says", async () => {
    await withServer(
      (_req, res) => res.end("hello world"),
      (url) =>
        runVirtual(function* () {
          const response = yield* fetch(url);
          assert.equal(new TextDecoder().decode(yield* response.body.readExactly(6)), "hello ");
          assert.equal(response.bodyUsed, false);
          assert.equal(yield* response.text(), "world");
        }),
    );
  });

  it("gives status, headers and the body (text, json)", async () => {
    await withServer(
      (req, res) => {
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify({ path: req.url, method: req.method }));
      },
      (url) =>
        runVirtual(function* () {
          const response = yield* fetch(`${url}/hello`, { method: "POST", body: "x" });
          assert.equal(response.status, 200);
          assert.equal(response.ok, true);
          assert.equal(response.headers.get("content-type"), "application/json");
          assert.deepEqual(yield* response.json(), { path: "/hello", method: "POST" });
        }),
    );
  });

  it("bytes, text and json read the whole body, also taken off the response; json of a body that is not JSON throws SyntaxError", async () => {
    await withServer(
      (req, res) => res.end(req.url === "/json" ? '{"a":[1,2]}' : "héllo"),
      (url) =>
        runVirtual(function* () {
          const { bytes } = yield* fetch(`${url}/bytes`);
          assert.deepEqual(yield* bytes(), new TextEncoder().encode("héllo"));
          const { text } = yield* fetch(`${url}/text`);
          assert.equal(yield* text(), "héllo");
          const { json } = yield* fetch(`${url}/json`);
          assert.deepEqual(yield* json(), { a: [1, 2] });
          const notJson = yield* fetch(`${url}/text`);
          yield* rejectsOp(notJson.json(), SyntaxError);
        }),
    );
  });

  it("bytes(), text() and json() stop at maxBodySize: an endless body aborts the request with a RangeError", async () => {
    const closed = promiseWithResolvers<void>();
    await withServer(
      (req, res) => {
        if (req.url === "/small") {
          res.end("x".repeat(3000));
          return;
        }
        // An endless body, written as the client takes it.
        const chunk = Buffer.alloc(64 * 1024, 120);
        const more = (): void => {
          while (!res.destroyed && res.write(chunk));
        };
        res.on("drain", more);
        res.on("close", () => closed.resolve());
        more();
      },
      (url) =>
        runVirtual(function* () {
          for (const read of ["bytes", "text", "json"] as const) {
            const response = yield* fetch(`${url}/endless`, { maxBodySize: 1024 * 1024 });
            const error = yield* rejectsOp(response[read](), RangeError);
            assert.match(error.message, /^Cannot read the response body: it is over maxBodySize \(1048576 bytes\)/);
          }
          yield* until(closed.promise);
          // A body within the limit, in several chunks, is read whole.
          assert.equal((yield* (yield* fetch(`${url}/small`, { maxBodySize: 3000 })).text()).length, 3000);
          yield* rejectsOp(fetch(url, { maxBodySize: -1 }), RangeError);
        }),
    );
  });

  it("a bad limit is refused before the request is sent", async () => {
    const requests: string[] = [];
    await withServer(
      (req, res) => {
        requests.push(req.url ?? "");
        res.end("ok");
      },
      (url) =>
        runVirtual(function* () {
          const error = yield* rejectsOp(fetch(`${url}/refused`, { limit: 0 }), RangeError);
          assert.equal(error.message, "Cannot fetch: limit must be a positive integer, received 0");
          // The server counts what reaches it: this request does, the refused one never did.
          assert.equal(yield* (yield* fetch(`${url}/sent`)).text(), "ok");
          assert.deepEqual(requests, ["/sent"]);
        }),
    );
  });

  it("a request keeps no listener on the caller's signal once its body has ended: none, read whole, or read through response.body", async () => {
    const shutdown = new AbortController();
    await withServer(
      (req, res) => {
        if (req.url === "/empty") res.writeHead(204).end();
        else res.end("some body");
      },
      (url) =>
        runVirtual(function* () {
          for (let i = 0; i < 20; i++) {
            const empty = yield* fetch(`${url}/empty`, { signal: shutdown.signal });
            assert.equal(empty.status, 204);
            const whole = yield* fetch(`${url}/body`, { signal: shutdown.signal });
            assert.equal(yield* whole.text(), "some body");
            const streamed = yield* fetch(`${url}/body`, { signal: shutdown.signal });
            while ((yield* streamed.body.read()).length > 0);
          }
          assert.equal(getEventListeners(shutdown.signal, "abort").length, 0);
        }),
    );
  });

  it("the body is a StreamReader, read as it arrives", async () => {
    await withServer(
      (_req, res) => {
        res.write("line 1\n");
        setTimeout(() => res.end("line 2\n"), 20);
      },
      (url) =>
        runVirtual(function* () {
          const response = yield* fetch(url);
          const lines: string[] = [];
          yield* forEach(response.body.lines(), function* (line) {
            lines.push(line);
          });
          assert.deepEqual(lines, ["line 1", "line 2"]);
        }),
    );
  });

  it("cancelling the task mid-body aborts the request: the server sees the connection close", async () => {
    const closed = promiseWithResolvers<boolean>();
    const firstLine = promiseWithResolvers<void>();
    await withServer(
      (_req, res) => {
        res.write("first chunk\n"); // and never the rest
        res.on("close", () => closed.resolve(res.writableFinished));
      },
      (url) =>
        runVirtual(function* () {
          const task = yield* spawn(function* () {
            const response = yield* fetch(url);
            yield* response.body.readLine();
            firstLine.resolve();
            yield* response.body.readLine(); // waits for a line that never comes
          });
          yield* until(firstLine.promise);
          yield* waitAllTasksBlocked();
          task.cancel();
          yield* rejectsOp(task, CancelledError);
          assert.equal(yield* until(closed.promise), false, "closed before the response finished");
        }),
    );
  });

  it("cancelling while waiting for the head aborts too", async () => {
    const gone = promiseWithResolvers<void>();
    const received = promiseWithResolvers<void>();
    await withServer(
      (req) => {
        req.socket.on("close", () => gone.resolve());
        received.resolve();
      },
      (url) =>
        runVirtual(function* () {
          const task = yield* spawn(() => fetch(url));
          yield* until(received.promise);
          task.cancel();
          yield* rejectsOp(task, CancelledError);
          yield* until(gone.promise);
        }),
    );
  });

  it("response.abort() and the caller's own signal stop the body", async () => {
    await withServer(
      (_req, res) => {
        res.write("part");
      },
      (url) =>
        runVirtual(function* () {
          const response = yield* fetch(url);
          assert.equal(new TextDecoder().decode(yield* response.body.read(100)), "part");
          response.abort();
          yield* rejectsOp(response.body.read(100), BrokenResourceError);

          const controller = new AbortController();
          const second = yield* fetch(url, { signal: controller.signal });
          yield* second.body.read(100);
          controller.abort("caller gave up");
          yield* rejectsOp(second.body.read(100), BrokenResourceError);
        }),
    );
  });

  it("a request aborted by the caller's signal mid-body no longer belongs to the task, even while its body waits for a reader", async () => {
    await withServer(
      (_req, res) => {
        res.write(Buffer.alloc(256 * 1024, 97)); // more than the reader takes before it stops reading; and never the end
      },
      (url) =>
        runVirtual(function* () {
          const owner: Task<void> = yield* spawn(function* (): Operation<void> {
            const controller = new AbortController();
            const response = yield* fetch(url, { signal: controller.signal, limit: 1024 });
            yield* response.body.read(10);
            controller.abort("caller gave up");
            // As response.abort() does: the task that made the request has nothing left to close for it.
            assert.deepEqual(snapshotTasks(owner).roots[0]?.resources, []);
            // What had arrived is still given (see `body`), then the reads throw.
            yield* rejectsOp(
              (function* () {
                for (let read = 0; read < 1000; read++) yield* response.body.read();
              })(),
              BrokenResourceError,
            );
          });
          yield* owner;
        }),
    );
  });

  it("a Request's own signal stops the body too; an init.signal takes its place, as in the standard fetch", async () => {
    await withServer(
      (_req, res) => {
        res.write("part");
      },
      (url) =>
        runVirtual(function* () {
          const own = new AbortController();
          const first = new Request(url, { signal: own.signal });
          const response = yield* fetch(first);
          assert.equal(new TextDecoder().decode(yield* response.body.read(100)), "part");
          // (Checked before aborting: a body that is not aborted would wait forever.)
          assert.equal(getEventListeners(first.signal, "abort").length, 1, "the Request's signal is followed");
          own.abort("caller gave up");
          yield* rejectsOp(response.body.read(100), BrokenResourceError);

          const replaced = new AbortController();
          const request = new Request(url, { signal: replaced.signal });
          const init = new AbortController();
          const second = yield* fetch(request, { signal: init.signal });
          yield* second.body.read(100);
          assert.equal(getEventListeners(request.signal, "abort").length, 0, "the Request's signal is not followed");
          init.abort("caller gave up");
          yield* rejectsOp(second.body.read(100), BrokenResourceError);

          // `{ signal: undefined }` is no signal given (WebIDL): the Request's own is followed (the `{ ...options, signal }` pattern).
          const third = new AbortController();
          const spread = new Request(url, { signal: third.signal });
          const response3 = yield* fetch(spread, { signal: undefined });
          yield* response3.body.read(100);
          assert.equal(getEventListeners(spread.signal, "abort").length, 1, "the Request's signal is followed");
          third.abort("caller gave up");
          yield* rejectsOp(response3.body.read(100), BrokenResourceError);
        }),
    );
  });

  it("a connection refused is the fetch TypeError", async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise((resolve) => server.close(resolve));
    await runVirtual(function* () {
      yield* rejectsOp(fetch(`http://127.0.0.1:${port}/`), TypeError);
    });
  });
});
