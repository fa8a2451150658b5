// `npm run bench [-- name]`: runs every bench/*.bench.ts (or those whose name
// contains the argument) one after another, each in its own process with
// --expose-gc, and stops at the first one that crashes.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";

const filter = process.argv[2];
const files = readdirSync("bench")
  .filter((file) => file.endsWith(".bench.ts") && (filter === undefined || file.includes(filter)))
  .sort();
for (const file of files) {
  console.log(`\n# ${file}\n`);
  const result = spawnSync(process.execPath, ["--import", "tsx", "--expose-gc", `bench/${file}`], { stdio: "inherit" });
  if (result.status !== 0) {
    console.error(`bench/${file} failed with exit code ${result.status}`);
    process.exit(1);
  }
}
