// Cancelling thread jobs, and what happens to the jobs of a worker that is terminated or dies.
import assert from "node:assert/strict";
import { describe, it, mock } from "node:test";
import { MessagePort, type TransferListItem, Worker } from "node:worker_threads";
import { all, type ErrorContext, type Operation, run, sleep, spawn, TimeoutError, timeout, until } from "../../src/index.ts";
import { ThreadPool, transfer, WorkerCrashedError, WorkerTerminatedError } from "../../src/threads/index.ts";
import { checkLeaks, rejectsOp, turnsUntil } from "../_helpers.ts";
import { afterRelease, counter, MODULE, spin, started, threadId, waitForRelease } from "./_helpers.ts";

checkLeaks();

/** Runs `body` with `setTimeout`/`Date` mocked and `Worker.prototype.terminate` counted, so a grace can end without waiting for it. */
async function withGraceMocks(body: (terminate: { mock: { callCount(): number } }) => Operation<void>): Promise<void> {
  mock.timers.enable({ apis: ["setTimeout", "Date"] });
  const terminate = mock.method(Worker.prototype, "terminate");
  try {
    await run(() => body(terminate));
  } finally {
    terminate.mock.restore();
    mock.timers.reset();
  }
}

describe("ThreadPool: cancellation", () => {
  it("a queued job that is cancelled never runs", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 1, jobsPerWorker: 1 });
      const gate = counter();
      const ran = counter();
      const first = yield* spawn(() => pool.call(spin, gate, false));
      yield* started(gate);
      const queued = yield* spawn(() => pool.call((c: Int32Array) => Atomics.add(c, 0, 1), ran));
      yield* sleep(1);
      assert.equal(pool.queued, 1);
      queued.cancel();
      yield* sleep(1);
      assert.equal(pool.queued, 0);
      Atomics.store(gate, 0, 1);
      assert.equal(yield* first, "released");
      // Another job after it proves the worker is idle and the cancelled one did not run.
      yield* pool.call(() => 0);
      assert.equal(Atomics.load(ran, 0), 0);
    });
  });

  it("a running job sees this.aborted (even in a busy loop) and the worker is kept", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 1, abortGrace: 60_000 });
      const before = yield* pool.call(threadId);
      const gate = counter();
      const job = yield* spawn(() => pool.call(spin, gate, true));
      yield* started(gate);
      job.cancel();
      yield* sleep(1);
      // The job returned "aborted" in its worker: the same worker serves the next job.
      assert.equal(yield* pool.call(threadId), before);
    });
  });

  it("an async job gets its signal aborted", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 1, abortGrace: 60_000 });
      const job = yield* spawn(() => pool.run(MODULE, "waitForAbort"));
      yield* sleep(20);
      job.cancel();
      yield* sleep(1);
      assert.equal(yield* pool.call(() => "next"), "next");
      assert.equal(pool.running, 0);
    });
  });

  it("a running job that ignores the abort has its worker terminated after the grace; a job sent behind it runs on the new worker", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 1, jobsPerWorker: 4, abortGrace: 20 });
      const before = yield* pool.call(threadId);
      const gate = counter();
      const stuck = yield* spawn(() => pool.call(spin, gate, false));
      // Sent to the same worker, behind the stuck job.
      const innocent = yield* spawn(() => pool.call((n: number) => n + 1, 41));
      yield* started(gate);
      stuck.cancel();
      assert.equal(yield* innocent, 42);
      assert.notEqual(yield* pool.call(threadId), before, "the worker was replaced");
    });
  });

  it("a worker terminated for a cancelled job: jobs begun on it fail with WorkerTerminatedError and are not run again; those not begun run once elsewhere", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 1, jobsPerWorker: 4, abortGrace: 20 });
      const before = yield* pool.call(threadId);
      const gate = counter();
      const runs = counter();
      // Sent in one batch: `waiting` begins (and waits, async), `stuck` spins and ignores the abort, `behind` never begins.
      const waiting = yield* spawn(() => rejectsOp(pool.call(waitForRelease, gate, runs), WorkerTerminatedError));
      const stuck = yield* spawn(() => pool.call(spin, gate, false));
      const behind = yield* spawn(() =>
        pool.call((counts: Int32Array) => {
          Atomics.add(counts, 1, 1);
          return require("node:worker_threads").threadId as number;
        }, runs),
      );
      yield* started(gate, 2);
      // `behind` waits on the worker: it counts as queued, not running.
      assert.equal(pool.running, 2);
      assert.equal(pool.queued, 1);
      stuck.cancel();
      assert.notEqual(yield* behind, before, "the job not begun ran on the new worker");
      // Had `waiting` been sent again, this would let its second run finish.
      Atomics.store(gate, 0, 1);
      Atomics.notify(gate, 0);
      const error = yield* waiting;
      assert.match(error.message, /another job on it, function spin \(awaited by task [^)]+\), did not stop within abortGrace \(20 ms\)/);
      assert.match(error.message, /had already begun, so it is not run again/);
      assert.deepEqual([Atomics.load(runs, 0), Atomics.load(runs, 1)], [1, 1], "each job ran once");
    });
  });

  it("each cancelled job gets its whole abortGrace, even when another's grace began earlier", async () => {
    await withGraceMocks(function* (terminate) {
      const pool = yield* ThreadPool.start({ size: 1, jobsPerWorker: 4, abortGrace: 1000 });
      const first = counter();
      const second = counter();
      const runs = counter();
      // Two async jobs that ignore the abort and end when released.
      const a = yield* spawn(() => pool.call(waitForRelease, first, runs));
      const b = yield* spawn(() => pool.call(waitForRelease, second, runs));
      yield* started(first);
      yield* started(second);
      a.cancel();
      mock.timers.tick(900);
      b.cancel();
      Atomics.store(first, 0, 1);
      Atomics.notify(first, 0);
      yield* pool.call(afterRelease, first);
      assert.equal(pool.running, 1, "only b is left");
      mock.timers.tick(100);
      assert.equal(terminate.mock.callCount(), 0, "a's grace is over, b's is not");
      mock.timers.tick(899);
      assert.equal(terminate.mock.callCount(), 0);
      mock.timers.tick(1);
      assert.equal(terminate.mock.callCount(), 1, "b's grace is over");
    });
  });

  it("a cancelled job the worker has not begun (queued behind a long one) gets its worker no grace: the long job runs on", async () => {
    await withGraceMocks(function* (terminate) {
      const pool = yield* ThreadPool.start({ size: 1, jobsPerWorker: 4, abortGrace: 1000 });
      const gate = counter();
      const runs = counter();
      // Sent in one batch: the long job begins and ignores aborts; the other waits behind it.
      const long = yield* spawn(() => pool.call(spin, gate, false));
      const queued = yield* spawn(() => pool.call((counts: Int32Array) => Atomics.add(counts, 0, 1), runs));
      yield* started(gate);
      queued.cancel();
      mock.timers.tick(1000);
      assert.equal(terminate.mock.callCount(), 0, "the cancelled job has not begun: nothing to stop");
      mock.timers.tick(5000);
      assert.equal(terminate.mock.callCount(), 0);
      Atomics.store(gate, 0, 1);
      assert.equal(yield* long, "released");
      assert.equal(yield* pool.call(() => "next"), "next");
      assert.equal(Atomics.load(runs, 0), 0, "the cancelled job never ran");
      assert.equal(pool.running, 0);
    });
  });

  it("a cancelled job the worker drops when it gets there is not taken for stuck while its answer is on the way", async () => {
    await withGraceMocks(function* (terminate) {
      const pool = yield* ThreadPool.start({ size: 1, jobsPerWorker: 4, abortGrace: 1000 });
      const gate = counter();
      const second = counter();
      const runs = counter();
      // Sent in one batch: `long` begins; `dropped` waits behind it and is cancelled; `next` spins and ignores aborts.
      const long = yield* spawn(() => pool.call(spin, gate, false));
      const dropped = yield* spawn(() => pool.call((counts: Int32Array) => Atomics.add(counts, 0, 1), runs));
      const next = yield* spawn(() => pool.call(spin, second, false));
      yield* started(gate);
      dropped.cancel();
      yield* sleep(0);
      Atomics.store(gate, 0, 1);
      // The main thread blocks until the worker has dropped `dropped` and begun `next`, so the grace ends
      // below before any answer from the worker is read: as when a grace timer fires while it is on the way.
      assert.notEqual(Atomics.wait(second, 1, 0, 10_000), "timed-out");
      mock.timers.tick(1000);
      assert.equal(terminate.mock.callCount(), 0, "the dropped job never ran: the worker is not terminated");
      // Its answer was sent before `next` began (`next` would hold it in the worker's outbox), with `long`'s or
      // just after it: once it is read, the job's grace is over for good.
      assert.equal(yield* long, "released");
      assert.ok(yield* until(turnsUntil(() => pool.completed === 2)), "the dropped job's answer came");
      mock.timers.tick(5000);
      assert.equal(terminate.mock.callCount(), 0);
      Atomics.store(second, 0, 1);
      assert.equal(yield* next, "released");
      assert.equal(Atomics.load(runs, 0), 0, "the cancelled job never ran");
    });
  });

  it("timeout() over a thread job interrupts the wait", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 1, abortGrace: 10 });
      const gate = counter();
      yield* rejectsOp(timeout(30, pool.call(spin, gate, false)), TimeoutError);
      assert.equal(yield* pool.call(() => 1), 1);
    });
  });
});

describe("ThreadPool: crashes", () => {
  it("a worker that calls process.exit fails its jobs with WorkerCrashedError and is replaced", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 1 });
      const error = yield* rejectsOp(
        pool.call(() => process.exit(7)),
        WorkerCrashedError,
      );
      assert.equal((error as WorkerCrashedError).exitCode, 7);
      assert.match(error.message, /exited with code 7/);
      assert.equal(yield* pool.call(() => "alive"), "alive");
    });
  });

  it("a message from the pool that the worker cannot read ends the worker as a crash; the next job runs on a new one", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 1 });
      const first = yield* pool.call(threadId);
      // Node emits 'messageerror' when a message cannot be deserialized; no value we can send makes it fail, so the job emits one.
      const error = yield* rejectsOp(
        pool.call(() => {
          // The pool's channel, which the worker keeps under this symbol for such tests.
          const hook = (globalThis as unknown as Record<symbol, unknown>)[Symbol.for("corio.thread")] as { port: MessagePort };
          hook.port.emit("messageerror", new Error("unreadable"));
          return new Promise(() => {});
        }),
        WorkerCrashedError,
      );
      assert.match(error.message, /a message from the pool could not be read \(unreadable\)/);
      assert.notEqual(yield* pool.call(threadId), first);
    });
  });

  it("a message on the pool's channel that is no record of it fails a job or ends its worker, never the process", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 1 });
      const post = (message: unknown): Promise<never> => {
        const hook = (globalThis as unknown as Record<symbol, unknown>)[Symbol.for("corio.thread")] as { port: MessagePort };
        hook.port.postMessage(message);
        return new Promise(() => {});
      };
      const first = yield* pool.call(threadId);
      // Job 2 reads as failed with the error record 3: it fails, saying so.
      const unreadable = yield* rejectsOp(pool.call(post, [1, 2, 3]), Error);
      assert.match(unreadable.message, /an error that cannot be read: 3/);
      assert.equal(yield* pool.call(threadId), first);
      // An unknown record, and a count that would send the reading back: the worker is ended as broken.
      for (const message of [
        [9, 0, 0],
        [0, 4, -3],
      ]) {
        const error = yield* rejectsOp(pool.call(post, message), WorkerCrashedError);
        assert.match(error.message, /a message it sent could not be handled/);
      }
      assert.notEqual(yield* pool.call(threadId), first);
    });
  });

  it("a message from the worker that the pool cannot read ends the worker as a crash: the jobs it had begun fail, the next runs on a new one", async () => {
    const ports: MessagePort[] = [];
    const post = MessagePort.prototype.postMessage;
    // The pool's channels to its workers are its own: find them by the batches (arrays) it posts on them.
    const spy = mock.method(MessagePort.prototype, "postMessage", function (this: MessagePort, value: unknown, transfers?: readonly TransferListItem[]) {
      if (Array.isArray(value) && !ports.includes(this)) ports.push(this);
      return post.call(this, value, transfers as never);
    });
    try {
      await run(function* () {
        const pool = yield* ThreadPool.start({ size: 1 });
        const gate = counter();
        const running = yield* spawn(() => rejectsOp(pool.call(spin, gate, false), WorkerCrashedError));
        yield* started(gate);
        assert.equal(ports.length, 1);
        (ports[0] as MessagePort).emit("messageerror", new Error("unreadable"));
        const error = yield* running;
        assert.match(error.message, /a message it sent could not be read \(unreadable\)/);
        assert.equal(yield* pool.call(() => "alive"), "alive");
        assert.equal(ports.length, 2);
      });
    } finally {
      spy.mock.restore();
    }
  });

  it("a job sent to a worker that dies, but not begun there, runs on the new worker", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 1, jobsPerWorker: 4 });
      const runs = counter();
      // Sent in one batch: the first kills the worker before the second begins.
      const crash = yield* spawn(() =>
        rejectsOp(
          pool.call(() => process.exit(7)),
          WorkerCrashedError,
        ),
      );
      const next = yield* spawn(() => pool.call((counts: Int32Array) => Atomics.add(counts, 0, 1) + 1, runs));
      yield* crash;
      assert.equal(yield* next, 1);
      assert.equal(Atomics.load(runs, 0), 1);
    });
  });

  it("a job not begun when its worker died, whose transferred buffers were on that worker, fails with WorkerCrashedError saying so", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 1 });
      // Sent in one batch: the second job's buffer moves to the worker, which dies in the first job.
      const [, lost] = yield* all([
        rejectsOp(
          pool.call(() => process.exit(1)),
          WorkerCrashedError,
        ),
        rejectsOp(
          pool.call((bytes: Uint8Array) => bytes.length, transfer(new Uint8Array(8))),
          WorkerCrashedError,
        ),
      ]);
      assert.match(lost.message, /had not begun, but the buffers it transferred \(transfer\(\)\) were on that worker/);
      // A new worker takes the next one.
      assert.equal(yield* pool.call((bytes: Uint8Array) => bytes.length, transfer(new Uint8Array(4))), 4);
    });
  });

  it("a worker that dies before it begins any job fails its jobs rather than passing them on to the next one forever", async () => {
    await run(function* () {
      // Too little heap for the worker to start at all: the least a pool accepts (with less, Node 22 and 24 abort the process).
      const pool = yield* ThreadPool.start({ size: 1, resourceLimits: { maxOldGenerationSizeMb: 4, maxYoungGenerationSizeMb: 1 } });
      const error = yield* rejectsOp(
        pool.call(() => 1),
        WorkerCrashedError,
      );
      assert.match(error.message, /memory/i);
    });
  });

  it("a worker that runs out of memory is replaced and the pool keeps serving", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 1, resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4 } });
      const error = yield* rejectsOp(
        pool.call(() => {
          const hoard: number[][] = [];
          for (;;) hoard.push(new Array(100_000).fill(1));
        }),
        WorkerCrashedError,
      );
      assert.match(error.message, /memory/i);
      assert.equal(yield* pool.call(() => "alive"), "alive");
    });
  });

  it("an error thrown outside any job (in a timer) crashes the worker; its job fails and the pool goes on", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 1 });
      const error = yield* rejectsOp(
        pool.call(
          () =>
            new Promise(() => {
              setTimeout(() => {
                throw new Error("stray");
              }, 1);
            }),
        ),
        WorkerCrashedError,
      );
      assert.match(error.message, /stray/);
      assert.equal(yield* pool.call(() => 2), 2);
    });
  });
});

describe("ThreadPool: errors after a job returned", () => {
  it("an error a job's timer throws after the job returned is reported through the owner's onError, and the pool goes on", async () => {
    const reports: { error: unknown; context: ErrorContext }[] = [];
    let reported: () => void = () => {};
    const firstReport = new Promise<void>((resolve) => {
      reported = resolve;
    });
    await run(
      function* () {
        const pool = yield* ThreadPool.start({ size: 1 });
        const value = yield* pool.call(() => {
          setTimeout(() => {
            throw new Error("late");
          });
          return 1;
        });
        assert.equal(value, 1);
        // The idle worker is unref'd: the timeout's timer keeps the process alive until the report comes.
        yield* timeout(10_000, until(firstReport));
        assert.equal(yield* pool.call(() => 2), 2);
      },
      {
        onError: (error, context) => {
          reports.push({ error, context });
          reported();
        },
        name: "main",
      },
    );
    assert.equal(reports.length, 1);
    const { error, context } = reports[0] as { error: unknown; context: ErrorContext };
    assert.ok(error instanceof WorkerCrashedError, String(error));
    assert.match(error.message, /^A worker thread of the pool died with no job running: it failed: late\. /);
    assert.equal((error.cause as Error).message, "late");
    assert.equal(context.kind, "callback");
    assert.match(context.path, /^main\/thread pool \(worker thread \d+\)$/);
  });
});
