// The package as a user gets it: `npm pack` (its `prepack` builds dist/), the
// tarball installed into a scratch project outside the repository, then every
// export subpath type-checked under NodeNext and Bundler resolution (with
// `skipLibCheck: false`, so the published .d.ts must compile on their own) and
// imported by Node. Nothing here needs the network: corio's one runtime
// dependency (and @opentelemetry/api, corio/otel's optional peer) are packed
// from this repository's node_modules and installed `--offline` beside it.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  exports: Record<string, unknown>;
  dependencies: Record<string, string>;
  peerDependencies?: Record<string, string>;
};
const specifiers = Object.keys(pkg.exports)
  .filter((subpath) => subpath !== "./package.json")
  .map((subpath) => (subpath === "." ? "corio" : `corio/${subpath.slice(2)}`));
const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
const npm = process.platform === "win32" ? "npm.cmd" : "npm";

// No NODE_PATH: the scratch project must resolve everything from its own node_modules.
const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => name !== "NODE_PATH"));

/** Runs a command; rejects with its output if it fails. */
function exec(command: string, args: string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, shell: process.platform === "win32" });
    let output = "";
    child.stdout.on("data", (chunk) => (output += chunk));
    child.stderr.on("data", (chunk) => (output += chunk));
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve(output) : reject(new Error(`${command} ${args.join(" ")} exited with ${code}:\n${output}`))));
  });
}

function tarballs(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith(".tgz"))
    .map((name) => join(dir, name));
}

/** The packages installed in a project's node_modules (scoped ones as `@scope/name`). */
function installed(project: string): string[] {
  const dir = join(project, "node_modules");
  return readdirSync(dir)
    .filter((name) => !name.startsWith("."))
    .flatMap((name) => (name.startsWith("@") ? readdirSync(join(dir, name)).map((sub) => `${name}/${sub}`) : [name]))
    .sort();
}

const CONSUMER = `${specifiers.map((specifier, i) => `import * as m${i} from "${specifier}";`).join("\n")}
import { currentTime, DelayedCall, moveOnAfter, type Operation, Request, sleep, Subscription, spawn } from "corio";
import { IDelayedCall } from "corio/compat/twisted";
import { FileStream } from "corio/fs";
import { DatagramSocket } from "corio/net";
import { JobQueue } from "corio/redis";
import { runVirtual } from "corio/testing";
import { ThreadPool } from "corio/threads";

// What only corio's functions make has a private constructor in the published types (an
// @internal one would vanish from them, leaving TypeScript's implicit public \`constructor()\`).
export function privateConstructors(): unknown[] {
  return [
    // @ts-expect-error callLater makes it
    new DelayedCall(),
    // @ts-expect-error request() makes it
    new Request(),
    // @ts-expect-error broadcast.subscribe() makes it
    new Subscription(),
    // @ts-expect-error reactor.callLater makes it
    new IDelayedCall(),
    // @ts-expect-error openFile makes it
    new FileStream(),
    // @ts-expect-error openDatagram makes it
    new DatagramSocket(),
    // @ts-expect-error openJobQueue makes it
    new JobQueue(),
    // @ts-expect-error ThreadPool.start makes it
    new ThreadPool(),
  ];
}

const modules: Record<string, object> = { ${specifiers.map((specifier, i) => `"${specifier}": m${i}`).join(", ")} };
for (const [specifier, module] of Object.entries(modules)) {
  if (Object.keys(module).length === 0) throw new Error(\`\${specifier} exports nothing\`);
}
function* twice(n: number): Operation<number> {
  yield* sleep(10);
  return n * 2;
}
const result = await runVirtual(function* () {
  const child = yield* spawn(twice(21));
  const moved = yield* moveOnAfter(5, sleep(100));
  return { value: yield* child, cancelled: moved.cancelled, time: currentTime() };
});
console.log(JSON.stringify(result));
`;

function tsconfig(compilerOptions: Record<string, unknown>): string {
  return JSON.stringify({
    compilerOptions: {
      target: "ES2022",
      strict: true,
      skipLibCheck: false,
      // TypeScript's own lib.*.d.ts are not under test (checking them would double the time).
      skipDefaultLibCheck: true,
      types: ["node"],
      // @types/node is the one thing taken from the repository: a Node.js user has it.
      typeRoots: [join(root, "node_modules", "@types")],
      ...compilerOptions,
    },
    files: ["main.ts"],
  });
}

describe("the packed package", { timeout: 240_000 }, () => {
  let work = "";
  let project = "";

  before(async () => {
    work = mkdtempSync(join(tmpdir(), "corio-pack-"));
    const packed = join(work, "packed");
    const deps = join(work, "deps");
    mkdirSync(packed);
    mkdirSync(deps);
    await Promise.all([
      exec(npm, ["pack", "--silent", "--pack-destination", packed], root),
      exec(npm, ["pack", "--silent", "--ignore-scripts", "--pack-destination", deps, "./node_modules/lru-cache", "./node_modules/@opentelemetry/api"], root),
    ]);
    project = join(work, "project");
    mkdirSync(project);
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "scratch", private: true, type: "module" }));
  });

  after(() => {
    if (work !== "") rmSync(work, { recursive: true, force: true });
  });

  it("installs with its one runtime dependency, and ships no tests", async () => {
    const [corio] = tarballs(join(work, "packed"));
    const lruCache = tarballs(join(work, "deps")).find((file) => file.includes("lru-cache"));
    assert.ok(corio !== undefined && lruCache !== undefined);
    await exec(npm, ["install", "--offline", "--no-audit", "--no-fund", "--prefix", project, lruCache, corio], project);
    assert.deepEqual(installed(project), ["corio", "lru-cache"]);
    const manifest = JSON.parse(readFileSync(join(project, "node_modules", "corio", "package.json"), "utf8"));
    assert.deepEqual(Object.keys(manifest.dependencies), ["lru-cache"]);
    assert.equal(manifest.peerDependenciesMeta["@opentelemetry/api"].optional, true);
    assert.deepEqual(readdirSync(join(project, "node_modules", "corio")).sort(), ["LICENSE", "README.md", "dist", "package.json", "src"]);
    // `stripInternal`: what is marked @internal is not part of the published types.
    const dist = join(project, "node_modules", "corio", "dist");
    const declarations = readdirSync(dist, { recursive: true, encoding: "utf8" }).filter((file) => file.endsWith(".d.ts"));
    assert.ok(declarations.length > 0);
    for (const file of declarations) assert.doesNotMatch(readFileSync(join(dist, file), "utf8"), /@internal/, file);
  });

  it("type-checks every subpath under NodeNext and Bundler resolution", async () => {
    // corio/otel's users install its peer.
    const otel = tarballs(join(work, "deps")).find((file) => file.includes("opentelemetry"));
    assert.ok(otel !== undefined);
    await exec(npm, ["install", "--offline", "--no-audit", "--no-fund", "--prefix", project, otel], project);
    // The other optional peers (eslint for corio/eslint-plugin, ioredis and bullmq for corio/redis) have
    // many dependencies of their own: linked from this project's node_modules, as a user's install would provide them.
    for (const peer of Object.keys(pkg.peerDependencies ?? {})) {
      const target = join(project, "node_modules", peer);
      if (existsSync(target)) continue;
      mkdirSync(dirname(target), { recursive: true });
      symlinkSync(join(root, "node_modules", peer), target, "dir");
    }
    writeFileSync(join(project, "main.ts"), CONSUMER);
    writeFileSync(join(project, "tsconfig.json"), tsconfig({ module: "NodeNext", moduleResolution: "NodeNext", outDir: "out" }));
    writeFileSync(join(project, "tsconfig.bundler.json"), tsconfig({ module: "Preserve", moduleResolution: "Bundler", noEmit: true }));
    await Promise.all([exec(process.execPath, [tsc, "-p", "tsconfig.json"], project), exec(process.execPath, [tsc, "-p", "tsconfig.bundler.json"], project)]);
  });

  it("imports every subpath with Node", async () => {
    const output = await exec(process.execPath, [join(project, "out", "main.js")], project);
    assert.deepEqual(JSON.parse(output), { value: 42, cancelled: true, time: 10 });
  });
});
