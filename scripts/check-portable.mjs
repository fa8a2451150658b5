// The portable modules must import nothing from Node: they also run in
// browsers, Deno and Bun. (tsconfig.portable.json checks the types; this
// checks the imports, including type-only ones.)
// And the compatibility layers must be thin users of corio's public API:
// they import corio only through its public entry points.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const PORTABLE = ["core", "time", "sync", "streams", "util"];
const FORBIDDEN = /(?:from\s+|import\s*\(\s*|require\s*\(\s*)["'](node:[^"']+|fs|path|net|os|events|stream|buffer|worker_threads|child_process)["']/g;
const problems = [];

function visit(dir) {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) visit(path);
    else if (path.endsWith(".ts")) {
      // Code only: a TSDoc example may import from Node (it shows Node users the way in).
      const code = readFileSync(path, "utf8").replace(/\/\/.*|\/\*[\s\S]*?\*\//g, "");
      for (const match of code.matchAll(FORBIDDEN)) problems.push(`${path}: imports "${match[1]}"`);
      // core/_host.ts is where the host's own facilities are found at run time (a faster UTF-8 decode among them).
      if (/\bBuffer\b/.test(code) && !path.endsWith(join("core", "_host.ts"))) problems.push(`${path}: uses Node's Buffer (use Uint8Array)`);
    }
  }
}
for (const dir of PORTABLE) {
  try {
    visit(join("src", dir));
  } catch (error) {
    if (error.code !== "ENOENT") throw error;
  }
}
if (problems.length > 0) {
  console.error(`Portable modules must not depend on Node:\n${problems.join("\n")}`);
  process.exit(1);
}
console.log(`check-portable: ${PORTABLE.join(", ")} import nothing from Node`);

// The compatibility layers checked so far (src/compat/twisted joins once it is rewritten).
const COMPAT = ["src/compat/calvin", "src/compat/twisted"];
const PUBLIC = [
  "src/index.ts",
  "src/net/index.ts",
  "src/fs/index.ts",
  "src/threads/index.ts",
  "src/process/index.ts",
  "src/testing/index.ts",
  "src/inspect/index.ts",
];
const IMPORT = /(?:^|\n)[^\n]*?(?:from\s+|import\s*\(\s*|import\s+)["'](\.{1,2}\/[^"']+)["'][^\n]*/g;
const internal = [];
let allowed = 0;

function visitCompat(layer, dir) {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) visitCompat(layer, path);
    else if (path.endsWith(".ts")) {
      for (const match of readFileSync(path, "utf8").matchAll(IMPORT)) {
        const target = relative(".", resolve(dirname(path), match[1]));
        if (PUBLIC.includes(target) || !relative(layer, target).startsWith("..")) continue;
        // A missing public API: the import stays, marked and explained on its line.
        if (match[0].includes("// compat-internal:")) allowed++;
        else internal.push(`${path}: imports ${target}`);
      }
    }
  }
}
for (const layer of COMPAT) visitCompat(layer, layer);
if (internal.length > 0) {
  console.error(
    `Compatibility layers may import corio only from its public entry points (${PUBLIC.join(", ")}),\n` +
      `or on a line marked "// compat-internal: <why>":\n${internal.join("\n")}`,
  );
  process.exit(1);
}
console.log(`check-portable: ${COMPAT.join(", ")} import corio's public entry points only (${allowed} marked compat-internal)`);
