import assert from "node:assert/strict";
import { spawn as spawnProcess } from "node:child_process";
import { createSocket, Socket as DgramSocket } from "node:dgram";
import { once } from "node:events";
import { describe, it, mock } from "node:test";
import { BrokenResourceError, ClosedResourceError, type Operation, sleep, spawn, timeout, until } from "../../src/index.ts";
import { openDatagram } from "../../src/net/index.ts";
import { DatagramSocket } from "../../src/net/udp.ts";
import { runVirtual, waitAllTasksBlocked } from "../../src/testing/index.ts";
import { checkLeaks, needsCommands, needsIpv6Loopback } from "../_helpers.ts";

checkLeaks();

const text = (data: Uint8Array): string => new TextDecoder().decode(data);

/** An echo server that answers every datagram, in upper case, until cancelled. */
function* echoServer(socket: DatagramSocket): Operation<void> {
  for (;;) {
    const { data, address, port } = yield* socket.receive();
    yield* socket.send(text(data).toUpperCase(), { host: address, port });
  }
}

/** Runs `op`, which must throw, and returns what it threw. */
function* thrownBy(op: Operation<unknown>): Operation<unknown> {
  try {
    yield* op;
  } catch (error) {
    return error;
  }
  return assert.fail("expected an error");
}

describe("openDatagram", () => {
  it("a bound server and a connected client exchange datagrams", async () => {
    await runVirtual(function* () {
      const server = yield* openDatagram({ bind: { host: "127.0.0.1", port: 0 } });
      const echo = yield* spawn(() => echoServer(server));
      const client = yield* openDatagram({ connect: { host: "127.0.0.1", port: server.address.port } });
      assert.equal(client.remoteAddress?.port, server.address.port);
      for (const word of ["one", "two", "three"]) {
        yield* client.send(word);
        const reply = yield* client.receive();
        assert.equal(text(reply.data), word.toUpperCase());
        assert.equal(reply.port, server.address.port);
      }
      echo.cancel();
    });
  });

  it("works over IPv6 loopback", { skip: needsIpv6Loopback() }, async () => {
    await runVirtual(function* () {
      const server = yield* openDatagram({ bind: { host: "::1", port: 0 } });
      assert.equal(server.address.family, "IPv6");
      const client = yield* openDatagram({ connect: { host: "::1", port: server.address.port } });
      yield* client.send("v6");
      const got = yield* server.receive();
      assert.equal(text(got.data), "v6");
      assert.equal(got.address, "::1");
    });
  });

  it("carries IPv6's largest datagram (65527 bytes, 20 more than IPv4's), and maxSize stops at each family's largest", {
    skip: needsIpv6Loopback(),
  }, async () => {
    await runVirtual(function* () {
      const server = yield* openDatagram({ bind: { host: "::1", port: 0 } });
      const client = yield* openDatagram({ connect: { host: "::1", port: server.address.port } });
      yield* client.send(new Uint8Array(65527));
      assert.equal((yield* server.receive()).data.length, 65527);
      for (const [options, largest, family] of [
        [{ bind: { host: "::1" } }, 65527, "IPv6"],
        [{}, 65507, "IPv4"],
      ] as const) {
        const error = yield* thrownBy(openDatagram({ ...options, maxSize: largest + 1 }));
        assert.ok(error instanceof RangeError);
        assert.equal(
          error.message,
          `Cannot open a datagram socket: maxSize must be an integer from 1 to ${largest} (on an ${family} socket), received ${largest + 1}`,
        );
      }
    });
  });

  it("answers a Python asyncio client", { skip: needsCommands("python3") }, async () => {
    const script = `
import asyncio, sys
class Client(asyncio.DatagramProtocol):
    def __init__(self): self.replies = asyncio.Queue()
    def datagram_received(self, data, addr): self.replies.put_nowait(data)
async def main():
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(Client, remote_addr=("127.0.0.1", int(sys.argv[1])))
    for word in [b"alpha", b"beta", b"gamma"]:
        transport.sendto(word)
        print((await asyncio.wait_for(proto.replies.get(), 5)).decode(), flush=True)
    transport.close()
asyncio.run(main())
`;
    await runVirtual(function* () {
      const server = yield* openDatagram({ bind: { host: "127.0.0.1", port: 0 } });
      const echo = yield* spawn(() => echoServer(server));
      const python = spawnProcess("python3", ["-c", script, String(server.address.port)], { stdio: ["ignore", "pipe", "inherit"] });
      let out = "";
      python.stdout.on("data", (chunk: Buffer) => {
        out += chunk.toString();
      });
      const [code] = (yield* until(once(python, "exit"))) as [number];
      assert.equal(code, 0);
      assert.deepEqual(out.trim().split("\n"), ["ALPHA", "BETA", "GAMMA"]);
      echo.cancel();
    });
  });

  it("refuses to send a datagram over maxSize, and reports one received over it without losing the next", async () => {
    await runVirtual(function* () {
      const server = yield* openDatagram({ bind: { port: 0 }, maxSize: 16 });
      const client = yield* openDatagram({ connect: { host: "127.0.0.1", port: server.address.port } });
      try {
        yield* server.send(new Uint8Array(17), { host: "127.0.0.1", port: client.address.port });
        assert.fail("expected a RangeError");
      } catch (error) {
        assert.ok(error instanceof RangeError);
        assert.equal(error.message, "Cannot send a datagram of 17 bytes: the limit is maxSize = 16 bytes");
      }
      yield* client.send(new Uint8Array(40));
      yield* client.send("small");
      try {
        yield* server.receive();
        assert.fail("expected a RangeError");
      } catch (error) {
        assert.ok(error instanceof RangeError);
        assert.match(error.message, /^Cannot receive a datagram of 40 bytes from 127\.0\.0\.1:\d+: the limit is maxSize = 16 bytes$/);
      }
      assert.equal(text((yield* server.receive()).data), "small");
    });
  });

  it("a cancelled receive loses no datagram", async () => {
    await runVirtual(function* () {
      const server = yield* openDatagram({ bind: { port: 0 } });
      const client = yield* openDatagram({ connect: { host: "127.0.0.1", port: server.address.port } });
      const first = yield* spawn(() => server.receive());
      yield* waitAllTasksBlocked();
      first.cancel();
      try {
        yield* first;
      } catch {}
      yield* client.send("kept");
      assert.equal(text((yield* timeout(5000, server.receive())).data), "kept");
    });
  });

  it("a receive cancelled just after a datagram woke it (before it ran) gives the datagram back: the next receive gets it, in order", async () => {
    await runVirtual(function* () {
      const server = yield* openDatagram({ bind: { port: 0 } });
      const client = yield* openDatagram({ connect: { host: "127.0.0.1", port: server.address.port } });
      const receiver = yield* spawn(() => server.receive());
      yield* waitAllTasksBlocked();
      // Cancels the receiver inside Node's 'message' event, right after the socket handed it the datagram.
      const emit = DgramSocket.prototype.emit as (this: DgramSocket, ...args: unknown[]) => boolean;
      const cancelling = mock.method(DgramSocket.prototype, "emit", function (this: DgramSocket, event: string, ...args: unknown[]) {
        const result = emit.call(this, event, ...args);
        if (event === "message") receiver.cancel();
        return result;
      });
      try {
        yield* client.send("first");
        const error = yield* thrownBy(receiver);
        assert.ok(error instanceof Error && error.name === "CancelledError", String(error));
      } finally {
        cancelling.mock.restore();
      }
      yield* client.send("second");
      assert.equal(text((yield* timeout(5000, server.receive())).data), "first");
      assert.equal(text((yield* timeout(5000, server.receive())).data), "second");
    });
  });

  it("close() wakes waiting receivers with ClosedResourceError, and sending after close throws it", async () => {
    await runVirtual(function* () {
      const socket = yield* openDatagram({ bind: { port: 0 } });
      const waiter = yield* spawn(function* () {
        try {
          yield* socket.receive();
        } catch (error) {
          return error;
        }
        return undefined;
      });
      yield* waitAllTasksBlocked();
      socket.close();
      const error = yield* waiter;
      assert.ok(error instanceof ClosedResourceError);
      assert.equal(error.message, "Cannot receive: the UDP socket was closed");
      try {
        yield* socket.send("x", { host: "127.0.0.1", port: 9 });
        assert.fail("expected a ClosedResourceError");
      } catch (error) {
        assert.ok(error instanceof ClosedResourceError);
        assert.equal(error.message, "Cannot send: the UDP socket is closed");
      }
      assert.throws(() => socket.sendNowait("x", { host: "127.0.0.1", port: 9 }), {
        name: "ClosedResourceError",
        message: "Cannot send: the UDP socket is closed",
      });
    });
  });

  it("close() while a send waits for its host name to be looked up: the send ends (Node never calls it back)", async () => {
    await runVirtual(function* () {
      const socket = yield* openDatagram({ bind: { port: 0 } });
      const sender = yield* spawn(function* () {
        try {
          yield* socket.send("hello", { host: "localhost", port: 9 });
          return "sent";
        } catch (error) {
          return error;
        }
      });
      yield* waitAllTasksBlocked();
      socket.close();
      const outcome = yield* sender;
      // Sent if the lookup won the race; otherwise failed, never left waiting.
      if (outcome !== "sent") {
        assert.ok(outcome instanceof ClosedResourceError, String(outcome));
        assert.equal(outcome.message, "Cannot tell whether the datagram was sent: the UDP socket was closed before the OS answered");
      }
    });
  });

  it("send throws the error the OS gives for the datagram, and the socket goes on", async () => {
    await runVirtual(function* () {
      const server = yield* openDatagram({ bind: { port: 0 } });
      const client = yield* openDatagram({ bind: { port: 0 } });
      // A broadcast address on a socket without SO_BROADCAST: Linux refuses it at once, with no network.
      const error = yield* thrownBy(client.send("to everyone", { host: "255.255.255.255", port: 9 }));
      assert.ok(error instanceof Error);
      assert.equal((error as { code?: string }).code, "EACCES");
      assert.equal(
        error.message,
        "Cannot send a datagram (to a broadcast address, the socket needs openDatagram({ broadcast: true })): send EACCES 255.255.255.255:9",
      );
      yield* client.send("still here", { host: "127.0.0.1", port: server.address.port });
      assert.equal(text((yield* timeout(5000, server.receive())).data), "still here");
    });
  });

  it("sendNowait hands datagrams over without waiting, in order, from a task or from plain code", async () => {
    await runVirtual(function* () {
      const server = yield* openDatagram({ bind: { port: 0 } });
      const client = yield* openDatagram({ connect: { host: "127.0.0.1", port: server.address.port } });
      const words = ["one", "two", "three", "four"];
      const sender = yield* spawn(function* () {
        for (const word of words.slice(0, 2)) client.sendNowait(word);
      });
      yield* sender;
      // From a plain callback, outside any task.
      yield* until(
        new Promise<void>((resolve) =>
          setImmediate(() => {
            for (const word of words.slice(2)) server.sendNowait(word.toUpperCase(), { host: "127.0.0.1", port: client.address.port });
            resolve();
          }),
        ),
      );
      const atServer = [text((yield* timeout(5000, server.receive())).data), text((yield* timeout(5000, server.receive())).data)];
      const atClient = [text((yield* timeout(5000, client.receive())).data), text((yield* timeout(5000, client.receive())).data)];
      assert.deepEqual(atServer, ["one", "two"]);
      assert.deepEqual(atClient, ["THREE", "FOUR"]);
      // Loopback takes every datagram at once: nothing waits in Node's send queue.
      assert.deepEqual([client.sendQueueSize, client.sendQueueCount, server.sendQueueSize, server.sendQueueCount], [0, 0, 0, 0]);
      assert.throws(() => server.sendNowait(new Uint8Array(65508), { host: "127.0.0.1", port: 9 }), {
        name: "RangeError",
        message: "Cannot send a datagram of 65508 bytes: the limit is maxSize = 65507 bytes",
      });
      assert.throws(() => server.sendNowait("x"), {
        name: "RangeError",
        message: "Cannot send: the socket is not connected, so a target { host, port } is needed",
      });
    });
  });

  it("an OS error for a sendNowait datagram is thrown once by the next receive, and the socket goes on", async () => {
    await runVirtual(function* () {
      const server = yield* openDatagram({ bind: { port: 0 } });
      const client = yield* openDatagram({ bind: { port: 0 } });
      client.sendNowait("to everyone", { host: "255.255.255.255", port: 9 });
      const error = yield* thrownBy(timeout(5000, client.receive()));
      assert.ok(error instanceof BrokenResourceError, String(error));
      assert.equal((error as { code?: string }).code, "EACCES");
      assert.equal(
        error.message,
        "A datagram sent with sendNowait failed: send EACCES 255.255.255.255:9 (to a broadcast address, the socket needs openDatagram({ broadcast: true })); the socket still works, receive again",
      );
      server.sendNowait("after", { host: "127.0.0.1", port: client.address.port });
      assert.equal(text((yield* timeout(5000, client.receive())).data), "after");
    });
  });

  it("belongs to the task that opened it: closed when that task ends", async () => {
    let socket: DatagramSocket | undefined;
    await runVirtual(function* () {
      yield* spawn(function* () {
        socket = yield* openDatagram({ bind: { port: 0 } });
        yield* sleep(10);
      });
    });
    assert.equal(socket?.closed, true);
  });

  it("a connected socket reports a refused datagram once and goes on working once the peer is there", async () => {
    await runVirtual(function* () {
      // A port with nothing listening: bound, then closed.
      const gone = yield* openDatagram({ bind: { port: 0 } });
      const port = gone.address.port;
      gone.close();
      const client = yield* openDatagram({ connect: { host: "127.0.0.1", port } });
      yield* client.send("anyone?");
      const refusal = yield* thrownBy(timeout(5000, client.receive()));
      assert.ok(refusal instanceof BrokenResourceError, String(refusal));
      assert.equal((refusal as { code?: string }).code, "ECONNREFUSED");
      assert.match(refusal.message, /^Cannot receive from 127\.0\.0\.1:\d+: the peer refused a datagram/);
      assert.equal(client.closed, false);
      const server = yield* openDatagram({ bind: { port } });
      const echo = yield* spawn(() => echoServer(server));
      yield* client.send("back");
      assert.equal(text((yield* timeout(5000, client.receive())).data), "BACK");
      echo.cancel();
    });
  });

  it("a refusal after sendNowait is thrown by the next receive as the same refusal, whichever system call saw it", async () => {
    await runVirtual(function* () {
      const gone = yield* openDatagram({ bind: { port: 0 } });
      const port = gone.address.port;
      gone.close();
      const client = yield* openDatagram({ connect: { host: "127.0.0.1", port } });
      // On Linux the refusal of "a" reaches the send of "b" (its callback reports it), and that of "b" the receive.
      for (const word of ["a", "b", "c"]) client.sendNowait(word);
      const refusal = yield* thrownBy(timeout(5000, client.receive()));
      assert.ok(refusal instanceof BrokenResourceError, String(refusal));
      assert.equal((refusal as { code?: string }).code, "ECONNREFUSED");
      assert.match(refusal.message, /^Cannot receive from 127\.0\.0\.1:\d+: the peer refused a datagram sent earlier/);
      const server = yield* openDatagram({ bind: { port } });
      const echo = yield* spawn(() => echoServer(server));
      // Later refusals of the burst may still be queued: each is thrown once, then the echo comes.
      let answer: string | undefined;
      for (let attempt = 0; attempt < 5 && answer === undefined; attempt++) {
        client.sendNowait("back");
        try {
          answer = text((yield* timeout(5000, client.receive())).data);
        } catch (error) {
          assert.equal((error as { code?: string }).code, "ECONNREFUSED", String(error));
        }
      }
      assert.equal(answer, "BACK");
      echo.cancel();
    });
  });

  it("takes the kernel's receive and send buffer sizes", async () => {
    await runVirtual(function* () {
      const socket = yield* openDatagram({ bind: { port: 0 }, recvBufferSize: 65536, sendBufferSize: 32768 });
      // Linux doubles what it is given; no kernel gives less.
      assert.ok(socket.recvBufferSize >= 65536, String(socket.recvBufferSize));
      assert.ok(socket.sendBufferSize >= 32768, String(socket.sendBufferSize));
      for (const bad of [0, -1, 1.5, Number.NaN]) {
        try {
          yield* openDatagram({ recvBufferSize: bad });
          assert.fail("expected a RangeError");
        } catch (error) {
          assert.ok(error instanceof RangeError);
          assert.equal(error.message, `Cannot open a datagram socket: recvBufferSize must be an integer of bytes from 1 to 2147483647, received ${bad}`);
        }
      }
    });
  });

  it("a buffer size the OS cannot take (2 ** 31 and more) is a RangeError, not an uncaught exception in Node's bind callback", async () => {
    await runVirtual(function* () {
      for (const name of ["recvBufferSize", "sendBufferSize"] as const) {
        for (const bad of [2 ** 31, 2 ** 32 - 1, 2 ** 40]) {
          const error = yield* thrownBy(openDatagram({ [name]: bad }));
          assert.ok(error instanceof RangeError, String(error));
          assert.equal(error.message, `Cannot open a datagram socket: ${name} must be an integer of bytes from 1 to 2147483647, received ${bad}`);
        }
      }
      const largest = yield* openDatagram({ recvBufferSize: 2 ** 31 - 1, sendBufferSize: 2 ** 31 - 1 });
      assert.ok(largest.recvBufferSize > 0);
      largest.close();
    });
  });

  it("the OS refusing a buffer size (macOS past kern.ipc.maxsockbuf) is thrown by openDatagram with its code, and the socket is closed", async () => {
    const refused = mock.method(DgramSocket.prototype, "setRecvBufferSize", () => {
      throw Object.assign(new Error("Could not get or set buffer size: uv_recv_buffer_size returned ENOBUFS (no buffer space available)"), {
        code: "ERR_SOCKET_BUFFER_SIZE",
        info: { code: "ENOBUFS" },
      });
    });
    try {
      await runVirtual(function* () {
        const error = yield* thrownBy(openDatagram({ recvBufferSize: 8 * 1024 * 1024 }));
        assert.ok(error instanceof Error);
        assert.equal((error as NodeJS.ErrnoException).code, "ENOBUFS");
        assert.match(error.message, /^Cannot open a datagram socket: the OS refused recvBufferSize = 8388608: .*ENOBUFS/);
      });
    } finally {
      refused.mock.restore();
    }
  });

  it("what Node would refuse before sending is refused with corio's message, and the virtual clock goes on (its wait gave back its busy count)", async () => {
    await runVirtual(function* () {
      const server = yield* openDatagram();
      const client = yield* openDatagram({ connect: { host: "127.0.0.1", port: server.address.port } });
      const refusals: [Operation<unknown>, RegExp][] = [
        [client.send("x", { host: "127.0.0.1", port: server.address.port }), /^Cannot send to a target: the socket is connected/],
        [server.send("x", { host: "127.0.0.1", port: 0 }), /^Cannot send a datagram: port must be an integer from 1 to 65535, received 0$/],
        [server.send("x", { host: "127.0.0.1", port: 65536 }), /^Cannot send a datagram: port must be an integer from 1 to 65535, received 65536$/],
        [
          openDatagram({ connect: { host: "127.0.0.1", port: 0 } }),
          /^Cannot open a datagram socket: connect\.port must be an integer from 1 to 65535, received 0$/,
        ],
        [openDatagram({ bind: { port: -1 } }), /^Cannot open a datagram socket: bind\.port must be an integer from 0 to 65535, received -1$/],
      ];
      for (const [op, message] of refusals) {
        const error = yield* thrownBy(op);
        assert.ok(error instanceof RangeError, String(error));
        assert.match(error.message, message);
      }
      assert.throws(() => server.sendNowait("x", { host: "127.0.0.1", port: 1.5 }), { name: "RangeError", message: /received 1\.5$/ });
      // One Node still refuses itself (no check ahead of it): its error, with its code, and the wait given back.
      const refused = yield* thrownBy(server.send(42 as unknown as string, { host: "127.0.0.1", port: client.address.port }));
      assert.match(String(refused), /^TypeError: Cannot send a datagram: /, "Node's TypeError stays one");
      assert.equal((refused as { code?: string }).code, "ERR_INVALID_ARG_TYPE");
      client.close();
      server.close();
      // A wait left counted as busy would stop the virtual clock here for good.
      yield* sleep(1000);
    });
  });

  it("takes what Node takes: a port as a string of digits, and no host (Node's localhost)", async () => {
    await runVirtual(function* () {
      const server = yield* openDatagram({ bind: { port: "0" as never } });
      const port = String(server.address.port) as never;
      const client = yield* openDatagram();
      yield* client.send("one", { host: "127.0.0.1", port });
      yield* client.send("two", { port } as never);
      const connected = yield* openDatagram({ connect: { host: "127.0.0.1", port } });
      yield* connected.send("three");
      const got: string[] = [];
      for (let i = 0; i < 3; i++) got.push(new TextDecoder().decode((yield* server.receive()).data));
      assert.deepEqual(got.sort(), ["one", "three", "two"]);
      for (const socket of [server, client, connected]) socket.close();
    });
  });

  it('once closed, address is the one it had, the send queue is empty and the buffer sizes are ClosedResourceError (Node threw "Not running" and TypeErrors)', async () => {
    await runVirtual(function* () {
      const socket = yield* openDatagram({ bind: { host: "127.0.0.1", port: 0 } });
      const address = socket.address;
      socket.close();
      assert.deepEqual(socket.address, address);
      socket.address.port = 1;
      assert.equal(socket.address.port, address.port, "a copy at each read");
      assert.equal(socket.sendQueueSize, 0);
      assert.equal(socket.sendQueueCount, 0);
      assert.throws(() => socket.recvBufferSize, ClosedResourceError);
      assert.throws(() => socket.sendBufferSize, ClosedResourceError);
    });
  });

  it("close() of a socket wrapped before its bind finished (the Twisted port wraps its own) does not throw, and address is then empty", () => {
    const socket = DatagramSocket.create(createSocket("udp4"), { maxSize: 100, maxQueue: 1, connected: false });
    socket.close();
    assert.deepEqual(socket.address, { address: "", port: 0, family: "" });
  });

  it("null options, connect or target: corio's errors, and a null target is the connected peer (asyncio's addr=None)", async () => {
    await runVirtual(function* () {
      const nullOptions = yield* thrownBy(openDatagram(null as never));
      assert.ok(nullOptions instanceof TypeError);
      assert.equal(nullOptions.message, "Cannot open a datagram socket: the options must be an object ({ bind } or { connect }), received null");
      const nullConnect = yield* thrownBy(openDatagram({ connect: null as never }));
      assert.ok(nullConnect instanceof RangeError);
      assert.equal(nullConnect.message, "Cannot open a datagram socket: connect must be { host, port }, received null");
      const server = yield* openDatagram({ bind: { port: 0 } });
      const client = yield* openDatagram({ connect: { host: "127.0.0.1", port: server.address.port } });
      yield* client.send("to the peer", null);
      client.sendNowait("again", null);
      assert.equal(text((yield* server.receive()).data), "to the peer");
      assert.equal(text((yield* server.receive()).data), "again");
      const missing = yield* thrownBy(server.send("x", null));
      assert.ok(missing instanceof RangeError);
      assert.equal(missing.message, "Cannot send: the socket is not connected, so a target { host, port } is needed");
      const notAnAddress = yield* thrownBy(server.send("x", "127.0.0.1:9" as never));
      assert.ok(notAnAddress instanceof RangeError);
      assert.equal(notAnAddress.message, "Cannot send a datagram: the target must be { host, port }, received 127.0.0.1:9");
    });
  });

  it("broadcast: refused by the OS without the option (EACCES, with a hint), sent with it (asyncio's allow_broadcast)", async () => {
    await runVirtual(function* () {
      // Loopback's broadcast address: a socket bound to it gets what is broadcast there.
      const receiver = yield* openDatagram({ bind: { host: "127.255.255.255", port: 0 } });
      const target = { host: "127.255.255.255", port: receiver.address.port };
      const plain = yield* openDatagram();
      const refused = (yield* thrownBy(plain.send("to all", target))) as NodeJS.ErrnoException;
      assert.equal(refused.code, "EACCES");
      assert.match(refused.message, /^Cannot send a datagram \(to a broadcast address, the socket needs openDatagram\(\{ broadcast: true \}\)\): /);
      const allowed = yield* openDatagram({ broadcast: true });
      yield* allowed.send("to all", target);
      assert.equal(text((yield* receiver.receive()).data), "to all");
    });
  });

  it("multicast: members on one port (reuseAddress) all get what is sent to their group; leaveGroup ends a membership", async () => {
    await runVirtual(function* () {
      const group = "239.255.43.21";
      const first = yield* openDatagram({ bind: { host: group, port: 0 }, reuseAddress: true });
      const port = first.address.port;
      const second = yield* openDatagram({ bind: { host: group, port }, reuseAddress: true });
      for (const member of [first, second]) member.joinGroup(group, "127.0.0.1");
      // Without reuseAddress the port is taken.
      const taken = (yield* thrownBy(openDatagram({ bind: { host: group, port } }))) as NodeJS.ErrnoException;
      assert.equal(taken.code, "EADDRINUSE");
      const sender = yield* openDatagram({ multicast: { interface: "127.0.0.1", ttl: 0, loopback: true } });
      yield* sender.send("hello, group", { host: group, port });
      for (const member of [first, second]) assert.equal(text((yield* member.receive()).data), "hello, group");
      second.leaveGroup(group, "127.0.0.1");
      assert.throws(
        () => second.leaveGroup(group, "127.0.0.1"),
        (error: NodeJS.ErrnoException) => {
          assert.equal(error.code, "EADDRNOTAVAIL");
          assert.match(error.message, /^Cannot leave the multicast group 239\.255\.43\.21 on 127\.0\.0\.1: /);
          return true;
        },
      );
    });
  });

  it("broadcast, reuseAddress, multicast and group addresses are checked: corio's errors, nothing opened", async () => {
    await runVirtual(function* () {
      const cases: [Parameters<typeof openDatagram>[0], RegExp][] = [
        [{ broadcast: "yes" as never }, /^TypeError: Cannot open a datagram socket: broadcast must be true or false, received "yes"$/],
        [{ reuseAddress: 1 as never }, /^TypeError: Cannot open a datagram socket: reuseAddress must be true or false, received 1$/],
        [{ multicast: null as never }, /^TypeError: Cannot open a datagram socket: multicast must be \{ interface\?, ttl\?, loopback\? \}, received null$/],
        [{ multicast: { ttl: 256 } }, /^RangeError: Cannot open a datagram socket: multicast.ttl must be an integer from 0 to 255, received 256$/],
        [
          { multicast: { interface: "eth0" } },
          /^TypeError: Cannot open a datagram socket: multicast.interface must be the IP address of an interface, received eth0$/,
        ],
        [{ multicast: { loopback: "no" as never } }, /^TypeError: Cannot open a datagram socket: multicast.loopback must be true or false, received no$/],
      ];
      for (const [options, message] of cases) assert.match(String(yield* thrownBy(openDatagram(options))), message);
      const socket = yield* openDatagram();
      assert.throws(() => socket.joinGroup("example.com"), {
        name: "TypeError",
        message: "Cannot join the multicast group example.com: the group must be an IP address",
      });
      assert.throws(
        () => socket.joinGroup("127.0.0.1"),
        (error: NodeJS.ErrnoException) => error.code === "EINVAL" && /^Cannot join the multicast group 127\.0\.0\.1: /.test(error.message),
      );
      socket.close();
      assert.throws(() => socket.joinGroup("239.255.43.21"), ClosedResourceError);
    });
  });

  it("a port in use gives an error with its code", async () => {
    await runVirtual(function* () {
      const first = yield* openDatagram({ bind: { port: 0 } });
      try {
        yield* openDatagram({ bind: { port: first.address.port } });
        assert.fail("expected EADDRINUSE");
      } catch (error) {
        assert.equal((error as { code?: string }).code, "EADDRINUSE");
        assert.match((error as Error).message, /^Cannot bind a UDP socket to 127\.0\.0\.1:\d+: /);
      }
    });
  });
});
