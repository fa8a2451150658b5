// Issue 15 benchmark: HTTP hello served from 1 and 2 worker processes (`serveHttp` with
// `workers`), against raw node:http on node:cluster with the same number of workers,
// loaded by wrk (Debian's /usr/bin/wrk). Interleaved rounds, medians. This machine has 2
// cores shared by wrk and the servers: read the ratios, not the absolute figures.
// Run alone: npm run bench -- cluster (compiled; through tsx it measures tsx's transform too)
import { type ChildProcessByStdio, execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";
import { promisify } from "node:util";
import { buildBenches } from "./_build.ts";
import { median } from "./_report.ts";

const WRK = "/usr/bin/wrk";
const SECONDS = 4;
const ROUNDS = 3;
const run = promisify(execFile);
type Child = ChildProcessByStdio<Writable, Readable, null>;

if (!existsSync(WRK)) {
  console.log(`cluster.bench: ${WRK} is missing (bash scripts/install-system-deps.sh installs it); skipped`);
  process.exit(0);
}

async function start(args: string[]): Promise<{ child: Child; port: number }> {
  const child = spawn(process.execPath, args, { stdio: ["pipe", "pipe", "inherit"] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      const line = chunk.split("\n").find((l) => /^\d+$/.test(l));
      if (line !== undefined) resolve(Number(line));
    });
    child.once("exit", () => reject(new Error(`${args.join(" ")} exited before listening`)));
  });
  return { child, port };
}

async function stop(child: Child): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.stdin.end();
  const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
  await exited;
  clearTimeout(timer);
}

async function wrk(port: number, seconds = SECONDS): Promise<{ rps: number; p99: number }> {
  const { stdout } = await run(WRK, ["-t1", "-c100", `-d${seconds}s`, "--latency", `http://127.0.0.1:${port}/`], { encoding: "utf8" });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1]);
  const p99 = /^\s*99%\s+([\d.]+)(us|ms|s)\s*$/m.exec(stdout);
  const unit = p99?.[2] === "us" ? 1e-3 : p99?.[2] === "s" ? 1e3 : 1;
  return { rps, p99: Number(p99?.[1]) * unit };
}

// corio's server runs compiled, as the package does (bench/_build.ts; run.ts builds once).
const corioServer = join(process.env["CORIO_BENCH_BUILD"] || buildBenches(), "bench/_http-hello-corio-workers.js");
const servers = [
  { name: "node:http cluster, 1 worker", args: ["bench/_http-hello-node-cluster.mjs", "1"] },
  { name: "node:http cluster, 2 workers", args: ["bench/_http-hello-node-cluster.mjs", "2"] },
  { name: "corio serveHttp, workers: 1", args: [corioServer, "1"] },
  { name: "corio serveHttp, workers: 2", args: [corioServer, "2"] },
];
const results = new Map<string, { rps: number[]; p99: number[] }>(servers.map((s) => [s.name, { rps: [], p99: [] }]));
const started: { name: string; child: Child; port: number }[] = [];
try {
  for (const server of servers) started.push({ name: server.name, ...(await start(server.args)) });
  for (const server of started) await wrk(server.port, 2); // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    for (const server of started) {
      const load = await wrk(server.port);
      results.get(server.name)?.rps.push(load.rps);
      results.get(server.name)?.p99.push(load.p99);
    }
  }
} finally {
  for (const server of started) await stop(server.child);
}
const floor = median(results.get("node:http cluster, 2 workers")?.rps ?? []);
const one = median(results.get("corio serveHttp, workers: 1")?.rps ?? []);
console.log(`\n## HTTP hello from worker processes (wrk -t1 -c100, ${SECONDS} s, median of ${ROUNDS}, interleaved)`);
console.log("| server | req/s | ratio to node:http cluster, 2 workers | ratio to corio workers: 1 | p99 |\n| --- | --- | --- | --- | --- |");
for (const [name, { rps, p99 }] of results) {
  const value = median(rps);
  console.log(`| ${name} | ${value.toFixed(0)} | ${(value / floor).toFixed(2)}x | ${(value / one).toFixed(2)}x | ${median(p99).toFixed(2)} ms |`);
}
