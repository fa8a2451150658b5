import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type Address, UDPClient, type UDPMessage, UDPServer } from "../../../src/compat/calvin/index.ts";
import { Future, run, sleep, spawn, timeout } from "../../../src/index.ts";
import { openDatagram } from "../../../src/net/index.ts";
import { checkLeaks, collectReports, start } from "../../_helpers.ts";
import { TestActor, text } from "./_actor.ts";

checkLeaks();

describe("UDPServer", () => {
  it("each datagram wakes the actor, which drains haveData()/dataGet() oldest first, with the sender", async () => {
    const actor = new TestActor();
    const got = await run(function* () {
      const server = new UDPServer(actor.trigger, "udp-actor");
      server.start("127.0.0.1", 0);
      const { port } = yield* server.ready();
      assert.equal(server.address?.port, port);
      const a = yield* openDatagram({ connect: { host: "127.0.0.1", port } });
      const b = yield* openDatagram({ connect: { host: "127.0.0.1", port } });
      yield* a.send("one");
      yield* b.send("two");
      yield* a.send("three");
      const got: string[] = [];
      yield* actor.until(() => {
        while (server.haveData()) {
          const message: UDPMessage = server.dataGet();
          const from = message.port === a.address.port ? "a" : message.port === b.address.port ? "b" : "?";
          got.push(`${from}@${message.host}: ${text(message.data)}`);
        }
        return got.length === 3;
      });
      assert.throws(() => server.dataGet(), { message: "Cannot get data: no datagram is waiting; check haveData() first" });
      server.stop();
      a.close();
      b.close();
      return got;
    });
    assert.deepEqual(got, ["a@127.0.0.1: one", "b@127.0.0.1: two", "a@127.0.0.1: three"]);
    assert.ok(actor.triggers.length >= 1 && actor.triggers.every((id) => id === "udp-actor"));
  });

  it("stop() closes the socket and silences the trigger; the owner ending closes it too", async () => {
    const actor = new TestActor();
    await run(function* () {
      const server = new UDPServer(actor.trigger);
      server.start("127.0.0.1", 0);
      const { port } = yield* server.ready();
      server.stop();
      server.stop();
      const calls = actor.triggers.length;
      const probe = yield* openDatagram({ connect: { host: "127.0.0.1", port } });
      yield* probe.send("anyone?");
      yield* sleep(20);
      assert.equal(actor.triggers.length, calls);
      assert.equal(server.haveData(), false);
      probe.close();
      assert.throws(() => server.start("127.0.0.1", 0), { message: "Cannot start the UDPServer: it was already started (or stopped)" });

      const owner = yield* spawn(function* () {
        const owned = new UDPServer(() => {});
        owned.start("127.0.0.1", 0);
        return (yield* owned.ready()).port;
      });
      const freed = yield* owner;
      // The port is free again: binding it works.
      const again = yield* openDatagram({ bind: { host: "127.0.0.1", port: freed } });
      again.close();
    });
  });

  it("ready() after a stop() that came before the socket was bound throws, instead of waiting for ever", async () => {
    await run(function* () {
      const server = new UDPServer(() => {});
      server.start("127.0.0.1", 0);
      server.stop();
      let message = "";
      try {
        yield* timeout(5000, () => server.ready());
      } catch (error) {
        message = (error as Error).message;
      }
      assert.equal(message, "Cannot wait for the UDPServer: it was stopped before it was bound");
    });
  });

  it("ready() reports a port in use, and needs start()", async () => {
    await run(function* () {
      const taken = yield* openDatagram({ bind: { host: "127.0.0.1", port: 0 } });
      const server = new UDPServer(() => {});
      assert.throws(() => start(server.ready()), { message: "Cannot wait for the UDPServer: call start(host, port) first" });
      server.start("127.0.0.1", taken.address.port);
      let code: unknown;
      try {
        yield* server.ready();
      } catch (error) {
        code = (error as { code?: string }).code;
      }
      assert.equal(code, "EADDRINUSE");
      taken.close();
    });
  });
});

describe("UDPClient", () => {
  it("connected, then datagrams both ways; dataReceived gets the payload only", async () => {
    const events: string[] = [];
    await run(function* () {
      const peer = yield* openDatagram({ bind: { host: "127.0.0.1", port: 0 } });
      const replies = new Future<void>();
      const client = new UDPClient({
        callbacks: {
          connected: (address: Address) => {
            events.push(`connected ${address.port === peer.address.port}`);
            client.send("ping");
            client.send(new Uint8Array([0x21]));
          },
          dataReceived: (data: Uint8Array) => {
            events.push(`got ${text(data)}`);
            if (events.length === 3) replies.resolve();
          },
        },
      });
      client.connect("127.0.0.1", peer.address.port);
      const first = yield* peer.receive();
      const second = yield* peer.receive();
      assert.equal(text(first.data), "ping");
      assert.equal(text(second.data), "!");
      yield* peer.send("pong 1", { host: first.address, port: first.port });
      yield* peer.send("pong 2", { host: first.address, port: first.port });
      yield* replies;
      client.disconnect();
      peer.close();
    });
    assert.deepEqual(events, ["connected true", "got pong 1", "got pong 2"]);
  });

  it("without dataReceived, the trigger wakes the actor, which drains dataAvailable/dataGet()", async () => {
    const actor = new TestActor();
    await run(function* () {
      const peer = yield* openDatagram({ bind: { host: "127.0.0.1", port: 0 } });
      const client = new UDPClient({ trigger: actor.trigger, actorId: 7 });
      client.connect("127.0.0.1", peer.address.port);
      yield* actor.until(() => client.isConnected);
      client.send("hello");
      const { address, port } = yield* peer.receive();
      yield* peer.send("a", { host: address, port });
      yield* peer.send("b", { host: address, port });
      const got: string[] = [];
      yield* actor.until(() => {
        while (client.dataAvailable) got.push(text(client.dataGet()));
        return got.length === 2;
      });
      assert.deepEqual(got, ["a", "b"]);
      assert.ok(actor.triggers.every((id) => id === 7));
      client.disconnect();
      peer.close();
    });
  });

  it("disconnect() closes the socket and calls connectionLost (the original's raised); send() then throws", async () => {
    const events: string[] = [];
    await run(function* () {
      const peer = yield* openDatagram({ bind: { host: "127.0.0.1", port: 0 } });
      const lost = new Future<void>();
      const connected = new Future<void>();
      const client = new UDPClient({
        callbacks: {
          connected: () => connected.resolve(),
          connectionLost: (address: Address, reason: string) => {
            events.push(`lost ${address.port === peer.address.port} ${reason}`);
            lost.resolve();
          },
        },
      });
      assert.throws(() => client.send("early"), { message: "Cannot send: the UDPClient is not connected" });
      client.connect("127.0.0.1", peer.address.port);
      yield* connected;
      assert.equal(client.isConnected, true);
      client.disconnect();
      client.disconnect();
      yield* lost;
      assert.equal(client.isConnected, false);
      assert.throws(() => client.send("late"), { message: "Cannot send: the UDPClient is not connected" });
      peer.close();
    });
    assert.deepEqual(events, ["lost true disconnected"]);
  });

  it("connect() called from connectionLost connects again (Twisted's reconnecting pattern): the client is down by then", async () => {
    const events: string[] = [];
    await run(function* () {
      const a = yield* openDatagram({ bind: { host: "127.0.0.1", port: 0 } });
      const b = yield* openDatagram({ bind: { host: "127.0.0.1", port: 0 } });
      const second = new Future<void>();
      const lostAgain = new Future<void>();
      let connections = 0;
      const client: UDPClient = new UDPClient({
        callbacks: {
          connected: () => {
            connections++;
            events.push(`connected ${connections}`);
            if (connections === 1) client.disconnect();
            else second.resolve();
          },
          connectionLost: () => {
            events.push(`lost, connected: ${client.isConnected}`);
            if (connections === 1) client.connect("127.0.0.1", b.address.port);
            else lostAgain.resolve();
          },
        },
      });
      client.connect("127.0.0.1", a.address.port);
      yield* timeout(5000, second);
      client.send("for b");
      assert.equal(text((yield* b.receive()).data), "for b");
      client.disconnect();
      yield* lostAgain;
      a.close();
      b.close();
    });
    assert.deepEqual(events, ["connected 1", "lost, connected: false", "connected 2", "lost, connected: false"]);
  });

  it("a datagram queued before disconnect() is dropped, never sent to the peer of the next connect()", async () => {
    await run(function* () {
      const a = yield* openDatagram({ bind: { host: "127.0.0.1", port: 0 } });
      const b = yield* openDatagram({ bind: { host: "127.0.0.1", port: 0 } });
      const failed = new Future<void>();
      const connected = new Future<void>();
      const client = new UDPClient({ callbacks: { connectionFailed: () => failed.resolve(), connected: () => connected.resolve() } });
      client.connect("127.0.0.1", a.address.port);
      client.send("secret for a"); // queued: the socket is not open yet
      client.disconnect();
      yield* failed;
      client.connect("127.0.0.1", b.address.port);
      yield* connected;
      client.send("for b");
      assert.equal(text((yield* b.receive()).data), "for b");
      assert.equal(a.tryReceive(), undefined);
      client.disconnect();
      a.close();
      b.close();
    });
  });

  it("a datagram the peer refused (nobody listens yet) neither ends the connection nor is reported, as Calvin's no-op connectionRefused", async () => {
    const { reports, onError } = collectReports();
    const events: string[] = [];
    await run(
      function* () {
        const probe = yield* openDatagram({ bind: { host: "127.0.0.1", port: 0 } });
        const port = probe.address.port;
        probe.close();
        const connected = new Future<void>();
        const back = new Future<string>();
        const client = new UDPClient({
          callbacks: {
            connected: () => connected.resolve(),
            dataReceived: (data: Uint8Array) => back.resolve(text(data)),
            connectionLost: (_address: Address, reason: string) => events.push(`lost: ${reason}`),
          },
        });
        client.connect("127.0.0.1", port);
        yield* connected;
        client.send("anyone?"); // refused: an ICMP port unreachable comes back
        yield* sleep(0);
        const peer = yield* openDatagram({ bind: { host: "127.0.0.1", port } });
        // The OS gives the refusal to the next receive or send: a send that gets it drops its datagram.
        client.send("now?");
        client.send("now?");
        const asked = yield* timeout(5000, peer.receive());
        assert.equal(text(asked.data), "now?");
        yield* peer.send("yes", { host: asked.address, port: asked.port });
        assert.equal(yield* timeout(5000, back), "yes");
        assert.equal(client.isConnected, true);
        client.disconnect();
        peer.close();
      },
      { onError },
    );
    assert.deepEqual(events, ["lost: disconnected"]); // the disconnect() at the end only
    assert.deepEqual(reports, []);
  });

  it("send() checks its data", async () => {
    await run(function* () {
      const peer = yield* openDatagram({ bind: { host: "127.0.0.1", port: 0 } });
      const connected = new Future<void>();
      const client = new UDPClient({ callbacks: { connected: () => connected.resolve() } });
      client.connect("127.0.0.1", peer.address.port);
      yield* connected;
      assert.throws(() => client.send(123 as never), { name: "TypeError", message: "Cannot send: data must be a string or a Uint8Array, received number" });
      client.disconnect();
      peer.close();
    });
  });

  it("connectionFailed for an address it cannot connect to", async () => {
    const reasons: string[] = [];
    await run(function* () {
      const failed = new Future<void>();
      const client = new UDPClient({
        callbacks: {
          connectionFailed: (_address: Address, reason: string) => {
            reasons.push(reason);
            failed.resolve();
          },
        },
      });
      client.connect("no-such-host.invalid", 9);
      yield* failed;
    });
    assert.equal(reasons.length, 1);
    assert.match(reasons[0] as string, /^Cannot connect a UDP socket to no-such-host\.invalid:9/);
  });
});
