import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CannotListenError, DatagramProtocol, type Failure, type IListeningPort } from "../../../src/compat/twisted/index.ts";
import { checkLeaks } from "../../_helpers.ts";
import { testReactor, text } from "./_reactor.ts";

checkLeaks();

const LOOPBACK = { interface: "127.0.0.1" };

class Echo extends DatagramProtocol {
  override datagramReceived(data: Uint8Array, addr: [string, number]): void {
    this.transport.write(data, addr);
  }
}

describe("listenUDP", () => {
  it("a UDP echo: datagramReceived with the sender, transport.write back to it; startProtocol and stopProtocol", async () => {
    const { reactor, errors, run } = testReactor();
    const log: string[] = [];
    const replies: string[] = [];
    let server: IListeningPort;
    class Client extends DatagramProtocol {
      override startProtocol(): void {
        log.push("client started");
        for (const word of ["one", "two", "three"]) this.transport.write(word, ["127.0.0.1", server.getHost().port]);
      }
      override datagramReceived(data: Uint8Array, addr: [string, number]): void {
        assert.deepEqual(addr, ["127.0.0.1", server.getHost().port]);
        replies.push(text(data));
        if (replies.length === 3) {
          this.transport.stopListening().addCallback(() => {
            log.push("client port closed");
            return server.stopListening();
          });
        }
      }
      override stopProtocol(): void {
        log.push("client stopped");
      }
    }
    class Server extends Echo {
      override startProtocol(): void {
        log.push("server started");
      }
      override stopProtocol(): void {
        log.push("server stopped");
        reactor.stop();
      }
    }
    server = reactor.listenUDP(0, new Server(), LOOPBACK);
    reactor.callWhenRunning(() => reactor.listenUDP(0, new Client(), LOOPBACK));
    await run();
    assert.deepEqual(replies.sort(), ["one", "three", "two"]);
    assert.deepEqual(log, ["server started", "client started", "client stopped", "client port closed", "server stopped"]);
    assert.equal(server.getHost().type, "UDP");
    assert.deepEqual(errors, []);
  });

  it("an error in datagramReceived is reported and the port keeps receiving; long datagrams are truncated to maxPacketSize", async () => {
    const { reactor, errors, run } = testReactor();
    const received: number[] = [];
    class Fragile extends DatagramProtocol {
      override datagramReceived(data: Uint8Array): void {
        received.push(data.length);
        if (received.length === 1) throw new Error("datagram bug");
        if (received.length === 2) reactor.stop();
      }
    }
    const server = reactor.listenUDP(0, new Fragile(), { ...LOOPBACK, maxPacketSize: 100 });
    class Sender extends DatagramProtocol {
      override startProtocol(): void {
        this.transport.write("x", ["127.0.0.1", server.getHost().port]);
        this.transport.write(new Uint8Array(1000), ["127.0.0.1", server.getHost().port]);
      }
    }
    reactor.callWhenRunning(() => reactor.listenUDP(0, new Sender(), LOOPBACK));
    await run();
    assert.deepEqual(received, [1, 100]);
    assert.equal(errors.length, 1);
    assert.equal((errors[0] as Error).message, "datagram bug");
  });

  it("a port in use fails whenListening() with CannotListenError; bad arguments throw at once", async () => {
    const { reactor, run } = testReactor();
    const first = reactor.listenUDP(0, new Echo(), LOOPBACK);
    let failure: Failure | undefined;
    reactor.callWhenRunning(() => {
      const port = reactor.listenUDP(first.getHost().port, new Echo(), LOOPBACK);
      port.whenListening().addErrback((f: Failure) => {
        failure = f;
        reactor.stop();
      });
    });
    await run();
    assert.ok(failure?.check(CannotListenError));
    assert.throws(() => reactor.listenUDP(-1, new Echo()), { name: "RangeError" });
    assert.throws(() => reactor.listenUDP(0, {} as DatagramProtocol), {
      name: "TypeError",
      message: "Cannot listen on a UDP port: protocol must be a DatagramProtocol",
    });
  });
});
