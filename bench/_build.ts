// The compiled form the benches run (see run.ts): src/ and bench/*.ts built
// with tsc into bench/results/build, as the package is published, with the
// plain JavaScript helpers (load clients, peer servers) copied next to them.
import { execFileSync } from "node:child_process";
import { copyFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Where the build goes (relative to the repository's root, the benches' working directory). */
export const BUILD_DIR = "bench/results/build";

/** Compiles src/ and the benches; gives the build's folder. Takes about 10 s. */
export function buildBenches(): string {
  execFileSync(process.platform === "win32" ? "npx.cmd" : "npx", ["tsc", "-p", "bench/tsconfig.build.json"], { stdio: "inherit" });
  writeFileSync(join(BUILD_DIR, "package.json"), '{ "type": "module" }\n');
  for (const file of readdirSync("bench")) if (file.endsWith(".mjs")) copyFileSync(join("bench", file), join(BUILD_DIR, "bench", file));
  return BUILD_DIR;
}
