// Checks the built package through its `exports` map, as a user would
// import it: `npm run build` first (npm test does). Only plain JavaScript here.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { all, currentTime, sleep, spawn, TimeoutError, timeout } from "corio";
import { runVirtual } from "corio/testing";

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

// Every subpath export whose module is built must load.
const pkg = JSON.parse(readFileSync("package.json", "utf8"));
let loaded = 0;
for (const [subpath, target] of Object.entries(pkg.exports)) {
  if (typeof target !== "object" || !existsSync(target.default)) continue;
  await import(subpath === "." ? "corio" : `corio/${subpath.slice(2)}`);
  loaded++;
}
console.log(`smoke-dist: the built package works through its exports map (${loaded} entry points)`);
