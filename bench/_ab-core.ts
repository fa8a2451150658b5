// A/B of the core hot paths: an older checkout against this one. Each
// measurement runs in a process of its own (warm-up, then the median of five
// runs), and the two checkouts alternate which goes first, pair after pair.
// Two copies of corio in one process are not a fair comparison: the copy
// imported first ran the same code 1.6-1.9x faster than the second one. On a
// noisy machine the fastest run of each side says more than the medians.
//   git worktree add /tmp/corio-old <ref> && ln -s "$PWD/node_modules" /tmp/corio-old/
//   node --import tsx --expose-gc bench/_ab-core.ts /tmp/corio-old [pairs] [case,case...]
import { execFileSync } from "node:child_process";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type * as Corio from "../src/index.ts";

type C = typeof Corio;
type Case = (c: C) => Promise<number>;

const N = 100_000;

async function spawnJoin(c: C): Promise<number> {
  const body = function* () {};
  const t = performance.now();
  await c.run(function* () {
    for (let i = 0; i < N; i++) yield* yield* c.spawn(body);
  });
  return ((performance.now() - t) * 1e6) / N;
}
/** What users write: a new generator closure per task. */
async function spawnJoinInline(c: C): Promise<number> {
  const t = performance.now();
  await c.run(function* () {
    for (let i = 0; i < N; i++)
      yield* yield* c.spawn(function* () {
        return i;
      });
  });
  return ((performance.now() - t) * 1e6) / N;
}
async function timeouts(c: C): Promise<number> {
  const body = function* () {
    return 1;
  };
  const t = performance.now();
  await c.run(function* () {
    for (let i = 0; i < N; i++) yield* c.timeout(10_000, body);
  });
  return ((performance.now() - t) * 1e6) / N;
}
async function spawnAllJoin(c: C): Promise<number> {
  const body = function* () {};
  const t = performance.now();
  await c.run(function* () {
    const ts = [];
    for (let i = 0; i < N; i++) ts.push(yield* c.spawn(body));
    for (const x of ts) yield* x;
  });
  return ((performance.now() - t) * 1e6) / N;
}
async function pingPong(c: C): Promise<number> {
  const M = 200_000;
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
async function cancelTree(c: C): Promise<number> {
  const K = 10_000;
  const child = function* () {
    try {
      yield* c.suspend();
    } finally {
    }
  };
  let elapsed = 0;
  await c.run(function* () {
    const root = yield* c.spawn(function* () {
      for (let i = 0; i < K; i++) yield* c.spawn(child);
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
async function lockContended(c: C): Promise<number> {
  const M = 100_000;
  const t = performance.now();
  await c.run(function* () {
    const lock = new c.Lock();
    for (let w = 0; w < 8; w++)
      yield* c.spawn(function* () {
        for (let i = 0; i < M / 8; i++) {
          yield* lock.acquire();
          try {
            yield* c.sleep(0);
          } finally {
            lock.release();
          }
        }
      });
  });
  return ((performance.now() - t) * 1e6) / M;
}
async function boundedQueue(c: C): Promise<number> {
  const M = 400_000;
  const t = performance.now();
  await c.run(function* () {
    const queue = new c.Queue<number>({ maxsize: 64 });
    yield* c.spawn(function* () {
      for (let i = 0; i < M; i++) yield* queue.put(i);
    });
    yield* c.spawn(function* () {
      for (let i = 0; i < M; i++) yield* queue.get();
    });
  });
  return ((performance.now() - t) * 1e6) / M;
}
const cases: Record<string, Case> = {
  "spawn+join": spawnJoin,
  "spawn+join, inline closure": spawnJoinInline,
  "100k timeouts": timeouts,
  "spawn 100k then join": spawnAllJoin,
  "ping-pong": pingPong,
  "cancel 10k tree": cancelTree,
  "lock 8 contenders": lockContended,
  "bounded queue": boundedQueue,
};

const median = (v: number[]): number => [...v].sort((p, q) => p - q)[Math.floor(v.length / 2)] ?? Number.NaN;

if (process.argv[2] === "--child") {
  // One measurement: `--child <checkout> <case>` prints the median ns per operation.
  const [dir, name] = process.argv.slice(3) as [string, string];
  const c = (await import(pathToFileURL(resolve(dir, "src/index.ts")).href)) as C;
  const fn = cases[name] as Case;
  for (let i = 0; i < 3; i++) await fn(c);
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) samples.push(await fn(c));
  console.log(median(samples));
} else {
  const oldDir = process.argv[2];
  if (oldDir === undefined) throw new Error("Cannot compare: pass the path of the older checkout, e.g. /tmp/corio-old");
  const pairs = Number(process.argv[3] ?? 8);
  const names = process.argv[4]?.split(",") ?? Object.keys(cases);
  const unknown = names.filter((name) => !(name in cases));
  if (unknown.length > 0) throw new Error(`Unknown case(s) ${unknown.join(", ")}: the cases are ${Object.keys(cases).join(", ")}`);
  const here = resolve(import.meta.dirname, "..");
  const measure = (dir: string, name: string): number =>
    Number(execFileSync(process.execPath, ["--import", "tsx", "--expose-gc", import.meta.filename, "--child", dir, name], { encoding: "utf8" }).trim());
  console.log(
    `${pairs} pairs of processes, alternating; ns per operation, median (and fastest) of the pairs\n| case | before | after | after/before | fastest after/before | range of the pairs |\n| --- | --- | --- | --- | --- | --- |`,
  );
  for (const name of names) {
    const before: number[] = [];
    const after: number[] = [];
    for (let pair = 0; pair < pairs; pair++) {
      if (pair % 2 === 0) {
        before.push(measure(oldDir, name));
        after.push(measure(here, name));
      } else {
        after.push(measure(here, name));
        before.push(measure(oldDir, name));
      }
    }
    const ratios = after.map((x, i) => x / (before[i] as number)).sort((p, q) => p - q);
    const range = `${(ratios[0] as number).toFixed(2)}–${(ratios.at(-1) as number).toFixed(2)}`;
    const fastest = (v: number[]): number => Math.min(...v);
    console.log(
      `| ${name} | ${median(before).toFixed(0)} (${fastest(before).toFixed(0)}) | ${median(after).toFixed(0)} (${fastest(after).toFixed(0)}) | ${(median(after) / median(before)).toFixed(2)}x | ${(fastest(after) / fastest(before)).toFixed(2)}x | ${range} |`,
    );
  }
}
