/**
 * A pool of worker threads running jobs for tasks: `ThreadPool`. This file
 * is the queue and the dispatch (which job goes to which worker, what comes
 * back); a worker's life is in `_workers.ts`, a job in `_job.ts`, batching
 * in `_batches.ts`.
 *
 * Speed comes from batching: the jobs a loop turn submits travel to a worker
 * in one `postMessage`, many jobs are in flight per worker, and results come
 * back in batches. A function is sent as source once per worker and kept
 * compiled there.
 * @module
 */

import { availableParallelism } from "node:os";
import type { ResourceLimits } from "node:worker_threads";
import { defineOperationMethods } from "../core/_dev.ts";
import { ExternalPark } from "../core/_external-park.ts";
import { Fifo } from "../core/_fifo.ts";
import { checkMadeByCorio, MADE_BY_CORIO } from "../core/_made-by-corio.ts";
import { daemonReturnedAs, startDaemon } from "../core/_resource.ts";
import { defineStepOperations, FINISHED, FRESH, PARKED, ranTwice, StepOperation } from "../core/_step-operation.ts";
import { ClosedResourceError } from "../core/errors.ts";
import type { Instruction, Operation } from "../core/operation.ts";
import { requireCurrentTask } from "../core/spawn.ts";
import { suspend } from "../core/suspend.ts";
import type { TaskImpl } from "../core/task.ts";
import { QueueFull } from "../sync/errors.ts";
import { Batches } from "./_batches.ts";
import { functionId, functionSource } from "./_function-sources.ts";
import { Job } from "./_job.ts";
import { CALL, CALL_RESULT, CRASHED, DEFINE, DONE, FAILED, RUN_EXPORT, RUN_FUNCTION } from "./_protocol.ts";
import { deserializeError, type SerializedError, serializeError } from "./_serialize-error.ts";
import { type WorkerHost, type WorkerSettings, WorkerSlot } from "./_workers.ts";
import { runExposed } from "./expose.ts";
import type { ThreadFunction } from "./thread-context.ts";
import { unwrapTransfers } from "./transfer.ts";

/** Submits a job to `pool` for the current task (`ThreadPool#submit`). */
let submitJob: (pool: ThreadPool, tag: number, fnOrUrl: unknown, exportName: string, args: unknown[]) => Job;

/** Options of `ThreadPool.start`. */
export interface ThreadPoolOptions {
  /** Worker threads at most; they start on demand. @default os.availableParallelism() */
  size?: number;
  /** A worker idle this long (real ms) is stopped; `Infinity` keeps it. @default 30000 */
  idleTimeout?: number;
  /**
   * Jobs waiting at most; one more throws `QueueFull` (0: a job runs only if
   * a worker takes it at once). A job sent to a busy worker ahead of its
   * results (see `jobsPerWorker`) waits there until the worker begins it, and
   * counts: a worker is sent jobs ahead only within this limit. @default Infinity
   */
  maxQueue?: number;
  /**
   * Jobs sent to one worker ahead of its results. Many in flight make short
   * jobs cheap; a worker that runs dry takes over the jobs another one has
   * not begun. A job that transfers buffers (`transfer()`) is the exception:
   * its buffers cannot follow it to another worker, so it is sent only to a
   * worker with at most one job in flight (a long job holds up one such job
   * at most); the jobs without transfers go past it meanwhile, to the
   * workers other than the one kept for it. @default 64
   */
  jobsPerWorker?: number;
  /**
   * After a running job is cancelled, how long (real ms) its worker gets to
   * stop before it is terminated and replaced; `Infinity` never terminates
   * it. @default 1000
   */
  abortGrace?: number;
  /**
   * Node's worker `resourceLimits` (heap sizes), e.g. to contain a job that
   * leaks. `maxOldGenerationSizeMb` must be at least 4 and `stackSizeMb` at
   * least 0.5: with less, Node aborts the whole process instead of failing
   * the worker (see `RESOURCE_MINIMUMS`).
   */
  resourceLimits?: ResourceLimits;
  /** Names the workers (shown in the inspector and in errors). @default "corio thread" */
  name?: string;
}

/** After a worker could not start while others run, how long (ms) they run the jobs before the pool tries to start one again. */
const START_RETRY_MS = 1000;

function checkCount(value: unknown, what: string, min: number): number {
  if (value === Infinity) return Infinity;
  if (!(typeof value === "number" && Number.isInteger(value) && value >= min)) {
    throw new RangeError(`Cannot start a thread pool: ${what} must be an integer >= ${min}, received ${String(value)}`);
  }
  return value;
}

/**
 * The smallest `resourceLimits` a pool accepts. Below them Node does not
 * fail the worker but aborts the whole process: with less than 3 MB of old
 * generation, Node 22 and 24 stop with "Fatal JavaScript out of memory: GC
 * during deserialization" while the worker loads its startup snapshot (Node
 * 20 reports ERR_WORKER_OUT_OF_MEMORY); with a stack of 0.2 MB or less,
 * every Node stops with a RangeError thrown before the worker can report
 * it. A worker needs 5 MB of old generation to start on Node 20, 6 on
 * Node 22 and 8 on Node 24.
 */
const RESOURCE_MINIMUMS: Readonly<Record<string, number>> = { maxOldGenerationSizeMb: 4, maxYoungGenerationSizeMb: 0, codeRangeSizeMb: 0, stackSizeMb: 0.5 };

function checkResourceLimits(limits: unknown): ResourceLimits | undefined {
  if (limits === undefined) return undefined;
  if (limits === null || typeof limits !== "object") {
    throw new TypeError(`Cannot start a thread pool: resourceLimits must be an object, received ${limits === null ? "null" : typeof limits}`);
  }
  for (const [key, value] of Object.entries(limits)) {
    const min = Object.hasOwn(RESOURCE_MINIMUMS, key) ? RESOURCE_MINIMUMS[key] : undefined;
    // A limit this version does not know of is Node's to judge.
    if (min === undefined || value === undefined) continue;
    if (!(typeof value === "number" && Number.isFinite(value) && value >= min)) {
      const why = min > 0 ? ` (with less, Node aborts the whole process instead of failing the worker)` : "";
      throw new RangeError(`Cannot start a thread pool: resourceLimits.${key} must be a number >= ${min}${why}, received ${String(value)}`);
    }
  }
  return { ...(limits as ResourceLimits) };
}

/**
 * A pool of worker threads. It belongs to the task that started it: when
 * that task ends, the pool stops its workers (waiting for them to exit).
 * Workers start on demand, up to `size`, and stop after `idleTimeout`.
 *
 * A job's function runs with a `ThreadContext` as `this` (its `signal`,
 * `callFromThread`, `transfer`). Errors thrown in the worker reach the
 * waiting task with the worker's stack and their class (built-in error
 * classes, and corio's when the job's code loaded corio; other errors keep
 * their `name`), with `cause` and fields such as `code` when they can be
 * read and copied (an error whose name or message cannot be read arrives
 * as an `Error` saying so). A job that lets a `CancelledError` through (one a
 * `callFromThread` gave it) ends its task cancelled, as awaiting a
 * cancelled task does. A worker that dies is replaced. An error thrown
 * outside a job (in its timer, an unhandled rejection, after it returned)
 * kills its worker too: the jobs running there fail with
 * `WorkerCrashedError`, or, if none was, the error is reported to the
 * owner loop's `onError` (kind `callback`), never dropped. A worker that
 * cannot start (the system gives no thread) leaves the jobs to the workers
 * that run, and the pool tries again a second later; if none runs, the
 * jobs waiting fail with Node's error (`ERR_WORKER_INIT_FAILED`).
 *
 * The pool talks to its workers on a channel of its own: the worker's
 * `parentPort` is left to the jobs' code, and the pool does not read it
 * (what a job posts there is dropped, and never taken for a result). To
 * report progress to the main thread, call a function exposed with
 * `exposeToThreads` (`this.callFromThread`).
 *
 * @example
 * ```ts
 * import { run } from "corio";
 * import { ThreadPool } from "corio/threads";
 * await run(function* () {
 *   const pool = yield* ThreadPool.start({ size: 2 });
 *   const squares = [];
 *   for (let i = 0; i < 4; i++) squares.push(yield* pool.call((n: number) => n * n, i));
 *   console.assert(squares.join() === "0,1,4,9");
 * });
 * ```
 */
export class ThreadPool {
  readonly #size: number;
  readonly #maxQueue: number;
  readonly #jobsPerWorker: number;
  readonly #settings: WorkerSettings;
  readonly #keeper: TaskImpl<void>;
  readonly #slots: WorkerSlot[] = [];
  /** Jobs waiting for a worker, but those that transfer buffers. */
  readonly #queue = new Fifo<Job>();
  /** Jobs that transfer buffers, waiting for a worker with at most one job in flight (see `#pump`). */
  readonly #transferQueue = new Fifo<Job>();
  /** Jobs in either queue, not counting the abandoned ones still there. */
  #queued = 0;
  /** The worker kept for the first job of `#transferQueue` while it waits: no other job is sent to it. */
  #keptFor: WorkerSlot | undefined = undefined;
  readonly #batches = new Batches(() => this.#pump());
  /** Why the last worker the pool tried to start could not start, until `#pump` has dealt with it. */
  #startError: unknown = undefined;
  /** After a worker could not start, when (`Date.now()`) to try again while other workers run the jobs. */
  #retryStartAt = 0;
  /** Pumps again at `#retryStartAt`: the workers that run may hold long jobs, and nothing else would. */
  #retryTimer: ReturnType<typeof setTimeout> | undefined = undefined;
  #closed = false;
  #completed = 0;

  /**
   * Starts a pool owned by the current task (no worker starts before the
   * first job).
   *
   * @example
   * ```ts
   * import { run } from "corio";
   * import { ThreadPool } from "corio/threads";
   * await run(function* () {
   *   const pool = yield* ThreadPool.start({ size: 1, idleTimeout: 1000 });
   *   console.assert(pool.size === 1 && pool.threads === 0);
   * });
   * ```
   */
  static *start(options: ThreadPoolOptions = {}): Operation<ThreadPool> {
    return new ThreadPool(MADE_BY_CORIO, requireCurrentTask("start a thread pool"), options);
  }

  /** @internal `ThreadPool.start` for another owner than the current task (the default pool's is the root): the constructor is private, so that `new ThreadPool()` does not type-check. */
  static create(owner: TaskImpl<unknown>, options: ThreadPoolOptions = {}): ThreadPool {
    return new ThreadPool(MADE_BY_CORIO, owner, options);
  }

  private constructor(token: typeof MADE_BY_CORIO, owner: TaskImpl<unknown>, options: ThreadPoolOptions = {}) {
    checkMadeByCorio(token, "a ThreadPool", "use yield* ThreadPool.start(options) inside a task");
    this.#size = checkCount(options.size ?? availableParallelism(), "size", 1);
    if (this.#size === Infinity) throw new RangeError("Cannot start a thread pool: size must be finite");
    this.#maxQueue = checkCount(options.maxQueue ?? Infinity, "maxQueue", 0);
    this.#jobsPerWorker = checkCount(options.jobsPerWorker ?? 64, "jobsPerWorker", 1);
    const name = options.name ?? "corio thread";
    // Node would refuse it only when the first worker starts, from within a job's call.
    if (typeof name !== "string") throw new TypeError(`Cannot start a thread pool: name must be a string, received ${typeof name}`);
    this.#settings = {
      name,
      resourceLimits: checkResourceLimits(options.resourceLimits),
      idleTimeout: checkCount(options.idleTimeout ?? 30_000, "idleTimeout", 0),
      abortGrace: checkCount(options.abortGrace ?? 1000, "abortGrace", 0),
    };
    const pool = this;
    this.#keeper = startDaemon(owner, name === "corio thread" ? "thread pool" : name, function* threadPool() {
      try {
        yield* suspend();
      } finally {
        yield* pool.#shutdown();
      }
    });
    daemonReturnedAs(this.#keeper, this);
  }

  /** The most workers it runs at once. */
  get size(): number {
    return this.#size;
  }
  /** Workers running now. */
  get threads(): number {
    return this.#slots.length;
  }
  /** Jobs waiting: for a worker, or sent to a busy one that has not begun them (what `maxQueue` counts). */
  get queued(): number {
    return this.#waiting();
  }
  /** Jobs a worker has begun and not finished. */
  get running(): number {
    let count = 0;
    for (const slot of this.#slots) count += slot.begun;
    return count;
  }
  /** Jobs finished (with a result or an error) since the pool started. */
  get completed(): number {
    return this.#completed;
  }
  /** True once the pool is closing or closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Runs `fn(...args)` in a worker and gives its result (asyncio's
   * `to_thread`, Twisted's `deferToThread`). `fn` is sent as source, so it
   * must be self-contained: no closure over outer variables, no imports
   * (use `run` with a module for those). Each distinct source is compiled
   * once per worker and kept for the life of the process: make functions
   * once, not a new source per call (`new Function` with data in its text),
   * and pass the data as arguments. Arguments and the result are
   * copied (structured clone) unless wrapped in `transfer(...)`, which
   * marks a whole argument only (see `transfer` for a buffer inside one).
   *
   * **Cancellation:** a queued job is dropped, and so is one sent to a
   * worker that has not begun it (when the worker gets to it); a running one
   * has its `this.signal` aborted, and if it has not ended after `abortGrace`
   * its worker is terminated and replaced. The other jobs sent to that worker
   * run on another one if they had not begun, and fail with
   * `WorkerTerminatedError` if they had (they are never run twice).
   *
   * @throws {QueueFull} when `maxQueue` jobs already wait.
   * @throws {TypeError} when the arguments cannot be copied, a `transfer()` is inside an argument instead of around it, or a buffer given to `transfer()` was moved already.
   * @throws {WorkerCrashedError} when the worker died running it.
   * @throws {WorkerTerminatedError} when the pool terminated its worker to stop another job that was cancelled.
   * @throws the error of Node's `new Worker` (`ERR_WORKER_INIT_FAILED`: the system gave no thread) when no worker of the pool runs and none can start; while some run, the job waits for them instead.
   * @example
   * ```ts
   * import { run } from "corio";
   * import { ThreadPool } from "corio/threads";
   * await run(function* () {
   *   const pool = yield* ThreadPool.start({ size: 1 });
   *   const sum = yield* pool.call((values: number[]) => values.reduce((a, b) => a + b, 0), [1, 2, 3]);
   *   console.assert(sum === 6);
   * });
   * ```
   */
  call<A extends unknown[], R>(fn: ThreadFunction<A, R>, ...args: A): Operation<Awaited<R>> {
    return new ThreadJob(this, RUN_FUNCTION, fn, "", args) as Operation<Awaited<R>>;
  }

  /**
   * Runs the function `exportName` of the module at `moduleUrl` in a worker
   * (the module is imported once per worker; one that failed to load is
   * imported again by the next job), for code that imports things.
   * Cancellation and errors as for `call`.
   *
   * @example
   * ```ts
   * import { run } from "corio";
   * import { ThreadPool } from "corio/threads";
   * await run(function* () {
   *   const pool = yield* ThreadPool.start({ size: 1 });
   *   const joined = yield* pool.run<string>("node:path", "join", "a", "b");
   *   console.assert(joined === "a/b");
   * });
   * ```
   */
  run<R = unknown>(moduleUrl: string | URL, exportName: string, ...args: unknown[]): Operation<Awaited<R>> {
    return new ThreadJob(this, RUN_EXPORT, moduleUrl, exportName, args) as Operation<Awaited<R>>;
  }

  /**
   * Stops the pool: jobs still queued fail with `ClosedResourceError`,
   * running ones are abandoned, and the workers are terminated; returns once
   * they have exited. The owner task's end does the same.
   *
   * @example
   * ```ts
   * import { run } from "corio";
   * import { ThreadPool } from "corio/threads";
   * await run(function* () {
   *   const pool = yield* ThreadPool.start({ size: 1 });
   *   yield* pool.call(() => 1);
   *   yield* pool.close();
   *   console.assert(pool.closed && pool.threads === 0);
   * });
   * ```
   */
  *close(): Operation<void> {
    yield* this.#shutdown();
    this.#keeper.cancel("closed");
  }

  static {
    submitJob = (pool, tag, fnOrUrl, exportName, args) => pool.#submit(tag, fnOrUrl, exportName, args);
  }

  /** Queues a job for the current task and sends what can go now; the job is the park to yield. */
  #submit(tag: number, fnOrUrl: unknown, exportName: string, args: unknown[]): Job {
    let target: number | string;
    if (tag === RUN_FUNCTION) {
      if (typeof fnOrUrl !== "function") throw new TypeError(`Cannot run in a thread: expected a function, received ${typeof fnOrUrl}`);
      target = functionId(fnOrUrl as (...args: never[]) => unknown);
    } else {
      target = String(fnOrUrl);
      if (typeof exportName !== "string") throw new TypeError(`Cannot run in a thread: exportName must be a string, received ${typeof exportName}`);
    }
    if (this.#closed) throw new ClosedResourceError("Cannot run in a thread: the thread pool is closed");
    const task = requireCurrentTask("run in a thread");
    const transfers = unwrapTransfers(args);
    const job = new Job(task, tag, target, exportName, args, transfers, this.#abandon);
    const queue = transfers.length > 0 ? this.#transferQueue : this.#queue;
    queue.push(job);
    this.#queued++;
    const startError = this.#pump();
    // No worker could start for it, nor runs to take it later: it failed with the queue (nothing is left behind).
    if (!job.pending) throw startError;
    // Counted once a worker has had its chance: `maxQueue: 0` still runs a job a free worker takes (as piscina).
    if (job.slot === undefined && this.#maxQueue !== Infinity && this.#waiting() > this.#maxQueue) {
      queue.pop();
      this.#queued--;
      throw new QueueFull(`Cannot run in a thread: ${this.#waiting()} jobs already wait for a worker (maxQueue ${this.#maxQueue})`);
    }
    return job;
  }

  /**
   * Sends queued jobs to workers with room, starting workers as needed; then,
   * if a worker has nothing to do, gives it jobs another worker has not begun.
   * It never throws (it runs in the workers' event handlers too): when a
   * worker cannot start (`new Worker` throws: no thread to be had, EAGAIN),
   * the jobs wait for the workers that run, and if none does, every queued
   * job fails with that error, which is returned.
   */
  #pump(): unknown {
    this.#dispatch();
    const error = this.#startError;
    if (error === undefined) return undefined;
    this.#startError = undefined;
    if (this.#slots.length > 0) return undefined;
    for (const queue of [this.#transferQueue, this.#queue]) {
      while (queue.size > 0) {
        const job = queue.shift() as Job;
        if (!job.abandoned) job.reject(error);
      }
    }
    this.#queued = 0;
    this.#keptFor = undefined;
    return error;
  }

  #dispatch(): void {
    do {
      for (;;) {
        // A job that transfers buffers can never be taken back (they are on that worker): it goes
        // only to a worker with at most one job in flight, so one long job can hold up one of
        // them at most, and a worker still finds the next one waiting when it answers.
        const transferring = firstWaiting(this.#transferQueue);
        if (transferring === undefined) this.#keptFor = undefined;
        else {
          const slot = this.#pickSlot(true);
          if (slot !== undefined) {
            this.#transferQueue.shift();
            this.#queued--;
            this.#keptFor = undefined;
            this.#send(slot, transferring);
            continue;
          }
          // While it waits, the other jobs go past it, but not to the worker kept for it: that one
          // drains, so it cannot wait forever (with one worker, they wait behind it).
          const kept = this.#keptFor;
          if (kept === undefined || kept.stopping !== undefined || !this.#slots.includes(kept)) this.#keptFor = this.#leastLoaded();
        }
        const job = firstWaiting(this.#queue);
        if (job === undefined) break;
        const slot = this.#pickSlot(false, this.#keptFor);
        if (slot === undefined) return;
        this.#queue.shift();
        this.#queued--;
        this.#send(slot, job);
      }
    } while (this.#takeBackForIdle());
  }

  /**
   * A worker ran dry while another still holds jobs it has not begun (behind
   * a long job, or just sent): takes them back to the front of the queue, so
   * that the next round of `#pump` shares them out, the idle worker first.
   * Each round gives an idle worker a job, so `#pump` ends.
   */
  #takeBackForIdle(): boolean {
    if (this.#closed || this.#slots.length < 2) return false;
    // Most calls find every worker busy: that check first, it is cheap.
    if (!this.#slots.some(canTakeOver)) return false;
    let busiest: WorkerSlot | undefined;
    let most = 0;
    for (const slot of this.#slots) {
      if (slot.inFlight.size === 0) continue;
      const movable = slot.movable;
      if (movable > most) {
        most = movable;
        busiest = slot;
      }
    }
    if (busiest === undefined) return false;
    const jobs = busiest.takeBack();
    this.#putBack(jobs);
    return jobs.length > 0;
  }

  /** Puts jobs that went to a worker and did not begin back at the front of the queue, in order. */
  #putBack(jobs: Job[]): void {
    for (let i = jobs.length - 1; i >= 0; i--) {
      const job = jobs[i] as Job;
      (job.transfers.length > 0 ? this.#transferQueue : this.#queue).unshift(job);
    }
    this.#queued += jobs.length;
  }

  /**
   * The worker to send the next job to (`transfers`: only one with at most one job in flight),
   * starting one if there is room; `undefined` if none may take it now.
   */
  #pickSlot(transfers: boolean, except?: WorkerSlot): WorkerSlot | undefined {
    const best = this.#leastLoaded(except);
    if (best !== undefined && best.inFlight.size === 0) return best;
    // After a worker could not start, the others run the jobs for a while: trying at every answer would cost each a failed start.
    if (this.#startError === undefined && this.#slots.length < this.#size && (this.#slots.length === 0 || Date.now() >= this.#retryStartAt)) {
      try {
        const slot = new WorkerSlot(this.#settings, this.#host);
        this.#slots.push(slot);
        return slot;
      } catch (error) {
        this.#startError = error;
        this.#retryStartAt = Date.now() + START_RETRY_MS;
        this.#retryTimer ??= setTimeout(() => {
          this.#retryTimer = undefined;
          // The timer is the retry. It can fire before Date.now() reaches #retryStartAt (Node times it
          // from the loop's cached time, which lags), and a pump that then declined to start a worker
          // armed no new timer: the jobs waited behind the long ones for good.
          this.#retryStartAt = 0;
          if (!this.#closed) this.#pump();
        }, START_RETRY_MS);
        // The workers running keep the process alive while they have jobs; the retry need not.
        this.#retryTimer.unref?.();
      }
    }
    if (best === undefined || best.inFlight.size >= (transfers ? Math.min(2, this.#jobsPerWorker) : this.#jobsPerWorker)) return undefined;
    // A job sent to a busy worker waits there, and counts against `maxQueue` as it does in the queue (this job is one of `#waiting`).
    return this.#maxQueue === Infinity || this.#waiting() <= this.#maxQueue ? best : undefined;
  }

  /** Jobs waiting: queued, or sent to a worker that has not begun them. */
  #waiting(): number {
    let count = this.#queued;
    for (const slot of this.#slots) count += slot.waiting;
    return count;
  }

  /** The running worker (not `except`) with the fewest jobs in flight. */
  #leastLoaded(except?: WorkerSlot): WorkerSlot | undefined {
    let best: WorkerSlot | undefined;
    for (const slot of this.#slots) {
      if (slot.stopping !== undefined || slot === except) continue;
      const size = slot.inFlight.size;
      // Between workers as busy, one that is up first: jobs taken back from one still
      // starting up must not go straight back to it (`#pump` would pass them round forever).
      if (best === undefined || size < best.inFlight.size || (size === best.inFlight.size && slot.answered && !best.answered)) best = slot;
    }
    return best;
  }

  #send(slot: WorkerSlot, job: Job): void {
    slot.add(job);
    const outbox = slot.outbox;
    const args = job.args;
    if (job.tag === RUN_FUNCTION) {
      const fnId = job.target as number;
      if (!slot.known.has(fnId)) {
        slot.known.add(fnId);
        outbox.push(DEFINE, fnId, functionSource(fnId));
      }
      // A job of the function and argument count of the record pushed last, with nothing after it, joins that
      // record: its id follows that record's last one (`slot.add` gives a worker's jobs consecutive ids).
      const at = slot.seriesAt;
      if (slot.seriesEnd === outbox.length && outbox[at + 2] === fnId && outbox[at + 3] === args.length) {
        outbox[at + 4] = (outbox[at + 4] as number) + 1;
      } else {
        slot.seriesAt = outbox.length;
        outbox.push(RUN_FUNCTION, job.id, fnId, args.length, 1);
      }
      for (let i = 0; i < args.length; i++) outbox.push(args[i]);
      slot.seriesEnd = outbox.length;
    } else {
      outbox.push(RUN_EXPORT, job.id, job.target, job.exportName, args.length);
      for (let i = 0; i < args.length; i++) outbox.push(args[i]);
    }
    for (const item of job.transfers) slot.transfers.push(item);
    this.#batches.flushSoon(slot);
  }

  #receive(slot: WorkerSlot, batch: unknown): void {
    if (!Array.isArray(batch)) {
      // A bare result (see `_protocol.ts`): it answers the job sent first of those in flight on `slot`.
      this.#answer(slot.finishedOldest(), false, batch);
      this.#pump();
      return;
    }
    for (let i = 0; i < batch.length; ) {
      const tag = batch[i];
      if (tag === CALL) {
        this.#callFromThread(slot, batch[i + 1] as number, batch[i + 3] as string, batch[i + 4] as unknown[]);
        i += 5;
        continue;
      }
      if (tag === CRASHED) {
        slot.crashed(deserializeError(batch[i + 2] as SerializedError));
        i += 3;
        continue;
      }
      if (tag === DONE) {
        const first = batch[i + 1] as number;
        const count = batch[i + 2] as number;
        // Checked before any job is answered: a negative count would loop for ever (what the worker's code never sends
        // throws, and the worker is ended as broken, its jobs failed; see `WorkerSlot`).
        if (!(count >= 0 && count <= batch.length)) throw new Error(`a result record of ${String(count)} results`);
        for (let k = 0; k < count; k++) this.#answer(slot.finished(first + k), false, batch[i + 3 + k]);
        i += 3 + count;
        continue;
      }
      if (tag !== FAILED) throw new Error(`an unknown record ${String(tag)}`);
      this.#answer(slot.finished(batch[i + 1] as number), true, batch[i + 2]);
      i += 3;
    }
    this.#pump();
  }

  /** A job's result (or, `failed`, its `SerializedError`) came back; `job` is what `slot.finished` gave (`undefined`: it was not in flight there). */
  #answer(job: Job | undefined, failed: boolean, value: unknown): void {
    if (job === undefined) return;
    this.#completed++;
    if (job.abandoned) return;
    if (failed) job.reject(deserializeError(value as SerializedError));
    else job.resolve(value);
  }

  #callFromThread(slot: WorkerSlot, callId: number, name: string, args: unknown[]): void {
    const reply = (ok: boolean, value: unknown): void => {
      if (slot.stopping === "close") return;
      // An error goes with its class (a CancelledError must not arrive as a plain Error).
      slot.outbox.push(CALL_RESULT, callId, ok, ok ? value : serializeError(value));
      this.#batches.flushSoon(slot);
    };
    runExposed(this.#keeper, name, args, reply);
  }

  readonly #abandon = (job: Job): void => {
    const slot = job.slot;
    // Still queued: #pump skips it.
    if (slot === undefined) this.#queued--;
    else slot.abort(job);
  };

  readonly #host: WorkerHost = {
    received: (slot, batch) => this.#receive(slot, batch),
    exited: (slot, requeue) => {
      const index = this.#slots.indexOf(slot);
      if (index >= 0) this.#slots.splice(index, 1);
      this.#putBack(requeue);
      if (!this.#closed) this.#pump();
    },
    unreported: (slot, error) => {
      this.#keeper.loop.report(error, { kind: "callback", path: `${this.#keeper.path} (worker thread ${slot.threadId})` });
    },
  };

  *#shutdown(): Operation<void> {
    if (!this.#closed) {
      this.#closed = true;
      clearTimeout(this.#retryTimer);
      this.#retryTimer = undefined;
      for (const queue of [this.#transferQueue, this.#queue]) {
        while (queue.size > 0) {
          const job = queue.shift() as Job;
          if (!job.abandoned) job.reject(new ClosedResourceError("Cannot run in a thread: the thread pool was closed"));
        }
      }
      this.#queued = 0;
      for (const slot of this.#slots) slot.stop("close");
    }
    const exits = this.#slots.map((slot) => slot.exited);
    if (exits.length === 0) return;
    const park = new ExternalPark<void>(requireCurrentTask("close a thread pool"), "thread");
    void Promise.all(exits).then(() => park.resolve());
    yield park;
  }
}

/**
 * `pool.call(...)` and `pool.run(...)`: an operation object that is its own
 * iterator, where two generators were (see `_step-operation.ts`). The job is
 * submitted at the first `next()`; the job is also the result that yields it.
 */
class ThreadJob extends StepOperation<unknown> {
  readonly #pool: ThreadPool;
  readonly #tag: number;
  /** The function (`RUN_FUNCTION`) or the module's URL (`RUN_EXPORT`). */
  readonly #target: unknown;
  readonly #exportName: string;
  readonly #args: unknown[];
  constructor(pool: ThreadPool, tag: number, target: unknown, exportName: string, args: unknown[]) {
    super();
    this.state = FRESH;
    this.#pool = pool;
    this.#tag = tag;
    this.#target = target;
    this.#exportName = exportName;
    this.#args = args;
  }
  get label(): string {
    return this.#tag === RUN_FUNCTION ? "threadPool.call" : "threadPool.run";
  }
  next(value?: unknown): IteratorResult<Instruction, unknown> {
    const state = this.state;
    if (state === FRESH) {
      // A job that cannot be submitted throws here, and the operation is over.
      this.state = FINISHED;
      const job = submitJob(this.#pool, this.#tag, this.#target, this.#exportName, this.#args);
      this.state = PARKED;
      return job;
    }
    if (state === PARKED) {
      this.state = FINISHED;
      return { done: true, value };
    }
    throw ranTwice(this);
  }
}

defineOperationMethods(ThreadPool);
defineStepOperations(ThreadJob, (op) => (op as ThreadJob).label, ThreadPool, { call: "threadPool.call", run: "threadPool.run" });

/** The first job of `queue` not abandoned (those before it are dropped), or `undefined`. */
function firstWaiting(queue: Fifo<Job>): Job | undefined {
  let job = queue.peek();
  while (job !== undefined && job.abandoned) {
    queue.shift();
    job = queue.peek();
  }
  return job;
}

/**
 * A worker with nothing in flight, not being stopped, that has answered (so
 * it is up): it can run jobs taken back from another now. One still starting
 * up would only hold them in turn.
 */
function canTakeOver(slot: WorkerSlot): boolean {
  return slot.inFlight.size === 0 && slot.stopping === undefined && slot.answered;
}
