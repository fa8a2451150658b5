// The package as npm would publish it: `npm pack` (its `prepack` builds dist/
// from a clean slate), then the built package through its exports map
// (smoke-dist.mjs), publint on the tarball (package.json fields, exports,
// files) and Are the Types Wrong (every subpath's types under NodeNext and
// Bundler resolution). corio is ESM only, hence attw's `esm-only` profile:
// a CommonJS `require` of it is not a supported way in.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join, resolve } from "node:path";

// The project's tools first, as `npm run` does (also when this runs as `node scripts/check-dist.mjs`).
const env = { ...process.env, PATH: `${resolve("node_modules", ".bin")}${delimiter}${process.env.PATH ?? ""}` };

function run(command, args) {
  const started = performance.now();
  const result = spawnSync(command, args, { stdio: "inherit", env, shell: process.platform === "win32" });
  if (result.status !== 0) {
    console.error(`check-dist: \`${[command, ...args].join(" ")}\` failed`);
    process.exit(result.status ?? 1);
  }
  return Math.round(performance.now() - started);
}

const dir = mkdtempSync(join(tmpdir(), "corio-check-dist-"));
try {
  const timings = [];
  timings.push(`pack ${run("npm", ["pack", "--silent", "--pack-destination", dir])} ms`);
  const tarball = join(
    dir,
    readdirSync(dir).find((name) => name.endsWith(".tgz")),
  );
  timings.push(`smoke ${run(process.execPath, ["scripts/smoke-dist.mjs"])} ms`);
  timings.push(`publint ${run("publint", ["run", "--strict", tarball])} ms`);
  timings.push(`attw ${run("attw", ["--profile", "esm-only", "--format", "table-flipped", "--no-emoji", tarball])} ms`);
  console.log(`check-dist: ${tarball.slice(dir.length + 1)} is publishable (${timings.join(", ")})`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
