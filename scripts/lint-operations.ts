// Runs corio's own ESLint rule, corio/no-floating-operation (src/eslint-plugin),
// over the sources, the examples and every documentation example (written to
// tmp/doc-examples/ as test/docs.test.ts writes them): an operation created and
// never run, awaited, or yielded without `*` fails the check.
import { resolve } from "node:path";
import tsParser from "@typescript-eslint/parser";
import { ESLint } from "eslint";
import corio from "../src/eslint-plugin/index.ts";
import { writeDocExamples } from "./_exports.ts";

const root = resolve(import.meta.dirname, "..");
const examples = writeDocExamples(root);
const names = new Map(examples.map((example) => [example.file, example.name]));

const eslint = new ESLint({
  cwd: root,
  overrideConfigFile: true,
  overrideConfig: [
    {
      files: ["**/*.ts"],
      languageOptions: { parser: tsParser, parserOptions: { project: "./tsconfig.examples.json", tsconfigRootDir: root } },
      plugins: { corio },
      rules: { "corio/no-floating-operation": "error" },
    },
  ],
});
const results = await eslint.lintFiles(["src/**/*.ts", "examples/**/*.ts", "tmp/doc-examples/*.ts"]);
let problems = 0;
for (const result of results) {
  for (const message of result.messages) {
    problems++;
    const where = names.get(result.filePath) ?? result.filePath.replace(`${root}/`, "");
    // A doc example's line 1 is the prelude that makes console.assert throw.
    const line = names.has(result.filePath) ? message.line - 1 : message.line;
    console.error(`${where}:${line}:${message.column}: ${message.message}`);
  }
}
if (problems > 0) {
  console.error(`lint:operations: ${problems} problem(s)`);
  process.exit(1);
}
console.log(`lint:operations: ${results.length} files, no floating operation`);
