/**
 * A pool of worker threads running jobs for tasks: `ThreadPool`.
 *
 * Speed comes from batching: the jobs a loop turn submits travel to a worker
 * in one `postMessage`, many jobs are in flight per worker, and results come
 * back in batches. A function is sent as source once per worker and kept
 * compiled there.
 * @module
 */
import { availableParallelism } from "node:os";
import { MessageChannel, type MessagePort, type ResourceLimits, type TransferListItem, Worker } from "node:worker_threads";
import { ExternalPark } from "../core/_external-park.ts";
import { Fifo } from "../core/_fifo.ts";
import { startDaemon } from "../core/_resource.ts";
import { ClosedResourceError } from "../core/errors.ts";
import type { Operation } from "../core/operation.ts";
import { requireCurrentTask } from "../core/spawn.ts";
import { suspend } from "../core/suspend.ts";
import type { TaskImpl } from "../core/task.ts";
import { QueueFull } from "../sync/errors.ts";
import { CALL, CALL_RESULT, DEFINE, DONE, deserializeError, RUN_EXPORT, RUN_FUNCTION, type SerializedError } from "./_protocol.ts";
import { WORKER_SOURCE } from "./_worker-source.ts";
import { WorkerCrashedError } from "./errors.ts";
import { runExposed } from "./expose.ts";
import { unwrapTransfers } from "./transfer.ts";

/** Options of `ThreadPool.start`. */
export interface ThreadPoolOptions {
  /** Worker threads at most; they start on demand. @default os.availableParallelism() */
  size?: number;
  /** A worker idle this long (real ms) is stopped; `Infinity` keeps it. @default 30000 */
  idleTimeout?: number;
  /** Jobs waiting for a worker at most; one more throws `QueueFull`. @default Infinity */
  maxQueue?: number;
  /**
   * Jobs sent to one worker ahead of its results. Many in flight make short
   * jobs cheap; lower it when jobs are long and uneven, so that a worker does
   * not hold jobs another one could run. @default 64
   */
  jobsPerWorker?: number;
  /** After a running job is cancelled, how long (real ms) its worker gets to stop before it is terminated and replaced. @default 1000 */
  abortGrace?: number;
  /** Node's worker `resourceLimits` (heap sizes), e.g. to contain a job that leaks. */
  resourceLimits?: ResourceLimits;
  /** Names the workers (shown in the inspector and in errors). @default "corio thread" */
  name?: string;
}

/**
 * What a job's function gets as `this` inside the worker.
 *
 * @example
 * ```ts
 * import { run } from "corio";
 * import { type ThreadContext, toThread } from "corio/threads";
 * await run(function* () {
 *   const steps = yield* toThread(function (this: ThreadContext, n: number) {
 *     let i = 0;
 *     while (i < n && !this.signal.aborted) i++;
 *     return i;
 *   }, 1000);
 *   console.assert(steps === 1000);
 * });
 * ```
 */
export interface ThreadContext {
  /**
   * True once the task waiting for this job was cancelled. Cheap (one atomic
   * read) and up to date even in a busy synchronous loop: check it there.
   */
  readonly aborted: boolean;
  /** Aborted when the task waiting for this job is cancelled, for async code and APIs that take a signal. */
  readonly signal: AbortSignal;
  /** Calls a function the main thread registered with `exposeToThreads`, and gives its result. */
  callFromThread(name: string, ...args: unknown[]): Promise<unknown>;
  /** Marks a result (an `ArrayBuffer`, a typed array, a `MessagePort`) to be moved to the main thread, not copied. */
  transfer<T>(value: T, list?: readonly TransferListItem[]): T;
}

/** A function runnable in a worker: self-contained (no closure), arguments and result structured-cloneable. */
export type ThreadFunction<A extends unknown[], R> = (this: ThreadContext, ...args: A) => R;

/** One job: the park its task waits on, and what to send. */
class Job extends ExternalPark<unknown> {
  readonly id: number;
  readonly pool: ThreadPool;
  /** The fields of the RUN record after its tag and id. */
  readonly fields: unknown[];
  readonly tag: number;
  readonly transfers: TransferListItem[];
  slot: WorkerSlot | undefined = undefined;
  /** The waiting task is gone: drop the job if it has not started, abort it if it has. */
  abandoned = false;

  constructor(task: TaskImpl<unknown>, pool: ThreadPool, id: number, tag: number, fields: unknown[], transfers: TransferListItem[]) {
    super(task, "thread");
    this.pool = pool;
    this.id = id;
    this.tag = tag;
    this.fields = fields;
    this.transfers = transfers;
  }

  override cancelled(woken: boolean, value: unknown): void {
    super.cancelled(woken, value);
    this.pool[abandon](this);
  }

  override describe(): string {
    return this.slot === undefined ? "thread (queued)" : `thread ${this.slot.worker.threadId}`;
  }
}

const abandon = Symbol("abandon");

/** One worker and what is in flight on it. */
class WorkerSlot {
  readonly worker: Worker;
  /** Where aborts go (the worker reads them even in a busy loop), and how many were sent. */
  readonly abortPort: MessagePort;
  readonly abortCount: Int32Array;
  readonly inFlight = new Map<number, Job>();
  /** Function ids this worker has compiled. */
  readonly known = new Set<number>();
  outbox: unknown[] = [];
  transfers: TransferListItem[] = [];
  dirty = false;
  /** Why we are stopping it, once we are. */
  stopping: "abort" | "idle" | "close" | undefined = undefined;
  crash: Error | undefined = undefined;
  idleTimer: ReturnType<typeof setTimeout> | undefined = undefined;
  idleSince = 0;
  graceTimer: ReturnType<typeof setTimeout> | undefined = undefined;
  readonly exited: Promise<number>;

  constructor(worker: Worker, abortPort: MessagePort, abortCount: Int32Array) {
    this.worker = worker;
    this.abortPort = abortPort;
    this.abortCount = abortCount;
    this.exited = new Promise((resolve) => worker.once("exit", resolve));
  }
}

let nextJobId = 1;

let tsxApiUrl: string | null | undefined;
/**
 * When this process runs under tsx, where its API is: a worker registers it
 * before importing a TypeScript module (workers do not inherit loaders).
 */
function tsxApi(): string | null {
  if (tsxApiUrl === undefined) {
    tsxApiUrl = null;
    if (process.execArgv.some((arg) => /(^|[=/])tsx(\/|$)/.test(arg))) {
      try {
        tsxApiUrl = import.meta.resolve("tsx/esm/api");
      } catch {
        // tsx is not resolvable from here: TypeScript modules will fail to load with Node's own error.
      }
    }
  }
  return tsxApiUrl;
}
const functionIds = new WeakMap<object, number>();
const sourceIds = new Map<string, number>();
const sources: string[] = [];

/** The id of `fn`'s source, the same for equal sources (an arrow written inline is a new object at every call). */
function functionId(fn: (...args: never[]) => unknown): number {
  let id = functionIds.get(fn);
  if (id === undefined) {
    const source = Function.prototype.toString.call(fn);
    if (source.endsWith("{ [native code] }"))
      throw new TypeError(`Cannot run ${fn.name || "a native function"} in a thread: only functions written in JavaScript can be sent`);
    id = sourceIds.get(source);
    if (id === undefined) {
      id = sources.length;
      sources.push(source);
      sourceIds.set(source, id);
    }
    functionIds.set(fn, id);
  }
  return id;
}

function checkCount(value: unknown, what: string, min: number): number {
  if (value === Infinity) return Infinity;
  if (!(typeof value === "number" && Number.isInteger(value) && value >= min)) {
    throw new RangeError(`Cannot start a thread pool: ${what} must be an integer >= ${min}, received ${String(value)}`);
  }
  return value;
}

/**
 * A pool of worker threads. It belongs to the task that started it: when
 * that task ends, the pool stops its workers (waiting for them to exit).
 * Workers start on demand, up to `size`, and stop after `idleTimeout`.
 *
 * A job's function runs with a `ThreadContext` as `this` (its `signal`,
 * `callFromThread`, `transfer`). Errors thrown in the worker reach the
 * waiting task with the worker's stack; a worker that dies is replaced.
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
  readonly #idleTimeout: number;
  readonly #maxQueue: number;
  readonly #jobsPerWorker: number;
  readonly #abortGrace: number;
  readonly #resourceLimits: ResourceLimits | undefined;
  readonly #name: string;
  readonly #keeper: TaskImpl<void>;
  readonly #slots: WorkerSlot[] = [];
  readonly #queue = new Fifo<Job>();
  #queued = 0;
  #dirty: WorkerSlot[] = [];
  #flushQueued = false;
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
    return new ThreadPool(requireCurrentTask("start a thread pool"), options);
  }

  /** @internal Use `ThreadPool.start`; `owner` is the task the pool belongs to. */
  constructor(owner: TaskImpl<unknown>, options: ThreadPoolOptions = {}) {
    this.#size = checkCount(options.size ?? availableParallelism(), "size", 1);
    if (this.#size === Infinity) throw new RangeError("Cannot start a thread pool: size must be finite");
    this.#idleTimeout = checkCount(options.idleTimeout ?? 30_000, "idleTimeout", 0);
    this.#maxQueue = checkCount(options.maxQueue ?? Infinity, "maxQueue", 0);
    this.#jobsPerWorker = checkCount(options.jobsPerWorker ?? 64, "jobsPerWorker", 1);
    this.#abortGrace = checkCount(options.abortGrace ?? 1000, "abortGrace", 0);
    this.#resourceLimits = options.resourceLimits;
    this.#name = options.name ?? "corio thread";
    const pool = this;
    this.#keeper = startDaemon(owner, this.#name === "corio thread" ? "thread pool" : this.#name, function* threadPool() {
      try {
        yield* suspend();
      } finally {
        yield* pool.#shutdown();
      }
    });
  }

  /** The most workers it runs at once. */
  get size(): number {
    return this.#size;
  }
  /** Workers running now. */
  get threads(): number {
    return this.#slots.length;
  }
  /** Jobs waiting for a worker. */
  get queued(): number {
    return this.#queued;
  }
  /** Jobs sent to workers and not finished. */
  get running(): number {
    let count = 0;
    for (const slot of this.#slots) count += slot.inFlight.size;
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
   * (use `run` with a module for those). Arguments and the result are
   * copied (structured clone) unless wrapped in `transfer(...)`.
   *
   * **Cancellation:** a queued job is dropped; a running one has its
   * `this.signal` aborted, and if it has not ended after `abortGrace` its
   * worker is terminated and replaced (other jobs on it are sent again).
   *
   * @throws {QueueFull} when `maxQueue` jobs already wait.
   * @throws {WorkerCrashedError} when the worker died running it.
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
  *call<A extends unknown[], R>(fn: ThreadFunction<A, R>, ...args: A): Operation<Awaited<R>> {
    if (typeof fn !== "function") throw new TypeError(`Cannot run in a thread: expected a function, received ${typeof fn}`);
    return (yield* this.#submit(RUN_FUNCTION, [functionId(fn), args])) as Awaited<R>;
  }

  /**
   * Runs the function `exportName` of the module at `moduleUrl` in a worker
   * (the module is imported once per worker), for code that imports things.
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
  *run<R = unknown>(moduleUrl: string | URL, exportName: string, ...args: unknown[]): Operation<Awaited<R>> {
    const url = String(moduleUrl);
    if (typeof exportName !== "string") throw new TypeError(`Cannot run in a thread: exportName must be a string, received ${typeof exportName}`);
    return (yield* this.#submit(RUN_EXPORT, [url, exportName, args])) as Awaited<R>;
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

  *#submit(tag: number, fields: unknown[]): Operation<unknown> {
    if (this.#closed) throw new ClosedResourceError("Cannot run in a thread: the thread pool is closed");
    if (this.#queued >= this.#maxQueue) {
      throw new QueueFull(`Cannot run in a thread: ${this.#queued} jobs already wait for a worker (maxQueue ${this.#maxQueue})`);
    }
    const task = requireCurrentTask("run in a thread");
    const args = fields[fields.length - 1] as unknown[];
    const transfers = unwrapTransfers(args);
    const job = new Job(task, this, nextJobId++, tag, fields, transfers);
    this.#queue.push(job);
    this.#queued++;
    this.#pump();
    return yield job;
  }

  /** Sends queued jobs to workers with room, starting workers as needed. */
  #pump(): void {
    while (this.#queued > 0) {
      const slot = this.#pickSlot();
      if (slot === undefined) return;
      const job = this.#queue.shift() as Job;
      if (job.abandoned) continue;
      this.#queued--;
      this.#send(slot, job);
    }
    // Skip over abandoned jobs left at the head.
    while (this.#queue.size > 0 && (this.#queue.peek() as Job).abandoned) this.#queue.shift();
  }

  #pickSlot(): WorkerSlot | undefined {
    let best: WorkerSlot | undefined;
    for (const slot of this.#slots) {
      if (slot.stopping !== undefined) continue;
      if (best === undefined || slot.inFlight.size < best.inFlight.size) best = slot;
    }
    if (best !== undefined && best.inFlight.size === 0) return best;
    if (this.#slots.length < this.#size) return this.#startWorker();
    return best !== undefined && best.inFlight.size < this.#jobsPerWorker ? best : undefined;
  }

  #send(slot: WorkerSlot, job: Job): void {
    job.slot = slot;
    if (slot.inFlight.size === 0) this.#busy(slot);
    slot.inFlight.set(job.id, job);
    const outbox = slot.outbox;
    if (job.tag === RUN_FUNCTION) {
      const fnId = job.fields[0] as number;
      if (!slot.known.has(fnId)) {
        slot.known.add(fnId);
        outbox.push(DEFINE, fnId, sources[fnId]);
      }
      outbox.push(RUN_FUNCTION, job.id, fnId, job.fields[1]);
    } else {
      outbox.push(RUN_EXPORT, job.id, job.fields[0], job.fields[1], job.fields[2]);
    }
    for (const item of job.transfers) slot.transfers.push(item);
    this.#markDirty(slot);
  }

  #markDirty(slot: WorkerSlot): void {
    if (!slot.dirty) {
      slot.dirty = true;
      this.#dirty.push(slot);
    }
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      // Everything this loop turn sends goes in one message per worker.
      queueMicrotask(this.#flush);
    }
  }

  readonly #flush = (): void => {
    this.#flushQueued = false;
    const dirty = this.#dirty;
    this.#dirty = [];
    for (const slot of dirty) {
      slot.dirty = false;
      if (slot.outbox.length === 0 || slot.stopping === "close") continue;
      const batch = slot.outbox;
      const transfers = slot.transfers;
      slot.outbox = [];
      slot.transfers = [];
      try {
        slot.worker.postMessage(batch, transfers);
      } catch (error) {
        this.#postOneByOne(slot, batch, error);
      }
    }
  };

  /** A batch that would not clone: find the jobs at fault, fail them, send the rest. */
  #postOneByOne(slot: WorkerSlot, batch: unknown[], batchError: unknown): void {
    for (let i = 0; i < batch.length; ) {
      const tag = batch[i];
      const size = tag === DEFINE ? 3 : tag === RUN_FUNCTION ? 4 : tag === RUN_EXPORT ? 5 : 4;
      const record = batch.slice(i, i + size);
      i += size;
      const isJob = tag === RUN_FUNCTION || tag === RUN_EXPORT;
      const job = isJob ? slot.inFlight.get(record[1] as number) : undefined;
      try {
        slot.worker.postMessage(record, job?.transfers ?? []);
      } catch (error) {
        if (tag === CALL_RESULT) {
          slot.worker.postMessage([
            CALL_RESULT,
            record[1],
            false,
            new TypeError(`callFromThread: the result cannot be copied to the worker (${(error as Error).message})`),
          ]);
          continue;
        }
        if (job === undefined) throw batchError;
        slot.inFlight.delete(job.id);
        job.reject(new TypeError(`Cannot run in a thread: the arguments cannot be copied to a worker (${(error as Error).message})`, { cause: error }));
        if (slot.inFlight.size === 0) this.#idle(slot);
      }
    }
  }

  #startWorker(): WorkerSlot {
    const aborts = new MessageChannel();
    const abortBuffer = new SharedArrayBuffer(4);
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      name: this.#name,
      workerData: { abortPort: aborts.port2, abortBuffer, tsxApi: tsxApi() },
      transferList: [aborts.port2],
      ...(this.#resourceLimits !== undefined && { resourceLimits: this.#resourceLimits }),
    });
    const slot = new WorkerSlot(worker, aborts.port1, new Int32Array(abortBuffer));
    this.#slots.push(slot);
    worker.on("message", (batch: unknown[]) => this.#receive(slot, batch));
    worker.on("error", (error: Error) => {
      slot.crash = error;
    });
    worker.once("exit", (code: number) => this.#exited(slot, code));
    return slot;
  }

  #receive(slot: WorkerSlot, batch: unknown[]): void {
    for (let i = 0; i < batch.length; ) {
      const tag = batch[i];
      if (tag === CALL) {
        this.#callFromThread(slot, batch[i + 1] as number, batch[i + 3] as string, batch[i + 4] as unknown[]);
        i += 5;
        continue;
      }
      const job = slot.inFlight.get(batch[i + 1] as number);
      if (job !== undefined) {
        slot.inFlight.delete(job.id);
        this.#completed++;
        if (!job.abandoned) {
          if (tag === DONE) job.resolve(batch[i + 2]);
          else job.reject(deserializeError(batch[i + 2] as SerializedError));
        }
      }
      i += 3;
    }
    if (slot.graceTimer !== undefined && ![...slot.inFlight.values()].some((job) => job.abandoned)) {
      // The cancelled jobs ended within the grace: the worker stays.
      clearTimeout(slot.graceTimer);
      slot.graceTimer = undefined;
    }
    if (slot.inFlight.size === 0 && slot.stopping === undefined) this.#idle(slot);
    this.#pump();
  }

  #callFromThread(slot: WorkerSlot, callId: number, name: string, args: unknown[]): void {
    const reply = (ok: boolean, value: unknown): void => {
      if (slot.stopping === "close") return;
      slot.outbox.push(CALL_RESULT, callId, ok, value);
      this.#markDirty(slot);
    };
    runExposed(this.#keeper, name, args, reply);
  }

  #busy(slot: WorkerSlot): void {
    slot.worker.ref();
  }

  #idle(slot: WorkerSlot): void {
    // An idle worker must not keep the process alive.
    slot.worker.unref();
    slot.idleSince = Date.now();
    // One timer per idle spell, not one per job: when it fires, it checks how long the worker has really been idle.
    if (this.#idleTimeout !== Infinity && slot.idleTimer === undefined) this.#armIdleTimer(slot, this.#idleTimeout);
  }

  #armIdleTimer(slot: WorkerSlot, ms: number): void {
    slot.idleTimer = setTimeout(() => {
      slot.idleTimer = undefined;
      if (slot.inFlight.size > 0 || slot.stopping !== undefined) return;
      const idleFor = Date.now() - slot.idleSince;
      if (idleFor >= this.#idleTimeout) this.#stop(slot, "idle");
      else this.#armIdleTimer(slot, this.#idleTimeout - idleFor);
    }, ms);
    slot.idleTimer.unref();
  }

  #stop(slot: WorkerSlot, why: "abort" | "idle" | "close"): void {
    slot.stopping = why;
    clearTimeout(slot.idleTimer);
    clearTimeout(slot.graceTimer);
    slot.idleTimer = slot.graceTimer = undefined;
    void slot.worker.terminate();
  }

  [abandon](job: Job): void {
    if (job.abandoned) return;
    job.abandoned = true;
    const slot = job.slot;
    if (slot === undefined) {
      // Still queued: it will be skipped.
      this.#queued--;
      return;
    }
    if (slot.stopping !== undefined || !slot.inFlight.has(job.id)) return;
    slot.abortPort.postMessage(job.id);
    Atomics.add(slot.abortCount, 0, 1);
    if (slot.graceTimer === undefined) {
      slot.graceTimer = setTimeout(() => {
        slot.graceTimer = undefined;
        if ([...slot.inFlight.values()].some((inFlight) => inFlight.abandoned)) this.#stop(slot, "abort");
      }, this.#abortGrace);
    }
  }

  #exited(slot: WorkerSlot, code: number): void {
    slot.abortPort.close();
    clearTimeout(slot.idleTimer);
    clearTimeout(slot.graceTimer);
    const index = this.#slots.indexOf(slot);
    if (index >= 0) this.#slots.splice(index, 1);
    const jobs = [...slot.inFlight.values()];
    slot.inFlight.clear();
    if (slot.stopping === "abort") {
      // Terminated to stop a cancelled job: the others did nothing wrong, so they run again.
      for (let i = jobs.length - 1; i >= 0; i--) {
        const job = jobs[i] as Job;
        if (job.abandoned) continue;
        job.slot = undefined;
        this.#queue.unshift(job);
        this.#queued++;
      }
    } else {
      const why =
        slot.crash !== undefined
          ? `it failed: ${slot.crash.message}`
          : slot.stopping === "close"
            ? "the thread pool was closed"
            : `it exited with code ${code}`;
      for (const job of jobs) {
        if (job.abandoned) continue;
        const error =
          slot.stopping === "close"
            ? new ClosedResourceError(`Cannot run in a thread: ${why}`)
            : new WorkerCrashedError(`The worker thread running this job died: ${why}`, code, slot.crash === undefined ? undefined : { cause: slot.crash });
        job.reject(error);
      }
    }
    if (!this.#closed) this.#pump();
  }

  *#shutdown(): Operation<void> {
    if (!this.#closed) {
      this.#closed = true;
      while (this.#queue.size > 0) {
        const job = this.#queue.shift() as Job;
        if (!job.abandoned) job.reject(new ClosedResourceError("Cannot run in a thread: the thread pool was closed"));
      }
      this.#queued = 0;
      for (const slot of this.#slots) this.#stop(slot, "close");
    }
    const exits = this.#slots.map((slot) => slot.exited);
    if (exits.length === 0) return;
    const park = new ExternalPark<void>(requireCurrentTask("close a thread pool"), "thread");
    void Promise.all(exits).then(() => park.resolve());
    yield park;
  }
}
