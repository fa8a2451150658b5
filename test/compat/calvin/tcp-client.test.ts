import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type Address, DelayedCall, TCPClient } from "../../../src/compat/calvin/index.ts";
import { Future, type Operation, run, sleep, spawn, timeout } from "../../../src/index.ts";
import { nodeCertificateResolver, type Server, startServer } from "../../../src/net/index.ts";
import type { StreamReader, StreamWriter } from "../../../src/streams/index.ts";
import { checkLeaks, collectReports, needsCommands } from "../../_helpers.ts";
import { reported, TestActor, text } from "./_actor.ts";
import { makeSecurityDir, type SecurityDir } from "./_certs.ts";

checkLeaks();

/** A server whose one connection the test drives by hand. */
function* peerServer(): Operation<{ server: Server; peer: Future<{ reader: StreamReader; writer: StreamWriter }>; done: Future<void> }> {
  const peer = new Future<{ reader: StreamReader; writer: StreamWriter }>();
  const done = new Future<void>();
  const server = yield* startServer(function* (reader, writer) {
    peer.resolve({ reader, writer });
    yield* done;
  });
  return { server, peer, done };
}

describe("TCPClient", () => {
  it("raw mode: connected, then each chunk to dataReceived; send() writes bytes as they are", async () => {
    const events: string[] = [];
    await run(function* () {
      const { server, peer, done } = yield* peerServer();
      const received = new Future<void>();
      const connected = new Future<void>();
      const client = new TCPClient("raw", {
        callbacks: {
          connected: [(address: Address) => events.push(`connected ${address.port === server.address.port}`), () => connected.resolve()],
          dataReceived: [(data: Uint8Array) => events.push(`data ${text(data)}`), () => received.resolve()],
        },
      });
      assert.equal(client.isConnected, false);
      client.connect("127.0.0.1", server.address.port);
      yield* connected;
      const { reader, writer } = yield* peer;
      assert.equal(client.isConnected, true);
      client.send("hi ");
      client.send(new Uint8Array([0x21]));
      assert.equal(text(yield* reader.readExactly(4)), "hi !");
      writer.write("pong");
      yield* received;
      client.disconnect();
      done.resolve();
      server.close();
    });
    assert.deepEqual(events, ["connected true", "data pong"]);
  });

  it("string mode: 2-byte big-endian length prefixes both ways, split chunks rejoined", async () => {
    const got: string[] = [];
    await run(function* () {
      const { server, peer, done } = yield* peerServer();
      const two = new Future<void>();
      const connected = new Future<void>();
      const client = new TCPClient("string", {
        callbacks: {
          connected: () => connected.resolve(),
          dataReceived: (data: Uint8Array) => {
            got.push(text(data));
            if (got.length === 2) two.resolve();
          },
        },
      });
      client.connect("127.0.0.1", server.address.port);
      yield* connected;
      const { reader, writer } = yield* peer;
      client.send("héllo");
      assert.deepEqual([...(yield* reader.readExactly(8))], [0, 6, ...new TextEncoder().encode("héllo")]);
      writer.write(new Uint8Array([0, 3, 0x61]));
      yield* sleep(10);
      writer.write(new Uint8Array([0x62, 0x63, 0, 0]));
      yield* two;
      assert.throws(() => client.send(new Uint8Array(70_000)), {
        name: "RangeError",
        message: "Cannot send a string of 70000 bytes: the 2-byte length prefix allows at most 65535",
      });
      client.disconnect();
      done.resolve();
      server.close();
    });
    assert.deepEqual(got, ["abc", ""]);
  });

  it("string mode: a prefix split across chunks; at the end, a message cut short is dropped and connectionLost follows", async () => {
    const events: string[] = [];
    await run(function* () {
      const { server, peer, done } = yield* peerServer();
      const lost = new Future<void>();
      const client = new TCPClient("string", {
        callbacks: {
          dataReceived: (data: Uint8Array) => events.push(`data ${text(data)}`),
          connectionLost: () => {
            events.push("lost");
            lost.resolve();
          },
        },
      });
      client.connect("127.0.0.1", server.address.port);
      const { writer } = yield* peer;
      writer.write(new Uint8Array([0]));
      yield* sleep(10);
      writer.write(new Uint8Array([2, 0x61, 0x62]));
      yield* sleep(10);
      writer.write(new Uint8Array([0, 5, 0x63])); // 5 bytes announced, 1 sent
      done.resolve(); // the server's handler returns: its connection closes
      yield* lost;
      server.close();
    });
    assert.deepEqual(events, ["data ab", "lost"]);
  });

  it("delimiter mode: lines without the delimiter (a U+FEFF that begins one kept); send() adds it", async () => {
    const lines: string[] = [];
    await run(function* () {
      const { server, peer, done } = yield* peerServer();
      const three = new Future<void>();
      const connected = new Future<void>();
      const client = new TCPClient("delimiter", {
        callbacks: {
          connected: () => connected.resolve(),
          dataReceived: (line: string) => {
            lines.push(line);
            if (lines.length === 3) three.resolve();
          },
        },
      });
      client.connect("127.0.0.1", server.address.port);
      yield* connected;
      const { reader, writer } = yield* peer;
      client.send("ping");
      assert.equal(text(yield* reader.readLine()), "ping\r\n");
      writer.write("\uFEFFone\r\ntw");
      writer.write("o\r\n\r\nno end");
      yield* three;
      client.disconnect();
      done.resolve();
      server.close();
    });
    assert.deepEqual(lines, ["\uFEFFone", "two", ""]);
  });

  it("without dataReceived, the trigger wakes the actor, which drains dataAvailable/dataGet()", async () => {
    const actor = new TestActor();
    await run(function* () {
      const { server, peer, done } = yield* peerServer();
      const client = new TCPClient("delimiter", { delimiter: "\n", trigger: actor.trigger, actorId: "client-actor" });
      client.connect("127.0.0.1", server.address.port);
      const { writer } = yield* peer;
      writer.write("a\nb\nc\n");
      const lines: string[] = [];
      yield* actor.until(() => {
        while (client.dataAvailable) lines.push(client.dataGet());
        return lines.length === 3;
      });
      assert.deepEqual(lines, ["a", "b", "c"]);
      assert.throws(() => client.dataGet(), { message: "Cannot get data: no data is available from the TCPClient; check dataAvailable first" });
      assert.ok(actor.triggers.every((id) => id === "client-actor"));
      client.disconnect();
      done.resolve();
      server.close();
    });
  });

  it("connectionLost when the server closes, and after disconnect(); connectionFailed when nobody listens", async () => {
    const events: string[] = [];
    await run(function* () {
      const { server, peer, done } = yield* peerServer();
      const port = server.address.port;
      const lost = new Future<void>();
      const client = new TCPClient("raw", {
        callbacks: {
          connectionLost: (address: Address, reason: string) => {
            events.push(`lost ${address.host}:${address.port === port} ${reason}`);
            lost.resolve();
          },
        },
      });
      client.connect("127.0.0.1", port);
      yield* peer;
      assert.throws(() => client.connect("127.0.0.1", port), { message: /^Cannot connect the TCPClient: it is already connecting or connected/ });
      done.resolve(); // the server's handler returns: it closes the connection
      yield* lost;
      assert.equal(client.isConnected, false);
      assert.throws(() => client.send("x"), { message: "Cannot send: the TCPClient is not connected" });
      server.close();
      yield* server.waitClosed();

      const failed = new Future<void>();
      const again = new TCPClient("raw", {
        callbacks: {
          connectionFailed: (address: Address, reason: string) => {
            events.push(`failed ${address.port === port} ${reason.includes("ECONNREFUSED")}`);
            failed.resolve();
          },
        },
      });
      again.connect("127.0.0.1", port);
      yield* failed;
    });
    assert.deepEqual(events, ["lost 127.0.0.1:true Connection was closed cleanly.", "failed true true"]);
  });

  it("disconnect() closes after what was sent, and reports connectionLost; it is idempotent", async () => {
    const events: string[] = [];
    await run(function* () {
      const { server, peer, done } = yield* peerServer();
      const lost = new Future<void>();
      const connected = new Future<void>();
      const client = new TCPClient("raw", {
        callbacks: {
          connected: () => connected.resolve(),
          connectionLost: (_address: Address, reason: string) => {
            events.push(reason);
            lost.resolve();
          },
        },
      });
      client.connect("127.0.0.1", server.address.port);
      yield* connected;
      const { reader } = yield* peer;
      client.send("x".repeat(200_000));
      client.disconnect();
      client.disconnect();
      assert.throws(() => client.send("x"), { message: "Cannot send: the TCPClient is not connected" });
      assert.equal((yield* reader.read()).length, 200_000);
      yield* lost;
      done.resolve();
      server.close();
    });
    assert.deepEqual(events, ["Connection was closed cleanly."]);
  });

  it("callbacks run from the client's task; one that throws is reported and the others still run", async () => {
    const { reports, onError } = collectReports();
    const calls: string[] = [];
    await run(
      function* () {
        const { server, peer, done } = yield* peerServer();
        const secondRan = new Future<void>();
        const client = new TCPClient("raw", {
          callbacks: {
            connected: [
              () => {
                throw new Error("first callback");
              },
              () => {
                calls.push("second");
                secondRan.resolve();
              },
            ],
          },
        });
        client.connect("127.0.0.1", server.address.port);
        yield* peer;
        yield* secondRan;
        client.disconnect();
        done.resolve();
        server.close();
      },
      { onError },
    );
    assert.deepEqual(calls, ["second"]);
    assert.equal(reported(reports).message, "first callback");
  });

  it("closes with the task that created it, without callbacks", async () => {
    const events: string[] = [];
    await run(function* () {
      const { server, peer, done } = yield* peerServer();
      const owner = yield* spawn(function* () {
        const client = new TCPClient("raw", { callbacks: { connectionLost: () => events.push("lost") } });
        client.connect("127.0.0.1", server.address.port);
        yield* peer;
      });
      yield* owner;
      const { reader } = yield* peer;
      assert.equal((yield* reader.read()).length, 0);
      done.resolve();
      server.close();
    });
    assert.deepEqual(events, []);
  });

  it("connect() called from connectionLost reconnects (Twisted's reconnecting pattern): the client is down by then", async () => {
    const events: string[] = [];
    let accepted = 0;
    await run(function* () {
      const done = new Future<void>();
      const server = yield* startServer(function* (_reader, writer) {
        accepted++;
        if (accepted === 1)
          writer.close(); // the first connection: the server hangs up
        else yield* done;
      });
      const port = server.address.port;
      const reconnected = new Future<void>();
      const lostAgain = new Future<void>();
      const client: TCPClient = new TCPClient("raw", {
        callbacks: {
          connected: () => {
            events.push("connected");
            if (accepted === 2) reconnected.resolve();
          },
          connectionLost: () => {
            events.push(`lost, connected: ${client.isConnected}`);
            if (events.length === 2) client.connect("127.0.0.1", port);
            else lostAgain.resolve();
          },
        },
      });
      client.connect("127.0.0.1", port);
      yield* timeout(5000, reconnected);
      client.disconnect();
      yield* lostAgain;
      done.resolve();
      server.close();
    });
    assert.deepEqual(events, ["connected", "lost, connected: false", "connected", "lost, connected: false"]);
    assert.equal(accepted, 2);
  });

  it("what a callback creates belongs to the client's owner: a DelayedCall made in connectionLost outlives the connection", async () => {
    await run(function* () {
      const server = yield* startServer(function* (_reader, writer) {
        writer.close();
      });
      const fired = new Future<void>();
      let backOff: DelayedCall | undefined;
      const client = new TCPClient("raw", {
        callbacks: {
          connectionLost: () => {
            backOff = new DelayedCall(0.02, () => fired.resolve());
          },
        },
      });
      client.connect("127.0.0.1", server.address.port);
      // Owned by the client's internal task, it was cancelled as that task ended, right after the callback.
      yield* timeout(5000, fired);
      assert.equal(backOff?.active(), false);
      server.close();
    });
  });

  it("checks its mode and callbacks", async () => {
    assert.throws(() => new TCPClient("raw"), { message: /^Cannot create a TCPClient: no corio task is running/ });
    await run(function* () {
      assert.throws(() => new TCPClient("line" as "raw"), {
        name: "TypeError",
        message: 'Cannot create a TCPClient: mode must be "raw", "string" or "delimiter", received "line"',
      });
      assert.throws(() => new TCPClient("raw", { callbacks: { data_received: () => {} } as never }), {
        message: 'Cannot create a TCPClient: unknown callback "data_received"; the events are dataReceived, connected, connectionLost, connectionFailed',
      });
      assert.throws(() => new TCPClient("raw", { callbacks: { connected: [1] as never } }), { name: "TypeError" });
    });
  });
});

describe("TCPClient with TLS", { skip: needsCommands("openssl") }, () => {
  let security: SecurityDir;
  before(() => {
    security = makeSecurityDir("node-1");
  });
  after(() => security.remove());

  it("asks for the server node's certificate by name (serverNodeName)", async () => {
    const line = await run(function* () {
      const server = yield* startServer(
        function* (reader, writer) {
          writer.write(yield* reader.readLine());
        },
        { tls: { SNICallback: nodeCertificateResolver(security.dir) } },
      );
      const got = new Future<string>();
      const client = new TCPClient("delimiter", {
        delimiter: "\n",
        tls: { ca: security.cert },
        serverNodeName: "node-1",
        callbacks: { connected: () => client.send("over tls"), dataReceived: (line: string) => got.resolve(line) },
      });
      client.connect("127.0.0.1", server.address.port);
      const line = yield* got;
      client.disconnect();
      server.close();
      yield* server.waitClosed();
      return line;
    });
    assert.equal(line, "over tls");
  });
});
