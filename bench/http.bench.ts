// Issue 5 benchmarks: HTTP hello world with keep-alive and 100 connections —
// corio `serveHttp` vs raw `node:http` (the floor) vs fastify — loaded by `wrk`
// (Debian's /usr/bin/wrk) and by autocannon; and SSE fan-out to 1,000
// subscribers, corio `EventSource` vs a raw node:http fan-out (the floor).
// Every server runs in its own child process (bench/_http-*.{ts,mjs}); the
// load generators are processes too. The servers run on core 0 and wrk and
// autocannon on core 1 where taskset exists (bench/_pin.ts; BENCH_PIN=0 turns
// it off). Servers are interleaved and measured ROUNDS times; the tables give
// medians and the median of the ratios measured in the same round. The host
// this was written on drifts by up to 1.5x within seconds, pinned or not, so
// many short rounds tell more than a few long ones.
//
// corio's servers run compiled (bench/_build.ts; run.ts builds once and says
// where in CORIO_BENCH_BUILD), as the package runs: through tsx, esbuild's
// transform wraps every named closure in `__name(...)` (an
// Object.defineProperty per closure made), a cost per request that the
// published JavaScript does not have.
//
// Run alone: npm run bench -- http (compiled; through tsx it measures tsx's transform too)
// Environment: HTTP_BENCH_ROUNDS (default 7), HTTP_BENCH_SECONDS (per load
// run, default 4), HTTP_BENCH_SKIP=hello|sse, HTTP_BENCH_PROFILE=1 (runs
// the corio hello server with --cpu-prof into bench/results/http-profile/
// and prints its top self-time functions, and every hello server with
// --trace-gc-nvp and prints bytes allocated and promoted per request).
import { type ChildProcessByStdio, execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";
import { promisify } from "node:util";
import { buildBenches } from "./_build.ts";
import { onCore, PIN, PIN_NOTE } from "./_pin.ts";

const { HTTP_BENCH_ROUNDS, HTTP_BENCH_SECONDS, HTTP_BENCH_SKIP, HTTP_BENCH_PROFILE } = process.env;
const ROUNDS = Number(HTTP_BENCH_ROUNDS ?? 7);
const SECONDS = Number(HTTP_BENCH_SECONDS ?? 4);
const SKIP = HTTP_BENCH_SKIP ?? "";
const PROFILE = HTTP_BENCH_PROFILE === "1";
const PROFILE_DIR = "bench/results/http-profile";
const CONNECTIONS = 100;
const SUBSCRIBERS = 1000;
const MESSAGES = 1000;
const BATCH = 10;
const WRK = "/usr/bin/wrk";
const GOAL = 0.92;

const run = promisify(execFile);
type Child = ChildProcessByStdio<Writable, Readable, null>;
const children: Child[] = [];

/** Starts a server process; resolves with its port (the first line it prints that is a number) and what it prints (GC traces). */
async function startServer(args: string[], core?: number): Promise<{ child: Child; port: number; output: string[] }> {
  // taskset execs the server, so the child's pid is the server's (its /proc CPU times are read by pid).
  const [command, commandArgs] = core === undefined ? [process.execPath, args] : onCore(core, process.execPath, args);
  const child = spawn(command, commandArgs, { stdio: ["pipe", "pipe", "inherit"] });
  children.push(child);
  const output: string[] = [];
  let pending = "";
  const port = new Promise<number>((resolve, reject) => {
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      const lines = (pending + chunk).split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) {
        output.push(line);
        if (/^\d+$/.test(line)) resolve(Number(line));
      }
    });
    child.once("exit", () => reject(new Error(`${args.join(" ")} exited before listening`)));
  });
  return { child, port: await port, output };
}

/** Stops a server: closes its stdin (it exits by itself, writing its profile if any), or kills it after 10 s. */
async function stopServer(child: Child): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.stdin.end();
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

interface Load {
  rps: number;
  requests: number;
  p99: number; // ms
  errors: number;
  /** CPU time the server process used per request (µs, every thread: user + system), or NaN where /proc is missing. */
  cpuPerRequest: number;
}

/** CPU seconds a process has used (user + system, all threads), from /proc/<pid>/stat; NaN where there is no /proc. */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}
/** The kernel's clock ticks per second for /proc times (USER_HZ: 100 on Linux). */
const CLOCK_TICKS = 100;

/**
 * Runs `load` against a server and adds the server's CPU time per request:
 * on a shared machine requests/s moves with whatever else runs, while the CPU
 * a request costs the server moves much less.
 */
async function measured(pid: number, load: () => Promise<Omit<Load, "cpuPerRequest">>): Promise<Load> {
  const before = cpuSeconds(pid);
  const result = await load();
  return { ...result, cpuPerRequest: ((cpuSeconds(pid) - before) * 1e6) / result.requests };
}

/** `wrk -t1 -c100 -dNs --latency`: Requests/sec and the 99% line of the latency distribution. */
async function wrk(port: number, seconds = SECONDS): Promise<Omit<Load, "cpuPerRequest">> {
  const { stdout } = await run(...onCore(1, WRK, ["-t1", `-c${CONNECTIONS}`, `-d${seconds}s`, "--latency", `http://127.0.0.1:${port}/`]), { encoding: "utf8" });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1]);
  const p99 = /^\s*99%\s+([\d.]+)(us|ms|s)\s*$/m.exec(stdout);
  const unit = p99?.[2] === "us" ? 1e-3 : p99?.[2] === "s" ? 1e3 : 1;
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0);
  return {
    rps,
    requests: Number(/(\d+) requests in/.exec(stdout)?.[1]),
    p99: Number(p99?.[1]) * unit,
    errors: non2xx + (errors ? errors.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0),
  };
}

/** autocannon -c 100 -d N --json, in its own process: average req/s and p99. */
async function autocannon(port: number): Promise<Omit<Load, "cpuPerRequest">> {
  const { stdout } = await run(
    ...onCore(1, process.execPath, [
      "node_modules/autocannon/autocannon.js",
      "-c",
      String(CONNECTIONS),
      "-d",
      String(SECONDS),
      "-j",
      `http://127.0.0.1:${port}/`,
    ]),
    { encoding: "utf8", maxBuffer: 16 * 1024 * 1024 },
  );
  const result = JSON.parse(stdout) as {
    requests: { average: number; total: number };
    latency: { p99: number };
    errors: number;
    non2xx: number;
    timeouts: number;
  };
  return { rps: result.requests.average, requests: result.requests.total, p99: result.latency.p99, errors: result.errors + result.non2xx + result.timeouts };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

const k = (rps: number): string => `${(rps / 1000).toFixed(1)}k`;
const range = (values: number[], format: (n: number) => string): string =>
  values.length > 1 ? `${format(Math.min(...values))}–${format(Math.max(...values))}` : format(values[0] as number);

/** Self time per function from a .cpuprofile (V8's format), top `count`, plus totals per origin. */
function summarizeProfile(file: string, count = 25): void {
  interface ProfileNode {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    hitCount?: number;
  }
  const profile = JSON.parse(readFileSync(file, "utf8")) as { nodes: ProfileNode[]; startTime: number; endTime: number; samples: number[] };
  const msPerSample = (profile.endTime - profile.startTime) / 1000 / profile.samples.length;
  const byFunction = new Map<string, number>();
  const byOrigin = new Map<string, number>();
  let total = 0;
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    if (hits === 0) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === "(idle)") continue;
    total += hits;
    const file = url.replace(/^file:\/\/.*?\/(src|bench|node_modules)\//, "$1/");
    const key = url === "" ? functionName : `${functionName || "(anonymous)"} ${file}:${lineNumber + 1}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + hits);
    const origin =
      url === ""
        ? functionName.startsWith("(")
          ? functionName
          : "native (V8 builtins, C++)"
        : url.startsWith("node:")
          ? "node: internals (http, net, streams)"
          : url.includes("/src/")
            ? `corio ${file}`
            : file;
    byOrigin.set(origin, (byOrigin.get(origin) ?? 0) + hits);
  }
  const show = (title: string, map: Map<string, number>, limit: number): void => {
    console.log(`\n${title}`);
    for (const [key, hits] of [...map].sort((a, b) => b[1] - a[1]).slice(0, limit)) {
      console.log(`  ${((100 * hits) / total).toFixed(1).padStart(5)}%  ${(hits * msPerSample).toFixed(0).padStart(6)} ms  ${key}`);
    }
  };
  console.log(`\nprofile ${file}: ${(total * msPerSample).toFixed(0)} ms of non-idle samples`);
  show(`top ${count} functions by self time (share of non-idle time)`, byFunction, count);
  show("self time by origin", byOrigin, 20);
}

/** Scavenges, pauses, and bytes allocated and promoted to the old generation per request, from --trace-gc-nvp lines. */
function summarizeGc(name: string, output: string[], loads: (Load | null)[]): void {
  const requests = loads.reduce((sum, load) => sum + (load?.requests ?? 0), 0);
  let scavenges = 0;
  let majors = 0;
  let pause = 0;
  let allocated = 0;
  let promoted = 0;
  for (const line of output) {
    const field = (key: string): number => Number(new RegExp(`\\b${key}=([\\d.]+)`).exec(line)?.[1] ?? 0);
    const kind = /\bgc=(\w+)/.exec(line)?.[1];
    if (kind === undefined) continue;
    if (kind === "s") {
      scavenges++;
      allocated += field("allocated");
      promoted += field("promoted");
    } else majors++;
    pause += field("pause");
  }
  console.log(
    `  ${name}: ${scavenges} scavenges + ${majors} full GCs, ${pause.toFixed(0)} ms of pauses (${(pause / Math.max(1, scavenges + majors)).toFixed(2)} ms per GC on average); per request ${(allocated / requests).toFixed(0)} B allocated, ${(promoted / requests).toFixed(0)} B promoted`,
  );
}

const build = process.env["CORIO_BENCH_BUILD"] || buildBenches();

try {
  // ---- HTTP hello world ----
  if (SKIP !== "hello") {
    const hasWrk = existsSync(WRK);
    if (!hasWrk) console.log(`(${WRK} is missing — apt-get install wrk — the wrk column is skipped)`);
    if (PROFILE) mkdirSync(PROFILE_DIR, { recursive: true });
    const profileStart = Date.now();
    // Profiling: every server traces its GCs (--trace-gc-nvp, on stdout), and corio's writes a .cpuprofile.
    const gc = PROFILE ? ["--trace-gc-nvp"] : [];
    const servers = [
      { name: "raw node:http (floor)", args: [...gc, "bench/_http-hello-node.mjs"] },
      {
        name: "corio serveHttp",
        args: [...gc, ...(PROFILE ? ["--cpu-prof", `--cpu-prof-dir=${PROFILE_DIR}`] : []), join(build, "bench/_http-hello-corio.js")],
      },
      { name: "fastify", args: [...gc, "bench/_http-hello-fastify.mjs"] },
    ];
    const started: { name: string; child: Child; port: number; output: string[]; wrk: Load[]; autocannon: Load[]; warmup: Load | null }[] = [];
    for (const server of servers) started.push({ ...server, ...(await startServer(server.args, 0)), wrk: [], autocannon: [], warmup: null });
    // Warm-up: 3 s of wrk (or autocannon) on each, so the JITs have settled.
    for (const server of started) server.warmup = await measured(server.child.pid as number, () => (hasWrk ? wrk(server.port, 3) : autocannon(server.port)));
    console.log(`HTTP hello world, keep-alive, ${CONNECTIONS} connections, ${SECONDS} s per load run, ${ROUNDS} rounds (servers interleaved; ${PIN_NOTE})`);
    for (let round = 0; round < ROUNDS; round++) {
      // Rotate the order each round so no server always runs first.
      const order = started.map((_, i) => started[(i + round) % started.length] as (typeof started)[number]);
      for (const server of order) {
        const pid = server.child.pid as number;
        if (hasWrk) server.wrk.push(await measured(pid, () => wrk(server.port)));
        server.autocannon.push(await measured(pid, () => autocannon(server.port)));
        const w = server.wrk.at(-1);
        const a = server.autocannon.at(-1) as Load;
        console.log(
          `round ${round + 1} ${server.name}: ${w ? `wrk ${k(w.rps)} req/s p99 ${w.p99.toFixed(2)} ms cpu ${w.cpuPerRequest.toFixed(1)} µs/req${w.errors ? ` (${w.errors} errors)` : ""}; ` : ""}autocannon ${k(a.rps)} req/s p99 ${a.p99.toFixed(2)} ms cpu ${a.cpuPerRequest.toFixed(1)} µs/req${a.errors ? ` (${a.errors} errors)` : ""}`,
        );
      }
    }
    for (const server of started) await stopServer(server.child);

    const floor = started[0] as (typeof started)[number];
    const lines = [
      `\n## HTTP hello world, keep-alive, ${CONNECTIONS} connections (medians of ${ROUNDS} rounds; ratio = median of same-round ratios to raw node:http)`,
      `goal: corio ≥ ${GOAL}x of raw node:http; p99 reported for all`,
      "| server | wrk req/s | wrk ratio | wrk p99 | wrk server CPU/req | autocannon req/s | autocannon ratio | autocannon p99 | autocannon server CPU/req |",
      "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ];
    const ratios = (server: (typeof started)[number], tool: "wrk" | "autocannon"): number[] =>
      server[tool].map((load, i) => load.rps / (floor[tool][i] as Load).rps);
    // Below 1 is cheaper than node:http: the floor's CPU per request over the server's, so it reads like the req/s ratio.
    const cpuRatios = (server: (typeof started)[number], tool: "wrk" | "autocannon"): number[] =>
      server[tool].map((load, i) => (floor[tool][i] as Load).cpuPerRequest / load.cpuPerRequest);
    for (const server of started) {
      const cells = (tool: "wrk" | "autocannon"): string =>
        server[tool].length === 0
          ? "— | — | — | —"
          : `${k(median(server[tool].map((l) => l.rps)))} (${range(
              server[tool].map((l) => l.rps),
              k,
            )}) | ${median(ratios(server, tool)).toFixed(2)}x | ${median(server[tool].map((l) => l.p99)).toFixed(2)} ms | ${median(
              server[tool].map((l) => l.cpuPerRequest),
            ).toFixed(1)} µs (${median(cpuRatios(server, tool)).toFixed(2)}x)`;
      lines.push(`| ${server.name} | ${cells("wrk")} | ${cells("autocannon")} |`);
    }
    console.log(lines.join("\n"));
    const corio = started[1] as (typeof started)[number];
    for (const tool of ["wrk", "autocannon"] as const) {
      if (corio[tool].length === 0) continue;
      const ratio = median(ratios(corio, tool));
      console.log(
        `${tool}: corio/node:http ${ratio.toFixed(2)}x (per round: ${ratios(corio, tool)
          .map((r) => r.toFixed(2))
          .join(", ")}) — goal ${GOAL}x ${ratio >= GOAL ? "met" : "missed"}; fastify/node:http ${median(ratios(started[2] as typeof corio, tool)).toFixed(2)}x`,
      );
      // On a shared machine the best round is each server's capacity with the least interference.
      const best = (server: (typeof started)[number]): number => Math.max(...server[tool].map((l) => l.rps));
      console.log(
        `${tool}: best round corio/node:http ${(best(corio) / best(floor)).toFixed(2)}x (${k(best(corio))} / ${k(best(floor))} req/s); fastify/node:http ${(best(started[2] as typeof corio) / best(floor)).toFixed(2)}x`,
      );
      console.log(
        `${tool}: server CPU per request, node:http/corio ${median(cpuRatios(corio, tool)).toFixed(2)}x (per round: ${cpuRatios(corio, tool)
          .map((r) => r.toFixed(2))
          .join(", ")}); node:http/fastify ${median(cpuRatios(started[2] as typeof corio, tool)).toFixed(2)}x`,
      );
    }
    console.log(
      `(${PIN ? "the server under test has core 0 to itself, wrk and autocannon run on core 1" : "wrk and autocannon run on the same cores as the server under test"}; CPU/req is the server process's user + system time over its requests, from /proc, and its ratio is node:http's over the server's: above 1 is cheaper than node:http)`,
    );
    if (PROFILE) {
      const profiles = readdirSync(PROFILE_DIR)
        .filter((file) => /\.0\.\d+\.cpuprofile$/.test(file)) // thread 0: the main thread
        .map((file) => join(PROFILE_DIR, file))
        .filter((file) => statSync(file).mtimeMs >= profileStart)
        .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
      if (profiles[0] === undefined) console.log("(no .cpuprofile was written)");
      else summarizeProfile(profiles[0]);
      console.log("\nGC while serving (from --trace-gc-nvp; per request = over every request of the warm-up and the rounds)");
      for (const server of started) summarizeGc(server.name, server.output, [server.warmup, ...server.wrk, ...server.autocannon]);
    }
  }

  // ---- SSE fan-out ----
  if (SKIP !== "sse") {
    const servers = [
      { name: "raw node:http fan-out (floor)", args: ["bench/_http-sse-node.mjs"] },
      { name: "corio EventSource", args: [join(build, "bench/_http-sse-corio.js")] },
    ];
    interface FanOut {
      delivered: number;
      expected: number;
      complete: number;
      closedEarly: number;
      seconds: number;
      deliveriesPerSecond: number;
      server: { droppedSlow: number; paused: number };
    }
    const fanOut = async (port: number, messages: number): Promise<FanOut> => {
      const { stdout } = await run(process.execPath, ["bench/_http-sse-client.mjs", String(port), String(SUBSCRIBERS), String(messages), String(BATCH)], {
        encoding: "utf8",
      });
      return JSON.parse(stdout) as FanOut;
    };
    const started: { name: string; child: Child; port: number; output: string[]; results: FanOut[] }[] = [];
    for (const server of servers) started.push({ ...server, ...(await startServer(server.args)), results: [] });
    for (const server of started) await fanOut(server.port, 200); // warm-up
    console.log(
      `\nSSE fan-out: ${SUBSCRIBERS} subscribers (one client process, raw sockets), ${MESSAGES} broadcasts of ~80-byte events, ${BATCH} per loop turn, ${ROUNDS} rounds`,
    );
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? started : [...started].reverse();
      for (const server of order) {
        const result = await fanOut(server.port, MESSAGES);
        server.results.push(result);
        console.log(
          `round ${round + 1} ${server.name}: ${k(result.deliveriesPerSecond)} deliveries/s (${result.delivered}/${result.expected} in ${result.seconds.toFixed(2)} s; ${result.complete} subscribers got all, ${result.closedEarly} closed early, ${result.server.droppedSlow} dropped as slow, ${result.server.paused} pacing waits)`,
        );
      }
    }
    for (const server of started) await stopServer(server.child);
    const floor = started[0] as (typeof started)[number];
    const lines = [
      `\n## SSE fan-out, ${SUBSCRIBERS} subscribers × ${MESSAGES} messages (medians of ${ROUNDS} rounds; ratio = median of same-round ratios)`,
      "| server | deliveries/s | messages/s (broadcasts) | ratio to floor | every subscriber got every message? |",
      "| --- | --- | --- | --- | --- |",
    ];
    for (const server of started) {
      const rates = server.results.map((r) => r.deliveriesPerSecond);
      const ratio = median(server.results.map((r, i) => r.deliveriesPerSecond / (floor.results[i] as FanOut).deliveriesPerSecond));
      const missing = server.results.reduce((sum, r) => sum + (r.expected - r.delivered), 0);
      const dropped = server.results.reduce((sum, r) => sum + r.server.droppedSlow, 0);
      lines.push(
        `| ${server.name} | ${k(median(rates))} (${range(rates, k)}) | ${(median(rates) / SUBSCRIBERS).toFixed(0)} | ${ratio.toFixed(2)}x | ${missing === 0 ? "yes" : `no: ${missing} deliveries missing, ${dropped} subscribers dropped as slow`} |`,
      );
    }
    console.log(lines.join("\n"));
  }
} finally {
  await Promise.all(children.map((child) => stopServer(child).catch(() => child.kill("SIGKILL"))));
}
