import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { ClientFactory, ConnectionDone, Factory, type Failure, IPv4Address, type ITransport, LineReceiver } from "../../../src/compat/twisted/index.ts";
import { checkLeaks } from "../../_helpers.ts";
import { after, testReactor } from "./_reactor.ts";

checkLeaks();

const encoder = new TextEncoder();
const bytesOf = (s: string): number => encoder.encode(s).length;

/** A transport that records what is written, as a test double. */
class FakeTransport implements ITransport {
  connected = true;
  disconnecting = false;
  paused = false;
  written = "";
  write(data: string | Uint8Array): void {
    // As a socket sends it: a string as UTF-8 (an unpaired surrogate as U+FFFD).
    this.written += new TextDecoder().decode(typeof data === "string" ? encoder.encode(data) : data);
  }
  writeSequence(data: Iterable<string | Uint8Array>): void {
    for (const chunk of data) this.write(chunk);
  }
  loseConnection(): void {
    this.disconnecting = true;
  }
  abortConnection(): void {
    this.disconnecting = true;
  }
  getPeer(): IPv4Address {
    return new IPv4Address("TCP", "127.0.0.1", 2);
  }
  getHost(): IPv4Address {
    return new IPv4Address("TCP", "127.0.0.1", 1);
  }
  getTcpNoDelay(): boolean {
    return false;
  }
  setTcpNoDelay(): void {}
  getTcpKeepAlive(): boolean {
    return false;
  }
  setTcpKeepAlive(): void {}
  pauseProducing(): void {
    this.paused = true;
  }
  resumeProducing(): void {
    this.paused = false;
  }
  stopProducing(): void {
    this.loseConnection();
  }
}

class Recorder extends LineReceiver {
  lines: string[] = [];
  exceeded = 0;
  override lineReceived(line: string): void {
    this.lines.push(line);
  }
  override lineLengthExceeded(line: string): void {
    this.exceeded++;
    super.lineLengthExceeded(line);
  }
}

/** Feeds chunks the way the reactor does: nothing more once the transport is disconnecting. */
function feed(protocol: LineReceiver, chunks: Uint8Array[]): void {
  for (const chunk of chunks) {
    if (protocol.transport.disconnecting) return;
    protocol.dataReceived(chunk);
  }
}

function connected<P extends LineReceiver>(protocol: P): P & { transport: FakeTransport } {
  protocol.makeConnection(new FakeTransport());
  return protocol as P & { transport: FakeTransport };
}

function split(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let start = 0;
  for (const point of [...points, bytes.length]) {
    chunks.push(bytes.subarray(start, point));
    start = point;
  }
  return chunks;
}

describe("LineReceiver", () => {
  it("any split of the input gives the same lines, and an over-long line the same lineLengthExceeded", () => {
    const max = 10;
    const unit = fc.constantFrom("a", "b", "é", "€", "😀", "\r", "\n", "|", "E", "N", "D");
    fc.assert(
      fc.property(
        fc.constantFrom("\r\n", "\n", "||", "END"),
        fc.array(fc.string({ unit, maxLength: 14 }), { maxLength: 8 }),
        fc.string({ unit, maxLength: 16 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        (delimiter, candidates, tailCandidate, cuts) => {
          // A line must not contain the delimiter, nor end with the start of one that would match early.
          const lines = candidates.filter((line) => (line + delimiter).indexOf(delimiter) === line.length);
          const tail = tailCandidate.includes(delimiter) ? "" : tailCandidate;
          const input = encoder.encode(lines.map((line) => line + delimiter).join("") + tail);

          // The model: lines up to the first over-long one; a partial line over max + delimiter is over-long too.
          const expected: string[] = [];
          let exceeded = 0;
          for (const line of lines) {
            if (bytesOf(line) > max) {
              exceeded = 1;
              break;
            }
            expected.push(line);
          }
          if (exceeded === 0 && bytesOf(tail) >= max + bytesOf(delimiter)) exceeded = 1;

          for (const chunks of [split(input, cuts), [input], split(input, [...input.keys()])]) {
            const protocol = connected(new Recorder());
            protocol.delimiter = delimiter;
            protocol.MAX_LENGTH = max;
            feed(protocol, chunks);
            assert.deepEqual(protocol.lines, expected);
            assert.equal(protocol.exceeded, exceeded);
            assert.equal(protocol.transport.disconnecting, exceeded === 1);
          }
        },
      ),
      { numRuns: 500, seed: 3500 },
    );
  });

  it("a line that begins with U+FEFF keeps it: each line is its bytes decoded, no byte-order mark dropped", () => {
    const protocol = connected(new Recorder());
    feed(protocol, [encoder.encode("\uFEFFfirst\r\n\uFEFFsecond\r\n")]);
    assert.deepEqual(protocol.lines, ["\uFEFFfirst", "\uFEFFsecond"]);
  });

  it("sendLine writes the line and the delimiter", () => {
    const protocol = connected(new Recorder());
    protocol.sendLine("hello");
    protocol.delimiter = "\n";
    protocol.sendLine(encoder.encode("bytes"));
    assert.equal(protocol.transport.written, "hello\r\nbytes\n");
  });

  it("sendLine encodes the line and the delimiter each on its own: a high surrogate ending the line does not pair with the delimiter", () => {
    const protocol = connected(new Recorder());
    protocol.delimiter = "\udc00|";
    protocol.sendLine("a\ud800");
    assert.equal(protocol.transport.written, "a\ufffd\ufffd|");
  });

  it("a line longer than MAX_LENGTH closes the connection by default", () => {
    const protocol = connected(new Recorder());
    protocol.dataReceived(encoder.encode(`ok\r\n${"x".repeat(16385)}\r\nnever\r\n`));
    assert.deepEqual(protocol.lines, ["ok"]);
    assert.equal(protocol.exceeded, 1);
    assert.equal(protocol.transport.disconnecting, true);
    // Exactly MAX_LENGTH is fine.
    const fine = connected(new Recorder());
    fine.dataReceived(encoder.encode(`${"x".repeat(16384)}\r\n`));
    assert.equal(fine.lines[0]?.length, 16384);
  });

  it("stops delivering the buffered lines once lineReceived loses the connection", () => {
    class Quitter extends Recorder {
      override lineReceived(line: string): void {
        super.lineReceived(line);
        if (line === "quit") this.transport.loseConnection();
      }
    }
    const protocol = connected(new Quitter());
    protocol.dataReceived(encoder.encode("a\r\nquit\r\nb\r\n"));
    assert.deepEqual(protocol.lines, ["a", "quit"]);
  });

  it("a true value returned by lineReceived stops the processing and is returned by dataReceived (Twisted's `if why: return why`)", () => {
    const quit = new Error("quit");
    class Quitter extends Recorder {
      override lineReceived(line: string): unknown {
        super.lineReceived(line);
        return line === "quit" ? quit : undefined;
      }
    }
    const protocol = connected(new Quitter());
    assert.equal(protocol.dataReceived(encoder.encode("a\r\n")), undefined);
    assert.equal(protocol.dataReceived(encoder.encode("quit\r\nb\r\n")), quit);
    assert.deepEqual(protocol.lines, ["a", "quit"]);
  });

  it("dataReceived returns what rawDataReceived returned (Twisted's test_rawDataError)", () => {
    class Raw extends LineReceiver {
      override rawDataReceived(): unknown {
        return new RangeError("oops");
      }
    }
    const protocol = connected(new Raw());
    protocol.setRawMode();
    assert.ok(protocol.dataReceived(encoder.encode("data")) instanceof RangeError);
  });

  it("setRawMode hands the following bytes to rawDataReceived; setLineMode(extra) goes back to lines", () => {
    const log: string[] = [];
    class HeadersThenBody extends LineReceiver {
      #length = 0;
      override lineReceived(line: string): void {
        log.push(`line ${line}`);
        if (line.startsWith("Length: ")) this.#length = Number(line.slice(8));
        if (line === "") this.setRawMode();
      }
      override rawDataReceived(data: Uint8Array): void {
        const body = data.subarray(0, this.#length);
        this.#length -= body.length;
        log.push(`raw ${new TextDecoder().decode(body)}`);
        if (this.#length === 0) this.setLineMode(data.subarray(body.length));
      }
    }
    const protocol = connected(new HeadersThenBody());
    assert.equal(protocol.lineMode, true);
    protocol.dataReceived(encoder.encode("Length: 10\r\n\r\nhello"));
    assert.equal(protocol.lineMode, false);
    protocol.dataReceived(encoder.encode(" worlnext\r\nlast\r\n"));
    assert.equal(protocol.lineMode, true);
    assert.deepEqual(log, ["line Length: 10", "line ", "raw hello", "raw  worl", "line next", "line last"]);
  });

  it("pauseProducing holds the buffered lines (and pauses the transport) until resumeProducing", () => {
    class Pausing extends Recorder {
      override lineReceived(line: string): void {
        super.lineReceived(line);
        if (line === "pause") this.pauseProducing();
      }
    }
    const protocol = connected(new Pausing());
    protocol.dataReceived(encoder.encode("a\r\npause\r\nb\r\n"));
    protocol.dataReceived(encoder.encode("c\r\n"));
    assert.deepEqual(protocol.lines, ["a", "pause"]);
    assert.equal(protocol.transport.paused, true);
    protocol.resumeProducing();
    assert.equal(protocol.transport.paused, false);
    assert.deepEqual(protocol.lines, ["a", "pause", "b", "c"]);
  });

  it("data received from inside lineReceived is queued behind the current buffer", () => {
    class Reentrant extends Recorder {
      override lineReceived(line: string): void {
        super.lineReceived(line);
        if (line === "a") this.dataReceived(encoder.encode("injected\r\n"));
      }
    }
    const protocol = connected(new Reentrant());
    protocol.dataReceived(encoder.encode("a\r\nb\r\n"));
    assert.deepEqual(protocol.lines, ["a", "b", "injected"]);
  });

  it("over TCP: an over-long line closes the connection after the lines before it", async () => {
    const { reactor, errors, run } = testReactor();
    const received: string[] = [];
    let clientReason: Failure | undefined;
    const done = after(2, () => reactor.stop());
    class Server extends LineReceiver {
      override MAX_LENGTH = 100;
      override lineReceived(line: string): void {
        received.push(line);
        this.sendLine(`ok ${line}`);
      }
      override connectionLost(): void {
        done();
      }
    }
    const replies: string[] = [];
    class Client extends LineReceiver {
      override connectionMade(): void {
        this.sendLine("first");
        this.sendLine("x".repeat(1000));
        this.sendLine("never");
      }
      override lineReceived(line: string): void {
        replies.push(line);
      }
      override connectionLost(reason: Failure): void {
        clientReason = reason;
        done();
      }
    }
    const port = reactor.listenTCP(0, Factory.forProtocol(Server), { interface: "127.0.0.1" });
    reactor.callWhenRunning(() => reactor.connectTCP("127.0.0.1", port.getHost().port, ClientFactory.forProtocol(Client)));
    await run();
    assert.deepEqual(received, ["first"]);
    assert.deepEqual(replies, ["ok first"]);
    assert.ok(clientReason?.check(ConnectionDone));
    assert.deepEqual(errors, []);
  });

  it("over TCP: a true value returned by lineReceived closes the connection with it as the reason, unreported", async () => {
    const { reactor, errors, run } = testReactor();
    const received: string[] = [];
    const quit = new Error("the client said quit");
    let serverReason: Failure | undefined;
    let clientReason: Failure | undefined;
    const done = after(2, () => reactor.stop());
    class Server extends LineReceiver {
      override lineReceived(line: string): unknown {
        received.push(line);
        return line === "quit" ? quit : undefined;
      }
      override connectionLost(reason: Failure): void {
        serverReason = reason;
        done();
      }
    }
    class Client extends LineReceiver {
      override connectionMade(): void {
        this.transport.write("hello\r\nquit\r\nnever\r\n");
      }
      override lineReceived(): void {}
      override connectionLost(reason: Failure): void {
        clientReason = reason;
        done();
      }
    }
    const port = reactor.listenTCP(0, Factory.forProtocol(Server), { interface: "127.0.0.1" });
    reactor.callWhenRunning(() => reactor.connectTCP("127.0.0.1", port.getHost().port, ClientFactory.forProtocol(Client)));
    await run();
    assert.deepEqual(received, ["hello", "quit"]);
    assert.equal(serverReason?.value, quit);
    assert.ok(clientReason?.check(ConnectionDone));
    assert.deepEqual(errors, []);
  });
});
