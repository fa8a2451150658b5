import assert from "node:assert/strict";
import { execFile, spawn as spawnProcess } from "node:child_process";
import dns from "node:dns";
import fs, { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import { type AddressInfo, connect, createServer as createNetServer, type Server as NetServer, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it, mock } from "node:test";
import { promisify } from "node:util";
import { Loop } from "../../src/core/loop.ts";
import { TaskImpl } from "../../src/core/task.ts";
import {
  BrokenResourceError,
  createContext,
  currentTime,
  type ErrorContext,
  Future,
  LimitOverrunError,
  type Operation,
  run,
  sleep,
  spawn,
  suspend,
  timeout,
  until,
} from "../../src/index.ts";
import { openConnection, readMessages, type Server, startServer } from "../../src/net/index.ts";
import { checkStream, runVirtual, waitAllTasksBlocked } from "../../src/testing/index.ts";
import {
  captureNodeServers,
  checkLeaks,
  collectReports,
  needsCommands,
  needsIpv6Loopback,
  needsOpenBsdNc,
  promiseWithResolvers,
  rawClient,
  rejectsOp,
  turnsUntil,
} from "../_helpers.ts";

checkLeaks();

const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

/** Opens a connected pair over a fresh server (the server end is handed over by its handler). */
function* tcpPair(options: { path?: string; host?: string } = {}) {
  const { Future } = yield* until(import("../../src/index.ts"));
  const serverEnd = new Future<[Awaited<ReturnType<typeof wrap>>]>();
  const wrap = (reader: unknown, writer: unknown) => ({ reader, writer });
  const done = new Future<void>();
  const server: Server = yield* startServer(
    function* (reader, writer) {
      serverEnd.resolve([wrap(reader, writer)]);
      yield* done;
    },
    { ...options, ...(options.path === undefined && { host: options.host ?? "127.0.0.1" }) },
  );
  const client = yield* openConnection(options.path !== undefined ? { path: options.path } : { host: options.host ?? "127.0.0.1", port: server.address.port });
  const [end] = yield* serverEnd;
  return { client, server: end as unknown as typeof client, close: () => done.resolve(), listener: server };
}

describe("stream contract over TCP", () => {
  for (const check of checkStream()) {
    it(check.name, async () => {
      await runVirtual(function* () {
        const pair = yield* tcpPair();
        yield* check.run(function* () {
          return [pair.client, pair.server];
        });
        pair.close();
        pair.listener.close();
        yield* pair.listener.waitClosed();
      });
    });
  }
});

describe("stream contract over a Unix socket", () => {
  for (const check of checkStream()) {
    it(check.name, async () => {
      const dir = mkdtempSync(join(tmpdir(), "corio-unix-"));
      try {
        await runVirtual(function* () {
          const pair = yield* tcpPair({ path: join(dir, "socket") });
          yield* check.run(function* () {
            return [pair.client, pair.server];
          });
          pair.close();
          pair.listener.close();
          yield* pair.listener.waitClosed();
        });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});

/** A server that answers each line with `echo: <line>` (line framing, LF), until the client leaves. */
function* lineEchoServer(options: { delimiter?: string; host?: string } = {}): Operation<Server> {
  return yield* startServer(
    function* (_reader, writer, messages) {
      for (let m = yield* messages.next(); !m.done; m = yield* messages.next()) {
        writer.write(`echo: ${m.value}${options.delimiter ?? "\n"}`);
        yield* writer.drain();
      }
    },
    { framing: { mode: "line", delimiter: options.delimiter ?? "\n" }, host: options.host ?? "127.0.0.1" },
  );
}

/** Runs a command, feeding it `input`, and returns its stdout. */
function runClient(command: string, args: string[], input: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawnProcess(command, args, { stdio: ["pipe", "pipe", "inherit"] });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      out += chunk;
    });
    child.on("error", reject);
    child.on("exit", () => resolve(out));
    child.stdin.end(input);
  });
}

describe("startServer on a Unix socket path", () => {
  /** Leaves a socket file at `path` that nothing listens on: a process that listened there was killed. */
  async function staleSocketAt(path: string): Promise<void> {
    const script = `require("node:net").createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, "SIGKILL"))`;
    await new Promise<void>((resolve) => execFile(process.execPath, ["-e", script], () => resolve()));
    assert.ok(statSync(path).isSocket(), "the killed server left its socket file");
  }

  it("removes a socket file left by a server that was killed, and listens (asyncio's create_unix_server does)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "corio-unix-"));
    const path = join(dir, "socket");
    try {
      await staleSocketAt(path);
      const echoed = await runVirtual(function* () {
        const server = yield* startServer(
          function* (_reader, writer, messages) {
            for (let m = yield* messages.next(); !m.done; m = yield* messages.next()) writer.write(`echo: ${m.value}\n`);
          },
          { path, framing: { mode: "line", delimiter: "\n" } },
        );
        const { reader, writer } = yield* openConnection({ path });
        writer.write("hello\n");
        const echoed = text(yield* reader.readLine());
        writer.close();
        server.close();
        yield* server.waitClosed();
        return echoed;
      });
      assert.equal(echoed, "echo: hello\n");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a stale socket file that cannot be removed (EACCES): EADDRINUSE says so, with the unlink's error as its cause", async () => {
    const dir = mkdtempSync(join(tmpdir(), "corio-unix-"));
    const path = join(dir, "socket");
    // As root, a directory's mode does not stop an unlink: the refusal is Node's unlinkSync's, replaced here.
    const refuse = mock.method(fs, "unlinkSync", () => {
      throw Object.assign(new Error(`EACCES: permission denied, unlink '${path}'`), { code: "EACCES" });
    });
    syncBuiltinESMExports();
    try {
      await staleSocketAt(path);
      const error = await runVirtual(function* () {
        try {
          yield* startServer(function* () {}, { path });
        } catch (error) {
          return error as NodeJS.ErrnoException;
        }
        assert.fail("the server listened");
      });
      assert.equal(error.code, "EADDRINUSE");
      assert.equal(
        error.message,
        `Cannot listen on ${path}: a socket file left by a server that is gone is there, and removing it failed (EACCES): remove it yourself`,
      );
      assert.equal((error.cause as NodeJS.ErrnoException).code, "EACCES");
      assert.equal(refuse.mock.callCount(), 1);
    } finally {
      refuse.mock.restore();
      syncBuiltinESMExports();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("two servers starting at once on one stale path: one listens, the other gets EADDRINUSE (never both, one cut off)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "corio-unix-"));
    const path = join(dir, "socket");
    try {
      await staleSocketAt(path);
      const outcome = await runVirtual(function* () {
        const outcomes: string[] = [];
        const decided = new Future<void>();
        const done = new Future<void>();
        const starters = [];
        for (const name of ["A", "B"]) {
          starters.push(
            yield* spawn(function* () {
              try {
                yield* startServer(
                  function* (_reader, writer) {
                    writer.write(`${name}\n`);
                  },
                  { path },
                );
                outcomes.push("listening");
              } catch (error) {
                outcomes.push(String((error as NodeJS.ErrnoException).code));
              }
              if (outcomes.length === 2) decided.resolve();
              if (outcomes.at(-1) !== "listening") return;
              yield* done; // the server is this task's: it closes as the task ends
            }),
          );
        }
        yield* decided;
        const { reader } = yield* openConnection({ path });
        const answer = text(yield* reader.readLine());
        done.resolve();
        for (const starter of starters) yield* starter;
        return { outcomes: outcomes.sort(), answer };
      });
      assert.deepEqual(outcome.outcomes, ["EADDRINUSE", "listening"]);
      assert.match(outcome.answer, /^[AB]\n$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a live corio server on the path: EADDRINUSE, and the probe reaches its handler as a connection that ends, not one reset", async () => {
    const dir = mkdtempSync(join(tmpdir(), "corio-unix-"));
    const path = join(dir, "socket");
    try {
      const seen = await runVirtual(function* () {
        const seen: string[] = [];
        const handled = new Future<void>();
        const live = yield* startServer(
          function* (reader, writer) {
            writer.write("hello\n");
            seen.push(`read ${(yield* reader.read(100)).length} bytes`);
            handled.resolve();
          },
          { path },
        );
        const error = yield* rejectsOp(
          startServer(function* () {}, { path }),
          Error,
        );
        seen.push(String((error as NodeJS.ErrnoException).code));
        yield* handled;
        live.close();
        yield* live.waitClosed();
        return seen;
      });
      assert.deepEqual(seen.sort(), ["EADDRINUSE", "read 0 bytes"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the probe of a live server that keeps sending (a heartbeat) still goes: its connection closes", async () => {
    const dir = mkdtempSync(join(tmpdir(), "corio-unix-"));
    const path = join(dir, "socket");
    const probeClosed = promiseWithResolvers<void>();
    const heartbeats = new Set<NodeJS.Timeout>();
    // Half-open allowed: the probe's end does not end this side, which sends on.
    const other = createNetServer({ allowHalfOpen: true }, (socket) => {
      const beat = setInterval(() => socket.writable && socket.write("ping\n"), 100);
      heartbeats.add(beat);
      socket.on("error", () => {});
      socket.on("close", () => {
        clearInterval(beat);
        probeClosed.resolve();
      });
    });
    await new Promise<void>((resolve) => other.listen(path, resolve));
    try {
      await runVirtual(function* () {
        const error = yield* rejectsOp(
          startServer(function* () {}, { path }),
          Error,
        );
        assert.equal((error as NodeJS.ErrnoException).code, "EADDRINUSE");
      });
      // An idle timeout, which every heartbeat put off, kept it open for good.
      const bound = setTimeout(() => probeClosed.reject(new Error("the probe's connection is still open after 10 s")), 10_000);
      await probeClosed.promise.finally(() => clearTimeout(bound));
    } finally {
      for (const beat of heartbeats) clearInterval(beat);
      await new Promise<void>((resolve) => other.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("leaves a live server's socket and a file that is not a socket alone: EADDRINUSE", async () => {
    const dir = mkdtempSync(join(tmpdir(), "corio-unix-"));
    const live = join(dir, "live");
    const regular = join(dir, "regular");
    writeFileSync(regular, "keep me");
    const other = createNetServer((socket) => {
      socket.on("error", () => {}); // corio's probe connects and goes at once
      socket.end("still mine\n");
    });
    await new Promise<void>((resolve) => other.listen(live, resolve));
    try {
      await runVirtual(function* () {
        for (const path of [live, regular]) {
          const error = yield* rejectsOp(
            startServer(function* () {}, { path }),
            Error,
          );
          assert.equal((error as NodeJS.ErrnoException).code, "EADDRINUSE", `${path}: ${error.message}`);
        }
        const { reader } = yield* openConnection({ path: live });
        assert.equal(text(yield* reader.readLine()), "still mine\n");
      });
      assert.equal(readFileSync(regular, "utf8"), "keep me");
    } finally {
      await new Promise<void>((resolve) => other.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("startServer / openConnection", () => {
  it("a connection and a server opened inside timeout() stay open for the caller (asyncio's wait_for(open_connection()))", async () => {
    await runVirtual(function* () {
      const server = yield* timeout(1000, lineEchoServer());
      const { reader, writer } = yield* timeout(1000, openConnection({ port: server.address.port }));
      writer.write("still open\n");
      assert.equal(new TextDecoder().decode(yield* reader.readLine()), "echo: still open\n");
      writer.close();
      server.close();
      yield* server.waitClosed();
    });
  });

  it("a server opened inside timeout() runs its handlers in the context the caller's code set there (a trace id set for the block)", async () => {
    const requestId = createContext<string>("request id", "none");
    const seen = await runVirtual(function* () {
      const server = yield* timeout(1000, function* () {
        requestId.set("set inside timeout");
        return yield* startServer(function* (_reader, writer) {
          writer.write(`${requestId.get()}\n`);
        });
      });
      const { reader } = yield* openConnection({ port: server.address.port });
      const seen = new TextDecoder().decode(yield* reader.readLine());
      server.close();
      yield* server.waitClosed();
      return seen;
    });
    assert.equal(seen, "set inside timeout\n");
  });

  it("serves nc, a real client (line framing)", { skip: needsOpenBsdNc() }, async () => {
    await runVirtual(function* () {
      const server = yield* lineEchoServer();
      const out = yield* until(runClient("nc", ["-N", "127.0.0.1", String(server.address.port)], "hello\nworld\n"));
      assert.equal(out, "echo: hello\necho: world\n");
      server.close();
      yield* server.waitClosed();
    });
  });

  it("serves socat, with a CRLF delimiter", { skip: needsCommands("socat") }, async () => {
    await runVirtual(function* () {
      const server = yield* lineEchoServer({ delimiter: "\r\n" });
      const out = yield* until(runClient("socat", ["-t", "2", "-", `TCP:127.0.0.1:${server.address.port}`], "one\r\ntwo\r\n"));
      assert.equal(out, "echo: one\r\necho: two\r\n");
      server.close();
      yield* server.waitClosed();
    });
  });

  it("serves a Python asyncio client", { skip: needsCommands("python3") }, async () => {
    const script = `
import asyncio, sys
async def main():
    reader, writer = await asyncio.open_connection("127.0.0.1", int(sys.argv[1]))
    for word in ["alpha", "beta"]:
        writer.write((word + "\\n").encode())
        await writer.drain()
        print((await asyncio.wait_for(reader.readline(), 5)).decode().strip(), flush=True)
    writer.close()
    await writer.wait_closed()
asyncio.run(main())
`;
    await runVirtual(function* () {
      const server = yield* lineEchoServer();
      const out = yield* until(promisify(execFile)("python3", ["-c", script, String(server.address.port)]));
      assert.equal(out.stdout, "echo: alpha\necho: beta\n");
      server.close();
      yield* server.waitClosed();
    });
  });

  it("works over IPv6 loopback", { skip: needsIpv6Loopback() }, async () => {
    await runVirtual(function* () {
      const server = yield* lineEchoServer({ host: "::1" });
      assert.equal(server.address.family, "IPv6");
      const { reader, writer } = yield* openConnection({ host: "::1", port: server.address.port });
      writer.write("six\n");
      assert.equal(text(yield* reader.readLine()), "echo: six\n");
      writer.close();
      server.close();
      yield* server.waitClosed();
    });
  });

  it("raw framing gives chunks of at most maxLength", async () => {
    await runVirtual(function* () {
      const sizes: number[] = [];
      const server = yield* startServer(
        function* (_reader, writer, messages) {
          for (let m = yield* messages.next(); !m.done; m = yield* messages.next()) sizes.push((m.value as Uint8Array).length);
          writer.write("done");
        },
        { framing: { mode: "raw", maxLength: 10 } },
      );
      const { reader, writer } = yield* openConnection({ port: server.address.port });
      writer.write(new Uint8Array(34));
      writer.writeEof();
      assert.equal(text(yield* reader.read()), "done");
      assert.equal(
        sizes.reduce((a, b) => a + b, 0),
        34,
      );
      assert.ok(sizes.every((size) => size <= 10));
      server.close();
      yield* server.waitClosed();
    });
  });

  it("both ends send each write at once (TCP_NODELAY, as asyncio does), unless noDelay is false", async () => {
    // With Nagle's algorithm a second small write waits for the peer's delayed ACK (40 ms).
    const setNoDelay = mock.method(Socket.prototype, "setNoDelay");
    try {
      await runVirtual(function* () {
        for (const noDelay of [undefined, true, false]) {
          setNoDelay.mock.resetCalls();
          const options = noDelay === undefined ? {} : { noDelay };
          const served = new Future<void>();
          const server = yield* startServer(function* (reader, writer) {
            writer.write(yield* reader.readLine());
            served.resolve();
          }, options);
          const { reader, writer } = yield* openConnection({ port: server.address.port, ...options });
          writer.write("ping\n");
          assert.equal(text(yield* reader.readLine()), "ping\n");
          yield* served;
          assert.deepEqual(
            setNoDelay.mock.calls.map((call) => call.arguments),
            noDelay === false ? [] : [[true], [true]],
            `noDelay: ${noDelay}`,
          );
          server.close();
          yield* server.waitClosed();
        }
      });
    } finally {
      setNoDelay.mock.restore();
    }
  });

  it("writeLines sends its chunks in one writev; a bad chunk throws, and the chunks before it still go out", async () => {
    // Node's Writable hands the chunks queued while a socket is corked to `_writev` at once.
    const writev = mock.method(Socket.prototype as unknown as { _writev(chunks: unknown[], done: () => void): void }, "_writev");
    try {
      await runVirtual(function* () {
        const server = yield* startServer(function* (reader, writer) {
          const line = yield* reader.readLine();
          writer.writeLines(["first: ", line, "done\n"]);
          assert.throws(() => writer.writeLines(["kept\n", 7 as unknown as string, "never\n"]), TypeError);
          yield* writer.drain();
        });
        const { reader, writer } = yield* openConnection({ port: server.address.port });
        writer.write("question\n");
        assert.equal(text(yield* reader.readLine()), "first: question\n");
        assert.equal(text(yield* reader.readLine()), "done\n");
        assert.equal(text(yield* reader.readLine()), "kept\n");
        assert.equal(text(yield* reader.read()), "", "the handler returned: EOF");
        const batches = writev.mock.calls.map((call) => (call.arguments[0] as unknown[]).length);
        assert.deepEqual(batches, [3], "one writev of three chunks (the lone chunk before the bad one goes by write)");
        server.close();
        yield* server.waitClosed();
      });
    } finally {
      writev.mock.restore();
    }
  });

  it("connecting to a closed port keeps the error code", async () => {
    await runVirtual(function* () {
      const server = yield* lineEchoServer();
      const port = server.address.port;
      server.close();
      yield* server.waitClosed();
      try {
        yield* openConnection({ port });
        assert.fail("expected ECONNREFUSED");
      } catch (error) {
        assert.equal((error as { code?: string }).code, "ECONNREFUSED");
        assert.match((error as Error).message, /^Cannot connect to 127\.0\.0\.1:\d+: /);
      }
    });
  });

  it("a bad limit or framing is refused by the call itself, before it listens (a throw in Node's connection listener would end the process)", async () => {
    const capture = captureNodeServers();
    try {
      await runVirtual(function* () {
        const refused: [Parameters<typeof startServer>[1], new (...args: never[]) => Error, string][] = [
          [{ limit: -5 }, RangeError, "Cannot start a server: limit must be a positive integer, received -5"],
          [{ limit: Number.NaN }, RangeError, "Cannot start a server: limit must be a positive integer, received NaN"],
          [{ framing: { mode: "line", delimiter: "" } }, RangeError, "Cannot frame lines: the delimiter is empty"],
          [
            { framing: { mode: "line", delimiter: 10 as never } },
            TypeError,
            "Cannot frame lines: the delimiter must be a string or a Uint8Array, received number",
          ],
          [{ framing: { mode: "raw", maxLength: 0 } }, RangeError, "Cannot frame raw chunks: maxLength must be a positive integer, received 0"],
          [{ framing: { mode: "lines" } as never }, TypeError, 'Cannot frame messages: mode must be "line" or "raw", received lines'],
        ];
        for (const [options, expected, message] of refused) {
          const error = yield* rejectsOp(
            startServer(function* () {}, options),
            expected,
          );
          assert.equal(error.message, message);
        }
        assert.equal(capture.servers.length, 0, "no server listened");
      });
    } finally {
      capture.restore();
    }
  });

  it("openConnection refuses a bad limit before it connects: no socket is left open", async () => {
    const listener = createNetServer((socket) => {
      accepted.push(socket);
      connected.resolve();
    });
    const accepted: Socket[] = [];
    const connected = promiseWithResolvers<void>();
    await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
    const port = (listener.address() as AddressInfo).port;
    try {
      await runVirtual(function* () {
        const error = yield* rejectsOp(openConnection({ port, limit: 0 }), RangeError);
        assert.equal(error.message, "Cannot open a connection: limit must be a positive integer, received 0");
        // Accepted in order: once this one is, the refused call's connection would have been too.
        const { writer } = yield* openConnection({ port });
        yield* until(connected.promise);
        assert.equal(accepted.length, 1, "the refused call never connected");
        writer.abort();
      });
    } finally {
      for (const socket of accepted) socket.destroy();
      await new Promise((resolve) => listener.close(resolve));
    }
  });

  it("an IPv6 address is bracketed in messages ([::1]:port, not ::1:port)", { skip: needsIpv6Loopback() }, async () => {
    await runVirtual(function* () {
      const server = yield* startServer(function* () {}, { host: "::1" });
      const port = server.address.port;
      const inUse = yield* rejectsOp(
        startServer(function* () {}, { host: "::1", port }),
        Error,
      );
      assert.match(inUse.message, new RegExp(`^Cannot start a server on \\[::1\\]:${port}: `));
      server.close();
      yield* server.waitClosed();
      const refused = yield* rejectsOp(openConnection({ host: "::1", port }), Error);
      assert.match(refused.message, new RegExp(`^Cannot connect to \\[::1\\]:${port}: `));
    });
  });

  it("address is a copy at each read, as Node's server.address() is, and a port string of digits is taken, as Node takes it", async () => {
    await runVirtual(function* () {
      const server = yield* startServer(function* () {}, { port: "0" as never });
      const port = server.address.port;
      server.address.port = 1;
      assert.equal(server.address.port, port);
      server.close();
      yield* server.waitClosed();
      assert.equal(server.address.port, port);
    });
  });

  it("a port that is not an integer in range is corio's RangeError, not Node's", async () => {
    await runVirtual(function* () {
      for (const port of [1.5, 0, 65536]) {
        const error = yield* rejectsOp(openConnection({ port }), RangeError);
        assert.equal(error.message, `Cannot open a connection: port must be an integer from 1 to 65535, received ${port}`);
      }
      for (const port of [1.5, -1, 65536]) {
        const error = yield* rejectsOp(
          startServer(function* () {}, { port }),
          RangeError,
        );
        assert.equal(error.message, `Cannot start a server: port must be an integer from 0 to 65535, received ${port}`);
      }
    });
  });

  it("openConnection takes a port as a string of digits, as Node, startServer and openDatagram do", async () => {
    await runVirtual(function* () {
      const server = yield* lineEchoServer();
      const { reader, writer } = yield* openConnection({ port: String(server.address.port) as never });
      writer.write("digits\n");
      assert.equal(new TextDecoder().decode(yield* reader.readLine()), "echo: digits\n");
      writer.close();
      server.close();
    });
  });

  it("openConnection refuses options that are not an object and a host that is not a non-empty string, with corio's message", async () => {
    await runVirtual(function* () {
      for (const options of [undefined, null]) {
        const error = yield* rejectsOp(openConnection(options as never), TypeError);
        assert.equal(error.message, `Cannot open a connection: the options must be an object ({ host, port } or { path }), received ${options}`);
      }
      for (const host of [5, ""]) {
        const error = yield* rejectsOp(openConnection({ host: host as never, port: 1 }), RangeError);
        assert.equal(error.message, `Cannot open a connection: host must be a host name or an IP address, received ${host}`);
      }
    });
  });

  it("localAddress and localPort (asyncio's local_addr): the connection comes from there, and a name's addresses of the other family are not tried (Node gave up with bind EINVAL)", {
    skip: process.platform !== "linux" && "127.0.0.2 is a loopback address on Linux only",
  }, async () => {
    const lookup = dns.lookup;
    const dual = mock.method(dns, "lookup", (host: string, options: { all?: boolean; family?: number }, callback: (...args: unknown[]) => void) => {
      if (host !== "dual.test") return (lookup as (...args: unknown[]) => void)(host, options, callback);
      const all = [
        { address: "::1", family: 6 },
        { address: "127.0.0.1", family: 4 },
      ].filter((address) => !options.family || address.family === options.family);
      if (options.all) process.nextTick(callback, null, all);
      else process.nextTick(callback, null, all[0]?.address, all[0]?.family);
    });
    try {
      await runVirtual(function* () {
        const peers: string[] = [];
        const server = yield* startServer(function* (_reader, writer) {
          const peer = writer.remoteAddress;
          peers.push(typeof peer === "object" ? peer.address : String(peer));
        });
        for (const host of ["127.0.0.1", "dual.test"]) {
          const { writer } = yield* openConnection({ host, port: server.address.port, localAddress: "127.0.0.2", localPort: "0" as never });
          const local = writer.localAddress;
          assert.equal(typeof local === "object" ? local.address : local, "127.0.0.2");
          writer.close();
          yield* writer.waitClosed();
        }
        server.close();
        yield* server.waitClosed();
        assert.deepEqual(peers, ["127.0.0.2", "127.0.0.2"]);
      });
    } finally {
      dual.mock.restore();
    }
  });

  it("a bad localAddress or localPort is corio's RangeError, before connecting", async () => {
    await runVirtual(function* () {
      for (const [options, message] of [
        [{ localAddress: "localhost" }, "localAddress must be an IP address, received localhost"],
        [{ localAddress: 5 }, "localAddress must be an IP address, received 5"],
        [{ localPort: 65536 }, "localPort must be an integer from 0 to 65535, received 65536"],
        [{ localPort: -1 }, "localPort must be an integer from 0 to 65535, received -1"],
        [{ path: "/tmp/x.sock", localPort: 1 }, "localAddress and localPort are for TCP, not a Unix socket path"],
      ] as const) {
        const error = yield* rejectsOp(openConnection({ port: 1, ...(options as object) }), RangeError);
        assert.equal(error.message, `Cannot open a connection: ${message}`);
      }
    });
  });

  it("a name whose first address refuses connects on the next (asyncio's and Trio's several addresses)", async () => {
    const lookup = dns.lookup;
    const dual = mock.method(dns, "lookup", (host: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
      if (host !== "dual.test") return (lookup as (...args: unknown[]) => void)(host, options, callback);
      const all = [
        { address: "::1", family: 6 },
        { address: "127.0.0.1", family: 4 },
      ];
      if (options.all) process.nextTick(callback, null, all);
      else process.nextTick(callback, null, "::1", 6);
    });
    try {
      await runVirtual(function* () {
        // Listens on 127.0.0.1 only: ::1 refuses (or has no route), 127.0.0.1 answers.
        const server = yield* lineEchoServer();
        const { reader, writer } = yield* openConnection({ host: "dual.test", port: server.address.port });
        writer.write("second\n");
        assert.equal(new TextDecoder().decode(yield* reader.readLine()), "echo: second\n");
        const peer = writer.remoteAddress;
        assert.equal(typeof peer === "object" ? peer.address : peer, "127.0.0.1");
        writer.close();
        server.close();
      });
    } finally {
      dual.mock.restore();
    }
  });

  it("a name whose addresses all refuse: the message gives each address's error (Node's AggregateError has none)", async () => {
    // A name with two addresses, as a dual-stack "localhost" resolves; Node tries each (autoSelectFamily).
    const lookup = dns.lookup;
    const dual = mock.method(dns, "lookup", (host: string, options: unknown, callback: (...args: unknown[]) => void) => {
      if (host !== "dual.test") return (lookup as (...args: unknown[]) => void)(host, options, callback);
      const all = [
        { address: "::1", family: 6 },
        { address: "127.0.0.1", family: 4 },
      ];
      if ((options as { all?: boolean }).all) process.nextTick(callback, null, all);
      else process.nextTick(callback, null, "::1", 6);
    });
    try {
      await runVirtual(function* () {
        const server = yield* lineEchoServer();
        const port = server.address.port;
        server.close();
        yield* server.waitClosed();
        const error = yield* rejectsOp(openConnection({ host: "dual.test", port }), Error);
        assert.match(
          error.message,
          new RegExp(`^Cannot connect to dual\\.test:${port}: Multiple exceptions: connect E\\w+ ::1:${port}, connect ECONNREFUSED 127\\.0\\.0\\.1:${port}$`),
        );
        assert.ok(error.cause instanceof AggregateError);
        assert.equal(typeof (error as { code?: string }).code, "string");
      });
    } finally {
      dual.mock.restore();
    }
  });

  it("a peer that resets mid-read gives BrokenResourceError with the OS error as cause", async () => {
    await runVirtual(function* () {
      const { Future } = yield* until(import("../../src/index.ts"));
      const firstPartRead = new Future<void>();
      const outcome = new Future<unknown>();
      const server = yield* startServer(function* (reader) {
        yield* reader.readExactly(7);
        firstPartRead.resolve();
        try {
          yield* reader.readExactly(100);
        } catch (error) {
          outcome.resolve(error);
        }
      });
      const socket = connect(server.address.port, "127.0.0.1", () => socket.write("partial"));
      socket.on("error", () => {});
      yield* firstPartRead;
      socket.resetAndDestroy();
      const error = yield* outcome;
      assert.ok(error instanceof BrokenResourceError, String(error));
      assert.equal((error.cause as { code?: string }).code, "ECONNRESET");
      assert.match(error.message, /^Cannot use the connection: ECONNRESET/);
      server.close();
      yield* server.waitClosed();
    });
  });

  it("a peer that resets mid-read is reported as peer-gone with its address, and printed on one line without a stack", async () => {
    const reports: { error: unknown; context: ErrorContext }[] = [];
    let peer = "";
    await runVirtual(
      function* () {
        const firstPartRead = new Future<void>();
        const server = yield* startServer(function* (reader) {
          yield* reader.readExactly(7);
          firstPartRead.resolve();
          yield* reader.readExactly(100); // the reset fails this, and the handler lets it go
        });
        const socket = connect(server.address.port, "127.0.0.1", () => socket.write("partial"));
        socket.on("error", () => {});
        yield* firstPartRead;
        peer = `127.0.0.1:${socket.localPort}`;
        socket.resetAndDestroy();
        yield* untilTrue(() => reports.length === 1);
        server.close();
        yield* server.waitClosed();
      },
      { onError: (error, context) => reports.push({ error, context }) },
    );
    assert.equal(reports.length, 1);
    const { error, context } = reports[0] as { error: unknown; context: ErrorContext };
    assert.ok(error instanceof BrokenResourceError, String(error));
    assert.deepEqual([context.kind, context.path, context.peer], ["peer-gone", "test/tcp server/connection 1", peer]);
    // What the default printer (a loop without onError) writes for it.
    const printed: unknown[][] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => printed.push(args);
    try {
      new Loop().report(error, context);
      new Loop().report(new Error("our bug"), { kind: "task", path: "test/tcp server/connection 2" });
    } finally {
      console.error = original;
    }
    assert.deepEqual(printed[0], [`corio: test/tcp server/connection 1: the peer ${peer} went away (ECONNRESET)`]);
    // A bug keeps its stack: the error itself is printed.
    assert.equal(printed[1]?.[0], "corio: Uncaught error in task test/tcp server/connection 2:");
    assert.ok(printed[1]?.[1] instanceof Error);
  });

  it("a peer that stops reading: drain waits and the writer's memory stays bounded", async () => {
    await runVirtual(function* () {
      const server = yield* startServer(function* () {
        yield* suspend(); // never reads
      });
      const { writer } = yield* openConnection({ port: server.address.port });
      const chunk = new Uint8Array(64 * 1024);
      let written = 0;
      const flood = yield* spawn(function* () {
        for (;;) {
          writer.write(chunk);
          written += chunk.length;
          yield* writer.drain();
        }
      });
      // Give the OS many turns to fill the socket buffers; the writer must stop at drain().
      for (let i = 0; i < 200; i++) yield* until(new Promise((resolve) => setImmediate(resolve)));
      assert.equal(flood.done, false);
      assert.ok(writer.bufferSize <= 16 * 1024 + chunk.length, `queued in the writer: ${writer.bufferSize}`);
      assert.ok(written < 32 * 1024 * 1024, `the writer kept writing: ${written} bytes`);
      flood.cancel();
      writer.abort();
      server.close();
      yield* server.waitClosed();
    });
  });

  it("an over-long line is dropped and reported; the next line still arrives", async () => {
    await runVirtual(function* () {
      const events: string[] = [];
      const server = yield* startServer(
        function* (reader, writer) {
          const messages = readMessages(reader, { mode: "line", delimiter: "\n" });
          for (;;) {
            try {
              const m = yield* messages.next();
              if (m.done) break;
              events.push(`line ${m.value}`);
            } catch (error) {
              events.push(error instanceof LimitOverrunError ? "too long" : String(error));
            }
          }
          writer.write("bye");
        },
        { limit: 16 },
      );
      const { reader, writer } = yield* openConnection({ port: server.address.port });
      writer.write(`${"x".repeat(100)}\nshort\n`);
      writer.writeEof();
      assert.equal(text(yield* reader.read()), "bye");
      assert.deepEqual(events, ["too long", "line short"]);
      server.close();
      yield* server.waitClosed();
    });
  });

  it("a slow-loris sender that never finishes a line cannot grow the server's buffer past its limit", async () => {
    await runVirtual(function* () {
      let failure = "";
      const server = yield* startServer(
        function* (reader) {
          try {
            yield* reader.readLine();
          } catch (error) {
            failure = (error as Error).name;
          }
        },
        { limit: 1024 },
      );
      const { writer } = yield* openConnection({ port: server.address.port });
      for (let i = 0; i < 200 && failure === ""; i++) {
        writer.write("y".repeat(10));
        yield* writer.drain();
        yield* until(new Promise((resolve) => setImmediate(resolve)));
      }
      assert.equal(failure, "LimitOverrunError");
      writer.close();
      server.close();
      yield* server.waitClosed();
    });
  });

  it("a client task that ends with bytes still queued resets its connection; one with nothing queued ends it with a FIN", async () => {
    // (Node's peer may see that reset as an EOF, as libuv takes a hang-up after a partial read for
    // one: watch the client's side, and the bytes that never arrived.)
    const resets = mock.method(Socket.prototype, "resetAndDestroy");
    try {
      await runVirtual(function* () {
        const received: number[] = [];
        const server = yield* startServer(function* (reader) {
          let total = 0;
          for (let chunk = yield* reader.read(); chunk.length > 0; chunk = yield* reader.read()) total += chunk.length;
          received.push(total);
        });
        const size = 32 * 1024 * 1024; // far more than the socket buffers take in one write
        const cut = yield* spawn(function* () {
          const { writer } = yield* openConnection({ port: server.address.port });
          writer.write(new Uint8Array(size));
        });
        yield* cut;
        assert.equal(resets.mock.callCount(), 1, "the connection with bytes queued is reset");
        const whole = yield* spawn(function* () {
          const { writer } = yield* openConnection({ port: server.address.port });
          writer.write("all of it");
          yield* writer.drain();
        });
        yield* whole;
        assert.equal(resets.mock.callCount(), 1, "a connection with nothing queued is not reset");
        while (received.length < 2) yield* until(new Promise((resolve) => setImmediate(resolve)));
        assert.ok(received.includes(9), "the connection with nothing queued delivers everything");
        assert.ok(Math.min(...received) < size);
        server.close();
        yield* server.waitClosed();
      });
    } finally {
      resets.mock.restore();
    }
  });

  it("close(grace) cancels handlers still running after the grace period", async () => {
    await runVirtual(function* () {
      const log: string[] = [];
      const server = yield* startServer(function* () {
        try {
          yield* suspend();
        } finally {
          log.push("handler cancelled");
        }
      });
      const client = yield* openConnection({ port: server.address.port });
      while (server.connections === 0) yield* until(new Promise((resolve) => setImmediate(resolve)));
      server.close(100);
      yield* waitAllTasksBlocked();
      assert.deepEqual(log, []);
      yield* sleep(100);
      yield* server.waitClosed();
      assert.deepEqual(log, ["handler cancelled"]);
      assert.equal((yield* client.reader.read()).length, 0, "the client sees the connection closed");
    });
  });
});

/** Lets the host run I/O callbacks until `done()` (bounded: see `turnsUntil`). */
function* untilTrue(done: () => boolean): Operation<void> {
  assert.ok(yield* until(turnsUntil(done)), "the condition never became true");
}

/** A plain Node server that reads nothing (a client's bytes stay queued); `resetPeer` gives the reset of its one connection. */
async function pausedPeer(): Promise<{ peer: NetServer; resetPeer: Promise<() => void> }> {
  const reset = promiseWithResolvers<() => void>();
  const peer = createNetServer((socket) => {
    socket.on("error", () => {});
    socket.pause();
    reset.resolve(() => socket.resetAndDestroy());
  });
  await new Promise<void>((resolve) => peer.listen(0, "127.0.0.1", resolve));
  return { peer, resetPeer: reset.promise };
}

describe("startServer: closing (issue 11, edge case 16)", () => {
  // The order of the owner's exit stack: the client, opened after the server, closes first; the server's handler
  // then reads EOF and the server ends at once. The server cancelled first, its grace waited for that handler:
  // 5 s on the real clock, and for good under runVirtual (a socket read is I/O in flight: the clock never moves).
  it("a server and its client in one task: the task ends without waiting for the grace, on the virtual clock too, also when its body fails", {
    timeout: 60_000,
  }, async () => {
    for (const fails of [false, true]) {
      const outcome = runVirtual(function* () {
        const server = yield* startServer(
          function* (reader, writer) {
            for (let line = yield* reader.readLine(); line.length > 0; line = yield* reader.readLine()) writer.write(line);
          },
          { host: "127.0.0.1", port: 0 },
        );
        const { reader, writer } = yield* openConnection({ host: "127.0.0.1", port: server.address.port });
        writer.write("ping\n");
        assert.equal(new TextDecoder().decode(yield* reader.readLine()), "ping\n");
        if (fails) throw new Error("the test's assertion");
        return currentTime();
      });
      if (fails) await assert.rejects(outcome, /the test's assertion/);
      else assert.equal(await outcome, 0);
    }
  });

  it("waitClosed() throws when the peer resets before the bytes queued at close() went out (asyncio's wait_closed raises)", async () => {
    const { peer, resetPeer } = await pausedPeer();
    try {
      await run(function* () {
        const { writer } = yield* openConnection({ port: (peer.address() as AddressInfo).port });
        writer.write(new Uint8Array(32 * 1024 * 1024));
        writer.close();
        assert.ok(writer.bufferSize > 0, "more than the kernel takes is queued");
        (yield* until(resetPeer))();
        const error = yield* rejectsOp(writer.waitClosed(), BrokenResourceError);
        assert.match(error.message, /ECONNRESET|EPIPE/);
        // Asked again, it says the same.
        yield* rejectsOp(writer.waitClosed(), BrokenResourceError);
      });
    } finally {
      peer.close();
    }
  });

  it("a reset before close() that no write, drain or read has thrown: waitClosed() throws it, the bytes were lost", async () => {
    const { peer, resetPeer } = await pausedPeer();
    try {
      await run(function* () {
        const { writer } = yield* openConnection({ port: (peer.address() as AddressInfo).port });
        writer.write(new Uint8Array(32 * 1024 * 1024));
        (yield* until(resetPeer))();
        // Nothing reads or writes until the break has come.
        assert.ok(yield* until(turnsUntil(() => writer.isClosing)));
        writer.close();
        const error = yield* rejectsOp(writer.waitClosed(), BrokenResourceError);
        assert.match(error.message, /ECONNRESET|EPIPE/);
      });
    } finally {
      peer.close();
    }
  });

  it("a reset the handler caught (drain threw) and returned from is not reported again by the server's close", async () => {
    const { reports, onError } = collectReports();
    const caught = promiseWithResolvers<unknown>();
    const draining = promiseWithResolvers<void>();
    await run(
      function* () {
        const server = yield* startServer(function* (_reader, writer) {
          writer.write(new Uint8Array(32 * 1024 * 1024));
          draining.resolve(); // 32 MB do not fit in the kernel's buffers: the drain waits
          try {
            yield* writer.drain();
          } catch (error) {
            caught.resolve(error); // an ordinary client disconnect, handled
          }
        });
        const client = connect(server.address.port, "127.0.0.1");
        client.on("error", () => {});
        client.pause();
        yield* until(draining.promise);
        client.resetAndDestroy();
        assert.ok((yield* until(caught.promise)) instanceof BrokenResourceError);
        server.close();
        yield* server.waitClosed();
      },
      { onError },
    );
    assert.deepEqual(reports, []);
  });

  it("a peer that resets while the server flushes a handler's last bytes is reported as peer-gone", async () => {
    const { reports, onError } = collectReports();
    const handlerReturned = promiseWithResolvers<void>();
    await run(
      function* () {
        const server = yield* startServer(function* (_reader, writer) {
          writer.write(new Uint8Array(32 * 1024 * 1024));
          handlerReturned.resolve(); // the server now flushes, sends a FIN and waits for the close
        });
        const client = connect(server.address.port, "127.0.0.1");
        client.on("error", () => {});
        client.pause();
        yield* until(handlerReturned.promise);
        client.resetAndDestroy();
        server.close();
        yield* server.waitClosed();
      },
      { onError },
    );
    assert.deepEqual(
      reports.map((report) => report.kind),
      ["peer-gone"],
    );
    assert.ok(reports[0]?.error instanceof BrokenResourceError);
  });

  it("a handler's failure is reported under its own connection's task path (#11)", async () => {
    const { reports, onError } = collectReports();
    await runVirtual(
      function* () {
        const second = new Future<void>();
        let accepted = 0;
        const server = yield* startServer(function* () {
          const n = ++accepted;
          if (n === 2) {
            second.resolve();
            return;
          }
          yield* second; // the first fails once a second connection was accepted
          throw new Error(`handler ${n} broke`);
        });
        const first = yield* openConnection({ port: server.address.port });
        yield* untilTrue(() => server.connections === 1);
        const other = yield* openConnection({ port: server.address.port });
        yield* untilTrue(() => reports.length === 1);
        first.writer.close();
        other.writer.close();
        server.close();
        yield* server.waitClosed();
      },
      { onError },
    );
    assert.deepEqual(
      reports.map((report) => [(report.error as Error).message, report.path]),
      [["handler 1 broke", "test/tcp server/connection 1"]],
    );
  });

  it("the owner ending while close(grace) waits: the server ends cancelled, no swallowed cancellation, the grace holds (#11)", async () => {
    const { reports, onError } = collectReports();
    const log: string[] = [];
    await runVirtual(
      function* () {
        const owner = yield* spawn(function* () {
          const server = yield* startServer(function* () {
            try {
              yield* suspend();
            } finally {
              log.push(`handler cancelled at ${currentTime()}`);
            }
          });
          yield* openConnection({ port: server.address.port });
          yield* untilTrue(() => server.connections === 1);
          server.close(1000);
          yield* sleep(10); // the close is under way; returning cancels the server task (a daemon)
        });
        yield* owner;
      },
      { onError },
    );
    assert.deepEqual(reports, []);
    assert.deepEqual(log, ["handler cancelled at 1000"]);
  });

  it("a close waits for N connections with one watcher each, not one per connection per pass (#11)", async () => {
    await runVirtual(function* () {
      const n = 30;
      const releases: Future<void>[] = [];
      const server = yield* startServer(function* () {
        const release = new Future<void>();
        releases.push(release);
        yield* release;
      });
      const clients = [];
      for (let i = 0; i < n; i++) clients.push(yield* openConnection({ port: server.address.port }));
      yield* untilTrue(() => server.connections === n);
      let watchers = 0;
      const addWatcher = TaskImpl.prototype.addWatcher;
      TaskImpl.prototype.addWatcher = function (this: TaskImpl, watcher) {
        watchers++;
        addWatcher.call(this, watcher);
      };
      try {
        server.close(60_000);
        for (let left = n; left > 0; left--) {
          releases[n - left]?.resolve();
          yield* untilTrue(() => server.connections === left - 1);
        }
        yield* server.waitClosed();
      } finally {
        TaskImpl.prototype.addWatcher = addWatcher;
      }
      assert.ok(watchers <= n, `${watchers} watchers were added while ${n} connections closed`);
      for (const client of clients) client.writer.close();
    });
  });

  it("an accept error is reported through onError with back-off, never thrown, and the server keeps serving (#11)", async () => {
    const { reports, onError } = collectReports();
    const capture = captureNodeServers();
    try {
      await runVirtual(
        function* () {
          const server = yield* lineEchoServer();
          const node = capture.servers[0];
          assert.ok(node !== undefined);
          for (let i = 0; i < 3; i++) node.emit("error", Object.assign(new Error("accept EMFILE"), { code: "EMFILE", syscall: "accept" }));
          assert.equal(reports.length, 1, "later errors within the back-off are counted, not reported one by one");
          const { reader, writer } = yield* openConnection({ port: server.address.port });
          writer.write("still serving\n");
          assert.equal(text(yield* reader.readLine()), "echo: still serving\n");
          writer.close();
          server.close();
          yield* server.waitClosed();
        },
        { onError },
      );
    } finally {
      capture.restore();
    }
    assert.equal(reports.length, 2);
    const [first, summary] = reports.map((report) => report.error as Error & { code?: string });
    assert.match(first?.message ?? "", /^Cannot accept a connection on 127\.0\.0\.1:\d+: accept EMFILE$/);
    assert.equal(first?.code, "EMFILE");
    assert.equal(reports[0]?.path, "test/tcp server");
    assert.match(
      summary?.message ?? "",
      /^Cannot accept a connection on 127\.0\.0\.1:\d+: 2 more accept errors were not reported \(the last: accept EMFILE\)$/,
    );
  });

  for (const ending of ["is cancelled", "returns"] as const) {
    it(`the owner ${ending}: the listener closes at once, the handler gets the grace, the client reads what was written then a clean EOF (#12, edge case 16)`, async () => {
      const log: string[] = [];
      await runVirtual(function* () {
        const listening = new Future<number>();
        const wrote = new Future<void>();
        const end = new Future<void>();
        const owner = yield* spawn(function* () {
          const server = yield* startServer(function* (_reader, writer) {
            writer.write("hello\n");
            wrote.resolve();
            try {
              yield* suspend();
            } finally {
              log.push(`handler cancelled at ${currentTime()}`);
            }
          });
          listening.resolve(server.address.port);
          if (ending === "returns") yield* end;
          else yield* server.serveForever();
        });
        const port = yield* listening;
        const client = rawClient(port);
        yield* wrote;
        if (ending === "returns") end.resolve();
        else owner.cancel();
        yield* sleep(0); // the server task takes its step: the listener closes
        const refused = yield* rejectsOp(openConnection({ port }), Error);
        assert.equal((refused as Error & { code?: string }).code, "ECONNREFUSED");
        try {
          yield* owner; // it ends once the server has closed (the grace runs on the virtual clock)
        } catch (error) {
          assert.equal(ending, "is cancelled", String(error));
        }
        yield* until(client.closed);
        assert.equal(client.text, "hello\n");
        assert.equal(client.ended, true, "the client saw a FIN");
        assert.equal(client.error, undefined);
      });
      assert.deepEqual(log, ["handler cancelled at 5000"]);
    });
  }

  it("a task cancelled while it waits in waitClosed() gets its cancellation, even when the server ends in the same turn", async () => {
    const log: string[] = [];
    await runVirtual(function* () {
      const ready = new Future<void>();
      const owner = yield* spawn(function* () {
        const server = yield* startServer(function* () {});
        ready.resolve();
        server.close();
        yield* server.waitClosed(); // the server task waits for the listener's 'close' when the owner is cancelled
        log.push("went on after waitClosed()");
      });
      yield* ready;
      yield* sleep(0);
      yield* sleep(0);
      owner.cancel();
      yield* rejectsOp(owner, Error);
      assert.equal(owner.state, "cancelled");
    });
    assert.deepEqual(log, []);
  });

  it("address keeps the address the server listened on once it is closed (Node gives null then)", async () => {
    await runVirtual(function* () {
      const server = yield* startServer(function* () {});
      const open = server.address;
      server.close();
      yield* server.waitClosed();
      assert.deepEqual(server.address, open);
      assert.equal(server.address.family, "IPv4");
    });
  });

  it("a bad grace is a RangeError", async () => {
    await runVirtual(function* () {
      const error = yield* rejectsOp(
        startServer(function* () {}, { grace: -1 }),
        RangeError,
      );
      assert.equal(error.message, "Cannot start a server: grace must be a non-negative number of ms, received -1");
      const server = yield* startServer(function* () {});
      assert.throws(() => server.close(Number.NaN), {
        name: "RangeError",
        message: "Cannot close the server: grace must be a non-negative number of ms, received NaN",
      });
      server.close(0);
      yield* server.waitClosed();
    });
  });

  it("a handler's children, then its daemons, end before its connection closes: what they write reaches the client before the FIN", async () => {
    const { reports, onError } = collectReports();
    await runVirtual(
      function* () {
        const release = new Future<void>();
        const server = yield* startServer(function* (_reader, writer) {
          yield* spawn(
            function* () {
              try {
                yield* suspend();
              } finally {
                writer.write("daemon's goodbye\n"); // cancelled once the rest is done: the writer is still open
              }
            },
            { daemon: true },
          );
          yield* spawn(function* () {
            yield* release;
            writer.write("child's late line\n");
          });
          writer.write("handler's line\n"); // the handler returns at once
        });
        const client = rawClient(server.address.port);
        yield* untilTrue(() => client.text !== "");
        assert.equal(client.ended, false, "no FIN while a child runs");
        release.resolve();
        yield* until(client.closed);
        assert.equal(client.text, "handler's line\nchild's late line\ndaemon's goodbye\n");
        assert.equal(client.ended, true, "the client saw a FIN");
        assert.equal(client.error, undefined);
        server.close();
        yield* server.waitClosed();
      },
      { onError },
    );
    assert.deepEqual(reports, []);
  });

  it("a task the handler started fails: reported under the connection's path, the connection is reset, the server goes on serving", async () => {
    const { reports, onError } = collectReports();
    await runVirtual(
      function* () {
        let accepted = 0;
        const server = yield* startServer(function* (_reader, writer) {
          const n = ++accepted;
          writer.write(`hello ${n}\n`);
          if (n === 1)
            yield* spawn(function* () {
              yield* sleep(0);
              throw new Error("child of connection 1 broke");
            });
        });
        const first = rawClient(server.address.port);
        yield* until(first.closed);
        const second = rawClient(server.address.port);
        yield* until(second.closed);
        assert.equal(second.text, "hello 2\n");
        assert.equal(second.ended, true);
        assert.equal(first.error, "ECONNRESET", "the failed connection was reset");
        server.close();
        yield* server.waitClosed();
      },
      { onError },
    );
    assert.deepEqual(
      reports.map((report) => [(report.error as Error).message, report.kind, report.path]),
      [["child of connection 1 broke", "task", "test/tcp server/connection 1"]],
    );
  });

  it("the handler fails while a task it started runs: that task is cancelled and its cleanup runs before the connection is reset", async () => {
    const { reports, onError } = collectReports();
    const events: string[] = [];
    await runVirtual(
      function* () {
        const server = yield* startServer(function* (_reader, writer) {
          yield* spawn(function* () {
            try {
              yield* suspend();
            } finally {
              events.push(`child cleaned up, writer ${writer.isClosing ? "closed" : "open"}`);
            }
          });
          writer.write("hello\n");
          yield* sleep(0);
          throw new Error("handler broke");
        });
        const client = rawClient(server.address.port);
        yield* until(client.closed);
        events.push(`client ${client.error ?? "closed cleanly"}`);
        server.close();
        yield* server.waitClosed();
      },
      { onError },
    );
    assert.deepEqual(events, ["child cleaned up, writer open", "client ECONNRESET"]);
    assert.deepEqual(
      reports.map((report) => [(report.error as Error).message, report.kind, report.path]),
      [["handler broke", "task", "test/tcp server/connection 1"]],
    );
  });

  it("a handler that returns no operation: a TypeError that says so is reported and the connection is reset", async () => {
    const { reports, onError } = collectReports();
    await runVirtual(
      function* () {
        const server = yield* startServer((() => 42) as never);
        const client = rawClient(server.address.port);
        yield* until(client.closed);
        assert.equal(client.error, "ECONNRESET");
        server.close();
        yield* server.waitClosed();
      },
      { onError },
    );
    assert.deepEqual(
      reports.map((report) => [report.error instanceof TypeError, (report.error as Error).message, report.path]),
      [
        [
          true,
          "Cannot serve a connection: expected a function returning an operation, but it returned number; pass a generator function (function* () { ... }) or an operation such as sleep(10)",
          "test/tcp server/connection 1",
        ],
      ],
    );
  });

  it("close(grace): a connection that cannot flush within the grace is reset", async () => {
    // (A client with unread data sees a reset as an EOF on Linux, so watch the server's side.)
    const resets = mock.method(Socket.prototype, "resetAndDestroy");
    try {
      await runVirtual(function* () {
        const size = 32 * 1024 * 1024; // far more than the socket buffers take
        const server = yield* startServer(function* (_reader, writer) {
          writer.write(new Uint8Array(size));
          yield* suspend();
        });
        const client = rawClient(server.address.port);
        client.socket.pause(); // never reads
        yield* untilTrue(() => server.connections === 1);
        server.close(100);
        yield* server.waitClosed();
        assert.equal(resets.mock.callCount(), 1);
        client.socket.resume();
        yield* until(client.closed);
        assert.ok(client.text.length < size);
      });
    } finally {
      resets.mock.restore();
    }
  });
});
