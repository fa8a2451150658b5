// Every public export needs a TSDoc comment; functions and classes need an
// @example. The examples themselves are run by test/docs.test.ts.
import { exportedDocs } from "./_exports.ts";

const problems: string[] = [];
const docs = exportedDocs();
for (const doc of docs) {
  if (doc.docs.trim() === "") problems.push(`${doc.file}: ${doc.name} (exported from ${doc.entry}) has no TSDoc comment`);
  else if ((doc.kind === "function" || doc.kind === "class") && !doc.docs.includes("@example")) {
    problems.push(`${doc.file}: ${doc.name} (exported from ${doc.entry}) has no @example`);
  }
}
if (problems.length > 0) {
  console.error(`check-docs: ${problems.length} problem(s):\n${problems.join("\n")}`);
  process.exit(1);
}
console.log(`check-docs: ${docs.length} exports documented`);
