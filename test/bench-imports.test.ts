// The benches run corio as it is published (bench/_build.ts bundles src/ into
// one file per package entry point), so a bench, or a test helper a bench
// imports, that reaches an internal module of src/ builds but fails when it
// runs: `npm run bench` stopped at redis.bench.ts once test/_helpers.ts
// imported src/core/_fifo.ts. This walks the benches' relative imports and
// names any such path.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { it } from "node:test";
import ts from "typescript";
import { publicEntries } from "../scripts/_exports.ts";

/** The relative imports of one TypeScript file, resolved to repository paths. */
function relativeImports(file: string): string[] {
  const { importedFiles } = ts.preProcessFile(readFileSync(file, "utf8"), true, true);
  return importedFiles
    .map((imported) => imported.fileName)
    .filter((name) => name.startsWith("."))
    .map((name) =>
      relative(".", resolve(dirname(file), name))
        .split(sep)
        .join("/"),
    );
}

it("the benches reach src/ only through its package entry points", () => {
  const entries = new Set(publicEntries());
  const bad: string[] = [];
  const seen = new Set<string>();
  const pending = readdirSync("bench")
    .filter((name) => name.endsWith(".ts"))
    .map((name) => join("bench", name));
  for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
    if (seen.has(file)) continue;
    seen.add(file);
    for (const imported of relativeImports(file)) {
      if (imported.startsWith("src/")) {
        if (!entries.has(imported)) bad.push(`${file} imports ${imported}`);
      } else if (imported.endsWith(".ts") && !imported.startsWith("node_modules")) {
        pending.push(imported);
      }
    }
  }
  assert.ok(seen.size > 10, `walked ${seen.size} files`);
  assert.deepEqual(bad, []);
});
