// Issue 4 benchmarks: a line-echo server with 64 concurrent clients —
// corio (readLine/write) vs a raw node:net server splitting lines with
// indexOf vs Python asyncio streams on uvloop — and memory per idle
// connection. The load comes from a separate Node process (bench/_echo-client.mjs).
// Run alone: npm run bench -- net (compiled; through tsx it measures tsx's transform too)
import { execFile, spawn as spawnProcess } from "node:child_process";
import { once } from "node:events";
import { createServer, type Socket } from "node:net";
import { promisify } from "node:util";
import { Future, run, spawn } from "../src/index.ts";
import { startServer } from "../src/net/index.ts";
import { printCase } from "./_report.ts";

const CLIENTS = 64;
const LINES = 3000;

interface LoadResult {
  linesPerSecond: number;
  p50: number;
  p99: number;
}

/** Runs the load generator in its own process (asynchronously: the server under test lives in this one). */
async function load(port: number): Promise<LoadResult> {
  const { stdout } = await promisify(execFile)(process.execPath, ["bench/_echo-client.mjs", String(port), String(CLIENTS), String(LINES)], {
    encoding: "utf8",
  });
  return JSON.parse(stdout) as LoadResult;
}

function rawEchoServer(): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("data", (chunk) => socket.write(chunk));
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve({
        port: (server.address() as { port: number }).port,
        close: () => {
          for (const socket of sockets) socket.destroy();
          return new Promise((done) => server.close(() => done()));
        },
      }),
    ),
  );
}

function rawServer(): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    let buffer = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      buffer += chunk;
      let out = "";
      for (let i = buffer.indexOf("\n"); i >= 0; i = buffer.indexOf("\n")) {
        out += buffer.slice(0, i + 1);
        buffer = buffer.slice(i + 1);
      }
      if (out) socket.write(out);
    });
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve({
        port: (server.address() as { port: number }).port,
        close: () => {
          for (const socket of sockets) socket.destroy();
          return new Promise((done) => server.close(() => done()));
        },
      }),
    ),
  );
}

const results: { name: string; result: LoadResult }[] = [];

// corio: one task per connection, readLine + write.
{
  const ready = new Future<number>();
  const stop = new Future<void>();
  const server = run(function* () {
    const s = yield* startServer(function* (reader, writer) {
      for (;;) {
        const line = yield* reader.readLine();
        if (line.length === 0) return;
        writer.write(line);
        yield* writer.drain();
      }
    });
    ready.resolve(s.address.port);
    yield* stop;
    s.close();
    yield* s.waitClosed();
  });
  const port = await run(() => ready);
  await load(port); // warm-up
  results.push({ name: "corio readLine/write", result: await load(port) });
  stop.resolve();
  await server;
}

// Raw node:net with an indexOf line splitter (the floor).
{
  const raw = await rawServer();
  await load(raw.port);
  results.push({ name: "raw node:net + indexOf (floor)", result: await load(raw.port) });
  await raw.close();
}

// Python asyncio streams on uvloop (Debian's python3-uvloop), if present.
{
  const script = `
import asyncio, sys
try:
    import uvloop
except ImportError:
    print("no-uvloop", flush=True); sys.exit(0)
async def handle(reader, writer):
    while True:
        line = await reader.readline()
        if not line: break
        writer.write(line)
        await writer.drain()
    writer.close()
async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.sleep(3600)
uvloop.run(main()) if hasattr(uvloop, "run") else (uvloop.install(), asyncio.run(main()))
`;
  const python = spawnProcess("/usr/bin/python3", ["-c", script], { stdio: ["ignore", "pipe", "inherit"] });
  const [first] = (await once(python.stdout, "data")) as [Buffer];
  const answer = first.toString().trim();
  if (answer !== "no-uvloop") {
    const port = Number(answer);
    await load(port);
    results.push({ name: "Python asyncio streams + uvloop", result: await load(port) });
  } else console.log("(python3-uvloop is not installed: skipped)");
  python.kill();
}

const floor = results.find((r) => r.name.startsWith("raw"))?.result.linesPerSecond ?? Number.NaN;
printCase(
  `line echo, ${CLIENTS} concurrent clients (time per line, from lines/s)`,
  results.map(({ name, result }) => ({ name, value: 1e9 / result.linesPerSecond })),
  "raw node:net + indexOf (floor)",
  "corio ≥ 1.0x the raw server's throughput, ≥ 1.2x Python on uvloop",
);
for (const { name, result } of results) {
  console.log(
    `${name}: ${result.linesPerSecond.toFixed(0)} lines/s (${(result.linesPerSecond / floor).toFixed(2)}x of raw), p50 ${result.p50.toFixed(3)} ms, p99 ${result.p99.toFixed(3)} ms`,
  );
}

// Echo of 1 KiB and 100 KiB messages, 16 clients, corio vs raw node:net.
for (const size of [1024, 100 * 1024]) {
  const messages = size === 1024 ? 2000 : 200;
  const measure = async (port: number): Promise<number> => {
    const { stdout } = await promisify(execFile)(process.execPath, ["bench/_echo-client.mjs", String(port), "16", String(messages), String(size)], {
      encoding: "utf8",
    });
    return (JSON.parse(stdout) as LoadResult).linesPerSecond;
  };
  const ready = new Future<number>();
  const stop = new Future<void>();
  const server = run(function* () {
    const s = yield* startServer(function* (reader, writer) {
      for (;;) {
        const data = yield* reader.read(256 * 1024);
        if (data.length === 0) return;
        writer.write(data);
        yield* writer.drain();
      }
    });
    ready.resolve(s.address.port);
    yield* stop;
    s.close();
    yield* s.waitClosed();
  });
  const corioPort = await run(() => ready);
  await measure(corioPort);
  const corioRate = await measure(corioPort);
  stop.resolve();
  await server;
  const raw = await rawEchoServer();
  await measure(raw.port);
  const rawRate = await measure(raw.port);
  await raw.close();
  const mb = (rate: number): string => `${((rate * size) / 1e6).toFixed(1)} MB/s`;
  console.log(
    `\necho of ${size / 1024} KiB messages, 16 clients: corio ${mb(corioRate)}, raw node:net ${mb(rawRate)} (${(corioRate / rawRate).toFixed(2)}x of raw; goal ${size === 1024 ? "0.9x" : "0.95x"})`,
  );
}

// UDP echo, corio vs raw dgram.
{
  const { openDatagram } = await import("../src/net/index.ts");
  const { createSocket } = await import("node:dgram");
  const udpLoad = async (port: number): Promise<number> => {
    const { stdout } = await promisify(execFile)(process.execPath, ["bench/_udp-client.mjs", String(port), "20000"], { encoding: "utf8" });
    return Number(stdout.trim());
  };
  const ready = new Future<number>();
  const stop = new Future<void>();
  const server = run(function* () {
    const socket = yield* openDatagram({ bind: { host: "127.0.0.1", port: 0 } });
    ready.resolve(socket.address.port);
    const echo = yield* spawn(function* () {
      for (;;) {
        const { data, address, port } = yield* socket.receive();
        yield* socket.send(data, { host: address, port });
      }
    });
    yield* stop;
    echo.cancel();
  });
  const corioPort = await run(() => ready);
  await udpLoad(corioPort);
  const corioRate = await udpLoad(corioPort);
  stop.resolve();
  await server;
  const raw = createSocket("udp4");
  raw.on("message", (message, info) => raw.send(message, info.port, info.address));
  await new Promise<void>((resolve) => raw.bind(0, "127.0.0.1", resolve));
  await udpLoad(raw.address().port);
  const rawRate = await udpLoad(raw.address().port);
  raw.close();
  console.log(
    `\nUDP echo: corio ${corioRate.toFixed(0)} datagrams/s, raw dgram ${rawRate.toFixed(0)} datagrams/s (${(corioRate / rawRate).toFixed(2)}x of raw; goal 0.95x)`,
  );
}

// Memory per idle connection: N connections held open by a client process.
{
  const N = 10_000;
  const ready = new Future<number>();
  const stop = new Future<void>();
  const server = run(function* () {
    const s = yield* startServer(function* (reader) {
      yield* reader.read(); // idle until the client leaves
    });
    ready.resolve(s.address.port);
    yield* stop;
    s.close();
    yield* s.waitClosed();
  });
  const port = await run(() => ready);
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const before = process.memoryUsage();
  const client = spawnProcess(process.execPath, ["bench/_idle-client.mjs", String(port), String(N)], { stdio: ["pipe", "pipe", "inherit"] });
  await once(client.stdout, "data"); // "connected"
  await new Promise((resolve) => setTimeout(resolve, 500));
  gc?.();
  const after = process.memoryUsage();
  const heap = (after.heapUsed - before.heapUsed) / N;
  const rss = (after.rss - before.rss) / N;
  console.log(`\nmemory per idle connection (${N} connections): ${heap.toFixed(0)} B of JS heap, ${rss.toFixed(0)} B of RSS`);
  client.stdin.end();
  await once(client, "exit");
  stop.resolve();
  await server;
}
