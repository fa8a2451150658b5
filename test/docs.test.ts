// Examples are tests: every fenced ```ts block in the TSDoc of a public export
// (and in the README and docs/*.md) is written to tmp/doc-examples/ with its imports of
// "corio" pointed at src/, and run. `console.assert` inside them throws.
// Blocks marked ```ts ignore are skipped (they need a terminal, a network...).
import assert from "node:assert/strict";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import { examplesIn, exportedDocs } from "../scripts/_exports.ts";
import { haveRedisServer, type RedisServer, startRedisServer } from "./_redis.ts";

const root = resolve(import.meta.dirname, "..");
const outDir = resolve(root, "tmp/doc-examples");
mkdirSync(outDir, { recursive: true });

const MODULES: Record<string, string> = {
  corio: "src/index.ts",
  "corio/testing": "src/testing/index.ts",
  "corio/net": "src/net/index.ts",
  "corio/fs": "src/fs/index.ts",
  "corio/process": "src/process/index.ts",
  "corio/threads": "src/threads/index.ts",
  "corio/inspect": "src/inspect/index.ts",
  "corio/compat/twisted": "src/compat/twisted/index.ts",
  "corio/compat/calvin": "src/compat/calvin/index.ts",
  "corio/otel": "src/otel/index.ts",
  "corio/redis": "src/redis/index.ts",
};

const PRELUDE = `const console = { ...globalThis.console, assert(condition: unknown, ...message: unknown[]) { if (!condition) throw new Error(\`example assertion failed\${message.length ? ": " + message.join(" ") : ""}\`); } };\n`;

function prepare(code: string): string {
  const rewritten = code.replace(/from\s+"(corio(?:\/[a-z/]+)?)"/g, (match, name: string) => {
    const target = MODULES[name];
    return target === undefined ? match : `from ${JSON.stringify(pathToFileURL(resolve(root, target)).href)}`;
  });
  return `${PRELUDE}${rewritten}\nexport {};\n`;
}

const examples: { name: string; code: string }[] = [];
for (const doc of exportedDocs()) {
  examplesIn(doc.docs).forEach((code, index) => {
    examples.push({ name: `${doc.name}${index > 0 ? ` #${index + 1}` : ""} (${doc.file.replace(`${root}/`, "")})`, code });
  });
}
examplesIn(readFileSync(resolve(root, "README.md"), "utf8")).forEach((code, index) => {
  examples.push({ name: `README example ${index + 1}`, code });
});
// The walk-throughs in docs/ are programs too.
for (const file of readdirSync(resolve(root, "docs")).filter((name) => name.endsWith(".md"))) {
  examplesIn(readFileSync(resolve(root, "docs", file), "utf8")).forEach((code, index) => {
    examples.push({ name: `docs/${file} example ${index + 1}`, code });
  });
}

const redisMissing = haveRedisServer() ? false : "redis-server is not installed (bash scripts/install-system-deps.sh installs it)";

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
  examples.forEach(({ name, code }, index) => {
    it(`runs the example of ${name}`, { skip: code.includes("corio/redis") && redisMissing }, async () => {
      const file = resolve(outDir, `example-${index}.ts`);
      writeFileSync(file, prepare(code));
      await import(pathToFileURL(file).href);
    });
  });
});
