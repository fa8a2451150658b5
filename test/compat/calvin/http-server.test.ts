import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HTTPServer } from "../../../src/compat/calvin/index.ts";
import { all, Future, run, sleep, timeout, until } from "../../../src/index.ts";
import { openConnection } from "../../../src/net/index.ts";
import { checkLeaks, collectReports } from "../../_helpers.ts";
import { reported, text } from "./_actor.ts";

checkLeaks();

const ok = (body: string): [string, string] => [`HTTP/1.0 200 OK\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`, body];

describe("HTTPServer", () => {
  it("calls back once per request with a handle; sendResponse writes header and data, then closes", async () => {
    const seen: string[] = [];
    const replies = await run(function* () {
      const server = new HTTPServer(
        (handle, command, headers, data) => {
          seen.push(`${command} ${headers["x-actor"]} ${data === null ? "null" : text(data)}`);
          assert.equal(typeof handle, "string");
          assert.ok(server.sendResponse(handle, ...ok(`reply to ${command.split(" ")[1]}`)));
          assert.equal(server.sendResponse(handle, "again"), false, "the handle is gone once answered");
        },
        "127.0.0.1",
        0,
      );
      server.start();
      const { port } = yield* server.ready();
      assert.equal(server.address?.port, port);
      // Concurrent clients: every pending connection is served on each wake-up.
      const replies = yield* all(
        ["/a", "/b", "/c"].map((path) =>
          until(fetch(`http://127.0.0.1:${port}${path}`, { method: "PUT", body: path, headers: { "X-Actor": "a1" } }).then((r) => r.text())),
        ),
      );
      server.stop();
      return replies;
    });
    assert.deepEqual(replies, ["reply to /a", "reply to /b", "reply to /c"]);
    assert.deepEqual(seen.sort(), ["PUT /a HTTP/1.1 a1 /a", "PUT /b HTTP/1.1 a1 /b", "PUT /c HTTP/1.1 a1 /c"]);
  });

  it("can answer later, and keep the connection for the next request (closeConnection false)", async () => {
    await run(function* () {
      const handles: string[] = [];
      const requested = new Future<void>();
      const server = new HTTPServer(
        (handle) => {
          handles.push(handle);
          requested.resolve();
        },
        "127.0.0.1",
        0,
      );
      server.start();
      const client = yield* openConnection({ port: (yield* server.ready()).port });
      client.writer.write("GET /one HTTP/1.1\r\n\r\n");
      yield* requested;
      yield* sleep(10);
      assert.ok(server.sendResponse(handles[0] as string, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n", "1", false));
      assert.equal(text(yield* client.reader.readExactly(39)), "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1");
      client.writer.write("GET /two HTTP/1.1\r\n\r\n");
      while (handles.length < 2) yield* sleep(5);
      assert.equal(handles[1], handles[0]);
      assert.ok(server.sendResponse(handles[1] as string, "HTTP/1.1 204 No Content\r\n\r\n"));
      assert.equal(text(yield* client.reader.read()), "HTTP/1.1 204 No Content\r\n\r\n");
      server.stop();
    });
  });

  it("sendResponse() returns false for a client that has gone, or an unknown handle", async () => {
    await run(function* () {
      let handle = "";
      const server = new HTTPServer(
        (h) => {
          handle = h;
        },
        "127.0.0.1",
        0,
      );
      server.start();
      const client = yield* openConnection({ port: (yield* server.ready()).port });
      client.writer.write("GET / HTTP/1.1\r\n\r\n");
      client.writer.writeEof();
      while (handle === "") yield* sleep(5);
      // The server closes its end once it has seen the client leave (rather than guessing how long that takes).
      assert.equal((yield* client.reader.read()).length, 0);
      client.writer.close();
      assert.equal(server.sendResponse(handle, "HTTP/1.0 200 OK\r\n\r\n"), false);
      assert.equal(server.sendResponse("no such handle", "x"), false);
      server.stop();
    });
  });

  it("an error in the callback is reported and the server goes on", async () => {
    const { reports, onError } = collectReports();
    const reply = await run(
      function* () {
        let first = true;
        const server = new HTTPServer(
          (handle) => {
            if (first) {
              first = false;
              throw new Error("handler bug");
            }
            server.sendResponse(handle, ...ok("fine"));
          },
          "127.0.0.1",
          0,
        );
        server.start();
        const { port } = yield* server.ready();
        const broken = yield* openConnection({ port });
        broken.writer.write("GET / HTTP/1.1\r\n\r\n");
        while (reports.length === 0) yield* sleep(5);
        const reply = yield* until(fetch(`http://127.0.0.1:${port}/`).then((r) => r.text()));
        server.stop();
        return reply;
      },
      { onError },
    );
    assert.equal(reply, "fine");
    assert.equal(reported(reports).message, "handler bug");
  });

  it("sendResponse() checks header and data before it writes anything: after a bad call the handle still answers", async () => {
    const reply = await run(function* () {
      let second: boolean | undefined;
      const server: HTTPServer = new HTTPServer(
        (handle) => {
          assert.throws(() => server.sendResponse(handle, "HTTP/1.0 200 OK\r\n\r\n", 42 as never), {
            name: "TypeError",
            message: "Cannot send a response: header and data must be strings or Uint8Arrays, received string and number",
          });
          second = server.sendResponse(handle, ...ok("ok"));
        },
        "127.0.0.1",
        0,
      );
      server.start();
      const client = yield* openConnection({ port: (yield* server.ready()).port });
      client.writer.write("GET / HTTP/1.0\r\n\r\n");
      // The response, then the end: the server closes the connection after it.
      const reply = yield* timeout(5000, () => client.reader.read());
      assert.equal(second, true);
      client.writer.close();
      server.stop();
      return text(reply);
    });
    assert.equal(reply, "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
  });

  it("needs a function and a corio task", async () => {
    assert.throws(() => new HTTPServer(() => {}, "127.0.0.1", 0), { message: /^Cannot create an HTTPServer: no corio task is running/ });
    await run(function* () {
      assert.throws(() => new HTTPServer("x" as never, "127.0.0.1", 0), { name: "TypeError" });
    });
  });
});
