// The compiled form the benches run (see run.ts): src/ and bench/*.ts built
// with tsc into bench/results/build, with the plain JavaScript helpers (load
// clients, peer servers) copied next to them. build/src is then replaced by
// the package as it is published (scripts/build.mjs: one file per entry
// point and shared chunks, which the benches import); tsc's file per module
// stays in build/src-per-module for the startup bench.
import { execFileSync } from "node:child_process";
import { copyFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Where the build goes (relative to the repository's root, the benches' working directory). */
export const BUILD_DIR = "bench/results/build";

/** Where tsc's file per module of src/ is kept (the startup bench compares it). */
export const PER_MODULE_DIR = "src-per-module";

/** Compiles src/ and the benches; gives the build's folder. Takes about 20 s. */
export function buildBenches(): string {
  execFileSync(process.platform === "win32" ? "npx.cmd" : "npx", ["tsc", "-p", "bench/tsconfig.build.json"], { stdio: "inherit" });
  writeFileSync(join(BUILD_DIR, "package.json"), '{ "type": "module" }\n');
  for (const file of readdirSync("bench")) if (file.endsWith(".mjs")) copyFileSync(join("bench", file), join(BUILD_DIR, "bench", file));
  rmSync(join(BUILD_DIR, PER_MODULE_DIR), { recursive: true, force: true });
  renameSync(join(BUILD_DIR, "src"), join(BUILD_DIR, PER_MODULE_DIR));
  execFileSync(process.execPath, ["scripts/build.mjs", "--outdir", join(BUILD_DIR, "src"), "--no-types"], { stdio: "inherit" });
  return BUILD_DIR;
}
