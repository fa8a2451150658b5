// corio/redis job queues on BullMQ against a real redis-server (issue 15).
import assert from "node:assert/strict";
import { type ChildProcess, spawn as spawnChild } from "node:child_process";
import { resolve } from "node:path";
import { beforeEach, describe, it } from "node:test";
import { Job as BullJob, Worker as BullWorker } from "bullmq";
import { Redis } from "ioredis";
import type { TaskImpl } from "../../src/core/task.ts";
import {
  allTasks,
  CancelledError,
  currentTask,
  Event,
  type Operation,
  ProcessingFailure,
  processQueueWithLimit,
  Queue,
  run,
  sleep,
  spawn,
  suspend,
  timeout,
  until,
} from "../../src/index.ts";
import { type JobOutcome, type JobQueue, openJobQueue } from "../../src/redis/index.ts";
import { checkLeaks } from "../_helpers.ts";
import { needsRedisServer, type RedisServer, useRedisServer } from "../_redis.ts";

const skip = needsRedisServer();

let queueCount = 0;
/** A fresh queue name per test: tests share one server. */
function freshName(): string {
  return `test-${process.pid}-${++queueCount}`;
}

/**
 * Runs `test` with BullMQ's `Worker.prototype.callProcessJob` (the call that
 * hands a job to the processor, BullMQ 5/6) wrapped by `wrap`: the tests below
 * time a cancel against a processor call with it, as a busy corio loop (its
 * flushes sliced every few ms) can time one without any hook.
 */
async function withProcessorCallsWrapped(
  wrap: (call: () => unknown, job: { id?: string }, count: number) => unknown,
  test: () => PromiseLike<unknown>,
): Promise<void> {
  const prototype = BullWorker.prototype as unknown as { callProcessJob(this: unknown, job: { id?: string }, ...rest: unknown[]): unknown };
  const original = prototype.callProcessJob;
  assert.equal(typeof original, "function", "BullMQ's Worker has no callProcessJob: update these tests");
  let count = 0;
  prototype.callProcessJob = function (this: unknown, job, ...rest) {
    return wrap(() => original.call(this, job, ...rest), job, ++count);
  };
  try {
    await test();
  } finally {
    prototype.callProcessJob = original;
  }
}

/** Reads outcomes until `count` have arrived (bounded by the test runner's timeout). */
function* collect<R>(outcomes: { next(): Operation<IteratorResult<JobOutcome<R>, undefined>> }, count: number): Operation<JobOutcome<R>[]> {
  const seen: JobOutcome<R>[] = [];
  while (seen.length < count) {
    const next = yield* outcomes.next();
    if (next.done) break;
    seen.push(next.value);
  }
  return seen;
}

/** How many clients the Redis server behind `probe` has connected (`probe` included). */
async function connectionCount(probe: Redis): Promise<number> {
  return String(await probe.client("LIST"))
    .trim()
    .split("\n").length;
}

describe("openJobQueue", { skip, timeout: 60_000 }, () => {
  checkLeaks();
  const redisServer = useRedisServer();
  let server: RedisServer;
  beforeEach(() => {
    server = redisServer();
  });

  it("a job queue opened inside timeout() is the caller's when timeout returns it (its client too)", async () => {
    const name = freshName();
    const counts = await run(function* () {
      const jobs = yield* timeout(5000, openJobQueue<number, number>(name, { redis: { path: server.path } }));
      yield* jobs.add(1);
      return yield* jobs.counts();
    });
    assert.equal(counts["waiting"], 1);
  });

  it("processes jobs n at a time as corio tasks; outcomes are seen through completions()", async () => {
    const name = freshName();
    let inFlight = 0;
    let most = 0;
    const result = await run(function* () {
      const jobs = yield* openJobQueue<number, number>(name, { redis: { path: server.path } });
      const outcomes = yield* jobs.completions();
      const workers = yield* spawn(() =>
        jobs.process(3, function* (n) {
          inFlight++;
          most = Math.max(most, inFlight);
          try {
            yield* sleep(20);
            return n * 10;
          } finally {
            inFlight--;
          }
        }),
      );
      for (let n = 1; n <= 9; n++) yield* jobs.add(n);
      const seen = yield* collect(outcomes, 9);
      workers.cancel();
      try {
        yield* workers;
      } catch (error) {
        assert.ok(error instanceof CancelledError);
      }
      return { seen, counts: yield* jobs.counts() };
    });
    assert.deepEqual(
      result.seen.map((o) => (o.status === "completed" ? o.value : o.error)).sort((a, b) => Number(a) - Number(b)),
      [10, 20, 30, 40, 50, 60, 70, 80, 90],
    );
    assert.equal(most, 3);
    assert.equal(result.counts["completed"], 9);
    assert.equal(result.counts["active"], 0);
  });

  it("processQueueWithLimit takes a JobQueue: the same call, local outcomes on the done queue, failures as ProcessingFailure", async () => {
    const name = freshName();
    const done = await run(function* () {
      const jobs = yield* openJobQueue<number, number>(name, { redis: server.url });
      const doneQueue = new Queue<number | ProcessingFailure<number>>();
      const pool = yield* spawn(() =>
        processQueueWithLimit(jobs, doneQueue, 2, function* (n: number) {
          yield* sleep(1);
          if (n === 3) throw new Error("three is bad");
          return n + 100;
        }),
      );
      for (const n of [1, 2, 3, 4]) yield* jobs.add(n);
      const got: (number | string)[] = [];
      while (got.length < 4) {
        const item = yield* doneQueue.get();
        got.push(item instanceof ProcessingFailure ? `${item.item}: ${(item.error as Error).message}` : item);
      }
      pool.cancel();
      return got;
    });
    assert.deepEqual(done.map(String).sort(), ["101", "102", "104", "3: three is bad"]);
  });

  it("a job failing past its retries lands in the failed set with its error, reported once", async () => {
    const name = freshName();
    let attempts = 0;
    const outcomes = await run(function* () {
      const jobs = yield* openJobQueue<string, string>(name, { redis: { path: server.path } });
      const completions = yield* jobs.completions();
      const pool = yield* spawn(() =>
        jobs.process(1, function* (_data, info) {
          attempts++;
          yield* sleep(1);
          throw new Error(`attempt ${info.attemptsMade + 1} failed`);
        }),
      );
      const id = yield* jobs.add("doomed", { attempts: 3, backoff: { type: "fixed", delay: 10 } });
      const seen = yield* collect(completions, 1);
      pool.cancel();
      const counts = yield* jobs.counts();
      return { id, seen, counts };
    });
    assert.equal(attempts, 3);
    assert.deepEqual(
      outcomes.seen.map((o) => (o.status === "failed" ? o.error : "completed")),
      ["attempt 3 failed"],
    );
    assert.ok(outcomes.seen.every((o) => o.id === outcomes.id));
    assert.equal(outcomes.counts["failed"], 1);
  });

  it("stopping a worker gives jobs a grace, then cancels them at their suspension point and puts them back; a later worker completes them", async () => {
    const name = freshName();
    const log: string[] = [];
    await run(function* () {
      const jobs = yield* openJobQueue<string, string>(name, { redis: { path: server.path } });
      const completions = yield* jobs.completions();
      const started = new Queue<string>();
      const first = yield* spawn(() =>
        jobs.process(
          2,
          function* (data) {
            started.putNowait(data);
            try {
              yield* sleep(data === "quick" ? 50 : 60_000);
              return `first worker: ${data}`;
            } catch (error) {
              log.push(`${data}: ${error instanceof CancelledError ? "CancelledError" : String(error)}`);
              throw error;
            }
          },
          { grace: 300 },
        ),
      );
      yield* jobs.add("quick");
      yield* jobs.add("slow");
      yield* started.get();
      yield* started.get();
      first.cancel();
      try {
        yield* first;
      } catch {}
      const counts = yield* jobs.counts();
      log.push(`after stop: waiting=${counts["waiting"]} failed=${counts["failed"]} completed=${counts["completed"]}`);
      const second = yield* spawn(() =>
        jobs.process(2, (data) =>
          (function* () {
            return `second worker: ${data}`;
          })(),
        ),
      );
      const seen = yield* collect(completions, 2);
      second.cancel();
      for (const outcome of seen) log.push(outcome.status === "completed" ? String(outcome.value) : `failed: ${outcome.error}`);
    });
    assert.deepEqual(log, ["slow: CancelledError", "after stop: waiting=1 failed=0 completed=1", "first worker: quick", "second worker: slow"]);
  });

  it("a job whose task is cancelled before its first step goes back to the queue, and the worker runs it again", async () => {
    const name = freshName();
    const ran: number[] = [];
    await withProcessorCallsWrapped(
      (call, job, count) => {
        const handedOver = call();
        // The job's task exists and waits for its first step: cancel it there (as a jobs.cancel(id) or a stop
        // with no grace can, when the loop is a flush behind). Its body never runs; BullMQ must still hear of it.
        if (count === 1) for (const task of allTasks()) if (task.name === `job ${job.id}`) task.cancel("before its first step");
        return handedOver;
      },
      () =>
        run(function* () {
          const jobs = yield* openJobQueue<number, number>(name, { redis: { path: server.path } });
          const completions = yield* jobs.completions();
          const pool = yield* spawn(() =>
            jobs.process(1, function* (n) {
              ran.push(n);
              return n * 10;
            }),
          );
          for (const n of [1, 2, 3]) yield* jobs.add(n);
          // Bounded: without the fix the first job stays active (and BullMQ waits for it) until its lock expires.
          const outcomes = yield* timeout(10_000, collect(completions, 3));
          pool.cancel();
          assert.deepEqual(outcomes.map((o) => (o.status === "completed" ? o.value : o.error)).sort(), [10, 20, 30]);
        }),
    );
    assert.deepEqual([...ran].sort(), [1, 2, 3]);
  });

  it("a job handed over after the worker was told to stop, before its stop began, goes back without running", async () => {
    const name = freshName();
    const ran: number[] = [];
    /** Stops the first worker (called from BullMQ's side). */
    let stopFirst: (() => void) | undefined;
    await withProcessorCallsWrapped(
      (call, _job, count) => {
        // The stop is asked for just before BullMQ hands over the second job: the owner's `finally` has not run yet.
        if (count === 2) stopFirst?.();
        return call();
      },
      () =>
        run(function* () {
          const jobs = yield* openJobQueue<number, number>(name, { redis: { path: server.path } });
          const completions = yield* jobs.completions();
          const first = yield* spawn(() =>
            jobs.process(
              1,
              function* (n) {
                ran.push(n);
                yield* sleep(1);
                return n;
              },
              { grace: 0 },
            ),
          );
          stopFirst = () => first.cancel();
          for (const n of [1, 2, 3]) yield* jobs.add(n);
          yield* timeout(10_000, function* () {
            try {
              yield* first;
            } catch {}
          });
          assert.deepEqual(ran, [1], "the first worker ran only the job it had before the stop");
          const second = yield* spawn(() =>
            jobs.process(1, function* (n) {
              ran.push(n);
              return n;
            }),
          );
          const outcomes = yield* timeout(10_000, collect(completions, 3));
          second.cancel();
          assert.deepEqual(outcomes.map((o) => (o.status === "completed" ? o.value : o.error)).sort(), [1, 2, 3]);
        }),
    );
    assert.deepEqual([...ran].sort(), [1, 2, 3]);
  });

  it("completions().close() closes its Redis connection at once, not when its owner ends", async () => {
    const name = freshName();
    const probe = new Redis({ path: server.path });
    try {
      const connections = () => connectionCount(probe);
      await run(function* () {
        const jobs = yield* openJobQueue<number, number>(name, { redis: { path: server.path } });
        const before = yield* until(connections());
        for (let i = 0; i < 3; i++) {
          const completions = yield* jobs.completions();
          completions.close();
          assert.equal((yield* completions.next()).done, true);
        }
        // Still inside the owner: connections closed from this side leave the server's list within a few turns.
        let after = yield* until(connections());
        for (let i = 0; i < 50 && after > before; i++) {
          yield* sleep(20);
          after = yield* until(connections());
        }
        assert.equal(after, before);
        // And the owner keeps no cleanup entry per closed listener.
        assert.deepEqual(
          (currentTask() as TaskImpl<unknown>).resourceNames().filter((name) => name === "job outcomes"),
          [],
        );
      });
    } finally {
      probe.disconnect();
    }
  });

  it("a worker stopped while it still sets up leaves no connection open", async () => {
    const name = freshName();
    const probe = new Redis({ path: server.path });
    try {
      const connections = () => connectionCount(probe);
      const before = await connections();
      await run(function* () {
        const jobs = yield* openJobQueue<number, number>(name, { redis: { path: server.path } });
        const pool = yield* spawn(() =>
          jobs.process(1, function* (n) {
            return n;
          }),
        );
        // Its first step has run: it waits for its cancel subscription's connection.
        yield* sleep(0);
        pool.cancel();
        try {
          yield* pool;
        } catch {}
      });
      // Connections closed from this side leave the server's list within a few turns.
      let after = await connections();
      for (let i = 0; i < 50 && after > before; i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        after = await connections();
      }
      assert.equal(after, before, "connections left open by the stopped worker");
    } finally {
      probe.disconnect();
    }
  });

  it("cancel(id) from another process's queue handle: a running job gets CancelledError and fails as cancelled; a waiting job is removed", async () => {
    const name = freshName();
    const log: string[] = [];
    let running: (() => void) | undefined;
    const isRunning = new Promise<void>((resolve) => {
      running = resolve;
    });
    const workerSide = run(function* () {
      const jobs = yield* openJobQueue<string, string>(name, { redis: { path: server.path } });
      yield* jobs.process(1, function* (data) {
        running?.();
        try {
          yield* suspend();
        } catch (error) {
          log.push(`${data} got ${(error as Error).name}`);
          throw error;
        }
        return "never";
      });
    });
    const outcome = await run(function* () {
      // Another root with its own connections stands for another process.
      const jobs = yield* openJobQueue<string, string>(name, { redis: { path: server.path } });
      const completions = yield* jobs.completions();
      const active = yield* jobs.add("long job");
      const waiting = yield* jobs.add("queued job");
      yield* untilPromise(isRunning);
      assert.equal(yield* jobs.cancel(waiting), true);
      assert.equal(yield* jobs.cancel(active, "user asked"), true);
      const [seen] = yield* collect(completions, 1);
      assert.equal(yield* jobs.cancel("no-such-job"), false);
      assert.equal(yield* jobs.cancel(active), false); // already ended
      const counts = yield* jobs.counts();
      return { seen, counts };
    });
    workerSide.cancel();
    await workerSide.then(
      () => {},
      () => {},
    );
    assert.deepEqual(log, ["long job got CancelledError"]);
    assert.equal(outcome.seen?.status, "failed");
    assert.equal(outcome.seen?.status === "failed" && outcome.seen.error, "cancelled: user asked");
    assert.equal(outcome.counts["waiting"], 0);
    assert.equal(outcome.counts["failed"], 1);
  });

  it("cancel(id) of a waiting job that a worker takes and completes between cancel's state read and its removal: false, and the result stays", async () => {
    const name = freshName();
    const prototype = BullJob.prototype as unknown as { getState(this: { id?: string }): Promise<string> };
    const original = prototype.getState;
    assert.equal(typeof original, "function", "BullMQ's Job has no getState: update this test");
    let raced = false;
    // The first state read of the job sees it waiting; before cancel acts on that, a plain BullMQ
    // worker takes the job and completes it, as a worker in another process could.
    prototype.getState = async function (this: { id?: string }) {
      const state = await original.call(this);
      if (raced || state !== "waiting") return state;
      raced = true;
      const worker = new BullWorker(name, async () => "done first", { connection: { path: server.path }, autorun: false });
      const completed = new Promise<void>((resolve) => worker.once("completed", () => resolve()));
      void worker.run();
      await completed;
      await worker.close();
      return state;
    };
    try {
      const outcome = await run(function* () {
        const jobs = yield* openJobQueue<string, string>(name, { redis: { path: server.path } });
        const id = yield* jobs.add("job");
        const cancelled = yield* jobs.cancel(id);
        return { cancelled, counts: yield* jobs.counts() };
      });
      assert.equal(raced, true, "the hook never saw the job waiting");
      assert.equal(outcome.cancelled, false, "cancel reported a job that had already completed");
      assert.equal(outcome.counts["completed"], 1, "the completed job was removed");
    } finally {
      prototype.getState = original;
    }
  });

  it("malformed job data fails that job with a clear error (validate) and the worker goes on", async () => {
    const name = freshName();
    const seen = await run(function* () {
      const jobs = yield* openJobQueue<number, number>(name, { redis: { path: server.path } });
      const completions = yield* jobs.completions();
      const isNumber = (data: unknown): data is number => typeof data === "number";
      const pool = yield* spawn(() =>
        jobs.process(
          1,
          (n: number) =>
            (function* () {
              return n * 2;
            })(),
          { validate: isNumber },
        ),
      );
      yield* jobs.add({ not: "a number" } as never, { attempts: 5 }); // as another program might
      yield* jobs.add(21);
      const outcomes = yield* collect(completions, 2);
      pool.cancel();
      return outcomes;
    });
    assert.equal(seen.length, 2);
    const failed = seen.find((o) => o.status === "failed");
    assert.match(
      failed?.status === "failed" ? failed.error : "",
      /Malformed job data for test-\d+-\d+ job \d+: the validate option refused \{"not":"a number"\}/,
    );
    assert.deepEqual(
      seen.filter((o) => o.status === "completed").map((o) => (o.status === "completed" ? o.value : 0)),
      [42],
    );
  });

  it("rejects bad arguments with clear errors", async () => {
    await run(function* () {
      yield* assertThrows(openJobQueue("a:b", { redis: server.url }), /without ':'/);
      yield* assertThrows(openJobQueue("x", {} as never), /options.redis/);
      const jobs = yield* openJobQueue(freshName(), { redis: { path: server.path } });
      yield* assertThrows(
        jobs.process(0, function* () {}),
        /n must be a positive integer/,
      );
      yield* assertThrows(processQueueWithLimit(jobs as JobQueue<unknown, unknown>, null, 1, undefined as never), /a worker function is needed/);
    });
  });

  it("a worker process killed (SIGKILL) mid-job: its job is recovered when the lock expires and completed by another worker", async () => {
    const name = freshName();
    const victim = spawnChild(process.execPath, ["--import", "tsx", fixture("redis-job-worker.ts"), server.path, name], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    try {
      const result = await run(function* () {
        const jobs = yield* openJobQueue<{ ms: number }, number>(name, { redis: { path: server.path } });
        const completions = yield* jobs.completions();
        const id = yield* jobs.add({ ms: 60_000 });
        yield* until(lineFrom(victim, `started ${id}`));
        victim.kill("SIGKILL");
        yield* until(new Promise((resolve) => victim.once("exit", resolve)));
        // Another worker (here, in this process) with a fast stalled-job check takes it over.
        const rescuer = yield* spawn(() =>
          jobs.process(
            1,
            (data) =>
              (function* () {
                yield* sleep(Math.min(data.ms, 1));
                return process.pid;
              })(),
            { lockDuration: 1000, stalledInterval: 300 },
          ),
        );
        const [outcome] = yield* collect(completions, 1);
        rescuer.cancel();
        return { id, outcome };
      });
      assert.equal(result.outcome?.id, result.id);
      assert.deepEqual(result.outcome?.status === "completed" && result.outcome.value, process.pid);
    } finally {
      if (victim.exitCode === null && victim.signalCode === null) victim.kill("SIGKILL");
    }
  });

  it("redis-server restarted mid-run (with its data): workers reconnect and every job completes", async () => {
    const name = freshName();
    const total = 30;
    const counts = await run(function* () {
      const jobs = yield* openJobQueue<number, number>(name, { redis: { path: server.path } });
      const pool = yield* spawn(() =>
        jobs.process(
          3,
          (n) =>
            (function* () {
              yield* sleep(20);
              return n;
            })(),
          { lockDuration: 1000, stalledInterval: 300 },
        ),
      );
      for (let n = 0; n < total; n++) yield* jobs.add(n);
      for (let i = 0; i < 200; i++) {
        if (((yield* jobs.counts())["completed"] ?? 0) >= 5) break;
        yield* sleep(10);
      }
      yield* until(server.save());
      yield* until(server.restart());
      let last: Record<string, number> = {};
      for (let i = 0; i < 1500; i++) {
        last = yield* jobs.counts();
        if (last["completed"] === total) break;
        yield* sleep(20);
      }
      pool.cancel();
      return last;
    });
    assert.equal(counts["completed"], total);
    assert.equal(counts["failed"], 0);
  });

  it("a worker stopped while Redis is down stops (5 s for the put-back), and its job is taken up once Redis is back", async () => {
    const name = freshName();
    const outcome = await run(function* () {
      const jobs = yield* openJobQueue<number, string>(name, { redis: { path: server.path } });
      const started = new Event();
      const fast = { lockDuration: 1000, stalledInterval: 300, grace: 0 };
      const first = yield* spawn(() =>
        jobs.process(
          1,
          () =>
            (function* () {
              started.set();
              yield* sleep(60_000);
              return "first";
            })(),
          fast,
        ),
      );
      const id = yield* jobs.add(1);
      yield* started.wait();
      yield* until(server.save());
      yield* until(server.kill());
      // Before: the put-back (and BullMQ's close behind it) waited for Redis for ever.
      first.cancel();
      yield* assertThrows(first, /CancelledError/);
      yield* until(server.restart());
      const takenUp: string[] = [];
      const second = yield* spawn(() =>
        jobs.process(
          1,
          (_n, info) =>
            (function* () {
              takenUp.push(info.id);
              return "second";
            })(),
          fast,
        ),
      );
      let counts: Record<string, number> = {};
      for (let i = 0; i < 500 && counts["completed"] !== 1; i++) {
        yield* sleep(20);
        counts = yield* jobs.counts();
      }
      second.cancel();
      return { completed: counts["completed"], failed: counts["failed"], takenUp, id };
    });
    assert.deepEqual(outcome, { completed: 1, failed: 0, takenUp: [outcome.id], id: outcome.id });
  });
});

function* untilPromise(promise: Promise<void>): Operation<void> {
  yield* until(promise);
}

function* assertThrows(op: Operation<unknown>, pattern: RegExp): Operation<void> {
  try {
    yield* op;
  } catch (error) {
    assert.match(String(error), pattern);
    return;
  }
  assert.fail(`expected an error matching ${pattern}`);
}

function fixture(name: string): string {
  return resolve(import.meta.dirname, "../fixtures", name);
}

/** Resolves when the child prints `line` (rejects if it exits first). */
function lineFrom(child: ChildProcess, line: string): Promise<void> {
  return new Promise((resolveLine, reject) => {
    let buffered = "";
    const onData = (data: Buffer): void => {
      buffered += data.toString();
      if (buffered.split("\n").includes(line)) {
        child.stdout?.off("data", onData);
        resolveLine();
      }
    };
    child.stdout?.on("data", onData);
    child.once("exit", (code, signal) => reject(new Error(`the worker exited (${code ?? signal}) before printing ${line}`)));
  });
}
