import assert from "node:assert/strict";
import { createServer, Socket } from "node:net";
import { describe, it, mock } from "node:test";
import {
  CannotListenError,
  ClientFactory,
  ConnectionAborted,
  ConnectionDone,
  ConnectionLost,
  ConnectionRefusedError,
  Factory,
  type Failure,
  type IConnector,
  type IListeningPort,
  IPv4Address,
  type ITransport,
  NotConnectingError,
  Protocol,
  type Reactor,
  UserError,
} from "../../../src/compat/twisted/index.ts";
import { captureNodeServers, checkLeaks, promiseWithResolvers, rawClient } from "../../_helpers.ts";
import { after, testReactor, text } from "./_reactor.ts";

checkLeaks();

const LOOPBACK = { interface: "127.0.0.1" };

class Echo extends Protocol {
  override dataReceived(data: Uint8Array): void {
    this.transport.write(data);
  }
}

/** A free port: open one and close it. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("Protocol over TCP", () => {
  it("goes through makeConnection, connectionMade, dataReceived*, connectionLost(ConnectionDone) on both ends", async () => {
    const { reactor, errors, run } = testReactor();
    const events: Record<"server" | "client", string[]> = { server: [], client: [] };
    const transports: Partial<Record<"server" | "client", ITransport>> = {};
    const done = after(2, () => reactor.stop());
    const recording = (side: "server" | "client") =>
      class Recording extends Protocol {
        override makeConnection(transport: ITransport): void {
          events[side].push(`makeConnection connected=${this.connected}`);
          super.makeConnection(transport);
        }
        override connectionMade(): void {
          events[side].push(`connectionMade connected=${this.connected} transport.connected=${this.transport.connected}`);
          transports[side] = this.transport;
          if (side === "client") this.transport.write("hello");
        }
        override dataReceived(data: Uint8Array): void {
          events[side].push(`dataReceived ${text(data)}`);
          if (side === "server") this.transport.write(data);
          else this.transport.loseConnection();
        }
        override connectionLost(reason: Failure): void {
          events[side].push(`connectionLost ${reason.check(ConnectionDone)?.name} connected=${this.connected}`);
          done();
        }
      };
    const port = reactor.listenTCP(0, Factory.forProtocol(recording("server")), LOOPBACK);
    reactor.callWhenRunning(() => reactor.connectTCP("127.0.0.1", port.getHost().port, ClientFactory.forProtocol(recording("client"))));
    await run();
    for (const side of ["server", "client"] as const) {
      assert.deepEqual(events[side], [
        "makeConnection connected=false",
        "connectionMade connected=true transport.connected=true",
        "dataReceived hello",
        "connectionLost ConnectionDone connected=false",
      ]);
    }
    // Each end's peer is the other's host.
    const server = transports.server as ITransport;
    const client = transports.client as ITransport;
    assert.deepEqual(server.getPeer(), client.getHost());
    assert.deepEqual(server.getHost(), client.getPeer());
    assert.deepEqual(client.getPeer(), new IPv4Address("TCP", "127.0.0.1", port.getHost().port));
    assert.equal(server.connected, false);
    assert.deepEqual(errors, []);
  });

  it("echoes a megabyte sent in many writes, whatever the chunking of dataReceived", async () => {
    const { reactor, errors, run } = testReactor();
    const size = 1 << 20;
    const sent = new Uint8Array(size).map((_, i) => (i * 7) & 0xff);
    const received: Uint8Array[] = [];
    let receivedBytes = 0;
    class Sender extends Protocol {
      override connectionMade(): void {
        for (let offset = 0; offset < size; offset += 1000) this.transport.write(sent.subarray(offset, offset + 1000));
      }
      override dataReceived(data: Uint8Array): void {
        received.push(data.slice());
        receivedBytes += data.length;
        if (receivedBytes === size) this.transport.loseConnection();
      }
      override connectionLost(): void {
        reactor.stop();
      }
    }
    const port = reactor.listenTCP(0, Factory.forProtocol(Echo), LOOPBACK);
    reactor.callWhenRunning(() => reactor.connectTCP("127.0.0.1", port.getHost().port, ClientFactory.forProtocol(Sender)));
    await run();
    assert.deepEqual(Buffer.concat(received), Buffer.from(sent));
    assert.deepEqual(errors, []);
  });

  it("the writes of one callback leave together, in one writev, as Twisted sends its buffer when the reactor turns", async () => {
    const { reactor, errors, run } = testReactor();
    let answer = "";
    class Answer extends Protocol {
      override dataReceived(data: Uint8Array): void {
        this.transport.write("first: ");
        this.transport.write(data);
        this.transport.writeSequence([" / ", "done\n"]);
      }
    }
    class Ask extends Protocol {
      override connectionMade(): void {
        this.transport.write("question");
      }
      override dataReceived(data: Uint8Array): void {
        answer += text(data);
        if (answer.endsWith("\n")) reactor.stop();
      }
    }
    // Node's Writable hands the chunks queued while a socket is corked to `_writev` at once.
    const writev = mock.method(Socket.prototype as unknown as { _writev(chunks: unknown[], done: () => void): void }, "_writev");
    try {
      const port = reactor.listenTCP(0, Factory.forProtocol(Answer), LOOPBACK);
      reactor.callWhenRunning(() => reactor.connectTCP("127.0.0.1", port.getHost().port, ClientFactory.forProtocol(Ask)));
      await run();
      assert.equal(answer, "first: question / done\n");
      assert.equal(writev.mock.callCount(), 1);
      assert.equal((writev.mock.calls[0]?.arguments[0] as unknown[] | undefined)?.length, 4);
    } finally {
      writev.mock.restore();
    }
    assert.deepEqual(errors, []);
  });

  it("setTcpNoDelay and setTcpKeepAlive set the socket's options; both are off until set, as in Twisted", async () => {
    const { reactor, errors, run } = testReactor();
    const setNoDelay = mock.method(Socket.prototype, "setNoDelay");
    const setKeepAlive = mock.method(Socket.prototype, "setKeepAlive");
    const seen: boolean[] = [];
    class Options extends Protocol {
      override connectionMade(): void {
        seen.push(this.transport.getTcpNoDelay(), this.transport.getTcpKeepAlive());
        this.transport.setTcpNoDelay(true);
        this.transport.setTcpKeepAlive(true);
        seen.push(this.transport.getTcpNoDelay(), this.transport.getTcpKeepAlive());
        this.transport.loseConnection();
      }
    }
    class Closer extends Protocol {
      override connectionLost(): void {
        reactor.stop();
      }
    }
    try {
      const port = reactor.listenTCP(0, Factory.forProtocol(Options), LOOPBACK);
      reactor.callWhenRunning(() => reactor.connectTCP("127.0.0.1", port.getHost().port, ClientFactory.forProtocol(Closer)));
      await run();
      assert.deepEqual(seen, [false, false, true, true]);
      assert.deepEqual(
        setNoDelay.mock.calls.map((call) => call.arguments),
        [[true]],
      );
      assert.equal(setKeepAlive.mock.calls.length, 1);
      assert.equal(setKeepAlive.mock.calls[0]?.arguments[0], true);
    } finally {
      setNoDelay.mock.restore();
      setKeepAlive.mock.restore();
    }
    assert.deepEqual(errors, []);
  });

  it("loseConnection sends the queued data first; writes after it are ignored", async () => {
    const { reactor, errors, run } = testReactor();
    const size = 4 << 20;
    let received = 0;
    let reason: Failure | undefined;
    class BigThenClose extends Protocol {
      override connectionMade(): void {
        this.transport.write(new Uint8Array(size));
        this.transport.loseConnection();
        this.transport.write("ignored");
        assert.equal(this.transport.disconnecting, true);
      }
    }
    class Counter extends Protocol {
      override dataReceived(data: Uint8Array): void {
        received += data.length;
      }
      override connectionLost(why: Failure): void {
        reason = why;
        reactor.stop();
      }
    }
    const port = reactor.listenTCP(0, Factory.forProtocol(BigThenClose), LOOPBACK);
    reactor.callWhenRunning(() => reactor.connectTCP("127.0.0.1", port.getHost().port, ClientFactory.forProtocol(Counter)));
    await run();
    assert.equal(received, size);
    assert.ok(reason?.check(ConnectionDone));
    assert.deepEqual(errors, []);
  });

  it("loseConnection with bytes queued, then the peer resets: connectionLost gets ConnectionLost, not ConnectionDone", async () => {
    const { reactor, errors, run } = testReactor();
    const peerSocket = promiseWithResolvers<Socket>();
    const peer = createServer((socket) => {
      socket.on("error", () => {});
      socket.pause(); // reads nothing: the bytes stay queued on our side
      peerSocket.resolve(socket);
    });
    await new Promise<void>((resolve) => peer.listen(0, "127.0.0.1", resolve));
    let lost: Failure | undefined;
    class Writer extends Protocol {
      override connectionMade(): void {
        this.transport.write(new Uint8Array(32 * 1024 * 1024));
        this.transport.loseConnection();
        void peerSocket.promise.then((socket) => socket.resetAndDestroy());
      }
      override connectionLost(reason: Failure): void {
        lost = reason;
        reactor.stop();
      }
    }
    reactor.callWhenRunning(() => reactor.connectTCP("127.0.0.1", (peer.address() as { port: number }).port, ClientFactory.forProtocol(Writer)));
    try {
      await run();
    } finally {
      peer.close();
    }
    assert.ok(lost?.check(ConnectionLost), String(lost));
    assert.match(lost === undefined ? "" : (lost.value as Error).message, /ECONNRESET|EPIPE/);
    assert.deepEqual(errors, []);
  });

  it("abortConnection drops the connection: ConnectionAborted here, ConnectionLost at the peer", async () => {
    const { reactor, errors, run } = testReactor();
    const reasons: Partial<Record<"server" | "client", Failure>> = {};
    const done = after(2, () => reactor.stop());
    class Aborter extends Protocol {
      override connectionMade(): void {
        this.transport.write("hi");
      }
      override dataReceived(): void {
        // (Node resets the connection only when no write is still in flight; with one, the peer sees a FIN.)
        this.transport.abortConnection();
        this.transport.write("ignored");
      }
      override connectionLost(reason: Failure): void {
        reasons.client = reason;
        done();
      }
    }
    class Server extends Echo {
      override connectionLost(reason: Failure): void {
        reasons.server = reason;
        done();
      }
    }
    const port = reactor.listenTCP(0, Factory.forProtocol(Server), LOOPBACK);
    reactor.callWhenRunning(() => reactor.connectTCP("127.0.0.1", port.getHost().port, ClientFactory.forProtocol(Aborter)));
    await run();
    assert.ok(reasons.client?.check(ConnectionAborted));
    assert.ok(reasons.server?.check(ConnectionLost), String(reasons.server));
    assert.deepEqual(errors, []);
  });

  it("an error thrown in dataReceived is reported and drops that connection only; the reactor and the port go on", async () => {
    const { reactor, errors, run } = testReactor();
    const log: string[] = [];
    const secondDone = after(2, () => reactor.stop());
    class Fragile extends Protocol {
      override dataReceived(data: Uint8Array): void {
        if (text(data) === "boom") throw new Error("protocol bug");
        this.transport.write(data);
      }
      override connectionLost(reason: Failure): void {
        log.push(`server lost: ${reason.getErrorMessage()}`);
        if (reason.check(ConnectionDone)) secondDone();
      }
    }
    const client = (message: string, next: () => void) =>
      class Client extends Protocol {
        override connectionMade(): void {
          this.transport.write(message);
        }
        override dataReceived(data: Uint8Array): void {
          log.push(`client got ${text(data)}`);
          this.transport.loseConnection();
        }
        override connectionLost(reason: Failure): void {
          log.push(`client ${message} lost: ${reason.check(ConnectionDone)?.name}`);
          next();
        }
      };
    const port = reactor.listenTCP(0, Factory.forProtocol(Fragile), LOOPBACK);
    const connect = (message: string, next: () => void) =>
      reactor.connectTCP("127.0.0.1", port.getHost().port, ClientFactory.forProtocol(client(message, next)));
    reactor.callWhenRunning(() => connect("boom", () => connect("fine", secondDone)));
    await run();
    // The failing connection: the server's reason is the error; the client sees a clean close.
    assert.deepEqual(log.slice(0, 2), ["server lost: protocol bug", "client boom lost: ConnectionDone"]);
    // The next connection to the same port works.
    assert.deepEqual(log.slice(2, 3), ["client got fine"]);
    assert.deepEqual(log.slice(3).sort(), ["client fine lost: ConnectionDone", "server lost: Connection was closed cleanly."]);
    assert.equal(errors.length, 1);
    assert.equal((errors[0] as Error).message, "protocol bug");
  });

  it("buildProtocol giving null closes the connection; one that throws is reported and closes it too; the port goes on", async () => {
    const { reactor, errors, run } = testReactor();
    const log: string[] = [];
    class Welcome extends Protocol {
      override connectionMade(): void {
        this.transport.write("welcome");
        this.transport.loseConnection();
      }
    }
    let built = 0;
    class Picky extends Factory {
      override protocol = Welcome;
      override buildProtocol(addr: IPv4Address) {
        built++;
        if (built === 1) return null;
        if (built === 2) throw new Error("no protocol today");
        return super.buildProtocol(addr);
      }
    }
    const port = reactor.listenTCP(0, new Picky(), LOOPBACK);
    const connect = (n: number): void => {
      class Client extends Protocol {
        override dataReceived(data: Uint8Array): void {
          log.push(`client ${n} got ${text(data)}`);
        }
        override connectionLost(reason: Failure): void {
          log.push(`client ${n} lost: ${reason.check(ConnectionDone, ConnectionLost)?.name}`);
          if (n < 3) connect(n + 1);
          else reactor.stop();
        }
      }
      reactor.connectTCP("127.0.0.1", port.getHost().port, ClientFactory.forProtocol(Client));
    };
    reactor.callWhenRunning(() => connect(1));
    await run();
    assert.deepEqual(log, ["client 1 lost: ConnectionDone", "client 2 lost: ConnectionDone", "client 3 got welcome", "client 3 lost: ConnectionDone"]);
    assert.equal(errors.length, 1);
    assert.equal((errors[0] as Error).message, "no protocol today");
  });

  it("pauseProducing holds dataReceived until resumeProducing", async () => {
    const { reactor, errors, run } = testReactor();
    const log: string[] = [];
    class Pausing extends Protocol {
      override dataReceived(data: Uint8Array): void {
        log.push(`data ${text(data)}`);
        if (text(data) === "first") {
          this.transport.pauseProducing();
          this.transport.write("paused");
          reactor.callLater(0.2, () => {
            log.push("resume");
            this.transport.resumeProducing();
          });
        } else this.transport.loseConnection();
      }
    }
    class Client extends Protocol {
      override connectionMade(): void {
        this.transport.write("first");
      }
      override dataReceived(): void {
        this.transport.write("second");
      }
      override connectionLost(): void {
        reactor.stop();
      }
    }
    const port = reactor.listenTCP(0, Factory.forProtocol(Pausing), LOOPBACK);
    reactor.callWhenRunning(() => reactor.connectTCP("127.0.0.1", port.getHost().port, ClientFactory.forProtocol(Client)));
    await run();
    assert.deepEqual(log, ["data first", "resume", "data second"]);
    assert.deepEqual(errors, []);
  });

  it("reactor.stop() with connections open gives both ends ConnectionLost, stops the factories and closes everything", async () => {
    const { reactor, errors, run } = testReactor();
    const log: string[] = [];
    class Idle extends Protocol {
      override connectionMade(): void {
        log.push(`${this.factory.constructor.name} connected`);
        if (this.factory instanceof ClientFactory) reactor.callLater(0.05, () => reactor.stop());
      }
      override connectionLost(reason: Failure): void {
        log.push(`${this.factory.constructor.name} lost: ${reason.check(ConnectionLost)?.name}`);
      }
    }
    class ServerSide extends Factory {
      override protocol = Idle;
      override stopFactory(): void {
        log.push("server factory stopped");
      }
    }
    class ClientSide extends ClientFactory {
      override protocol = Idle;
      override clientConnectionLost(_connector: IConnector, reason: Failure): void {
        log.push(`clientConnectionLost: ${reason.check(ConnectionLost)?.name}`);
      }
      override stopFactory(): void {
        log.push("client factory stopped");
      }
    }
    const port = reactor.listenTCP(0, new ServerSide(), LOOPBACK);
    reactor.callWhenRunning(() => reactor.connectTCP("127.0.0.1", port.getHost().port, new ClientSide()));
    await run();
    assert.deepEqual(log.slice(0, 2).sort(), ["ClientSide connected", "ServerSide connected"]);
    assert.deepEqual(
      log.slice(2).sort(),
      [
        "ClientSide lost: ConnectionLost",
        "ServerSide lost: ConnectionLost",
        "clientConnectionLost: ConnectionLost",
        "client factory stopped",
        "server factory stopped",
      ].sort(),
    );
    assert.deepEqual(errors, []);
  });
});

describe("listenTCP", () => {
  it("stopListening closes the port (Deferred fired, factory stopped) and leaves open connections working", async () => {
    const { reactor, errors, run } = testReactor();
    const log: string[] = [];
    let port: IListeningPort;
    class EchoFactory extends Factory {
      override protocol = Echo;
      override startFactory(): void {
        log.push("startFactory");
      }
      override stopFactory(): void {
        log.push("stopFactory");
      }
    }
    class Client extends Protocol {
      override connectionMade(): void {
        port.stopListening().addCallback(() => {
          log.push("port closed");
          this.transport.write("still here");
        });
      }
      override dataReceived(data: Uint8Array): void {
        log.push(`echo: ${text(data)}`);
        this.transport.loseConnection();
      }
    }
    class Refused extends ClientFactory {
      override protocol = Protocol;
      override clientConnectionFailed(_connector: IConnector, reason: Failure): void {
        log.push(`new connection: ${reason.check(ConnectionRefusedError)?.name}`);
        reactor.stop();
      }
    }
    class First extends ClientFactory {
      override protocol = Client;
      override clientConnectionLost(): void {
        reactor.connectTCP("127.0.0.1", port.getHost().port, new Refused());
      }
    }
    port = reactor.listenTCP(0, new EchoFactory(), LOOPBACK);
    reactor.callWhenRunning(() => reactor.connectTCP("127.0.0.1", port.getHost().port, new First()));
    await run();
    assert.deepEqual(log, ["startFactory", "stopFactory", "port closed", "echo: still here", "new connection: ConnectionRefusedError"]);
    assert.deepEqual(errors, []);
  });

  it("without an interface, binds at once on all interfaces: getHost() works before the reactor runs", async () => {
    const { reactor, run } = testReactor();
    const port = reactor.listenTCP(0, Factory.forProtocol(Echo));
    const host = port.getHost();
    assert.equal(host.host, "0.0.0.0");
    assert.ok(host.port > 0);
    reactor.callWhenRunning(() => port.stopListening().addCallback(() => reactor.stop()));
    await run();
  });

  it("with an interface and port 0, getHost() waits for the bind: whenListening() fires with the port", async () => {
    const { reactor, run } = testReactor();
    let seen: string | undefined;
    reactor.callWhenRunning(() => {
      const port = reactor.listenTCP(0, Factory.forProtocol(Echo), LOOPBACK);
      assert.throws(() => port.getHost(), {
        message: "Cannot get the port's address: port 0 was asked for and the port is not bound yet; wait for port.whenListening()",
      });
      port.whenListening().addCallback((listening: IListeningPort) => {
        seen = listening.getHost().host;
        return port.stopListening().addCallback(() => reactor.stop());
      });
    });
    await run();
    assert.equal(seen, "127.0.0.1");
  });

  it("a port in use fails whenListening() with CannotListenError, or is reported if nobody asked", async () => {
    const { reactor, errors, run } = testReactor();
    const first = reactor.listenTCP(0, Factory.forProtocol(Echo), LOOPBACK);
    let failure: Failure | undefined;
    reactor.callWhenRunning(() => {
      const taken = first.getHost().port;
      reactor
        .listenTCP(taken, Factory.forProtocol(Echo), LOOPBACK)
        .whenListening()
        .addErrback((f: Failure) => {
          failure = f;
          reactor.listenTCP(taken, Factory.forProtocol(Echo), LOOPBACK); // not watched: reported
          reactor.callLater(0.1, () => reactor.stop());
        });
    });
    await run();
    assert.ok(failure?.check(CannotListenError));
    assert.equal((failure?.value as CannotListenError | undefined)?.code, "EADDRINUSE");
    assert.equal(errors.length, 1);
    assert.ok(errors[0] instanceof CannotListenError);
  });

  it("rejects bad arguments at once", () => {
    const { reactor } = testReactor();
    assert.throws(() => reactor.listenTCP(70000, Factory.forProtocol(Echo)), {
      name: "RangeError",
      message: "Cannot listen on a TCP port: port must be an integer from 0 to 65535, received 70000",
    });
    assert.throws(() => new Factory().buildProtocol(new IPv4Address("TCP", "127.0.0.1", 1)), {
      name: "TypeError",
      message: "Cannot build a protocol: Factory.protocol is not set; set it, or use Factory.forProtocol(P)",
    });
  });
});

describe("connectTCP", () => {
  it("a refused connection calls startedConnecting, then clientConnectionFailed(ConnectionRefusedError), then stopFactory", async () => {
    const { reactor, errors, run } = testReactor();
    const port = await freePort();
    const log: string[] = [];
    class Client extends ClientFactory {
      override protocol = Protocol;
      override startFactory(): void {
        log.push("startFactory");
      }
      override startedConnecting(connector: IConnector): void {
        log.push(`startedConnecting ${connector.state}`);
      }
      override clientConnectionFailed(connector: IConnector, reason: Failure): void {
        log.push(`failed ${reason.check(ConnectionRefusedError)?.name} ${connector.state}`);
      }
      override clientConnectionLost(): void {
        log.push("lost");
      }
      override stopFactory(): void {
        log.push("stopFactory");
        reactor.stop();
      }
    }
    const connector = reactor.connectTCP("127.0.0.1", port, new Client());
    assert.deepEqual(connector.getDestination(), new IPv4Address("TCP", "127.0.0.1", port));
    await run();
    assert.deepEqual(log, ["startFactory", "startedConnecting connecting", "failed ConnectionRefusedError disconnected", "stopFactory"]);
    assert.deepEqual(errors, []);
  });

  it("stopConnecting gives UserError; stopConnecting when not connecting raises NotConnectingError", async () => {
    const { reactor, errors, run } = testReactor();
    const listening = reactor.listenTCP(0, Factory.forProtocol(Echo), LOOPBACK);
    const log: string[] = [];
    class Client extends ClientFactory {
      override protocol = Protocol;
      override clientConnectionFailed(_connector: IConnector, reason: Failure): void {
        log.push(`failed: ${reason.check(UserError)?.name}`);
      }
    }
    const before = reactor.connectTCP("127.0.0.1", 9, new Client());
    before.stopConnecting(); // before the reactor runs: nothing is attempted
    assert.throws(() => before.stopConnecting(), NotConnectingError);
    reactor.callWhenRunning(() => {
      const during = reactor.connectTCP("127.0.0.1", listening.getHost().port, new Client());
      during.disconnect(); // connecting: same as stopConnecting
      assert.equal(during.state, "disconnected");
      reactor.callLater(0.1, () => reactor.stop());
    });
    await run();
    assert.deepEqual(log, ["failed: UserError", "failed: UserError"]);
    assert.deepEqual(errors, []);
  });

  it("connector.connect() from clientConnectionLost reconnects, with the same factory started once", async () => {
    const { reactor, errors, run } = testReactor();
    const log: string[] = [];
    class Once extends Protocol {
      override connectionMade(): void {
        this.transport.loseConnection();
      }
    }
    class Reconnecting extends ClientFactory {
      override protocol = Once;
      connections = 0;
      override startFactory(): void {
        log.push("startFactory");
      }
      override buildProtocol(addr: IPv4Address) {
        log.push(`connection ${++this.connections}`);
        return super.buildProtocol(addr);
      }
      override clientConnectionLost(connector: IConnector, reason: Failure): void {
        log.push(`lost: ${reason.check(ConnectionDone)?.name}`);
        if (this.connections < 3) connector.connect();
      }
      override stopFactory(): void {
        log.push("stopFactory");
        reactor.stop();
      }
    }
    const port = reactor.listenTCP(0, Factory.forProtocol(Echo), LOOPBACK);
    reactor.callWhenRunning(() => reactor.connectTCP("127.0.0.1", port.getHost().port, new Reconnecting()));
    await run();
    assert.deepEqual(log, [
      "startFactory",
      "connection 1",
      "lost: ConnectionDone",
      "connection 2",
      "lost: ConnectionDone",
      "connection 3",
      "lost: ConnectionDone",
      "stopFactory",
    ]);
    assert.deepEqual(errors, []);
  });

  it("connector.disconnect() while connected loses the connection", async () => {
    const { reactor, errors, run } = testReactor();
    let reason: Failure | undefined;
    let connector: IConnector;
    class Client extends ClientFactory {
      override protocol = class extends Protocol {
        override connectionMade(): void {
          assert.equal(connector.state, "connected");
          assert.equal(connector.transport, this.transport);
          connector.disconnect();
        }
      };
      override clientConnectionLost(_connector: IConnector, why: Failure): void {
        reason = why;
        reactor.stop();
      }
    }
    const port = reactor.listenTCP(0, Factory.forProtocol(Echo), LOOPBACK);
    reactor.callWhenRunning(() => {
      connector = reactor.connectTCP("127.0.0.1", port.getHost().port, new Client());
    });
    await run();
    assert.ok(reason?.check(ConnectionDone));
    assert.deepEqual(errors, []);
  });
});

describe("listenTCP: errors and shutdown (issue 11, edge case 16)", () => {
  it("an accept error on a listening port is reported to onError, and the port keeps accepting (#11)", async () => {
    const { reactor, errors, run } = testReactor();
    const capture = captureNodeServers();
    let port: IListeningPort;
    try {
      port = reactor.listenTCP(0, Factory.forProtocol(Echo), LOOPBACK);
    } finally {
      capture.restore();
    }
    const log: string[] = [];
    class Ping extends Protocol {
      override connectionMade(): void {
        this.transport.write("ping");
      }
      override dataReceived(data: Uint8Array): void {
        log.push(text(data));
        reactor.stop();
      }
    }
    class Client extends ClientFactory {
      override protocol = Ping;
    }
    reactor.callWhenRunning(() => {
      capture.servers[0]?.emit("error", Object.assign(new Error("accept EMFILE"), { code: "EMFILE", syscall: "accept" }));
      reactor.connectTCP("127.0.0.1", port.getHost().port, new Client());
    });
    await run();
    assert.deepEqual(log, ["ping"]);
    assert.equal(errors.length, 1);
    assert.match((errors[0] as Error).message, /^Cannot accept a connection on 127\.0\.0\.1:\d+: accept EMFILE$/);
    assert.equal((errors[0] as { code?: string }).code, "EMFILE");
  });

  it("reactor.stop(): the peer reads what the protocol wrote, then a clean EOF, not a reset (#12)", async () => {
    const { reactor, errors, run } = testReactor();
    class Hello extends Protocol {
      override connectionMade(): void {
        this.transport.write("hello\n");
      }
    }
    const port = reactor.listenTCP(0, Factory.forProtocol(Hello), LOOPBACK);
    let client: ReturnType<typeof rawClient> | undefined;
    reactor.callWhenRunning(() => {
      client = rawClient(port.getHost().port);
      client.socket.once("data", () => reactor.callFromThread(() => reactor.stop()));
    });
    await run();
    await client?.closed;
    assert.equal(client?.text, "hello\n");
    assert.equal(client?.ended, true);
    assert.equal(client?.error, undefined);
    assert.deepEqual(errors, []);
  });

  /** Answers the first data with two writes and stops the reactor in the same callback. */
  const byeAndStop = (reactor: Reactor) =>
    class ByeAndStop extends Protocol {
      override dataReceived(): void {
        this.transport.write("bye");
        this.transport.write("\n");
        reactor.stop();
      }
    };

  it("reactor.stop() in the callback that wrote: the turn's writes still go out, then a clean EOF", async () => {
    const { reactor, errors, run } = testReactor();
    const port = reactor.listenTCP(0, Factory.forProtocol(byeAndStop(reactor)), LOOPBACK);
    let client: ReturnType<typeof rawClient> | undefined;
    reactor.callWhenRunning(() => {
      client = rawClient(port.getHost().port, "ping\n");
    });
    await run();
    await client?.closed;
    const { text: got, ended, error } = client as ReturnType<typeof rawClient>;
    assert.deepEqual({ got, ended, error }, { got: "bye\n", ended: true, error: undefined });
    assert.deepEqual(errors, []);
  });

  it("the same on a connectTCP connection: the turn's writes go out before the stop closes it", async () => {
    const { reactor, errors, run } = testReactor();
    // A plain Node server that says hello and records what comes back.
    const peer = { text: "", ended: false, error: undefined as string | undefined };
    const closed = promiseWithResolvers<void>();
    const server = createServer({ allowHalfOpen: true }, (socket) => {
      socket.write("hello\n");
      socket.setEncoding("utf8").on("data", (chunk: string) => {
        peer.text += chunk;
      });
      socket.on("end", () => {
        peer.ended = true;
        socket.end();
      });
      socket.on("error", (error: NodeJS.ErrnoException) => {
        peer.error = error.code ?? error.message;
      });
      socket.on("close", () => closed.resolve());
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = server.address() as { port: number };
      reactor.callWhenRunning(() => reactor.connectTCP("127.0.0.1", port, ClientFactory.forProtocol(byeAndStop(reactor))));
      await run();
      await closed.promise;
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    assert.deepEqual(peer, { text: "bye\n", ended: true, error: undefined });
    assert.deepEqual(errors, []);
  });
});
