import assert from "node:assert/strict";
import { execFile, spawn as spawnProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { promisify } from "node:util";
import { BrokenResourceError, LimitOverrunError, type Operation, sleep, spawn, suspend, until } from "../../src/index.ts";
import { openConnection, readMessages, type Server, startServer } from "../../src/net/index.ts";
import { checkStream, runVirtual, waitAllTasksBlocked } from "../../src/testing/index.ts";
import { checkLeaks, needsCommands, needsIpv6Loopback, needsOpenBsdNc } from "../_helpers.ts";

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

describe("startServer / openConnection", () => {
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
