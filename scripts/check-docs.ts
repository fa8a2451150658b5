// Every public export needs a TSDoc comment; functions and classes need an
// @example. The examples themselves are run by test/docs.test.ts.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { exportedDocs } from "./_exports.ts";

const problems: string[] = [];
const docs = exportedDocs();
for (const doc of docs) {
  if (doc.docs.trim() === "") problems.push(`${doc.file}: ${doc.name} (exported from ${doc.entry}) has no TSDoc comment`);
  else if ((doc.kind === "function" || doc.kind === "class") && !doc.docs.includes("@example")) {
    problems.push(`${doc.file}: ${doc.name} (exported from ${doc.entry}) has no @example`);
  }
}
// The package stands alone: no doc or source may point outside the repository.
function files(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    return statSync(path).isDirectory() ? files(path) : /\.(ts|md)$/.test(entry) ? [path] : [];
  });
}
for (const file of ["README.md", ...files("docs"), ...files("src"), ...files("examples")]) {
  const text = readFileSync(file, "utf8");
  if (/\.\.\/shared\b|\.\.\/\.\.\/shared\b/.test(text)) problems.push(`${file}: points outside the repository (../shared); restate what it needs in docs/`);
}
if (problems.length > 0) {
  console.error(`check-docs: ${problems.length} problem(s):\n${problems.join("\n")}`);
  process.exit(1);
}
console.log(`check-docs: ${docs.length} exports documented`);
