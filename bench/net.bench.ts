// Issue 4 benchmarks: a line-echo server with 64 concurrent clients —
// corio (readLine/write) vs a raw node:net server splitting lines with
// indexOf vs Python asyncio streams on uvloop — and memory per idle
// connection. The load comes from a separate Node process (bench/_echo-client.mjs).
// The servers (this process, and Python's) run on core 0 and the load processes on
// core 1 where taskset exists (bench/_pin.ts; BENCH_PIN=0 turns it off).
// Run alone: npm run bench -- net (compiled; through tsx it measures tsx's transform too)
import { execFile, spawn as spawnProcess } from "node:child_process";
import { createSocket } from "node:dgram";
import { once } from "node:events";
import { createServer, type Socket } from "node:net";
import { promisify } from "node:util";
import { Future, type Operation, run, spawn } from "../src/index.ts";
import { type ConnectionHandler, openDatagram, startServer } from "../src/net/index.ts";
import { onCore, PIN_NOTE, pinThisProcess } from "./_pin.ts";
import { echoLinesRaw } from "./_raw-line-echo.ts";
import { interleavedRounds, median, printCase, roundRatios } from "./_report.ts";

pinThisProcess(0);
console.log(`(${PIN_NOTE})`);
const execFileAsync = promisify(execFile);

const CLIENTS = 64;
const LINES = 3000;

interface LoadResult {
  linesPerSecond: number;
  p50: number;
  p99: number;
}

/** Runs the load generator in its own process (asynchronously: the server under test lives in this one). */
async function load(port: number): Promise<LoadResult> {
  const { stdout } = await execFileAsync(...onCore(1, process.execPath, ["bench/_echo-client.mjs", String(port), String(CLIENTS), String(LINES)]), {
    encoding: "utf8",
  });
  return JSON.parse(stdout) as LoadResult;
}

function rawEchoServer(): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  // TCP_NODELAY, as corio's and asyncio's servers set it: the floor is the same socket without corio.
  const server = createServer({ noDelay: true }, (socket) => {
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
  // TCP_NODELAY, as corio's and asyncio's servers set it: the floor is the same socket without corio.
  const server = createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    echoLinesRaw(socket);
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

/** Rounds per case: every server is measured once per round, in turn (see interleavedRounds). */
const ROUNDS = Number(process.env["NET_ROUNDS"] ?? 5);

/** A corio server run by its own root task until `close` is called. */
async function corioServer(
  start: () => Operation<{ port: number; close: () => void; waitClosed?: () => Operation<void> }>,
): Promise<{ port: number; close: () => Promise<void> }> {
  const ready = new Future<number>();
  const stop = new Future<void>();
  const task = run(function* () {
    const server = yield* start();
    ready.resolve(server.port);
    yield* stop;
    server.close();
    if (server.waitClosed !== undefined) yield* server.waitClosed();
  });
  const port = await run(() => ready);
  return {
    port,
    close: async () => {
      stop.resolve();
      await task;
    },
  };
}

/** A corio TCP echo server whose connections run `handler`. */
function corioTcpServer(handler: ConnectionHandler): Promise<{ port: number; close: () => Promise<void> }> {
  return corioServer(function* () {
    const server = yield* startServer(handler);
    return { port: server.address.port, close: () => server.close(), waitClosed: () => server.waitClosed() };
  });
}

/** Prints a per-round ratio line: "name/reference: median (per round: …)". */
function printRatios(label: string, ratios: number[]): void {
  console.log(`${label}: ${median(ratios).toFixed(2)}x (per round: ${ratios.map((r) => r.toFixed(2)).join(", ")})`);
}

// Line echo: corio (one task per connection, readLine + write), raw node:net
// with an indexOf splitter (the floor), Python asyncio streams on uvloop.
{
  const corio = await corioTcpServer(function* (reader, writer) {
    for (;;) {
      const line = yield* reader.readLine();
      if (line.length === 0) return;
      writer.write(line);
      yield* writer.drain();
    }
  });
  const raw = await rawServer();
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
  const servers = [
    { name: "corio readLine/write", port: corio.port },
    { name: "raw node:net + indexOf (floor)", port: raw.port },
  ];
  if (answer !== "no-uvloop") servers.push({ name: "Python asyncio streams + uvloop", port: Number(answer) });
  else console.log("(python3-uvloop is not installed: skipped)");
  const runs = new Map<string, LoadResult[]>(servers.map(({ name }) => [name, []]));
  const rates = await interleavedRounds(
    ROUNDS,
    servers.map(({ name, port }) => ({
      name,
      measure: async () => {
        const result = await load(port);
        runs.get(name)?.push(result);
        return result.linesPerSecond;
      },
    })),
  );
  python.kill();
  await corio.close();
  await raw.close();
  const floorName = "raw node:net + indexOf (floor)";
  printCase(
    `line echo, ${CLIENTS} concurrent clients (time per line, from the median lines/s of ${ROUNDS} interleaved rounds)`,
    servers.map(({ name }) => ({ name, value: 1e9 / median(rates.get(name) as number[]) })),
    floorName,
    "corio ≥ 1.0x the raw server's throughput, ≥ 1.2x Python on uvloop",
  );
  for (const { name } of servers) {
    const samples = (runs.get(name) as LoadResult[]).slice(1); // the first was the warm-up
    console.log(
      `${name}: ${median(rates.get(name) as number[]).toFixed(0)} lines/s, p50 ${median(samples.map((r) => r.p50)).toFixed(3)} ms, p99 ${median(samples.map((r) => r.p99)).toFixed(3)} ms (medians)`,
    );
  }
  const corioRates = rates.get("corio readLine/write") as number[];
  printRatios("corio / raw, same round", roundRatios(corioRates, rates.get(floorName) as number[]));
  const uvloop = rates.get("Python asyncio streams + uvloop");
  if (uvloop !== undefined) printRatios("corio / Python on uvloop, same round", roundRatios(corioRates, uvloop));
}

// Echo of 1 KiB and 100 KiB messages, 16 clients, corio vs raw node:net.
for (const size of [1024, 100 * 1024]) {
  const messages = size === 1024 ? 2000 : 200;
  const measure = async (port: number): Promise<number> => {
    const { stdout } = await execFileAsync(...onCore(1, process.execPath, ["bench/_echo-client.mjs", String(port), "16", String(messages), String(size)]), {
      encoding: "utf8",
    });
    return (JSON.parse(stdout) as LoadResult).linesPerSecond;
  };
  const corio = await corioTcpServer(function* (reader, writer) {
    for (;;) {
      const data = yield* reader.read(256 * 1024);
      if (data.length === 0) return;
      writer.write(data);
      yield* writer.drain();
    }
  });
  const raw = await rawEchoServer();
  const rates = await interleavedRounds(ROUNDS, [
    { name: "corio", measure: () => measure(corio.port) },
    { name: "raw", measure: () => measure(raw.port) },
  ]);
  await corio.close();
  await raw.close();
  const mb = (rate: number): string => `${((rate * size) / 1e6).toFixed(1)} MB/s`;
  const corioRates = rates.get("corio") as number[];
  const rawRates = rates.get("raw") as number[];
  console.log(
    `\necho of ${size / 1024} KiB messages, 16 clients, medians of ${ROUNDS} interleaved rounds: corio ${mb(median(corioRates))}, raw node:net ${mb(median(rawRates))} (goal ${size === 1024 ? "0.9x" : "0.95x"} of raw)`,
  );
  printRatios("corio / raw, same round", roundRatios(corioRates, rawRates));
}

// UDP echo, corio vs raw dgram: corio's echo answers with `sendNowait` (as the raw
// server's `send` without a callback does), and once more with `send`, which waits
// for the OS to report each datagram sent (one more task switch per datagram).
{
  const udpLoad = async (port: number): Promise<number> => {
    const { stdout } = await execFileAsync(...onCore(1, process.execPath, ["bench/_udp-client.mjs", String(port), "20000"]), { encoding: "utf8" });
    return Number(stdout.trim());
  };
  const corioEcho = (waitForEachSend: boolean) =>
    corioServer(function* () {
      const socket = yield* openDatagram({ bind: { host: "127.0.0.1", port: 0 } });
      const echo = yield* spawn(function* () {
        for (;;) {
          const { data, address, port } = yield* socket.receive();
          if (waitForEachSend) yield* socket.send(data, { host: address, port });
          else socket.sendNowait(data, { host: address, port });
        }
      });
      return {
        port: socket.address.port,
        close: () => {
          echo.cancel();
          socket.close();
        },
      };
    });
  const corio = await corioEcho(false);
  const corioSend = await corioEcho(true);
  const raw = createSocket("udp4");
  raw.on("message", (message, info) => raw.send(message, info.port, info.address));
  await new Promise<void>((resolve) => raw.bind(0, "127.0.0.1", resolve));
  const rawPort = raw.address().port;
  const rates = await interleavedRounds(ROUNDS, [
    { name: "corio", measure: () => udpLoad(corio.port) },
    { name: "corio send", measure: () => udpLoad(corioSend.port) },
    { name: "raw", measure: () => udpLoad(rawPort) },
  ]);
  await corio.close();
  await corioSend.close();
  raw.close();
  const corioRates = rates.get("corio") as number[];
  const sendRates = rates.get("corio send") as number[];
  const rawRates = rates.get("raw") as number[];
  console.log(
    `\nUDP echo, medians of ${ROUNDS} interleaved rounds: corio with sendNowait ${median(corioRates).toFixed(0)} datagrams/s, with send ${median(sendRates).toFixed(0)}, raw dgram ${median(rawRates).toFixed(0)} datagrams/s (goal 0.95x of raw)`,
  );
  printRatios("corio (sendNowait) / raw, same round", roundRatios(corioRates, rawRates));
  printRatios("corio (send) / raw, same round", roundRatios(sendRates, rawRates));
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
