// Examples are tests: every fenced ```ts block in the TSDoc of a public export
// (and in the README and docs/*.md) is written to tmp/doc-examples/ with its imports of
// "corio" pointed at src/, type-checked, and run. `console.assert` inside them throws.
// Blocks marked ```ts ignore are skipped (they need a terminal, a network...).
import assert from "node:assert/strict";
import { resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import ts from "typescript";
import { writeDocExamples } from "../scripts/_exports.ts";
import { needsRedisServer, type RedisServer, startRedisServer } from "./_redis.ts";

const root = resolve(import.meta.dirname, "..");
const examples = writeDocExamples(root);

const redisMissing = needsRedisServer();

describe("documentation examples", () => {
  // Examples of corio/redis read REDIS_URL: a real server, started for them.
  let redis: RedisServer | undefined;
  before(async () => {
    if (redisMissing === false && examples.some(({ code }) => code.includes("corio/redis"))) {
      redis = await startRedisServer();
      process.env["REDIS_URL"] = redis.url;
    }
  });
  after(async () => {
    await redis?.stop();
  });
  it("there are examples to run", () => {
    assert.ok(examples.length > 20, `found only ${examples.length}`);
  });

  it("type-check", () => {
    const config = ts.getParsedCommandLineOfConfigFile(resolve(root, "tsconfig.json"), {}, ts.sys as never);
    assert.ok(config !== undefined);
    // An example is a snippet: an unused import or local is not an error there, nor is process.env.NAME.
    const options = { ...config.options, noUnusedLocals: false, noUnusedParameters: false, noPropertyAccessFromIndexSignature: false, noEmit: true };
    const program = ts.createProgram(
      examples.map((example) => example.file),
      options,
    );
    const byFile = new Map(examples.map((example) => [example.file, example.name]));
    const problems = ts
      .getPreEmitDiagnostics(program)
      .filter((d) => d.file !== undefined && byFile.has(d.file.fileName))
      .map((d) => {
        const file = d.file as ts.SourceFile;
        const { line } = file.getLineAndCharacterOfPosition(d.start ?? 0);
        // Line 1 is the prelude that makes console.assert throw.
        return `${byFile.get(file.fileName)}, line ${line}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`;
      });
    assert.deepEqual(problems, []);
  });

  examples.forEach(({ name, file, code }) => {
    it(`runs the example of ${name}`, { skip: code.includes("corio/redis") && redisMissing }, async () => {
      await import(pathToFileURL(file).href);
    });
  });
});
