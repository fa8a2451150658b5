// Startup: how long `import "corio"` takes in a fresh process, against Effection's and
// Effect's main entry points and a process that imports nothing; and `import "corio/net"`
// against node:http alone and fastify. Each sample is a new
// process (bench/_import-time.mjs); rounds are interleaved and the medians compared.
//
// Two corio rows: the package as `npm run build` makes it (scripts/build.mjs: one file per
// entry point and shared chunks), which the bench build holds in build/src, and tsc's file
// per module (build/src-per-module), the layout the package had before, to keep the reason
// for the first in view.
// Run alone: npm run bench -- startup
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { buildBenches, PER_MODULE_DIR } from "./_build.ts";
import { interleavedRounds, median, printCase, runtimeName } from "./_report.ts";

const ROUNDS = 15;
const isBun = "Bun" in globalThis;

// On Bun, which runs TypeScript itself, the benches run from src/: build the package for the joined row.
const build = isBun ? "bench/results/startup" : process.env["CORIO_BENCH_BUILD"] || buildBenches();
if (isBun) execFileSync(process.execPath, ["scripts/build.mjs", "--outdir", join(build, "src"), "--no-types"], { stdio: "inherit" });
const perModule = isBun ? resolve("src/index.ts") : resolve(build, PER_MODULE_DIR, "index.js");
const joined = resolve(build, "src/index.js");
const sampler = resolve("bench/_import-time.mjs");
for (const file of [perModule, joined]) if (!existsSync(file)) throw new Error(`startup.bench: ${file} was not built`);

interface Sample {
  importMs: number;
  processMs: number;
}
const samples = new Map<string, Sample[]>();

function contestant(name: string, specifier: string) {
  samples.set(name, []);
  return {
    name,
    measure: async () => {
      const start = performance.now();
      const out = execFileSync(process.execPath, [sampler, specifier], { encoding: "utf8" });
      const sample = { importMs: Number(out.trim()), processMs: performance.now() - start };
      samples.get(name)?.push(sample);
      return sample.importMs;
    },
  };
}

await interleavedRounds(ROUNDS, [
  contestant("nothing imported", ""),
  contestant("corio, as published (joined)", pathToFileURL(joined).href),
  contestant("corio, a file per module (tsc)", pathToFileURL(perModule).href),
  contestant("effection", "effection"),
  contestant("effect", "effect"),
]);

// interleavedRounds measures each contestant once to warm up: that first sample is left out.
const rows = (names: string[], pick: (sample: Sample) => number) =>
  names.map((name) => ({ name, value: median((samples.get(name) ?? []).slice(1).map(pick)) * 1e6 }));
const mainRows = [...samples.keys()];
printCase(
  `import of the main entry point, in a fresh process (${ROUNDS} rounds, medians)`,
  rows(mainRows, (s) => s.importMs),
  "effection",
);
printCase(
  "the whole process: start, import, exit",
  rows(mainRows, (s) => s.processMs),
  "effection",
);

// A server's imports: corio/net (which brings corio's core) against node:http alone and fastify.
const netJoined = resolve(build, "src/net/index.js");
const netPerModule = isBun ? resolve("src/net/index.ts") : resolve(build, PER_MODULE_DIR, "net/index.js");
await interleavedRounds(ROUNDS, [
  contestant("node:http", "node:http"),
  contestant("corio/net, as published (joined)", pathToFileURL(netJoined).href),
  contestant("corio/net, a file per module (tsc)", pathToFileURL(netPerModule).href),
  contestant("fastify", "fastify"),
]);
printCase(
  `import of a server's entry point, in a fresh process (${ROUNDS} rounds, medians)`,
  rows(["node:http", "corio/net, as published (joined)", "corio/net, a file per module (tsc)", "fastify"], (s) => s.importMs),
  "fastify",
);
console.log(`\n${runtimeName()}`);
