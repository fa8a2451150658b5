// The corio/no-floating-operation ESLint rule, with ESLint's RuleTester on node:test.
import { resolve } from "node:path";
import { after, describe, it } from "node:test";
import tsParser from "@typescript-eslint/parser";
import { RuleTester } from "eslint";
import plugin from "../../src/eslint-plugin/index.ts";

RuleTester.describe = describe;
RuleTester.it = it;
RuleTester.itOnly = it.only;
(RuleTester as unknown as { afterAll: typeof after }).afterAll = after;

const fixtures = resolve(import.meta.dirname, "../fixtures/eslint");
const filename = resolve(fixtures, "rule-fixture.ts");
const tester = new RuleTester({
  // Under CI=true typescript-eslint would assume one lint run and reuse one program for every case of the same file.
  languageOptions: { parser: tsParser, parserOptions: { project: "./tsconfig.json", tsconfigRootDir: fixtures, disallowAutomaticSingleRunInference: true } },
});

const imports = `import { Lock, run, sleep, spawn, type Operation } from "../../../src/index.ts";\n`;
/** A case: `body` inside an operation (or, with `top`, at the top level of a module). */
const inOp = (body: string): string => `${imports}export const op = function* (): Operation<unknown> {\n${body}\n};\n`;
const rule = plugin.rules["no-floating-operation"];

tester.run("no-floating-operation", rule, {
  valid: [
    { filename, code: inOp("yield* sleep(1);") },
    { filename, code: inOp("const s = sleep(1); yield* s;") },
    { filename, code: inOp("return sleep(1);") },
    { filename, code: inOp("const ops: Operation<void>[] = []; ops.push(sleep(1));") },
    { filename, code: inOp("yield* spawn(sleep(1));") },
    { filename, code: inOp("void sleep(1);") },
    { filename, code: inOp("const lock = new Lock(); yield* lock.acquire(); lock.release();") },
    // run() starts a task: a Task is a promise, not a floating operation (no-floating-promises covers it).
    { filename, code: `${imports}run(sleep(1));\nawait run(function* () { yield* sleep(1); });\n` },
    { filename, code: `${imports}const task = run(sleep(1)); await task;\n` },
  ],
  invalid: [
    {
      filename,
      code: inOp("sleep(200);"),
      errors: [
        {
          message:
            "`sleep(200)` creates an operation and never runs it, so it does nothing. Write `yield* sleep(200)` inside an operation, or pass it to run() or spawn() (prefix `void` to discard it on purpose).",
        },
      ],
    },
    { filename, code: inOp("spawn(function* () {});"), errors: [{ messageId: "floating" }] },
    { filename, code: inOp("const lock = new Lock(); lock.acquire();"), errors: [{ messageId: "floating", data: { text: "lock.acquire()" } }] },
    { filename, code: inOp("if (Math.random() > 0.5) sleep(1); else sleep(2);"), errors: [{ messageId: "floating" }, { messageId: "floating" }] },
    { filename, code: inOp("Math.random() > 0.5 ? sleep(1) : sleep(2);"), errors: [{ messageId: "floating" }, { messageId: "floating" }] },
    // A generator function of one's own makes an operation too.
    {
      filename,
      code: `${imports}function* mine() { yield* sleep(1); }\nexport const op = function* () { mine(); };\n`,
      errors: [{ messageId: "floating", data: { text: "mine()" } }],
    },
    {
      filename,
      code: `${imports}export async function f() { await sleep(300); }\n`,
      errors: [
        {
          message:
            "`await` on an operation returns at once and runs nothing. Write `yield* sleep(300)` inside an operation, or `await run(function* () { yield* sleep(300); })` from async code.",
        },
      ],
    },
    {
      filename,
      code: `${imports}export const op = function* () { yield sleep(1); };\n`,
      errors: [{ message: "`yield sleep(1)` hands the operation to the runtime instead of running it. Write `yield* sleep(1)` (with the star)." }],
    },
  ],
});
