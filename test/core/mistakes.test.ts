// Mistakes are loud, and their messages name the fix (issue #14, section 1).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, it } from "node:test";
import ts from "typescript";
import { call, Lock, nextPeriod, run, StreamReader, sleep, spawn, suspend, timeout, until } from "../../src/index.ts";
import { runVirtual } from "../../src/testing/index.ts";
import { toThread } from "../../src/threads/index.ts";
import { checkLeaks, start } from "../_helpers.ts";

checkLeaks();

const NO_TASK = /no corio task is running; call it inside an operation started with run\(\) or spawn\(\)/;

describe("await on an operation", () => {
  it("rejects with a message saying to use yield*, or run(op) from async code", async () => {
    await assert.rejects(async () => await sleep(300), {
      name: "TypeError",
      message:
        "Cannot await sleep(…): a corio operation is not a promise. Inside an operation write yield* sleep(…); from async code run it: await run(function* () { yield* sleep(…); })",
    });
  });

  it("names a method by its object", async () => {
    await assert.rejects(async () => await new Lock().acquire(), { message: /^Cannot await lock\.acquire\(…\): .*write yield\* lock\.acquire\(…\)/ });
  });

  it("leaves a Task awaitable, and yield*, call and until working", async () => {
    assert.equal(
      await run(function* () {
        yield* sleep(1);
        return 1;
      }),
      1,
    );
    const value = await runVirtual(function* () {
      const a = yield* call(() => sleep(1));
      const b = yield* call(() =>
        run(function* () {
          return 2;
        }),
      );
      const c = yield* until(Promise.resolve(3));
      return [a, b, c];
    });
    assert.deepEqual(value, [undefined, 2, 3]);
  });

  it("until(operation) says to use yield*", async () => {
    await runVirtual(function* () {
      assert.throws(() => start(until(sleep(1) as never)), {
        message: "Cannot wait until: sleep(…) is an operation, not a promise; run it with yield* sleep(…)",
      });
    });
  });
});

describe("yield without the star", () => {
  it("throws at the yield, saying to write yield*", async () => {
    await assert.rejects(
      async () =>
        await run(
          function* () {
            yield sleep(1) as never;
          },
          { name: "app" },
        ),
      {
        name: "TypeError",
        message: "Cannot yield sleep(…) in task app: write yield* sleep(…) (with the star) to run an operation; a bare yield only ends a periodic round",
      },
    );
  });

  it("names until() for a promise", async () => {
    await assert.rejects(
      async () =>
        await run(
          function* () {
            yield Promise.resolve(1) as never;
          },
          { name: "app" },
        ),
      { message: "Cannot yield a promise in task app: wait for it with yield* until(promise); a bare yield only ends a periodic round" },
    );
  });
});

describe("operations run outside a task", () => {
  for (const [name, op] of [
    ["spawn", () => spawn(function* () {})],
    ["sleep", () => sleep(1)],
    ["suspend", () => suspend()],
    ["nextPeriod", () => nextPeriod()],
    ["timeout", () => timeout(1, sleep(1))],
  ] as const) {
    it(`${name} says that no task is running`, () => {
      assert.throws(() => start(op()), { message: NO_TASK });
    });
  }
});

describe("a promise where an operation is expected", () => {
  it("timeout(ms, promise) names until(promise) and call(() => promise)", async () => {
    await assert.rejects(
      runVirtual(function* () {
        yield* timeout(1000, Promise.resolve(1) as never);
      }),
      {
        name: "TypeError",
        message:
          "Cannot timeout: expected an operation (a generator) or a function returning one, but received a promise; wait for a promise with until(promise) or call(() => promise), or pass a generator function (function* () { ... })",
      },
    );
  });

  it("an async function passed to run names call()", async () => {
    await assert.rejects(async () => await run((async () => 1) as never), {
      message:
        /^Cannot run the task: expected a function returning an operation, but it returned a promise; wait for a promise with until\(promise\) or call\(\(\) => promise\)/,
    });
  });
});

describe("StreamReader.feed", () => {
  it("refuses a string at once, saying how to encode it", () => {
    assert.throws(() => new StreamReader().feed("text" as never), {
      name: "TypeError",
      message: "Cannot feed the StreamReader: expected bytes (a Uint8Array), received a string; encode it first: reader.feed(new TextEncoder().encode(text))",
    });
  });
});

describe("toThread", () => {
  it("a function using an outer variable fails with a ReferenceError that says functions are sent as source", async () => {
    const factor = 3;
    await assert.rejects(
      async () =>
        await run(function* () {
          return yield* toThread((n: number) => n * factor, 2);
        }),
      (error: Error) => {
        assert.equal(error.name, "ReferenceError");
        assert.match(error.message, /^factor is not defined \(a function run in a thread is sent as source text and compiled in the worker/);
        assert.match(error.message, /pass what it needs as arguments/);
        return true;
      },
    );
  });
});

describe("development mode (CORIO_DEV=1)", () => {
  it("reports each operation created and never run, with where it was created; a generator-written operation run twice throws", () => {
    const fixture = resolve(import.meta.dirname, "../fixtures/dev-floating.ts");
    const result = spawnSync(process.execPath, ["--import", "tsx", fixture], { encoding: "utf8", env: { ...process.env, CORIO_DEV: "1" } });
    assert.equal(result.status, 0, result.stderr);
    let reports: { kind: string; path: string; name: string; message: string; at: string }[] = result.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    const ranTwice = reports.filter((r) => r.kind === "ran-twice");
    assert.deepEqual(
      ranTwice.map((r) => [r.name, r.message]),
      ["sleep", "scope"].map((label) => [
        "TypeError",
        `Cannot run ${label}(…) twice: this operation object has already run (each runs once); call ${label}(…) again for another`,
      ]),
    );
    reports = reports.filter((r) => r.kind !== "ran-twice");
    assert.deepEqual(
      reports.map((r) => [r.kind, r.path, r.name, r.message]),
      ["sleep", "lock.acquire", "spawn"].map((label) => [
        "floating-operation",
        "app",
        "FloatingOperationError",
        `${label}(…) was created but never run: an operation does nothing until it is driven. Write yield* ${label}(…) inside an operation, or pass it to run(), spawn() or another corio function`,
      ]),
    );
    assert.deepEqual(
      reports.map((r) => r.at.replace(/^at .*dev-floating\.ts:(\d+):\d+\)?$/, "line $1")),
      ["line 14", "line 15", "line 16"],
    );
  });

  it("costs nothing without it: the operation functions are not wrapped", { skip: process.env["CORIO_DEV"] ? "CORIO_DEV is set" : false }, () => {
    assert.equal(
      Object.getPrototypeOf(sleep),
      Object.getPrototypeOf(function* () {}),
    );
  });
});

describe("the TypeScript error for yield without the star", () => {
  it("is short, names the fix, and mentions no internal type", () => {
    const root = resolve(import.meta.dirname, "../..");
    const dir = resolve(root, "tmp/type-fixtures");
    mkdirSync(dir, { recursive: true });
    const file = resolve(dir, "yield-without-star.ts");
    writeFileSync(
      file,
      `import { type Operation, run, sleep } from "../../src/index.ts";\n` +
        "export function* annotated(): Operation<void> {\n  yield sleep(1);\n}\n" +
        "export const inline = run(function* () {\n  yield sleep(1);\n});\n",
    );
    const program = ts.createProgram([file], {
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      allowImportingTsExtensions: true,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2023,
      types: ["node"],
    });
    const messages = ts
      .getPreEmitDiagnostics(program)
      .filter((d) => d.file?.fileName === file)
      .map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"));
    assert.equal(messages.length, 2, messages.join("\n\n"));
    // A generator with a declared type: one line, at the yield.
    assert.equal(
      messages[0],
      `Property '"write yield* (with the star) to run an operation"' is missing in type 'Operation<void>' but required in type 'Suspension'.`,
    );
    // An inline generator: TypeScript explains the argument, and ends with the same line.
    assert.ok(messages[1]?.endsWith(messages[0] as string), messages[1]);
    for (const message of messages) assert.doesNotMatch(message, /\bPark\b|TaskImpl|_park/);
  });
});
