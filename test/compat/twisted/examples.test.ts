// The Twisted tutorial programs ported to corio (examples/twisted/), run for
// real on loopback; two of them also as programs, the way a user starts them.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { resolve } from "node:path";
import { describe, it } from "node:test";
import { Chat, ChatFactory } from "../../../examples/twisted/chat-server.ts";
import { Countdown } from "../../../examples/twisted/countdown.ts";
import { EchoClientFactory } from "../../../examples/twisted/echo-client.ts";
import { EchoFactory } from "../../../examples/twisted/echo-server.ts";
import { getPoetry, type PoemResult } from "../../../examples/twisted/poetry-client.ts";
import { POEM, PoetryServerFactory } from "../../../examples/twisted/poetry-server.ts";
import { UDPEcho } from "../../../examples/twisted/udp-echo.ts";
import { ClientFactory, createReactor, DatagramProtocol, LineReceiver } from "../../../src/compat/twisted/index.ts";
import { VirtualClock } from "../../../src/testing/index.ts";
import { checkLeaks } from "../../_helpers.ts";
import { after, testReactor, text } from "./_reactor.ts";

checkLeaks();

const LOOPBACK = { interface: "127.0.0.1" };
const root = resolve(import.meta.dirname, "../../..");

/** Runs an example as a program; `interact` gets its stdout so far as it grows. */
async function runProgram(
  file: string,
  args: string[],
  interact?: (output: string, child: ReturnType<typeof spawn>) => void,
): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", resolve(root, file), ...args], { cwd: root });
  let output = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    output += chunk;
    interact?.(output, child);
  });
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  const [code] = (await once(child, "exit")) as [number | null];
  assert.equal(stderr, "");
  return { code, output };
}

describe("examples/twisted", () => {
  it("countdown.ts counts 5 ... 1 with callLater, then stops the reactor", async () => {
    const reactor = createReactor({ clock: new VirtualClock() });
    const out: string[] = [];
    reactor.callWhenRunning(new Countdown(reactor, (line) => out.push(line)).count);
    await reactor.run();
    assert.deepEqual(out, ["5 ...", "4 ...", "3 ...", "2 ...", "1 ..."]);
    assert.ok(Math.abs(reactor.seconds() - 0.5) < 1e-9);
  });

  it("countdown.ts runs as a program", async () => {
    const { code, output } = await runProgram("examples/twisted/countdown.ts", []);
    assert.equal(code, 0);
    assert.equal(output, "Start!\n5 ...\n4 ...\n3 ...\n2 ...\n1 ...\nStop!\n");
  });

  it("echo-server.ts and echo-client.ts: hello, world! and back; a refused connection says goodbye too", async () => {
    const { reactor, errors, run } = testReactor();
    const out: string[] = [];
    const port = reactor.listenTCP(0, new EchoFactory(), LOOPBACK);
    reactor.callWhenRunning(() => reactor.connectTCP("127.0.0.1", port.getHost().port, new EchoClientFactory(reactor, (line) => out.push(line))));
    await run();
    assert.deepEqual(out, ["Server said: hello, world!", "Connection lost - goodbye!"]);

    const second = testReactor();
    const failed: string[] = [];
    const closed = second.reactor.listenTCP(0, new EchoFactory(), LOOPBACK);
    second.reactor.callWhenRunning(() => {
      const free = closed.getHost().port;
      closed
        .stopListening()
        .addCallback(() => second.reactor.connectTCP("127.0.0.1", free, new EchoClientFactory(second.reactor, (line) => failed.push(line))));
    });
    await second.run();
    assert.deepEqual(failed, ["Connection failed - goodbye!"]);
    assert.deepEqual([...errors, ...second.errors], []);
  });

  it("echo-server.ts runs as a program: a client gets its echo, and Ctrl-C stops it", async () => {
    let echoed = "";
    const { code, output } = await runProgram("examples/twisted/echo-server.ts", ["0"], (output, child) => {
      const match = output.match(/listening on port (\d+)\n$/);
      if (match === null) return;
      const { reactor, run } = testReactor();
      reactor.connectTCP(
        "127.0.0.1",
        Number(match[1]),
        ClientFactory.forProtocol(
          class extends LineReceiver {
            override delimiter = "\n";
            override connectionMade(): void {
              this.sendLine("ping");
            }
            override lineReceived(line: string): void {
              echoed = line;
              this.transport.loseConnection();
            }
            override connectionLost(): void {
              reactor.stop();
            }
          },
        ),
      );
      void run().then(() => child.kill("SIGINT"));
    });
    assert.equal(echoed, "ping");
    assert.equal(code, 0);
    assert.match(output, /echo server stopped\n$/);
  });

  it("poetry-client.ts with the slow poetry server: a complete poem, a timed-out one, and a refused connection", async () => {
    const { reactor, errors, run } = testReactor();
    const fast = reactor.listenTCP(0, new PoetryServerFactory(reactor, POEM, { numBytes: 16, delay: 0.001 }), LOOPBACK);
    const slow = reactor.listenTCP(0, new PoetryServerFactory(reactor, POEM, { numBytes: 10, delay: 0.5 }), LOOPBACK);
    const refused = reactor.listenTCP(0, new PoetryServerFactory(reactor, POEM), LOOPBACK);
    let results: PoemResult[] = [];
    reactor.callWhenRunning(() => {
      const closedPort = refused.getHost().port;
      refused.stopListening().addCallback(() => {
        const addresses: [string, number][] = [
          ["127.0.0.1", fast.getHost().port],
          ["127.0.0.1", slow.getHost().port],
          ["127.0.0.1", closedPort],
        ];
        getPoetry(reactor, addresses, 0.3, (all) => {
          results = all;
          reactor.stop();
        });
      });
    });
    await run();
    const byPort = new Map(results.map((result) => [Number(result.address.split(":")[1]), result]));
    assert.deepEqual(byPort.get(fast.getHost().port), { address: `127.0.0.1:${fast.getHost().port}`, status: "complete", poem: POEM });
    const timedOut = byPort.get(slow.getHost().port);
    assert.equal(timedOut?.status, "timeout");
    assert.equal(timedOut?.poem, POEM.slice(0, 10)); // one chunk in 0.3 s
    assert.equal(byPort.get(refused.getHost().port)?.status, "failed");
    assert.equal(results.length, 3);
    assert.deepEqual(errors, []);
  });

  it("chat-server.ts: names (one taken), then every line relayed to the others", async () => {
    const { reactor, errors, run } = testReactor();
    const factory = new ChatFactory();
    const port = reactor.listenTCP(0, factory, LOOPBACK);
    const heard: Record<"alice" | "bob" | "impostor", string[]> = { alice: [], bob: [], impostor: [] };
    const finished = after(3, () => reactor.stop());
    const user = (name: keyof typeof heard, script: (client: LineReceiver, line: string) => void) =>
      class User extends LineReceiver {
        override lineReceived(line: string): void {
          heard[name].push(line);
          script(this, line);
        }
        override connectionLost(): void {
          finished();
        }
      };
    const connect = (name: keyof typeof heard, script: (client: LineReceiver, line: string) => void): void => {
      reactor.connectTCP("127.0.0.1", port.getHost().port, ClientFactory.forProtocol(user(name, script)));
    };
    const alice = (): void =>
      connect("alice", (client, line) => {
        if (line === "What's your name?") client.sendLine("alice");
        else if (line === "Welcome, alice!") {
          connect("bob", (bob, bobLine) => {
            if (bobLine === "What's your name?") bob.sendLine("bob");
            else if (bobLine === "Welcome, bob!") bob.sendLine("hi alice");
            else if (bobLine === "<alice> hi bob") {
              connect("impostor", (impostor, impostorLine) => {
                if (impostorLine === "What's your name?") impostor.sendLine("alice");
                else impostor.transport.loseConnection();
              });
              bob.transport.loseConnection();
            }
          });
        } else if (line === "<bob> hi alice") client.sendLine("hi bob");
      });
    reactor.callWhenRunning(alice);
    reactor.callLater(0.3, () => {
      // Alice is still in; bob left.
      assert.deepEqual([...factory.users.keys()], ["alice"]);
      assert.ok(factory.users.get("alice") instanceof Chat);
      for (const protocol of factory.users.values()) protocol.transport.loseConnection();
    });
    await run();
    assert.deepEqual(heard.alice, ["What's your name?", "Welcome, alice!", "<bob> hi alice"]);
    assert.deepEqual(heard.bob, ["What's your name?", "Welcome, bob!", "<alice> hi bob"]);
    assert.deepEqual(heard.impostor, ["What's your name?", "Name taken, please choose another."]);
    assert.deepEqual(errors, []);
  });

  it("udp-echo.ts echoes datagrams to their sender", async () => {
    const { reactor, errors, run } = testReactor();
    const log: string[] = [];
    const server = reactor.listenUDP(0, new UDPEcho((line) => log.push(line)), LOOPBACK);
    const replies: string[] = [];
    class Client extends DatagramProtocol {
      override startProtocol(): void {
        this.transport.write("hello", ["127.0.0.1", server.getHost().port]);
      }
      override datagramReceived(data: Uint8Array): void {
        replies.push(text(data));
        reactor.stop();
      }
    }
    reactor.callWhenRunning(() => reactor.listenUDP(0, new Client(), LOOPBACK));
    await run();
    assert.deepEqual(replies, ["hello"]);
    assert.match(log[0] ?? "", /^received "hello" from 127\.0\.0\.1:\d+$/);
    assert.deepEqual(errors, []);
  });
});
