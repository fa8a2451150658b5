// Checks the built package through its `exports` map, as a user would
// import it: `npm run build` first (npm test does). Only plain JavaScript here.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { all, currentTime, run, sleep, spawn, TimeoutError, timeout } from "corio";
import { openConnection, startServer } from "corio/net";
import { spawnProcess } from "corio/process";
import { runVirtual } from "corio/testing";
import { ThreadPool } from "corio/threads";

const result = await runVirtual(function* () {
  const child = yield* spawn(function* () {
    yield* sleep(10);
    return "child";
  });
  let timedOut = false;
  try {
    yield* timeout(5, sleep(100));
  } catch (error) {
    timedOut = error instanceof TimeoutError;
  }
  const values = yield* all([
    child,
    function* () {
      return "op";
    },
  ]);
  return { values, timedOut, time: currentTime() };
});
assert.deepEqual(result, { values: ["child", "op"], timedOut: true, time: 10 });

// The entry points share one loop and one copy of every module (scripts/build.mjs puts the
// shared code in chunks): a thread pool, a TCP echo on loopback and a subprocess, run by the
// main entry's `run`.
const crossing = await run(function* () {
  const pool = yield* ThreadPool.start({ size: 1 });
  const sum = yield* pool.call((a, b) => a + b, 2, 3);
  const server = yield* startServer(
    function* (reader, writer) {
      writer.write(yield* reader.readLine());
    },
    { host: "127.0.0.1", port: 0 },
  );
  const { reader, writer } = yield* openConnection({ host: "127.0.0.1", port: server.address.port });
  writer.write("ping\n");
  const echoed = String(yield* reader.readLine());
  writer.close();
  server.close();
  const child = yield* spawnProcess(process.execPath, ["-e", "console.log('child')"], { stdout: "pipe" });
  const printed = String(yield* child.stdout.readLine());
  yield* child.wait();
  return { sum, echoed, printed };
});
assert.deepEqual(crossing, { sum: 5, echoed: "ping\n", printed: "child\n" });

// Every subpath export whose module is built must load.
const pkg = JSON.parse(readFileSync("package.json", "utf8"));
// The build joins modules (scripts/build.mjs): every exported class and function keeps the name it
// is exported under, which `.name`, stack traces and corio's dev-mode labels show.
let loaded = 0;
const misnamed = [];
for (const [subpath, target] of Object.entries(pkg.exports)) {
  if (typeof target !== "object" || !existsSync(target.default)) continue;
  const specifier = subpath === "." ? "corio" : `corio/${subpath.slice(2)}`;
  const module = await import(specifier);
  for (const [name, value] of Object.entries(module)) {
    if (typeof value === "function" && value.name !== name) misnamed.push(`${specifier}: ${name} is named ${value.name}`);
  }
  loaded++;
}
assert.deepEqual(misnamed, [], "exports whose .name is not their name");
console.log(`smoke-dist: the built package works through its exports map (${loaded} entry points)`);
