// The portable modules must import nothing from Node: they also run in
// browsers, Deno and Bun. (tsconfig.portable.json checks the types; this
// checks the imports, including type-only ones.)
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

const PORTABLE = ["core", "time", "sync", "streams", "util"];
const FORBIDDEN = /(?:from\s+|import\s*\(\s*|require\s*\(\s*)["'](node:[^"']+|fs|path|net|os|events|stream|buffer|worker_threads|child_process)["']/g;
const problems = [];

function visit(dir) {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) visit(path);
    else if (path.endsWith(".ts")) {
      const text = readFileSync(path, "utf8");
      for (const match of text.matchAll(FORBIDDEN)) problems.push(`${path}: imports "${match[1]}"`);
      if (/\bBuffer\b/.test(text.replace(/\/\/.*|\/\*[\s\S]*?\*\//g, ""))) problems.push(`${path}: uses Node's Buffer (use Uint8Array)`);
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
