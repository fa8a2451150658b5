// `npm run bench [-- name] [-- --runtime <path>]`: runs every bench/*.bench.ts
// (or those whose name contains the argument) one after another, each in its
// own process with --expose-gc, and stops at the first one that crashes.
// `--runtime <path>` runs them with that binary instead of this Node: another
// Node or Bun (`bun run`, which runs TypeScript itself).
//
// On Node the benches run compiled (`bench/_build.ts`: tsc into
// bench/results/build, with corio itself built as the package is published),
// not through tsx: tsx's esbuild transform wraps each
// named closure in `__name(…)`, an Object.defineProperty every time the
// closure is made, which cost the benches' own loops (and corio's closures)
// time that the published JavaScript does not spend: 100k timeouts measured
// 1.00–2.06x of setTimeout through tsx and 0.87–0.91x compiled.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { basename, join } from "node:path";
import { buildBenches } from "./_build.ts";

const args = process.argv.slice(2);
let runtime = process.execPath;
const runtimeAt = args.indexOf("--runtime");
if (runtimeAt >= 0) {
  const path = args[runtimeAt + 1];
  if (path === undefined) {
    console.error("--runtime needs the path of a node or bun binary");
    process.exit(2);
  }
  runtime = path;
  args.splice(runtimeAt, 2);
}
const isBun = basename(runtime).startsWith("bun");
const filter = args[0];
const version = spawnSync(runtime, ["--version"], { encoding: "utf8" });
if (version.status !== 0) {
  console.error(`cannot run ${runtime}: ${version.error?.message ?? version.stderr}`);
  process.exit(2);
}
console.log(`runtime: ${isBun ? "bun" : "node"} ${version.stdout.trim()} (${runtime})`);
const files = readdirSync("bench")
  .filter((file) => file.endsWith(".bench.ts") && (filter === undefined || file.includes(filter)))
  .sort();
const build = isBun ? "" : buildBenches();
for (const file of files) {
  console.log(`\n# ${file}\n`);
  const argv = isBun ? ["run", `bench/${file}`] : ["--expose-gc", join(build, "bench", file.replace(/\.ts$/, ".js"))];
  const result = spawnSync(runtime, argv, { stdio: "inherit", env: { ...process.env, CORIO_BENCH_BUILD: build } });
  if (result.status !== 0) {
    console.error(`bench/${file} failed with exit code ${result.status}`);
    process.exit(1);
  }
}
