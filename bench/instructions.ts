// `npm run bench:instructions [-- case ...] [-- --base <git ref>] [-- --repeat k]`: counts the
// instructions each case costs per operation, with valgrind's callgrind, for this tree and
// optionally for another commit, side by side. On this shared machine timings move by ±30%
// between runs and cannot tell a 3% change; an instruction count moves by well under 1% for
// the operation cases, so it is how nanosecond changes are judged here (bench/RESULTS.md,
// "An instruction count for nanosecond A/Bs").
//
// How: each case runs in a node process under callgrind, with V8's randomness pinned
// (`--random-seed`, `--hash-seed`, `--predictable-gc-schedule`, one thread); the process runs n
// operations as a warm-up, then n more. The count per operation is the difference between a
// process of n and one of 2n, divided by 2n: start-up, compilation and the warm-up cancel out.
// The line echo (and the same through `framing: line`, `line-echo-messages`; net.bench.ts's raw
// node:net floor, `line-echo-raw`) counts the server process only: 16 clients (bench/_echo-client.mjs, outside
// valgrind) send a warm-up of 1,000 lines each, then L lines; the same difference over L and 2L.
// Its runs still differ by a few hundred instructions per line (a GC or a late compile lands in
// one run and not the other): compare it over several `--repeat`s, or by function in the
// callgrind files that are kept in bench/results/instructions/.
// `http-hello` counts corio's hello-world HTTP server process per request (http.bench.ts's
// server), `http-hello-node` the same on raw `node:http` (the floor): 16 keep-alive clients
// (bench/_http-client.mjs, outside valgrind) send a warm-up of 500 requests each, then R; the
// same difference over R and 2R. Their ratio is the server's CPU per request without the
// load generator sharing the cores. `http-hello-path` is corio's server reading `request.path`.
// These move by up to ±8% between runs of one build (how many requests a read brings, and so
// how many a turn answers together, depends on timing; one client was worse, ±10%, its count
// dominated by the loop's turns): compare medians of `--repeat 3` or more.
// The thread-pool cases count both threads (valgrind runs them one at a time): `thread-round-trip`
// is one call at a time to a pool of one worker, `thread-batch-64` calls 64 at once.
//
// Needs valgrind and setarch (Debian: `apt-get install valgrind util-linux`). Takes a few
// minutes per case and build.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { buildBenches } from "./_build.ts";

/** The cases of bench/_instructions-case.ts, with the operations per run (n). */
const CASES: Record<string, number> = {
  "ping-pong": 100_000,
  "spawn-join": 50_000,
  "scope-one": 50_000,
  "cancel-tree": 10_000,
  "lock-uncontended": 200_000,
  "lock-8-contenders": 100_000,
  "semaphore-8-of-64": 100_000,
  "queue-16": 100_000,
  "thread-round-trip": 10_000,
  "thread-batch-64": 64_000,
  "line-echo": 500,
  "line-echo-messages": 500,
  "line-echo-raw": 500,
  "http-hello": 250,
  "http-hello-node": 250,
  "http-hello-path": 250,
};
const ECHO_CLIENTS = 16;
const ECHO_WARM_UP = 1000;
const HTTP_CLIENTS = 16;
const HTTP_WARM_UP = 500;
const OUT = resolve("bench/results/instructions");

const args = process.argv.slice(2);
function option(name: string): string | undefined {
  const at = args.indexOf(name);
  if (at < 0) return undefined;
  const [, value] = args.splice(at, 2);
  if (value === undefined) throw new Error(`${name} needs a value`);
  return value;
}
const base = option("--base");
const repeat = Number(option("--repeat") ?? 1);
const names = args.length > 0 ? args : Object.keys(CASES);
for (const name of names) if (!(name in CASES)) throw new Error(`unknown case ${name}; the cases: ${Object.keys(CASES).join(", ")}`);
for (const tool of ["valgrind", "setarch"]) {
  if (spawnSync(tool, ["--version"]).error !== undefined) {
    console.error(`${tool} is not installed (Debian: apt-get install valgrind util-linux)`);
    process.exit(2);
  }
}

mkdirSync(OUT, { recursive: true });
const treeBuild = buildBenches();
const builds: [label: string, dir: string][] = [["this tree", treeBuild]];
if (base !== undefined) builds.push([base, buildBase(base)]);

/** Builds src/ of `ref` beside this tree's case file, so the same cases run on that commit's corio. */
function buildBase(ref: string): string {
  const dir = join(OUT, "base");
  rmSync(dir, { recursive: true, force: true });
  const tree = join(dir, "tree");
  mkdirSync(tree, { recursive: true });
  execFileSync("sh", ["-c", `git archive ${JSON.stringify(ref)} src package.json tsconfig.json tsconfig.build.json | tar -x -C ${JSON.stringify(tree)}`], {
    stdio: "inherit",
  });
  symlinkSync(resolve("node_modules"), join(tree, "node_modules"));
  // Built as this tree is (buildBenches): joined by this tree's scripts/build.mjs, so both sides have one layout.
  execFileSync(process.execPath, ["scripts/build.mjs", "--root", tree, "--outdir", join(dir, "src"), "--no-types", "--allow-renames"], { stdio: "inherit" });
  mkdirSync(join(dir, "bench"));
  writeFileSync(join(dir, "bench", "_instructions-case.js"), readFileSync(join(treeBuild, "bench", "_instructions-case.js")));
  writeFileSync(join(dir, "package.json"), '{ "type": "module" }\n');
  return dir;
}

const VALGRIND = ["-R", "valgrind", "--tool=callgrind", "--smc-check=all-non-file"];
const NODE = ["--single-threaded", "--random-seed=1", "--hash-seed=1", "--predictable-gc-schedule"];

/** Runs `node <args>` under callgrind; gives the instructions it counted. */
async function count(file: string, nodeArgs: string[], whileRunning?: () => Promise<void>): Promise<number> {
  const child = spawn("setarch", [...VALGRIND, `--callgrind-out-file=${file}`, process.execPath, ...NODE, ...nodeArgs], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<number | null>((done) => child.once("exit", done));
  if (whileRunning !== undefined) await whileRunning();
  const code = await exited;
  const collected = /Collected : (\d+)/.exec(stderr);
  if (code !== 0 || collected === null) throw new Error(`${nodeArgs.join(" ")} failed under valgrind (exit ${code}):\n${stderr.slice(-2000)}`);
  return Number(collected[1]);
}

/** Instructions per operation of one case on one build. */
async function perOp(name: string, dir: string, tag: string): Promise<number> {
  const n = CASES[name] as number;
  const script = join(dir, "bench", "_instructions-case.js");
  if (name.startsWith("http-hello")) {
    const serve = (requests: number): Promise<number> =>
      countServer(tag, `${name}.${requests}`, [script, name.replace("hello", "server")], (port) => {
        const client = join(treeBuild, "bench", "_http-client.mjs");
        execFileSync(process.execPath, [client, port, String(HTTP_CLIENTS), String(HTTP_WARM_UP)], { stdio: "ignore" });
        execFileSync(process.execPath, [client, port, String(HTTP_CLIENTS), String(requests), "exit"], { stdio: "ignore" });
      });
    const once = await serve(n);
    const twice = await serve(2 * n);
    return (twice - once) / (HTTP_CLIENTS * n);
  }
  if (!name.startsWith("line-echo")) {
    const once = await count(join(OUT, `${tag}.${name}.${n}`), [script, name, String(n)]);
    const twice = await count(join(OUT, `${tag}.${name}.${2 * n}`), [script, name, String(2 * n)]);
    return (twice - once) / (2 * n);
  }
  const echo = (lines: number): Promise<number> =>
    countServer(tag, `${name}.${lines}`, [script, name.replace("line-echo", "echo-server"), String(ECHO_CLIENTS)], (port) => {
      const client = join(treeBuild, "bench", "_echo-client.mjs");
      for (const each of [ECHO_WARM_UP, lines]) execFileSync(process.execPath, [client, port, String(ECHO_CLIENTS), String(each)], { stdio: "ignore" });
    });
  const once = await echo(n);
  const twice = await echo(2 * n);
  return (twice - once) / (ECHO_CLIENTS * n);
}

/**
 * Counts a server process (`serverArgs`, then the file it writes its port to) while `load` runs
 * clients against it from outside valgrind; the server exits once the load is over.
 */
function countServer(tag: string, label: string, serverArgs: string[], load: (port: string) => void): Promise<number> {
  const portFile = join(OUT, `${tag}.port`);
  rmSync(portFile, { force: true });
  return count(join(OUT, `${tag}.${label}`), [...serverArgs, portFile], async () => {
    // The file can be seen created and still empty (the server's write not done yet): wait for the port itself.
    const port = (): string => (existsSync(portFile) ? readFileSync(portFile, "utf8").trim() : "");
    for (let i = 0; i < 600 && port() === ""; i++) await new Promise((done) => setTimeout(done, 200));
    load(port());
  });
}

/** The middle run, or the mean of the two middle ones. */
function median(runs: number[]): number {
  const sorted = [...runs].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

console.log(`instructions per operation (callgrind; ${repeat} run(s) each, interleaved)\n`);
console.log(["case", ...builds.map(([label]) => label), ...(builds.length > 1 ? ["change"] : [])].join(" | "));
for (const name of names) {
  const figures: number[][] = builds.map(() => []);
  for (let r = 0; r < repeat; r++) {
    for (const [i, [, dir]] of builds.entries()) figures[i]?.push(await perOp(name, dir, i === 0 ? "tree" : "base"));
  }
  const shown = figures.map((runs) => runs.map((x) => Math.round(x)).join(" / "));
  const change = builds.length > 1 ? [`${(((median(figures[0] ?? []) - median(figures[1] ?? [])) / median(figures[1] ?? [])) * 100).toFixed(1)}%`] : [];
  console.log([name, ...shown, ...change].join(" | "));
}
