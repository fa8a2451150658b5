// `npm run bench [-- name] [-- --runtime <path>]`: runs every bench/*.bench.ts
// (or those whose name contains the argument) one after another, each in its
// own process with --expose-gc, and stops at the first one that crashes.
// `--runtime <path>` runs them with that binary instead of this Node: another
// Node (with tsx, as here) or Bun (`bun run`, which runs TypeScript itself).
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { basename } from "node:path";

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
for (const file of files) {
  console.log(`\n# ${file}\n`);
  const argv = isBun ? ["run", `bench/${file}`] : ["--import", "tsx", "--expose-gc", `bench/${file}`];
  const result = spawnSync(runtime, argv, { stdio: "inherit" });
  if (result.status !== 0) {
    console.error(`bench/${file} failed with exit code ${result.status}`);
    process.exit(1);
  }
}
