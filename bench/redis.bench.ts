// Issue 15 benchmarks (corio/redis): job throughput of corio's processing (n = 8) against a
// plain BullMQ Worker with concurrency 8 on the same jobs, enqueue-to-start latency of both,
// and scaling from 1 to 2 worker processes. Starts its own redis-server (unix socket, no
// persistence). Run alone: npm run bench -- redis (compiled; through tsx it measures tsx's transform too)
import { type ChildProcess, spawn as spawnChild } from "node:child_process";
import { get } from "node:http";
import { resolve } from "node:path";
import { Queue as BullQueue, Worker as BullWorker } from "bullmq";
import { Redis } from "ioredis";
import { type Operation, run, sleep, spawn, until } from "../src/index.ts";
import { connectRedis, openJobQueue, redisEventSource } from "../src/redis/index.ts";
import { haveRedisServer, startRedisServer } from "../test/_redis.ts";
import { buildBenches } from "./_build.ts";
import { median } from "./_report.ts";

/** Where the compiled benches are, with the job-worker fixture (run.ts builds them; alone, this builds them). */
const benchBuild = process.env["CORIO_BENCH_BUILD"] || buildBenches();
const JOBS = 2000;
/** Jobs per throughput round: a round of 2,000 lasted about 0.1 s, and same-round ratios ranged 0.68-0.98. */
const THROUGHPUT_JOBS = 8000;
const ROUNDS = 7;
/**
 * Rounds of each side run first and not counted: both climb while V8 optimizes
 * (5k to 18k jobs/s over the first three rounds of a scratch run), and corio's
 * side has more code to warm, so counting those rounds measured the climb.
 */
const WARM_UP_ROUNDS = 2;
const LATENCY_SAMPLES = 200;

if (!haveRedisServer()) {
  console.log("redis.bench: redis-server is not installed (bash scripts/install-system-deps.sh installs it); skipped");
  process.exit(0);
}
const server = await startRedisServer();
const connection = { path: server.path, maxRetriesPerRequest: null };
let queueCount = 0;
const freshName = (): string => `bench-${++queueCount}`;

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] as number;
}

async function addJobs(name: string, count: number): Promise<void> {
  const queue = new BullQueue(name, { connection });
  for (let i = 0; i < count; i += 500) {
    await queue.addBulk(Array.from({ length: Math.min(500, count - i) }, (_, k) => ({ name: "job", data: { n: i + k }, opts: { removeOnComplete: true } })));
  }
  await queue.close();
}

/** Waits until every job was processed, the same way for every implementation: polling Redis every 5 ms. */
async function waitDrained(name: string): Promise<void> {
  const client = new Redis(connection);
  const queue = new BullQueue(name, { connection: client });
  // Completed jobs are removed (removeOnComplete): done when nothing waits or runs.
  for (;;) {
    const counts = await queue.getJobCounts("waiting", "active", "prioritized", "delayed");
    if ((counts["waiting"] ?? 0) + (counts["active"] ?? 0) + (counts["prioritized"] ?? 0) + (counts["delayed"] ?? 0) === 0) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  await queue.close();
  client.disconnect();
}

/** Jobs per second of a plain BullMQ Worker (concurrency 8) over THROUGHPUT_JOBS queued jobs. */
async function bullThroughput(): Promise<number> {
  const name = freshName();
  await addJobs(name, THROUGHPUT_JOBS);
  const start = performance.now();
  const worker = new BullWorker(name, async (job) => job.data.n, { connection, concurrency: 8 });
  await waitDrained(name);
  const elapsed = performance.now() - start;
  await worker.close();
  return THROUGHPUT_JOBS / (elapsed / 1000);
}

/** Jobs per second of corio's `JobQueue.process(8, …)` over THROUGHPUT_JOBS queued jobs. */
async function corioThroughput(): Promise<number> {
  const name = freshName();
  await addJobs(name, THROUGHPUT_JOBS);
  return await run(function* () {
    const jobs = yield* openJobQueue<{ n: number }, number>(name, { redis: { path: server.path } });
    const start = performance.now();
    const pool = yield* spawn(() =>
      jobs.process(8, function* (data) {
        return data.n;
      }),
    );
    yield* until(waitDrained(name));
    const elapsed = performance.now() - start;
    pool.cancel();
    return THROUGHPUT_JOBS / (elapsed / 1000);
  });
}

/** Enqueue-to-start latency (ms), one job at a time into an idle worker. */
async function bullLatency(): Promise<number[]> {
  const name = freshName();
  const queue = new BullQueue(name, { connection });
  const samples: number[] = [];
  let started: (() => void) | null = null;
  const worker = new BullWorker(
    name,
    async (job) => {
      samples.push(performance.now() - job.data.t);
      started?.();
    },
    { connection, concurrency: 8 },
  );
  await worker.waitUntilReady();
  for (let i = 0; i < LATENCY_SAMPLES; i++) {
    const startedNow = new Promise<void>((r) => {
      started = r;
    });
    await queue.add("job", { t: performance.now() }, { removeOnComplete: true });
    await startedNow;
  }
  await worker.close();
  await queue.close();
  return samples;
}

function* corioLatencyOp(): Operation<number[]> {
  const name = freshName();
  const jobs = yield* openJobQueue<{ t: number }, void>(name, { redis: { path: server.path } });
  const samples: number[] = [];
  let started: (() => void) | null = null;
  const pool = yield* spawn(() =>
    jobs.process(8, function* (data) {
      samples.push(performance.now() - data.t);
      started?.();
    }),
  );
  yield* sleep(200); // the worker's first fetch is under way
  for (let i = 0; i < LATENCY_SAMPLES; i++) {
    const startedNow = new Promise<void>((r) => {
      started = r;
    });
    yield* jobs.add({ t: performance.now() }, { removeOnComplete: true });
    yield* until(startedNow);
  }
  pool.cancel();
  return samples;
}

/** Time for `processes` worker processes (2 jobs at a time each) to process JOBS jobs. */
async function processScaling(processes: number): Promise<number> {
  const name = freshName();
  const children: ChildProcess[] = [];
  try {
    for (let i = 0; i < processes; i++) {
      const child = spawnChild(process.execPath, [resolve(benchBuild, "test/fixtures/redis-job-worker.js"), server.path, name], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      children.push(child);
      await new Promise<void>((r) => {
        let text = "";
        child.stdout?.on("data", (data: Buffer) => {
          text += data.toString();
          if (text.includes("ready\n")) r();
        });
      });
    }
    const queue = new BullQueue(name, { connection });
    const start = performance.now();
    for (let i = 0; i < JOBS; i += 500) {
      await queue.addBulk(Array.from({ length: Math.min(500, JOBS - i) }, () => ({ name: "job", data: { ms: 1 }, opts: { removeOnComplete: true } })));
    }
    await queue.close();
    await waitDrained(name);
    return JOBS / ((performance.now() - start) / 1000);
  } finally {
    for (const child of children) {
      child.kill("SIGINT");
      await new Promise((r) => child.once("exit", r));
    }
  }
}

/** Starts `processes` event-stream servers on one Redis stream; `clients` raw clients spread over them; times `events` broadcasts reaching every client. */
async function sseFanOut(processes: number, clients: number, events: number): Promise<{ deliveriesPerSecond: number; ms: number }> {
  const channel = `sse-${++queueCount}`;
  const servers: ChildProcess[] = [];
  const ports: number[] = [];
  const requests: ReturnType<typeof get>[] = [];
  try {
    for (let i = 0; i < processes; i++) {
      // corio's server compiled, as the package runs (bench/_build.ts; run.ts built it).
      const child = spawnChild(process.execPath, [resolve(benchBuild, "bench/_sse-redis-server.js"), server.path, channel], {
        stdio: ["pipe", "pipe", "inherit"],
      });
      servers.push(child);
      ports.push(
        await new Promise<number>((r) => {
          child.stdout?.setEncoding("utf8");
          child.stdout?.on("data", (line: string) => {
            if (/^\d+\s*$/.test(line)) r(Number(line));
          });
        }),
      );
    }
    let complete = 0;
    let allDone: () => void = () => {};
    const done = new Promise<void>((r) => {
      allDone = r;
    });
    await Promise.all(
      Array.from(
        { length: clients },
        (_, i) =>
          new Promise<void>((connected) => {
            let frames = 0;
            let tail = "";
            let finished = false;
            const request = get(`http://127.0.0.1:${ports[i % processes]}/events`, (response) => {
              connected();
              response.setEncoding("utf8");
              response.on("data", (chunk: string) => {
                // One frame per event: count the "data:" lines, also one split between two chunks.
                const text = tail + chunk;
                for (let at = text.indexOf("data:"); at !== -1; at = text.indexOf("data:", at + 5)) if (at + 5 > tail.length) frames++;
                tail = text.slice(-4);
                if (!finished && frames >= events) {
                  finished = true;
                  if (++complete === clients) allDone();
                }
              });
            });
            request.on("error", () => {});
            requests.push(request);
          }),
      ),
    );
    const start = performance.now();
    await run(function* () {
      const redis = yield* connectRedis({ path: server.path });
      const source = yield* redisEventSource({ redis, channel, heartbeat: 0, historySize: 1000 });
      for (let n = 0; n < events; n++) yield* source.broadcast(n);
      yield* until(done);
    });
    const ms = performance.now() - start;
    return { deliveriesPerSecond: (clients * events) / (ms / 1000), ms };
  } finally {
    for (const request of requests) request.destroy();
    for (const child of servers) {
      child.stdin?.end();
      await new Promise((r) => child.once("exit", r));
    }
  }
}

try {
  const bull: number[] = [];
  const corio: number[] = [];
  for (let round = 0; round < WARM_UP_ROUNDS + ROUNDS; round++) {
    const bullRound = await bullThroughput();
    const corioRound = await corioThroughput();
    if (round < WARM_UP_ROUNDS) continue;
    bull.push(bullRound);
    corio.push(corioRound);
  }
  const bullRate = median(bull);
  const corioRate = median(corio);
  const ratios = corio.map((rate, i) => rate / (bull[i] as number));
  console.log(`\n## Job throughput, ${THROUGHPUT_JOBS} trivial jobs, 8 at a time (median of ${ROUNDS} interleaved rounds, after ${WARM_UP_ROUNDS} of warm-up)`);
  console.log("goal: corio ≥ 0.9x plain BullMQ");
  console.log("| implementation | jobs/s | ratio to plain BullMQ |\n| --- | --- | --- |");
  console.log(`| plain BullMQ Worker (concurrency 8) | ${bullRate.toFixed(0)} | 1.00x |`);
  console.log(`| corio JobQueue.process(8) | ${corioRate.toFixed(0)} | ${(corioRate / bullRate).toFixed(2)}x |`);
  console.log(`corio / BullMQ, same round: ${median(ratios).toFixed(2)}x (per round: ${ratios.map((r) => r.toFixed(2)).join(", ")})`);

  const bullLat = await bullLatency();
  const corioLat = await run(corioLatencyOp);
  console.log(`\n## Enqueue-to-start latency, ${LATENCY_SAMPLES} jobs one at a time into an idle worker`);
  console.log("| implementation | p50 | p99 |\n| --- | --- | --- |");
  console.log(`| plain BullMQ Worker | ${percentile(bullLat, 0.5).toFixed(2)} ms | ${percentile(bullLat, 0.99).toFixed(2)} ms |`);
  console.log(`| corio JobQueue.process | ${percentile(corioLat, 0.5).toFixed(2)} ms | ${percentile(corioLat, 0.99).toFixed(2)} ms |`);

  const one = await processScaling(1);
  const two = await processScaling(2);
  console.log(`\n## Scaling: ${JOBS} jobs of 1 ms, worker processes running 2 jobs each (this machine: 2 cores shared with Redis)`);
  console.log("| worker processes | jobs/s | ratio to 1 |\n| --- | --- | --- |");
  console.log(`| 1 | ${one.toFixed(0)} | 1.00x |`);
  console.log(`| 2 | ${two.toFixed(0)} | ${(two / one).toFixed(2)}x |`);

  const CLIENTS = 200;
  const EVENTS = 500;
  const sse1: number[] = [];
  const sse2: number[] = [];
  for (let round = 0; round < 3; round++) {
    sse1.push((await sseFanOut(1, CLIENTS, EVENTS)).deliveriesPerSecond);
    sse2.push((await sseFanOut(2, CLIENTS, EVENTS)).deliveriesPerSecond);
  }
  console.log(`\n## Server-sent events through Redis: ${EVENTS} broadcasts to ${CLIENTS} clients (every client gets every event), median of 3, interleaved`);
  console.log("| server processes | deliveries/s | ratio to 1 |\n| --- | --- | --- |");
  console.log(`| 1 (${CLIENTS} clients) | ${median(sse1).toFixed(0)} | 1.00x |`);
  console.log(`| 2 (${CLIENTS / 2} clients each) | ${median(sse2).toFixed(0)} | ${(median(sse2) / median(sse1)).toFixed(2)}x |`);
} finally {
  await server.stop();
}
