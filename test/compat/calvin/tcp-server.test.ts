import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type HttpRequestData, type ServerConnection, TCPServer } from "../../../src/compat/calvin/index.ts";
import { type Operation, run, sleep, spawn, timeout } from "../../../src/index.ts";
import { openConnection } from "../../../src/net/index.ts";
import type { StreamEnd } from "../../../src/streams/index.ts";
import { checkLeaks, needsCommands, start } from "../../_helpers.ts";
import { TestActor, text } from "./_actor.ts";
import { makeSecurityDir, type SecurityDir } from "./_certs.ts";

checkLeaks();

/** Reads from a client until EOF. */
function* readAll(client: StreamEnd): Operation<string> {
  return text(yield* client.reader.read());
}

/** Reads a server's answer until EOF (failing after 5 real seconds if the server never closes). */
function* readAnswer(client: StreamEnd): Operation<string> {
  return yield* timeout(5000, readAll(client));
}

describe("TCPServer, line mode", () => {
  it("serves several nc-like clients: the actor accepts on each wake-up and drains each connection", async () => {
    const actor = new TestActor();
    const replies = await run(function* () {
      const server = new TCPServer(actor.trigger, { actorId: "echo-actor" });
      server.start("127.0.0.1", 0);
      const { port } = yield* server.ready();
      const clients = [yield* openConnection({ port }), yield* openConnection({ port }), yield* openConnection({ port })];
      for (const [i, client] of clients.entries()) client.writer.write(`hello ${i}\r\nbye ${i}\r\n`);
      const accepted: ServerConnection<"line">[] = [];
      let answered = 0;
      yield* actor.until(() => {
        while (server.pendingConnections.length > 0) accepted.push(server.accept()[1]);
        for (const connection of accepted) {
          while (connection.dataAvailable) {
            assert.ok(connection.send(connection.dataGet().toUpperCase()));
            answered++;
          }
        }
        return answered === 6;
      });
      assert.equal(server.connections.length, 3);
      const replies: string[] = [];
      for (const client of clients) replies.push(text(yield* client.reader.readLine()) + text(yield* client.reader.readLine()));
      server.stop();
      return replies;
    });
    assert.deepEqual(replies, ["HELLO 0\r\nBYE 0\r\n", "HELLO 1\r\nBYE 1\r\n", "HELLO 2\r\nBYE 2\r\n"]);
    assert.ok(actor.triggers.every((id) => id === "echo-actor"));
  });

  it("accept() takes the oldest pending connection first, with the peer's address", async () => {
    const actor = new TestActor();
    await run(function* () {
      const server = new TCPServer(actor.trigger);
      server.start("127.0.0.1", 0);
      const { port } = yield* server.ready();
      const first = yield* openConnection({ port });
      yield* actor.until(() => server.pendingConnections.length === 1);
      const second = yield* openConnection({ port });
      yield* actor.until(() => server.pendingConnections.length === 2);
      const [address1] = server.accept();
      const [address2, connection2] = server.accept();
      assert.equal(address1.port, (first.writer.localAddress as { port: number }).port);
      assert.equal(address2.port, (second.writer.localAddress as { port: number }).port);
      assert.equal(address1.host, "127.0.0.1");
      assert.equal(String(address2), `127.0.0.1:${address2.port}`);
      assert.equal(connection2.address, address2);
      assert.throws(() => server.accept(), { message: "Cannot accept: no connection is pending; check pendingConnections first" });
      assert.throws(() => connection2.dataGet(), { message: "Cannot get data: no data is available on this connection; check dataAvailable first" });
      server.stop();
    });
  });

  it("a custom delimiter frames lines; maxLength does not apply to lines (as in the original)", async () => {
    const actor = new TestActor();
    const lines = await run(function* () {
      const server = new TCPServer(actor.trigger, { delimiter: "end", maxLength: 3 });
      server.start("127.0.0.1", 0);
      const client = yield* openConnection({ port: (yield* server.ready()).port });
      client.writer.write("1234end56");
      client.writer.write("78end");
      const lines: string[] = [];
      let connection: ServerConnection<"line"> | undefined;
      yield* actor.until(() => {
        if (server.pendingConnections.length > 0) connection = server.accept()[1];
        while (connection?.dataAvailable) lines.push(connection.dataGet());
        return lines.length === 2;
      });
      connection?.send("ok");
      assert.equal(text(yield* client.reader.readUntil("end")), "okend");
      server.stop();
      return lines;
    });
    assert.deepEqual(lines, ["1234", "5678"]);
  });

  it("send() in line mode: a string or bytes, with its delimiter (text or bytes that are not UTF-8) in one write", async () => {
    for (const delimiter of ["\u2192", new Uint8Array([0xff, 0x0a])]) {
      const actor = new TestActor();
      const got = await run(function* () {
        const server = new TCPServer(actor.trigger, { delimiter });
        server.start("127.0.0.1", 0);
        const client = yield* openConnection({ port: (yield* server.ready()).port });
        client.writer.write(delimiter);
        let connection: ServerConnection<"line"> | undefined;
        yield* actor.until(() => {
          if (server.pendingConnections.length > 0) connection = server.accept()[1];
          return connection?.dataAvailable === true;
        });
        connection?.send("h\u00e9");
        connection?.send(new Uint8Array([0x21]));
        const answer = [yield* client.reader.readUntil(delimiter), yield* client.reader.readUntil(delimiter)];
        server.stop();
        return answer.map((bytes) => [...bytes]);
      });
      const sep = typeof delimiter === "string" ? [...new TextEncoder().encode(delimiter)] : [...delimiter];
      assert.deepEqual(got, [
        [0x68, 0xc3, 0xa9, ...sep],
        [0x21, ...sep],
      ]);
    }
  });

  it("a client that sends and leaves: connectionLost is set, its data can still be taken, send() returns false", async () => {
    const actor = new TestActor();
    await run(function* () {
      const server = new TCPServer(actor.trigger, { delimiter: "\n" });
      server.start("127.0.0.1", 0);
      const client = yield* openConnection({ port: (yield* server.ready()).port });
      client.writer.write("last words\n");
      client.writer.close();
      yield* actor.until(() => server.pendingConnections[0]?.[1].connectionLost === true);
      const [, connection] = server.accept();
      assert.equal(connection.dataAvailable, true);
      assert.equal(connection.dataGet(), "last words");
      assert.equal(connection.send("too late"), false);
      assert.equal(server.connections.length, 0);
      server.stop();
    });
  });

  it("a line over 16384 bytes closes the connection (as Twisted's LineReceiver did)", async () => {
    const actor = new TestActor();
    await run(function* () {
      const server = new TCPServer(actor.trigger, { delimiter: "\n" });
      server.start("127.0.0.1", 0);
      const client = yield* openConnection({ port: (yield* server.ready()).port });
      client.writer.write("short\n");
      client.writer.write(`${"x".repeat(20_000)}\n`);
      assert.equal(yield* readAll(client), "");
      yield* actor.until(() => server.pendingConnections[0]?.[1].connectionLost === true);
      const [, connection] = server.accept();
      assert.equal(connection.dataGet(), "short");
      assert.equal(connection.dataAvailable, false);
      server.stop();
    });
  });

  it("close() flushes what was sent, then closes the connection", async () => {
    const actor = new TestActor();
    await run(function* () {
      const server = new TCPServer(actor.trigger, { delimiter: "\n" });
      server.start("127.0.0.1", 0);
      const client = yield* openConnection({ port: (yield* server.ready()).port });
      yield* actor.until(() => server.pendingConnections.length > 0);
      const [, connection] = server.accept();
      connection.send("a".repeat(100_000));
      connection.send("end");
      connection.close();
      connection.close();
      assert.equal(connection.send("after close"), false);
      assert.equal(yield* readAll(client), `${"a".repeat(100_000)}\nend\n`);
      yield* actor.until(() => connection.connectionLost);
      server.stop();
    });
  });

  it("stop() closes every connection after what was sent, stops listening, and calls the trigger no more", async () => {
    const actor = new TestActor();
    await run(function* () {
      const server = new TCPServer(actor.trigger, { delimiter: "\n" });
      server.start("127.0.0.1", 0);
      const { port } = yield* server.ready();
      const client = yield* openConnection({ port });
      yield* actor.until(() => server.pendingConnections.length > 0);
      const [, connection] = server.accept();
      connection.send("goodbye");
      server.stop();
      server.stop();
      const calls = actor.triggers.length;
      assert.equal(yield* readAll(client), "goodbye\n");
      yield* sleep(20);
      assert.equal(actor.triggers.length, calls);
      let refused = false;
      try {
        yield* openConnection({ port });
      } catch (error) {
        refused = (error as { code?: string }).code === "ECONNREFUSED";
      }
      assert.ok(refused);
    });
  });

  it("belongs to the task that created it: the server and its connections close when that task ends", async () => {
    const actor = new TestActor();
    await run(function* () {
      const owner = yield* spawn(function* () {
        const server = new TCPServer(actor.trigger);
        server.start("127.0.0.1", 0);
        return (yield* server.ready()).port;
      });
      const port = yield* owner;
      let refused = false;
      try {
        yield* openConnection({ port });
      } catch (error) {
        refused = (error as { code?: string }).code === "ECONNREFUSED";
      }
      assert.ok(refused);
      const held = yield* spawn(function* () {
        const server = new TCPServer(actor.trigger);
        server.start("127.0.0.1", 0);
        const client = yield* openConnection({ port: (yield* server.ready()).port });
        yield* actor.until(() => server.pendingConnections.length > 0);
        return client;
      });
      // The client, owned by that task too, was closed with it.
      const client = yield* held;
      assert.equal(yield* readAll(client), "");
    });
  });

  it("ready() reports a port in use; start() twice and ready() before start() are errors", async () => {
    await run(function* () {
      const first = new TCPServer(() => {});
      first.start("127.0.0.1", 0);
      const { port } = yield* first.ready();
      const second = new TCPServer(() => {});
      assert.equal(second.address, undefined);
      assert.throws(() => start(second.ready()), { message: "Cannot wait for the TCPServer: call start(host, port) first" });
      second.start("127.0.0.1", port);
      let code: unknown;
      try {
        yield* second.ready();
      } catch (error) {
        code = (error as { code?: string }).code;
      }
      assert.equal(code, "EADDRINUSE");
      assert.throws(() => first.start("127.0.0.1", 0), { message: "Cannot start the TCPServer: it was already started (or stopped)" });
      first.stop();
    });
  });

  it("checks its options and needs a corio task", async () => {
    assert.throws(() => new TCPServer(() => {}), { message: /^Cannot create a TCPServer: no corio task is running/ });
    await run(function* () {
      assert.throws(() => new TCPServer(() => {}, { mode: "udp" as "line" }), { name: "TypeError" });
      assert.throws(() => new TCPServer(() => {}, { delimiter: "" }), { name: "RangeError" });
      assert.throws(() => new TCPServer(() => {}, { mode: "raw", maxLength: 0 }), { name: "RangeError" });
      assert.throws(() => new TCPServer(() => {}, { tls: true }), { message: "Cannot create a TCPServer: tls needs the nodeName whose certificate to serve" });
      assert.throws(() => new TCPServer(() => {}).start("127.0.0.1", 70000), { name: "RangeError" });
    });
  });
});

describe("TCPServer, raw mode", () => {
  it("gives chunks of at most maxLength bytes, in order", async () => {
    const actor = new TestActor();
    const sent = Uint8Array.from({ length: 34 }, (_, i) => i);
    const chunks = await run(function* () {
      const server = new TCPServer(actor.trigger, { mode: "raw", maxLength: 10 });
      server.start("127.0.0.1", 0);
      const client = yield* openConnection({ port: (yield* server.ready()).port });
      client.writer.write(sent);
      const chunks: Uint8Array[] = [];
      let connection: ServerConnection<"raw"> | undefined;
      yield* actor.until(() => {
        if (server.pendingConnections.length > 0) connection = server.accept()[1];
        while (connection?.dataAvailable) chunks.push(connection.dataGet());
        return chunks.reduce((n, c) => n + c.length, 0) === 34;
      });
      connection?.send(new Uint8Array([1, 2, 3]));
      assert.deepEqual([...(yield* client.reader.readExactly(3))], [1, 2, 3]);
      server.stop();
      return chunks;
    });
    assert.ok(chunks.every((chunk) => chunk.length <= 10));
    assert.deepEqual(
      chunks.flatMap((chunk) => [...chunk]),
      [...sent],
    );
    // One write on loopback arrives as one chunk: 10/10/10/4, as in the original's test.
    if (chunks.length === 4)
      assert.deepEqual(
        chunks.map((c) => c.length),
        [10, 10, 10, 4],
      );
  });

  it("stops reading while the actor does not take its data (backpressure), and loses nothing", async () => {
    const actor = new TestActor();
    await run(function* () {
      const server = new TCPServer(actor.trigger, { mode: "raw" });
      server.start("127.0.0.1", 0);
      const client = yield* openConnection({ port: (yield* server.ready()).port });
      const total = 4 * 1024 * 1024;
      yield* spawn(function* () {
        for (let i = 0; i < total / 65536; i++) {
          client.writer.write(new Uint8Array(65536).fill(i % 256));
          yield* client.writer.drain();
        }
        client.writer.close();
      });
      yield* actor.until(() => server.pendingConnections.length > 0);
      const [, connection] = server.accept();
      yield* sleep(100); // the actor is busy: the connection stops reading
      let got = 0;
      yield* actor.until(() => {
        while (connection.dataAvailable) got += connection.dataGet().length;
        return connection.connectionLost && !connection.dataAvailable;
      }, 20_000);
      assert.equal(got, total);
      server.stop();
    });
  });
});

describe("TCPServer, http mode", () => {
  it("hands over the request line, lower-cased stripped headers and the body; the actor writes the whole response", async () => {
    const actor = new TestActor();
    await run(function* () {
      const server = new TCPServer(actor.trigger, { mode: "http" });
      server.start("127.0.0.1", 0);
      const client = yield* openConnection({ port: (yield* server.ready()).port });
      client.writer.write("POST /actor/1 HTTP/1.1\r\nHost: runtime\r\nX-Mixed-Case:   spaced value  \r\nContent-Length: 11\r\n\r\nhello");
      yield* sleep(10);
      client.writer.write(" world");
      let request: HttpRequestData | undefined;
      let connection: ServerConnection<"http"> | undefined;
      yield* actor.until(() => {
        if (server.pendingConnections.length > 0) connection = server.accept()[1];
        if (connection?.dataAvailable) request = connection.dataGet();
        return request !== undefined;
      });
      const [command, headers, data] = request as HttpRequestData;
      assert.equal(command, "POST /actor/1 HTTP/1.1");
      assert.deepEqual({ ...headers }, { host: "runtime", "x-mixed-case": "spaced value", "content-length": "11" });
      assert.equal(text(data), "hello world");
      connection?.send("HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n");
      connection?.send('{"ok":true}');
      connection?.close();
      assert.equal(yield* readAll(client), 'HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{"ok":true}');
      server.stop();
    });
  });

  it("data is empty for a GET (its body dropped) and null for another method without a body", async () => {
    const actor = new TestActor();
    const got = await run(function* () {
      const server = new TCPServer(actor.trigger, { mode: "http" });
      server.start("127.0.0.1", 0);
      const { port } = yield* server.ready();
      const get = yield* openConnection({ port });
      get.writer.write("GET /x HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
      const del = yield* openConnection({ port });
      del.writer.write("DELETE /x HTTP/1.1\r\n\r\n");
      const got: string[] = [];
      const accepted: ServerConnection<"http">[] = [];
      yield* actor.until(() => {
        while (server.pendingConnections.length > 0) accepted.push(server.accept()[1]);
        for (const connection of accepted) {
          if (!connection.dataAvailable) continue;
          const [command, , data] = connection.dataGet();
          got.push(`${command.split(" ")[0]} ${data === null ? "null" : `[${data.length}]`}`);
          connection.close();
        }
        return got.length === 2;
      });
      server.stop();
      return got.sort();
    });
    assert.deepEqual(got, ["DELETE null", "GET [0]"]);
  });

  it("one request at a time per connection: the next is handed over once the last was taken", async () => {
    const actor = new TestActor();
    await run(function* () {
      const server = new TCPServer(actor.trigger, { mode: "http" });
      server.start("127.0.0.1", 0);
      const client = yield* openConnection({ port: (yield* server.ready()).port });
      client.writer.write("PUT /a HTTP/1.1\r\nContent-Length: 1\r\n\r\nAPUT /b HTTP/1.1\r\nContent-Length: 2\r\n\r\nBB");
      yield* actor.until(() => server.pendingConnections.length > 0 && server.pendingConnections[0]?.[1].dataAvailable === true);
      const [, connection] = server.accept();
      yield* sleep(20);
      const [first, , a] = connection.dataGet();
      assert.equal(connection.dataAvailable, false, "the second request was not read over the first");
      assert.equal(`${first} ${text(a)}`, "PUT /a HTTP/1.1 A");
      connection.send("HTTP/1.1 204 No Content\r\n\r\n");
      yield* actor.until(() => connection.dataAvailable);
      const [second, , b] = connection.dataGet();
      assert.equal(`${second} ${text(b)}`, "PUT /b HTTP/1.1 BB");
      server.stop();
    });
  });

  it("works with a real HTTP client", async () => {
    const actor = new TestActor();
    const { run: runIt, until } = await import("../../../src/index.ts");
    const reply = await runIt(function* () {
      const server = new TCPServer(actor.trigger, { mode: "http" });
      server.start("127.0.0.1", 0);
      const { port } = yield* server.ready();
      const response = spawn(function* () {
        return yield* until(fetch(`http://127.0.0.1:${port}/state?x=1`, { method: "POST", body: JSON.stringify({ v: 1 }) }).then((r) => r.text()));
      });
      const fetching = yield* response;
      yield* actor.until(() => {
        while (server.pendingConnections.length > 0) server.accept();
        for (const connection of server.connections) {
          if (!connection.dataAvailable) continue;
          const [command, headers, data] = connection.dataGet();
          const body = `${command} ${headers["content-type"]} ${text(data)}`;
          connection.send(`HTTP/1.0 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
          connection.close();
          return true;
        }
        return false;
      });
      const reply = yield* fetching;
      server.stop();
      return reply;
    });
    assert.equal(reply, 'POST /state?x=1 HTTP/1.1 text/plain;charset=UTF-8 {"v":1}');
  });

  it("a malformed first request gets 400 (a body over maxBodySize 413), and the connection closes", async () => {
    const actor = new TestActor();
    await run(function* () {
      const server = new TCPServer(actor.trigger, { mode: "http", maxBodySize: 10 });
      server.start("127.0.0.1", 0);
      const { port } = yield* server.ready();
      const answers: string[] = [];
      for (const request of [
        "GET / HTTP/1.1\r\nno colon here\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        "POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n",
        // RFC 9112: a space before the colon (5.1), a folded line (5.2), a bare CR in a value, no request line (3).
        "POST / HTTP/1.1\r\nContent-Length : 3\r\n\r\nabc",
        "GET / HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n",
        "GET / HTTP/1.1\r\nX-A: a\rContent-Length: 3\r\n\r\n",
        "\r\n\r\n",
        "garbage\r\nHost: a\r\n\r\n",
      ]) {
        const client = yield* openConnection({ port });
        client.writer.write(request);
        answers.push((yield* readAnswer(client)).split("\r\n")[0] as string);
      }
      assert.deepEqual(answers, [
        "HTTP/1.1 400 Bad Request",
        "HTTP/1.1 400 Bad Request",
        "HTTP/1.1 400 Bad Request",
        "HTTP/1.1 413 Content Too Large",
        ...Array<string>(5).fill("HTTP/1.1 400 Bad Request"),
      ]);
      yield* actor.until(() => server.pendingConnections.length === 9 && server.pendingConnections.every(([, c]) => c.connectionLost));
      assert.ok(server.pendingConnections.every(([, c]) => !c.dataAvailable));
      server.stop();
    });
  });

  it("a head cut short by the end of the connection gets 400; an end between requests gets no answer and no request", async () => {
    const actor = new TestActor();
    await run(function* () {
      const server = new TCPServer(actor.trigger, { mode: "http" });
      server.start("127.0.0.1", 0);
      const { port } = yield* server.ready();
      const answers: string[] = [];
      for (const sent of ["GET / HTTP/1.1\r\nHost: x\r\n", "\r\n", ""]) {
        const client = yield* openConnection({ port });
        if (sent !== "") client.writer.write(sent);
        client.writer.writeEof();
        answers.push((yield* readAnswer(client)).split("\r\n")[0] as string);
      }
      assert.deepEqual(answers, ["HTTP/1.1 400 Bad Request", "", ""]);
      yield* actor.until(() => server.pendingConnections.length === 3 && server.pendingConnections.every(([, c]) => c.connectionLost));
      assert.ok(server.pendingConnections.every(([, c]) => !c.dataAvailable));
      server.stop();
    });
  });

  it("decodes a chunked body sent in pieces, with extensions and trailers; the next request follows", async () => {
    const actor = new TestActor();
    const got = await run(function* () {
      const server = new TCPServer(actor.trigger, { mode: "http" });
      server.start("127.0.0.1", 0);
      const client = yield* openConnection({ port: (yield* server.ready()).port });
      const parts = [
        "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
        "5\r\nhello\r\n",
        "1;name=value\r\n \r\n",
        "A \r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n",
        "POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      ];
      yield* spawn(function* () {
        for (const part of parts) {
          client.writer.write(part);
          yield* client.writer.drain(); // flushed before the next: the server reads it in pieces
        }
      });
      yield* actor.until(() => server.pendingConnections.length > 0);
      const [, connection] = server.accept();
      const got: string[] = [];
      yield* actor.until(() => {
        while (connection.dataAvailable) {
          const [command, headers, data] = connection.dataGet();
          got.push(`${command} ${String(headers["transfer-encoding"])} ${text(data)}`);
        }
        return got.length === 2;
      });
      server.stop();
      return got;
    });
    assert.deepEqual(got, ["POST /a HTTP/1.1 chunked hello 0123456789", "POST /b HTTP/1.1 chunked <null>"]);
  });

  it("decodes the chunked body of a real HTTP client streaming its request", async () => {
    const actor = new TestActor();
    const { until } = await import("../../../src/index.ts");
    const reply = await run(function* () {
      const server = new TCPServer(actor.trigger, { mode: "http" });
      server.start("127.0.0.1", 0);
      const { port } = yield* server.ready();
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          for (const piece of ["stream", "ed ", "body"]) controller.enqueue(new TextEncoder().encode(piece));
          controller.close();
        },
      });
      const fetching = yield* spawn(function* () {
        const init = { method: "POST", body, duplex: "half" } as RequestInit;
        return yield* until(fetch(`http://127.0.0.1:${port}/`, init).then((r) => r.text()));
      });
      yield* actor.until(() => {
        while (server.pendingConnections.length > 0) server.accept();
        for (const connection of server.connections) {
          if (!connection.dataAvailable) continue;
          const [, headers, data] = connection.dataGet();
          const answer = `${String(headers["transfer-encoding"])}: ${text(data)}`;
          connection.send(`HTTP/1.1 200 OK\r\nContent-Length: ${answer.length}\r\nConnection: close\r\n\r\n${answer}`);
          connection.close();
          return true;
        }
        return false;
      });
      const reply = yield* fetching;
      server.stop();
      return reply;
    });
    assert.equal(reply, "chunked: streamed body");
  });

  it("a malformed chunk gets 400, a transfer coding other than chunked 501, and nothing reaches the actor", async () => {
    const actor = new TestActor();
    await run(function* () {
      const server = new TCPServer(actor.trigger, { mode: "http", maxBodySize: 8 });
      server.start("127.0.0.1", 0);
      const { port } = yield* server.ready();
      const te = "POST / HTTP/1.1\r\nTransfer-Encoding:";
      const cases: [string, string][] = [
        [`${te} chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n`, "400"], // not a hex size
        [`${te} chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n`, "400"], // more data than the size
        [`${te} chunked\r\n\r\n5\r\nhello`, "400"], // ends inside a chunk
        [`${te} chunked\r\nContent-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, "400"], // both framings
        [`${te} gzip\r\n\r\n`, "400"], // chunked must come last
        [`${te} chunked\r\n\r\n5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n`, "413"], // over maxBodySize
        [`${te} gzip, chunked\r\n\r\n0\r\n\r\n`, "501"],
      ];
      const answers: string[] = [];
      for (const [request] of cases) {
        const client = yield* openConnection({ port });
        client.writer.write(request);
        if (!request.endsWith("\r\n")) client.writer.writeEof();
        answers.push((yield* readAnswer(client)).split(" ")[1] as string);
      }
      assert.deepEqual(
        answers,
        cases.map(([, status]) => status),
      );
      yield* actor.until(() => server.pendingConnections.length === cases.length && server.pendingConnections.every(([, c]) => c.connectionLost));
      assert.ok(server.pendingConnections.every(([, c]) => !c.dataAvailable));
      server.stop();
    });
  });

  it("combines repeated headers as Node's IncomingMessage.headers does", async () => {
    const actor = new TestActor();
    const headers = await run(function* () {
      const server = new TCPServer(actor.trigger, { mode: "http" });
      server.start("127.0.0.1", 0);
      const client = yield* openConnection({ port: (yield* server.ready()).port });
      client.writer.write(
        [
          "GET / HTTP/1.1",
          "Host: first",
          "Host: second",
          "Accept: text/html",
          "accept: application/json",
          "Cookie: a=1",
          "Cookie: b=2",
          "Set-Cookie: s=1",
          "Set-Cookie: t=2",
          "Set-Cookie: u=3",
          "Content-Length: 0",
          "Content-Length: 0",
          "X-Once: alone",
          "",
          "",
        ].join("\r\n"),
      );
      let request: HttpRequestData | undefined;
      yield* actor.until(() => {
        if (server.pendingConnections.length > 0) {
          const connection = server.pendingConnections[0]?.[1];
          if (connection?.dataAvailable) request = connection.dataGet();
        }
        return request !== undefined;
      });
      server.stop();
      return { ...(request as HttpRequestData)[1] };
    });
    assert.deepEqual(headers, {
      host: "first",
      accept: "text/html, application/json",
      cookie: "a=1; b=2",
      "set-cookie": ["s=1", "t=2", "u=3"],
      "content-length": "0",
      "x-once": "alone",
    });
  });

  it("a single set-cookie header is an array too, as in Node", async () => {
    const actor = new TestActor();
    const cookie = await run(function* () {
      const server = new TCPServer(actor.trigger, { mode: "http" });
      server.start("127.0.0.1", 0);
      const client = yield* openConnection({ port: (yield* server.ready()).port });
      client.writer.write("GET / HTTP/1.1\r\nSet-Cookie: s=1\r\n\r\n");
      let request: HttpRequestData | undefined;
      yield* actor.until(() => {
        const connection = server.pendingConnections[0]?.[1];
        if (connection?.dataAvailable) request = connection.dataGet();
        return request !== undefined;
      });
      server.stop();
      return (request as HttpRequestData)[1]["set-cookie"];
    });
    assert.deepEqual(cookie, ["s=1"]);
  });
});

describe("TCPServer with TLS", { skip: needsCommands("openssl") }, () => {
  let security: SecurityDir;
  before(() => {
    security = makeSecurityDir("node-1");
  });
  after(() => security.remove());

  it("serves the certificate of nodeName, found in the security directory", async () => {
    const actor = new TestActor();
    const line = await run(function* () {
      const server = new TCPServer(actor.trigger, { delimiter: "\n", tls: true, nodeName: "node-1", securityDir: security.dir });
      server.start("127.0.0.1", 0);
      const client = yield* openConnection({ port: (yield* server.ready()).port, tls: { ca: security.cert } });
      client.writer.write("secret\n");
      let connection: ServerConnection<"line"> | undefined;
      yield* actor.until(() => {
        if (server.pendingConnections.length > 0) connection = server.accept()[1];
        if (!connection?.dataAvailable) return false;
        connection.send(`got ${connection.dataGet()}`);
        return true;
      });
      const line = text(yield* client.reader.readLine());
      server.stop();
      // Let the TLS connection close gracefully before the owner ends (see the report on aborting TLS sockets).
      assert.equal(yield* readAll(client), "");
      return line;
    });
    assert.equal(line, "got secret\n");
  });

  it("start() throws when the node has no certificate", async () => {
    await run(function* () {
      const server = new TCPServer(() => {}, { tls: true, nodeName: "node-2", securityDir: security.dir });
      assert.throws(() => server.start("127.0.0.1", 0), { message: /^Cannot find the certificate of node node-2/ });
    });
  });
});
