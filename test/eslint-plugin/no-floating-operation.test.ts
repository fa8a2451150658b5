// The corio/no-floating-operation ESLint rule, with ESLint's RuleTester on node:test.

import assert from "node:assert/strict";
import { resolve } from "node:path";
import { after, describe, it } from "node:test";
import tsParser from "@typescript-eslint/parser";
import { Linter, RuleTester } from "eslint";
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

const imports = `import { all, Lock, run, sleep, spawn, until, type Operation } from "../../../src/index.ts";\n`;
/** A case: `body` inside an operation (or, with `top`, at the top level of a module). */
const inOp = (body: string): string => `${imports}export const op = function* (): Operation<unknown> {\n${body}\n};\n`;
const rule = plugin.rules["no-floating-operation"];

tester.run("no-floating-operation", rule, {
  valid: [
    { filename, code: inOp("yield* sleep(1);") },
    { filename, code: inOp("const s = sleep(1); yield* s;") },
    { filename, code: inOp("return yield* sleep(1);") },
    // A plain function that returns an operation is an operation factory: correct and common.
    {
      filename,
      code: `${imports}export function nap(ms: number) { return sleep(ms); }\nexport const op = function* () { const make = () => { return sleep(1); }; yield* make(); };\n`,
    },
    // A generator that says it returns an operation, on itself or on its variable, returns it on purpose.
    { filename, code: `${imports}export function* pick(): Operation<Operation<void> | undefined> { return Math.random() > 0.5 ? sleep(1) : undefined; }\n` },
    { filename, code: `${imports}export function* pick(): Generator<never, Operation<void>> { return sleep(1); }\n` },
    { filename, code: `${imports}export const later: () => Operation<Operation<void>> = function* () { return sleep(1); };\n` },
    { filename, code: inOp("const ops: Operation<void>[] = []; ops.push(sleep(1));") },
    { filename, code: inOp("yield* spawn(sleep(1));") },
    { filename, code: inOp("void sleep(1);") },
    { filename, code: inOp("const lock = new Lock(); yield* lock.acquire(); lock.release();") },
    // run() starts a task: a Task is a promise, not a floating operation (no-floating-promises covers it).
    { filename, code: `${imports}run(sleep(1));\nawait run(function* () { yield* sleep(1); });\n` },
    { filename, code: `${imports}const task = run(sleep(1)); await task;\n` },
    // Arrays of operations run with all(), discarded with void, or edited in place.
    { filename, code: inOp("const ids = [1, 2]; yield* all(ids.map((id) => sleep(id))); void ids.map((id) => sleep(id)); yield* all([sleep(1), sleep(2)]);") },
    { filename, code: inOp("const ops = [sleep(1), sleep(2), sleep(3)]; ops.splice(0, 1); ops.reverse(); ops.shift(); yield* all(ops);") },
    // A callback whose caller uses what it returns (map, spawn), or says nothing of it.
    { filename, code: inOp("const make = () => sleep(1); yield* spawn(() => sleep(1)); yield* all([1, 2].map((id) => sleep(id))); yield* make();") },
    { filename, code: `${imports}declare function later(f: () => unknown): void;\nlater(() => sleep(1));\n[1, 2].forEach((id) => id * 2);\n` },
    // Promise.all of promises, or of tasks (a task is a promise).
    { filename, code: inOp("yield* until(Promise.all([1, 2].map(async (id) => id)));") },
    { filename, code: `${imports}await Promise.all([run(sleep(1)), run(sleep(2))]);\n` },
    // A generator that says it yields operations is a lazy sequence of them, for its caller to run.
    { filename, code: `${imports}export function* jobs(ids: number[]): Generator<Operation<void>> { for (const id of ids) yield sleep(id); }\n` },
    { filename, code: `${imports}export function* batches(): Iterable<Operation<void>[]> { yield [sleep(1), sleep(2)]; }\n` },
    // A type of another library named Operation is not corio's, and an iterable is not an operation.
    { filename, code: `declare function local(): Operation<number>;\ninterface Operation<T> { [Symbol.iterator](): Iterator<T> }\nlocal();\n` },
    { filename, code: `declare function values(): Iterable<number>;\nvalues();\n` },
    // A generator that yields values of its own is a plain lazy sequence, not an operation: not this rule's business, even dropped.
    {
      filename,
      code: `function* row(i: number) { yield i; }\nexport function* rows(): Generator<Generator<number>> { for (let i = 0; i < 3; i++) yield row(i); }\n`,
    },
    { filename, code: `function* counter() { yield 1; }\ncounter();\n` },
    // A class that implements Operation is a handle on work that goes on by itself (as Twisted's Deferred): dropping one is allowed.
    {
      filename,
      code: `${imports}class Handle implements Operation<void> { *[Symbol.iterator]() { yield* sleep(1); } }\nexport const op = function* () { new Handle(); };\n`,
    },
    // An operation stored by an assignment that a void callback returns is kept, not dropped.
    {
      name: "forEach((id) => (ops[id] = sleep(id))) stores each operation",
      filename,
      code: `${imports}const ops: Record<number, Operation<void>> = {};\nexport function* a() { [1, 2].forEach((id) => (ops[id] = sleep(id))); yield* all(Object.values(ops)); }\n`,
    },
    {
      name: "setTimeout(() => (pending = sleep(1))) stores the operation",
      filename,
      code: `${imports}let pending: Operation<void> | undefined;\nsetTimeout(() => (pending = sleep(1)), 0);\nexport function* a() { if (pending) yield* pending; }\n`,
    },
    // corio's own functions that take a generator function want an operation back, not void.
    {
      name: "spawn, run and a callback typed () => Operation take generator functions",
      filename,
      code: `${imports}function* fetchOne() { yield* sleep(1); }\ndeclare function later(f: () => Operation<void>): void;\nlater(fetchOne);\nlater(function* () {});\nawait run(fetchOne);\nexport function* a() { yield* spawn(fetchOne); yield* spawn(function* () { yield* sleep(1); }); }\n`,
    },
    // Intent declared by the type of what the generator initialises: a class property, a member of a typed object literal.
    {
      name: "class property typed () => Operation<Operation<void>> returns an operation on purpose",
      filename,
      code: `${imports}export class P { later: () => Operation<Operation<void>> = function* () { return sleep(1); }; }\n`,
    },
    {
      name: "object literal typed Iterable<Operation<void>> yields operations on purpose",
      filename,
      code: `${imports}export const jobs: Iterable<Operation<void>> = { *[Symbol.iterator]() { yield sleep(1); } };\n`,
    },
    {
      name: "a member of a typed object literal returns an operation on purpose (satisfies)",
      filename,
      code: `${imports}export const jobs = { next: function* () { return sleep(1); } } satisfies { next: () => Operation<Operation<void>> };\n`,
    },
    // A generator that yield*s an array in a sequence of operations hands them on on purpose.
    {
      name: "yield* of an array in a generator declared Generator<Operation<void>>",
      filename,
      code: `${imports}export function* jobs(): Generator<Operation<void>> { yield* [sleep(1), sleep(2)]; }\n`,
    },
    // An async generator hands what it yields and returns to its consumer (for await), not to corio.
    {
      name: "async function* jobs(): AsyncGenerator<Operation<void>> { yield sleep(1) }",
      filename,
      code: `${imports}export async function* jobs(): AsyncGenerator<Operation<void>, Operation<void>> { yield sleep(1); yield [sleep(2)]; return sleep(3); }\n`,
    },
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
    // A generator that returns an operation makes it its result, unrun.
    {
      filename,
      code: inOp("return sleep(1);"),
      errors: [
        {
          message:
            "`return sleep(1)` in a generator function makes the operation its result without running it. Write `return yield* sleep(1)` to run it and return its value (or declare the return type, `Operation<Operation<T>>`, if returning it unrun is meant).",
        },
      ],
    },
    {
      filename,
      code: `${imports}function* fetchOne(id: number) { yield* sleep(id); return "x"; }\nexport function* first(ids: number[]) { if (ids.length === 0) return null; return ids[0] === 0 ? fetchOne(1) : sleep(2); }\n`,
      errors: [
        { messageId: "returned", data: { text: "fetchOne(1)" } },
        { messageId: "returned", data: { text: "sleep(2)" } },
      ],
    },
    {
      filename,
      code: `${imports}export class Svc { *save() { return sleep(1); } *load(): Operation<unknown> { return (0, sleep(2)); } }\n`,
      errors: [
        { messageId: "returned", data: { text: "sleep(1)" } },
        { messageId: "returned", data: { text: "sleep(2)" } },
      ],
    },
    // An array of operations dropped, or yielded without *, runs none of them.
    {
      filename,
      code: inOp("[sleep(1), sleep(2)];"),
      errors: [
        {
          message:
            "`[sleep(1), sleep(2)]` creates operations and never runs them, so they do nothing. Write `yield* all([sleep(1), sleep(2)])` inside an operation to run them (prefix `void` to discard them on purpose).",
        },
      ],
    },
    {
      filename,
      code: inOp("const ids = [1, 2]; ids.map((id) => sleep(id)); ids.length > 1 ? [sleep(1), 2] as const : [];"),
      errors: [
        { messageId: "floatingArray", data: { text: "ids.map((id) => sleep(id))" } },
        { messageId: "floatingArray", data: { text: "[sleep(1), 2] as const" } },
      ],
    },
    // yield* of an array hands each operation to the runtime, bare.
    {
      name: "yield* [sleep(1), sleep(2)]",
      filename,
      code: inOp("yield* [sleep(1), sleep(2)];"),
      errors: [
        {
          message:
            "`yield* [sleep(1), sleep(2)]` hands each operation in the array to the runtime, bare, as `yield` would, and none of them runs. Write `yield* all([sleep(1), sleep(2)])` to run them together.",
        },
      ],
    },
    {
      name: "yield* ids.map(fetchOne)",
      filename,
      code: `${imports}function* fetchOne(id: number) { yield* sleep(id); }\nexport function* a() { yield* [1, 2].map(fetchOne); }\n`,
      errors: [{ messageId: "delegatedArray", data: { text: "[1, 2].map(fetchOne)" } }],
    },
    {
      filename,
      code: inOp("yield [sleep(1), sleep(2)];"),
      errors: [
        {
          message:
            "`yield [sleep(1), sleep(2)]` hands an array of operations to the runtime, which runs none of them. Write `yield* all([sleep(1), sleep(2)])` to run them together.",
        },
      ],
    },
    // A callback whose caller ignores its value (forEach, a timer, a listener) drops the operation it returns.
    {
      filename,
      code: inOp("[1, 2].forEach((id) => sleep(id));"),
      errors: [
        {
          message:
            "The callback returns `sleep(id)` to a caller that ignores its value (as forEach does), so the operation never runs. Inside an operation, loop with `for (… of …)` and `yield*` each one, or run them together with `yield* all(items.map(…))`.",
        },
      ],
    },
    {
      filename,
      code: inOp("[1, 2].forEach(function (id) { return [sleep(id)]; }); setTimeout(() => (Math.random() > 0.5 ? sleep(1) : undefined), 10);"),
      errors: [
        { messageId: "discarded", data: { text: "[sleep(id)]" } },
        { messageId: "discarded", data: { text: "sleep(1)" } },
      ],
    },
    // A generator function (or a reference to one) passed to a caller that ignores what it returns.
    {
      name: "ids.forEach(function* (id) {…})",
      filename,
      code: `${imports}export function* a() { [1, 2].forEach(function* (id) { yield* sleep(id); }); }\n`,
      errors: [
        {
          message:
            "`function* (id) { yield* sleep(id); }` makes an operation each time it is called, and its caller ignores what it returns (as forEach does), so none of them runs. Inside an operation, loop with `for (… of …)` and `yield*` each one, or run them together with `yield* all(items.map(…))`.",
        },
      ],
    },
    {
      name: "ids.forEach(fetchOne) with a generator function reference",
      filename,
      code: `${imports}function* fetchOne(id: number) { yield* sleep(id); }\nexport function* a() { [1, 2].forEach(fetchOne); }\n`,
      errors: [{ messageId: "generatorDiscarded", data: { text: "fetchOne" } }],
    },
    {
      name: "references to generator functions: an import, aliases, a member, an optional parameter narrowed, a conditional",
      filename,
      code: `${imports}function* fetchOne(id: number) { yield* sleep(id); }\nconst alias = fetchOne;\nconst made = function* (id: number) { yield* sleep(id); };\nconst box = { fetchOne };\nexport function* a(maybe?: (id: number) => Operation<void>) { [1].forEach(sleep); [1].forEach(alias); [1].forEach(made); [1].forEach(box.fetchOne); if (maybe) [1].forEach(maybe); [1].forEach(Math.random() > 0.5 ? made : alias); }\n`,
      errors: [
        { messageId: "generatorDiscarded", data: { text: "sleep" } },
        { messageId: "generatorDiscarded", data: { text: "alias" } },
        { messageId: "generatorDiscarded", data: { text: "made" } },
        { messageId: "generatorDiscarded", data: { text: "box.fetchOne" } },
        { messageId: "generatorDiscarded", data: { text: "maybe" } },
        { messageId: "generatorDiscarded", data: { text: "Math.random() > 0.5 ? made : alias" } },
      ],
    },
    {
      name: "setTimeout(function* () {…}, 10) and new Promise(function* () {…})",
      filename,
      code: `${imports}setTimeout(function* () { yield* sleep(1); }, 10);\nexport const p = new Promise<void>(function* (resolve) { yield* sleep(1); resolve(); });\n`,
      errors: [{ messageId: "generatorDiscarded" }, { messageId: "generatorDiscarded" }],
    },
    // Promise's combinators take operations for plain values and run none of them.
    {
      filename,
      code: `${imports}function* fetchOne(id: number) { yield* sleep(id); return "x"; }\nexport const op = function* () { return yield* until(Promise.all([1, 2].map((id) => fetchOne(id)))); };\n`,
      errors: [
        {
          message:
            "`Promise.all` waits for promises, and an operation is not one: those in `[1, 2].map((id) => fetchOne(id))` never run. Write `yield* all([1, 2].map((id) => fetchOne(id)))` inside an operation.",
        },
      ],
    },
    {
      filename,
      code: `${imports}export async function f() { await Promise.race([sleep(1), sleep(2)]); await Promise.allSettled(new Set([sleep(3)])); }\n`,
      errors: [
        { messageId: "promiseOfOperations", data: { method: "race", corio: "race", text: "[sleep(1), sleep(2)]" } },
        { messageId: "promiseOfOperations", data: { method: "allSettled", corio: "allSettled", text: "new Set([sleep(3)])" } },
      ],
    },
    // A generator function of one's own makes an operation too.
    {
      filename,
      code: `${imports}function* mine() { yield* sleep(1); }\nexport const op = function* () { mine(); };\n`,
      errors: [{ messageId: "floating", data: { text: "mine()" } }],
    },
    // One that never suspends, or ends its rounds with a bare `yield`, is one as well.
    {
      filename,
      code: `${imports}function* quick() { return 1; }\nfunction* ticker() { yield; }\nexport const op = function* () { quick(); ticker(); };\n`,
      errors: [
        { messageId: "floating", data: { text: "quick()" } },
        { messageId: "floating", data: { text: "ticker()" } },
      ],
    },
    // An alias of Operation and an interface that extends it are operations too.
    {
      filename,
      code: `${imports}type Op<T> = Operation<T>;\nfunction aliased(): Op<void> { return sleep(1); }\nexport const op = function* () { aliased(); };\n`,
      errors: [{ messageId: "floating", data: { text: "aliased()" } }],
    },
    {
      filename,
      code: `${imports}interface Job extends Operation<void> { id: number }\ndeclare function job(): Job;\nexport const op = function* () { job(); };\n`,
      errors: [{ messageId: "floating", data: { text: "job()" } }],
    },
    {
      filename,
      code: `${imports}declare function tagged(): Operation<void> & { id: number };\nexport const op = function* () { tagged(); };\n`,
      errors: [{ messageId: "floating", data: { text: "tagged()" } }],
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

// Syntax variants (from an outside review, where they passed already): kept as regression checks.
const variantImports = `import { all, race, run, sleep, spawn, type Operation } from "../../../src/index.ts";\nimport * as corio from "../../../src/index.ts";\nimport { sleep as nap } from "../../../src/index.ts";\n`;
tester.run("no-floating-operation: syntax variants", rule, {
  valid: [
    {
      name: "stored then yielded, all/race",
      filename,
      code: `${variantImports}export function* a() { const x = sleep(1); yield* x; yield* all([sleep(1), x]); yield* race([sleep(1), sleep(2)]); }\n`,
    },
    {
      name: "a method named sleep",
      filename,
      code: `class S { sleep(ms: number) { return ms; } }\nconst s = new S();\nexport function* a() { s.sleep(1); }\n`,
    },
    {
      name: "void, spawn of an arrow, a task dropped",
      filename,
      code: `${variantImports}export function* a() { void sleep(1); yield* spawn(() => sleep(1)); const t = yield* spawn(function* () {}); t; }\n`,
    },
    {
      name: "class generator methods declared to yield or return operations",
      filename,
      code: `${variantImports}export class Q { *jobs(): Generator<Operation<void>> { yield sleep(1); } *later(): Operation<Operation<void>> { return sleep(1); } }\n`,
    },
    {
      name: "unusual syntax does not throw",
      filename,
      code: `${variantImports}class A extends Array<Operation<void>> { f() { super.pop(); return super.at(0); } get g() { return sleep(1); } static { void 0; } accessor x = 1; }\nconst o = { m() { return sleep(1); }, get p() { return sleep(1); } };\nnamespace N { export const z = sleep(1); }\nenum E { X }\nexport function* a() { using d = { [Symbol.dispose]() {} }; import.meta; new.target; \`\${sleep(1)}\`; }\n`,
    },
  ],
  invalid: [
    { name: "an alias and a namespace import", filename, code: `${variantImports}export function* a() { corio.sleep(5); nap(5); }\n`, errors: 2 },
    {
      name: "&&, ||, sequence, ternary, as, satisfies, !, ?.",
      filename,
      code: `${variantImports}declare const ok: boolean;\ndeclare const obj: { op(): Operation<void> } | undefined;\nexport function* a() { ok && sleep(1); ok || sleep(2); (sleep(3), 1); ok ? sleep(4) : null; sleep(5) as Operation<void>; sleep(6) satisfies Operation<void>; sleep(7)!; obj?.op(); }\n`,
      errors: 8,
    },
    { name: "class generator methods", filename, code: `${variantImports}export class C { *m() { sleep(1); } static *s() { sleep(2); } }\n`, errors: 2 },
    {
      name: "await (0, op) and yield inside an expression",
      filename,
      code: `${variantImports}export async function g() { await (0, sleep(1)); }\nexport function* h() { const v = yield sleep(1); }\n`,
      errors: 2,
    },
  ],
});

// From a second outside review: intent declared by a function's return type or a class's heritage, and callbacks of every
// parameter type (corio's APIs, overloads, unions, any/unknown/Function, generics), which must not be reported.
const reviewImports = `import { all, run, sleep, spawn, scope, start, every, limitGather, retry, shield, timeout, type Operation } from "../../../src/index.ts";\nfunction* work(): Operation<void> { yield* sleep(1); }\nfunction* item(n: number): Operation<number> { yield* sleep(n); return n; }\n`;
const reviewCase = (name: string, body: string) => ({ name, filename, code: `${reviewImports}${body}\n` });
tester.run("no-floating-operation: declared intent, callback types", rule, {
  valid: [
    reviewCase(
      "class implements Iterable<Operation<void>>: yield* of its array, yield of one",
      "export class Jobs implements Iterable<Operation<void>> { ops: Operation<void>[] = [sleep(1)]; *[Symbol.iterator]() { yield* this.ops; yield sleep(2); } }",
    ),
    reviewCase(
      "a class member declared by its base class or interface",
      "class Base { *jobs(): Generator<Operation<void>> {} }\ninterface Later { make: () => Operation<Operation<void>> }\nexport class Sub extends Base implements Later { *jobs() { yield sleep(1); } make = function* () { return sleep(1); }; }",
    ),
    reviewCase(
      "object literal returned from a function typed Iterable<Operation<void>>",
      "export function jobs(ids: number[], ops: Operation<void>[]): Iterable<Operation<void>> { if (ids.length === 0) return { *[Symbol.iterator]() { yield* ops; } }; return { *[Symbol.iterator]() { for (const id of ids) yield sleep(id); } }; }",
    ),
    reviewCase(
      "arrow body typed Iterable<Operation<void>>, and an arrow declared by its variable",
      "export const jobs = (ids: number[]): Iterable<Operation<void>> => ({ *[Symbol.iterator]() { for (const id of ids) yield sleep(id); } });\nexport const more: () => Iterable<Operation<void>> = () => ({ *[Symbol.iterator]() { yield* [sleep(1), sleep(2)]; } });",
    ),
    reviewCase(
      "object literal typed Iterable<Operation<void>> yield*s an array",
      "export const jobs: Iterable<Operation<void>> = { *[Symbol.iterator]() { yield* [sleep(1), sleep(2)]; } };",
    ),
    reviewCase(
      "corio's APIs take generator functions and references to them",
      "export function* op() { yield* spawn(work); yield* scope(work); yield* shield(work); yield* timeout(10, work); yield* retry(item); yield* every(10, work); yield* limitGather([1, 2], 1, item); yield* start(function* (started) { started(); yield* sleep(1); }); }\nawait run(work);\nimport { it } from 'node:test';\nit('x', () => run(work));",
    ),
    reviewCase(
      "callback types that do not ignore an operation: generic, overloaded, union, any, unknown, Function, void | Operation",
      [
        "declare function traced<F extends (...args: any[]) => void>(f: F): F;\nexport const t = traced(work);\nexport const u = traced(function* () { yield* sleep(1); });",
        "declare function call<T>(cb: () => T): T;\nexport const o = call(work);",
        "declare function each<T, R>(xs: T[], f: (x: T) => R): R[];\nexport const r = each([1], item);",
        "declare function on(e: 'tick', cb: () => void): void;\ndeclare function on(e: 'job', cb: () => Operation<void>): void;\non('job', work);\non('job', function* () { yield* sleep(1); });",
        "declare function union(cb: (() => void) | (() => Operation<void>)): void;\nunion(work);",
        "declare function anyCb(cb: any): void;\nanyCb(work);\nanyCb(function* () { yield* sleep(1); });",
        "declare function unknownCb(cb: () => unknown): void;\nunknownCb(work);\nunknownCb(function* () { yield* sleep(1); });",
        "declare function fn(cb: Function): void;\nfn(work);",
        "declare function maybeVoid(cb: () => void | Operation<void>): void;\nmaybeVoid(work);",
      ].join("\n"),
    ),
    // Odd syntax must never throw.
    reviewCase(
      "object literal with spread, computed keys, getters; nested typed object literal; destructuring defaults",
      "const base = { a: 1 };\nconst k = 'x';\nexport const o: Record<string, unknown> = { ...base, [k]: function* () { yield* sleep(1); }, get g() { return sleep(1); }, *m() { yield* sleep(1); }, *[Symbol.iterator]() { yield* sleep(1); } };\nexport const n: { inner: { f: () => Operation<Operation<void>> } } = { inner: { f: function* () { return sleep(1); } } };\nexport function f({ g = function* () { yield* sleep(1); } }: { g?: () => Operation<void> } = {}) { return g; }\nexport const [h = function* () { return sleep(1); }] = [] as (() => Operation<Operation<void>>)[];",
    ),
    reviewCase(
      "private, static, declare and abstract members; super(work); optional call; new without arguments; tagged template",
      "export abstract class A { declare d: () => void; abstract m(): Operation<void>; *#p() { yield* sleep(1); } static *s() { yield* sleep(1); } run() { return this.#p(); } }\nclass B { constructor(public f: () => Operation<void>) {} }\nexport class C extends B { constructor() { super(work); } }\ndeclare const maybe: ((cb: () => Operation<void>) => void) | undefined;\nmaybe?.(work);\nclass D {}\nexport const d = new D;\nconst tag = (s: TemplateStringsArray) => s;\nexport const tt = tag`x`;",
    ),
  ],
  invalid: [
    // Without a declared return type, what a function returns has an inferred type, which says nothing of intent.
    {
      ...reviewCase(
        "an iterable returned from a function, an arrow or a class with nothing declared",
        "export function jobs(ids: number[]) { return { *[Symbol.iterator]() { for (const id of ids) yield sleep(id); } }; }\nexport const more = () => ({ *[Symbol.iterator]() { yield* [sleep(1)]; } });\nexport class Jobs { *[Symbol.iterator]() { yield sleep(1); } }\ndeclare function use(f: () => Iterable<Operation<void>>): void;\nuse(() => ({ *[Symbol.iterator]() { yield sleep(2); } }));",
      ),
      errors: [{ messageId: "yieldWithoutStar" }, { messageId: "delegatedArray" }, { messageId: "yieldWithoutStar" }, { messageId: "yieldWithoutStar" }],
    },
    {
      ...reviewCase(
        "a class whose heritage does not declare the member",
        "interface Named { name: string }\nexport class Jobs implements Named { name = 'x'; *[Symbol.iterator]() { yield sleep(1); } static *s() { yield sleep(2); } }",
      ),
      errors: [{ messageId: "yieldWithoutStar" }, { messageId: "yieldWithoutStar" }],
    },
  ],
});

// The recommended config, spread as documented, must leave the project's JS files (eslint.config.js) alone: the rule needs type information.
describe("configs.recommended", () => {
  it("is scoped to TypeScript files", () => {
    assert.deepEqual(plugin.configs.recommended.files, ["**/*.ts", "**/*.tsx", "**/*.mts", "**/*.cts"]);
  });
  it("does not stop the lint run on eslint.config.js (a .js file without type information)", () => {
    const linter = new Linter();
    assert.doesNotThrow(() => linter.verify("export default [];\n", [plugin.configs.recommended], "eslint.config.js"));
  });
});

const review3Imports = `import { all, Lock, run, sleep, spawn, until, type Operation } from "../../../src/index.ts";\n`;
const generatorDiscarded = (text: string) => ({ messageId: "generatorDiscarded", data: { text } });
tester.run("no-floating-operation: generator functions reached through a variable, a narrowing or a value got from an operation", rule, {
  valid: [
    {
      name: "V1 arrow returning arrow returning object literal (no loop, no crash)",
      filename,
      code: `${review3Imports}export const f = () => () => ({ a: 1, *[Symbol.iterator]() { yield* sleep(1); } });\n`,
    },
    {
      name: "V2 const f: F = () => ... self-referential",
      filename,
      code: `${review3Imports}type F = () => Iterable<Operation<void>>;\nexport const f: F = () => ({ *[Symbol.iterator]() { yield sleep(1); yield* f(); } });\n`,
    },
    {
      name: "V3 class extends generic base whose member type depends on T",
      filename,
      code: `${review3Imports}class Base<T> { items: T[] = []; *[Symbol.iterator](): Iterator<T> { yield* this.items; } }\nexport class Jobs extends Base<Operation<void>> { override *[Symbol.iterator]() { yield* this.items; } }\n`,
    },
    {
      name: "V4 override of a method returning Operation<Operation>",
      filename,
      code: `${review3Imports}class A { *make(): Operation<Operation<void>> { return sleep(1); } }\nexport class B extends A { override *make() { return sleep(2); } }\n`,
    },
    {
      name: "V5 crash hunt: computed non-symbol key, private method, extends null-ish, implements unknown",
      filename,
      code: `${review3Imports}const key = "k" as string;\nexport class C extends (Object as any) implements Iterable<Operation<void>> { [key]() { return 1; } #p() { return 2; } *[Symbol.iterator]() { yield* [sleep(1)]; } }\n`,
    },
    {
      name: "V6 crash hunt: class expression in return with declared type",
      filename,
      code: `${review3Imports}export function mk(): new () => Iterable<Operation<void>> { return class implements Iterable<Operation<void>> { *[Symbol.iterator]() { yield sleep(1); } }; }\n`,
    },
  ],
  invalid: [
    {
      name: "I1 let with a false|function declared type, narrowed by if",
      filename,
      code: `${review3Imports}export function* a() { let cb: ((id: number) => Operation<void>) | false = false; if (Math.random() > 0.5) cb = function* (id: number) { yield* sleep(id); }; if (cb) [1].forEach(cb); }\n`,
      errors: [generatorDiscarded("cb")],
    },
    {
      name: "I2 let without a type, assigned a generator later",
      filename,
      code: `${review3Imports}export function* a() { let f; f = function* (id: number) { yield* sleep(id); }; [1].forEach(f); }\n`,
      errors: [generatorDiscarded("f")],
    },
    {
      name: "I3 const initialised by await",
      filename,
      code: `${review3Imports}export async function a() { const handler = await Promise.resolve(function* (id: number) { yield* sleep(id); }); [1].forEach(handler); }\n`,
      errors: [generatorDiscarded("handler")],
    },
    {
      name: "I4 const initialised by an angle-bracket assertion",
      filename,
      code: `${review3Imports}export function a() { const handler = <(id: number) => Operation<void>>(function* (id: number) { yield* sleep(id); }); [1].forEach(handler); }\n`,
      errors: [generatorDiscarded("handler")],
    },
    {
      name: "I5 argument is yield* of a factory",
      filename,
      code: `${review3Imports}function* pick(): Operation<(id: number) => Operation<void>> { return function* (id: number) { yield* sleep(id); }; }\nexport function* a(): Operation<void> { [1].forEach(yield* pick()); }\n`,
      errors: [generatorDiscarded("yield* pick()")],
    },
    {
      name: "I6 argument is await of a factory",
      filename,
      code: `${review3Imports}async function pick() { return function* (id: number) { yield* sleep(id); }; }\nexport async function a() { [1].forEach(await pick()); }\n`,
      errors: [generatorDiscarded("await pick()")],
    },
    {
      name: "I7 nothing declared: arrow returning object literal still reported",
      filename,
      code: `${review3Imports}export const f = () => ({ *[Symbol.iterator]() { yield sleep(1); } });\n`,
      errors: [{ messageId: "yieldWithoutStar" }],
    },
  ],
});
