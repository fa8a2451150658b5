// The corio/no-generator-in-loop ESLint rule, with ESLint's RuleTester on node:test: without type information (all it needs), then with it.
import { resolve } from "node:path";
import { after, describe, it } from "node:test";
import tsParser from "@typescript-eslint/parser";
import { RuleTester } from "eslint";
import plugin from "../../src/eslint-plugin/index.ts";

RuleTester.describe = describe;
RuleTester.it = it;
RuleTester.itOnly = it.only;
(RuleTester as unknown as { afterAll: typeof after }).afterAll = after;

const tester = new RuleTester({ languageOptions: { ecmaVersion: 2024, sourceType: "module" } });
const rule = plugin.rules["no-generator-in-loop"];
const repeated = (where: string) => ({
  message: `This generator function is created anew on every round of ${where}, and V8's first call of each new generator function costs 1.5–3 µs (one declared once: about 0.1 µs). Declare it once, outside, and pass what it needs as arguments: \`spawn(work(item))\`, \`limitGather(items, n, work)\`.`,
});

tester.run("no-generator-in-loop", rule, {
  valid: [
    // Declared once, called per round.
    "function* work(id) { return id; }\nfor (const id of ids) spawn(work(id));",
    // Once per call of the enclosing function, not per round.
    "function start() { return spawn(function* () {}); }\nfor (const id of ids) start(id);",
    "for (const id of ids) { const start = () => 1; }\nrun(function* () {});",
    // The collection of a for-of and the init of a for are evaluated once.
    "for (const op of [function* () {}]) spawn(op);",
    "for (let g = function* () {}; ; ) break;",
    // The generator is the callback itself: one function, called per item.
    "ids.map(function* (id) { return id; });",
    // A plain function or arrow in a loop is cheap.
    "for (const id of ids) spawn(call(() => fetch(id)));",
    // A callback run once (not per item).
    "for (;;) { break; }\npromise.then(() => function* () {});",
    // A declaration inside a function is made once per call of that function, wherever the calls are.
    "function outer() { function* inner() {} return inner; }\nfor (const id of ids) spawn(outer()(id));",
    "for (const id of ids) { const start = function () { return function* () {}; }; }",
    // A function called on the spot outside any loop runs once; one only bound (not called) in a loop is a boundary.
    "(() => { spawn(function* () {}); })();",
    "(function () { spawn(function* () {}); }).call(this);",
    "for (const id of ids) handlers.push(function () { spawn(function* () { return id; }); }.bind(this));",
  ],
  invalid: [
    { code: "for (const id of ids) spawn(function* () { yield* get(id); });", errors: [repeated("a loop")] },
    { code: "function* main() { for (let i = 0; i < n; i++) { yield* spawn(function* () { return i; }); } }", errors: [repeated("a loop")] },
    { code: "while (more()) tasks.push(spawn(function* () {}));", errors: [repeated("a loop")] },
    { code: "do { spawn(function* () {}); } while (more());", errors: [repeated("a loop")] },
    { code: "for (const k in obj) race([function* () {}]);", errors: [repeated("a loop")] },
    // An object with a generator method, built every round.
    { code: "function* main() { for (const x of xs) yield* { *[Symbol.iterator]() { return x; } }; }", errors: [repeated("a loop")] },
    { code: "const ops = ids.map((id) => function* () { return id; });", errors: [repeated("a map() callback")] },
    { code: "ids.forEach(function (id) { spawn(function* () { return id; }); });", errors: [repeated("a forEach() callback")] },
    { code: "const ops = Array.from(ids, (id) => function* () { return id; });", errors: [repeated("a from() callback")] },
    { code: "rows.flatMap((row) => row.map((id) => function* () { return id; }));", errors: [repeated("a map() callback")] },
    // A declaration in a loop body or a per-item callback is a new function every round too.
    { code: "for (const id of ids) { function* work() { yield id; } spawn(work); }", errors: [repeated("a loop")] },
    { code: "while (more()) { function* w() {} spawn(w); }", errors: [repeated("a loop")] },
    { code: "ids.forEach((id) => { function* work() { return id; } spawn(work); });", errors: [repeated("a forEach() callback")] },
    // The other per-item array methods.
    { code: "ids.filter((id) => { spawn(function* () { return id; }); return true; });", errors: [repeated("a filter() callback")] },
    { code: "ids.reduce((ops, id) => ops.concat(function* () { return id; }), []);", errors: [repeated("a reduce() callback")] },
    { code: "ids.some((id) => race([function* () { return id; }]));", errors: [repeated("a some() callback")] },
    { code: "ids.find((id) => spawn(function* () { return id; }));", errors: [repeated("a find() callback")] },
    // A function called on the spot in a loop runs every round, and so does what it makes.
    { code: "for (const id of ids) (() => { spawn(function* () { yield id; }); })();", errors: [repeated("a loop")] },
    {
      name: "(function () {…}).call(this) and .apply(this) in a loop",
      code: "for (const id of ids) { (function () { spawn(function* () { yield id; }); }).call(this); (function () { spawn(function* () {}); }).apply(this, []); }",
      errors: [repeated("a loop"), repeated("a loop")],
    },
    {
      name: "Array.fromAsync(ids, (id) => function* () {…})",
      code: "await Array.fromAsync(ids, (id) => function* () { return id; });",
      errors: [repeated("a fromAsync() callback")],
    },
    { name: "a sort() comparator", code: "ids.sort((a, b) => spawn(function* () { return a - b; }));", errors: [repeated("a sort() callback")] },
    // Without type information any map counts, even one that runs its callback once (with it, see below).
    { code: "opt.map(() => function* () {});", errors: [repeated("a map() callback")] },
  ],
});

// With type information, a per-item method counts only when it is the standard library's (or the type is unknown).
const fixtures = resolve(import.meta.dirname, "../fixtures/eslint");
const filename = resolve(fixtures, "rule-fixture.ts");
const typed = new RuleTester({
  languageOptions: { parser: tsParser, parserOptions: { project: "./tsconfig.json", tsconfigRootDir: fixtures, disallowAutomaticSingleRunInference: true } },
});
const declarations = "declare function spawn(op: unknown): void;\ndeclare const ids: number[];\n";
typed.run("no-generator-in-loop (typed)", rule, {
  valid: [
    // An option's map, or a from() of one's own, runs its callback once.
    { filename, code: `${declarations}declare const opt: { map(f: (value: number) => unknown): unknown };\nopt.map(() => function* () {});\n` },
    { filename, code: `${declarations}declare const Obs: { from(a: unknown, f: () => unknown): void };\nObs.from(ids, () => function* () {});\n` },
  ],
  invalid: [
    { filename, code: `${declarations}ids.map((id) => function* () { return id; });\n`, errors: [repeated("a map() callback")] },
    { filename, code: `${declarations}Array.from(ids, (id) => function* () { return id; });\n`, errors: [repeated("a from() callback")] },
    { filename, code: `${declarations}new Set(ids).forEach((id) => spawn(function* () { return id; }));\n`, errors: [repeated("a forEach() callback")] },
    { filename, code: `${declarations}new Uint8Array(ids).some((id) => spawn(function* () { return id; }));\n`, errors: [repeated("a some() callback")] },
    // A receiver of type any: as without type information.
    { filename, code: `${declarations}declare const loose: any;\nloose.map(() => function* () {});\n`, errors: [repeated("a map() callback")] },
  ],
});
