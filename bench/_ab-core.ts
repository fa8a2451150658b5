// A/B of the core hot paths: an older checkout against this one, in one
// process (two copies of the modules), rounds interleaved and alternating
// which goes first, so machine noise hits both alike. Medians are printed.
//   git worktree add /tmp/corio-old <ref> && ln -s "$PWD/node_modules" /tmp/corio-old/
//   node --import tsx --expose-gc bench/_ab-core.ts /tmp/corio-old
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import * as B from "../src/index.ts";

type C = typeof B;
const oldDir = process.argv[2];
if (oldDir === undefined) throw new Error("Cannot compare: pass the path of the older checkout, e.g. /tmp/corio-old");
const A = (await import(pathToFileURL(resolve(oldDir, "src/index.ts")).href)) as C;
const N = 100_000;
const ROUNDS = Number(process.argv[3] ?? 15);
async function spawnJoin(c: C) {
  const body = function* () {};
  const t = performance.now();
  await c.run(function* () {
    for (let i = 0; i < N; i++) yield* yield* c.spawn(body);
  });
  return ((performance.now() - t) * 1e6) / N;
}
/** What users write: a new generator closure per task. */
async function spawnJoinInline(c: C) {
  const t = performance.now();
  await c.run(function* () {
    for (let i = 0; i < N; i++)
      yield* yield* c.spawn(function* () {
        return i;
      });
  });
  return ((performance.now() - t) * 1e6) / N;
}
async function timeouts(c: C) {
  const body = function* () {
    return 1;
  };
  const t = performance.now();
  await c.run(function* () {
    for (let i = 0; i < N; i++) yield* c.timeout(10_000, body);
  });
  return ((performance.now() - t) * 1e6) / N;
}
async function spawnAllJoin(c: C) {
  const body = function* () {};
  const t = performance.now();
  await c.run(function* () {
    const ts = [];
    for (let i = 0; i < N; i++) ts.push(yield* c.spawn(body));
    for (const x of ts) yield* x;
  });
  return ((performance.now() - t) * 1e6) / N;
}
async function pingPong(c: C) {
  const M = 100_000;
  const t = performance.now();
  await c.run(function* () {
    let ping = new c.Future<void>();
    let pong = new c.Future<void>();
    const a = yield* c.spawn(function* () {
      for (let i = 0; i < M; i++) {
        yield* ping;
        ping = new c.Future();
        pong.resolve();
      }
    });
    const b = yield* c.spawn(function* () {
      for (let i = 0; i < M; i++) {
        ping.resolve();
        yield* pong;
        pong = new c.Future();
      }
    });
    yield* a;
    yield* b;
  });
  return ((performance.now() - t) * 1e6) / (2 * M);
}
async function cancelTree(c: C) {
  const K = 10_000;
  let elapsed = 0;
  await c.run(function* () {
    const root = yield* c.spawn(function* () {
      for (let i = 0; i < K; i++)
        yield* c.spawn(function* () {
          try {
            yield* c.suspend();
          } finally {
          }
        });
      yield* c.suspend();
    });
    yield* c.sleep(0);
    const t = performance.now();
    root.cancel();
    try {
      yield* root;
    } catch {}
    elapsed = performance.now() - t;
  });
  return (elapsed * 1e6) / K;
}
async function lockContended(c: C) {
  const M = 20_000;
  const t = performance.now();
  await c.run(function* () {
    const lock = new c.Lock();
    const ws = [];
    for (let w = 0; w < 8; w++)
      ws.push(
        yield* c.spawn(function* () {
          for (let i = 0; i < M / 8; i++) {
            yield* lock.acquire();
            try {
              yield* c.sleep(0);
            } finally {
              lock.release();
            }
          }
        }),
      );
    for (const w of ws) yield* w;
  });
  return ((performance.now() - t) * 1e6) / M;
}
const cases: [string, (c: C) => Promise<number>][] = [
  ["spawn+join", spawnJoin],
  ["spawn+join, inline closure", spawnJoinInline],
  ["100k timeouts", timeouts],
  ["spawn 100k then join", spawnAllJoin],
  ["ping-pong", pingPong],
  ["cancel 10k tree", cancelTree],
  ["lock 8 contenders", lockContended],
];
const res: Record<string, { a: number[]; b: number[] }> = {};
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, fn] of cases) {
    const entry = (res[name] ??= { a: [], b: [] });
    const first = round % 2 === 0;
    const x = await fn(first ? A : B);
    const y = await fn(first ? B : A);
    (first ? entry.a : entry.b).push(x);
    (first ? entry.b : entry.a).push(y);
    (globalThis as { gc?: () => void }).gc?.();
  }
}
const med = (v: number[]): number => [...v].sort((p, q) => p - q)[Math.floor(v.length / 2)] ?? Number.NaN;
console.log(`${ROUNDS} interleaved rounds, medians, ns per operation\n| case | before | after | after/before |\n| --- | --- | --- | --- |`);
for (const [name, { a, b }] of Object.entries(res)) console.log(`| ${name} | ${med(a).toFixed(0)} | ${med(b).toFixed(0)} | ${(med(b) / med(a)).toFixed(2)}x |`);
