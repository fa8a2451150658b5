/**
 * Work queues on Redis, through BullMQ: jobs added from any process,
 * processed as corio tasks by any number of processes on any number of
 * machines, with retries, back-off, delays, priorities, stalled-job
 * recovery and cancellation by id.
 *
 * Why BullMQ rather than a queue of our own on Redis streams: it already
 * has what a job queue needs to be trusted (atomic Lua moves between
 * states, lock renewal, stalled-job detection, retries with back-off,
 * delayed and prioritized jobs, events), is widely run in production, and
 * its jobs can be inspected with the tools its users have. corio adds the
 * part BullMQ leaves to the caller: each job is a cancellable task, and
 * stopping a worker puts its jobs back instead of failing them.
 * @module
 */

import { Queue as BullQueue, Worker as BullWorker, type Job, type JobsOptions, QueueEvents, UnrecoverableError, WaitingError } from "bullmq";
import { defineOperation, defineOperationMethods } from "../core/_dev.ts";
import { checkMadeByCorio, MADE_BY_CORIO } from "../core/_made-by-corio.ts";
import { returnedWrapped } from "../core/_resource.ts";
import { SHIELDED } from "../core/_scope.ts";
import { until } from "../core/call.ts";
import { createCancelledError, isCancellation } from "../core/errors.ts";
import { Future } from "../core/future.ts";
import type { Operation } from "../core/operation.ts";
import { requireCurrentTask } from "../core/spawn.ts";
import { suspend } from "../core/suspend.ts";
import { TaskImpl, type Watcher } from "../core/task.ts";
import type { Queue } from "../sync/queue.ts";
import { moveOnAfter } from "../time/move-on.ts";
import { PROCESS_WITH_LIMIT, ProcessingFailure, type ProcessSource } from "../util/process-queue-with-limit.ts";
import { dropClient, openClient, type RedisAddress, type RedisClient } from "./connection.ts";
import { JobCompletions } from "./job-completions.ts";

/** Options of `openJobQueue`. */
export interface JobQueueOptions {
  /** Where Redis is. */
  redis: RedisAddress;
  /** BullMQ's key prefix. @default "bull" */
  prefix?: string;
  /** Options every job gets unless `add` says otherwise (e.g. `{ attempts: 3, backoff: { type: "exponential", delay: 1000 } }`). */
  defaultJobOptions?: AddJobOptions;
}

/** Options of one job: BullMQ's job options (`jobId`, `delay`, `priority`, `attempts`, `backoff`, `removeOnComplete`, …). */
export type AddJobOptions = JobsOptions;

/** What a job's worker is told besides the data. */
export interface JobInfo {
  /** The job's id (BullMQ's). */
  readonly id: string;
  /** The job's name (`add`'s `name`, default "job"). */
  readonly name: string;
  /** Attempts made before this one (retries after failures). */
  readonly attemptsMade: number;
}

/** Options of processing (`process`, or `processQueueWithLimit` on a `JobQueue`). */
export interface ProcessJobsOptions<D = unknown> {
  /** When the owner stops: how long in-flight jobs may run on before they are cancelled and put back, in ms. @default 5000 */
  grace?: number;
  /**
   * How long a job's lock lasts without renewal (renewed at half of it while
   * the job runs); a process that dies holds its jobs this long before
   * another takes them back. @default 30000
   */
  lockDuration?: number;
  /** How often this process looks for stalled jobs of dead workers, in ms. @default 30000 */
  stalledInterval?: number;
  /** How many times a job may stall (its worker died) before it fails. @default 1 */
  maxStalledCount?: number;
  /** Checks the job data before the worker runs: `true` to accept, or a message; refused data fails the job at once (no retry). */
  validate?: (data: unknown) => data is D;
}

const DEFAULT_GRACE = 5000;

/** A job handed over by BullMQ's worker loop, waiting for its corio task. */
interface JobRequest {
  readonly job: Job;
  readonly token: string;
  resolve(value: unknown): void;
  reject(error: Error): void;
}

/**
 * A BullMQ queue seen from corio: add jobs, cancel them by id, watch their
 * outcomes, and process them as corio tasks. Opened with `openJobQueue`,
 * owned by the task that opened it.
 *
 * @example Cancel a waiting job by id
 * ```ts
 * import { run } from "corio";
 * import { openJobQueue } from "corio/redis";
 * await run(function* () {
 *   const jobs = yield* openJobQueue<string>(`reports-${process.pid}`, { redis: process.env.REDIS_URL ?? "redis://127.0.0.1:6379" });
 *   const id = yield* jobs.add("monthly", { delay: 60_000 });
 *   console.assert((yield* jobs.counts())["delayed"] === 1);
 *   console.assert((yield* jobs.cancel(id)) === true); // removed before it ran
 *   console.assert((yield* jobs.counts())["delayed"] === 0);
 * });
 * ```
 */
export class JobQueue<D = unknown, R = unknown> implements ProcessSource<D, R, ProcessJobsOptions<D>> {
  /** The queue's name (shared by every process using it). */
  readonly name: string;
  readonly #address: RedisAddress;
  readonly #prefix: string;
  readonly #queue: BullQueue;
  readonly #client: RedisClient;

  /** @internal What `openJobQueue` calls: the constructor is private, so that `new JobQueue()` does not type-check. */
  static create<D = unknown, R = unknown>(name: string, address: RedisAddress, prefix: string, queue: BullQueue, client: RedisClient): JobQueue<D, R> {
    return new JobQueue<D, R>(MADE_BY_CORIO, name, address, prefix, queue, client);
  }

  private constructor(token: typeof MADE_BY_CORIO, name: string, address: RedisAddress, prefix: string, queue: BullQueue, client: RedisClient) {
    checkMadeByCorio(token, "a JobQueue", "use yield* openJobQueue(name, options)");
    this.name = name;
    this.#address = address;
    this.#prefix = prefix;
    this.#queue = queue;
    this.#client = client;
  }

  /**
   * Adds a job and gives its id. `options` are BullMQ's (`jobId`, `delay`,
   * `priority`, `attempts`, `backoff`, …). The data must survive JSON.
   *
   * @example
   * ```ts ignore
   * const id = yield* jobs.add({ to: "a@example.com" }, { attempts: 3, backoff: { type: "exponential", delay: 1000 } });
   * ```
   */
  *add(data: D, options: AddJobOptions & { name?: string } = {}): Operation<string> {
    const { name = "job", ...jobOptions } = options;
    const job = yield* until(this.#queue.add(name, data, jobOptions));
    return job.id as string;
  }

  /**
   * Cancels a job by id, from any process. A job still waiting (or delayed)
   * is removed; a running one is cancelled where it runs (its task gets a
   * `CancelledError` at its suspension point) and fails with "cancelled",
   * without retry. Returns false if there is no such job, or it has ended.
   */
  *cancel(id: string, reason = "cancelled by id"): Operation<boolean> {
    const job = yield* until(this.#queue.getJob(id));
    if (job === undefined) return false;
    // A state read and a removal are two steps: a waiting job can run and end between them (and a
    // removal would then delete the finished job). So a waiting job is first taken out of the list
    // or set it waits in, in one command, as a worker takes it from there: one of the two wins.
    for (let attempt = 0; attempt < 5; attempt++) {
      const state = yield* until(job.getState());
      if (state === "completed" || state === "failed" || state === "unknown") return false;
      if (state === "active") break;
      if (state === "waiting-children") {
        // It cannot run before its children end.
        try {
          yield* until(job.remove());
          return true;
        } catch {
          continue;
        }
      }
      if (yield* until(takeOutOfWaiting(this.#client, this.#queue.keys, state, id))) {
        // No worker can take it now; the rest of it (its data, its logs) goes too.
        yield* until(job.remove().catch(() => undefined));
        return true;
      }
      // It moved meanwhile (a delayed job became waiting, a waiting one active): look again.
    }
    yield* until(this.#client.publish(cancelChannel(this.#prefix, this.name), JSON.stringify({ id, reason })));
    return true;
  }

  /** How many jobs are in each state (`waiting`, `active`, `delayed`, `completed`, `failed`, `prioritized`). */
  *counts(): Operation<Record<string, number>> {
    return yield* until(this.#queue.getJobCounts("waiting", "active", "delayed", "completed", "failed", "prioritized"));
  }

  /**
   * The outcomes of this queue's jobs from now on, from every process, in
   * the order Redis recorded them: `yield* completions.next()` gives
   * `{ id, status: "completed", value }` or `{ id, status: "failed", error }`.
   * Owned by the calling task (it stops listening when the task ends).
   */
  *completions(): Operation<JobCompletions<R>> {
    const events = new QueueEvents(this.name, { connection: ownedConnection(this.#client), prefix: this.#prefix, autorun: false });
    return yield* JobCompletions.start<R>(events, this.#client, `${this.#prefix}:${this.name}:events`);
  }

  /**
   * Processes the queue's jobs, up to `n` at once in this process, each as a
   * corio task running `worker(data, info)`: its value completes the job, an
   * error fails it (BullMQ retries it if it has attempts left). Locally
   * finished jobs also go on `doneQueue` when one is given (values, or a
   * `ProcessingFailure` with the data and error).
   *
   * Never returns by itself. **Cancellation** (the owner stops): no more jobs
   * are fetched; the jobs in flight get `grace` ms to finish, then are
   * cancelled with `CancelledError` at their suspension point and put back
   * in the queue, for another worker (or a later one): never failed, never
   * lost. If Redis cannot be reached then, the stop waits up to 5 s for it
   * and then drops the connections: a job it could not put back is taken up
   * by another worker when its lock expires (`lockDuration`), as after a
   * crash.
   */
  *process(
    n: number,
    worker: (data: D, info: JobInfo) => Operation<R>,
    options: ProcessJobsOptions<D> = {},
    doneQueue?: Queue<R | ProcessingFailure<D>>,
  ): Operation<never> {
    return yield* processJobs(this, n, worker, options, doneQueue);
  }

  /** `processQueueWithLimit(jobQueue, doneQueue, n, worker)` comes here. */
  *[PROCESS_WITH_LIMIT](
    doneQueue: Queue<R | ProcessingFailure<D>> | null,
    n: number,
    worker: ((data: D, info: JobInfo) => Operation<R>) | undefined,
    options: ProcessJobsOptions<D> = {},
  ): Operation<never> {
    if (worker === undefined) throw new TypeError(`Cannot process the job queue ${this.name}: a worker function is needed (job data cannot be an operation)`);
    return yield* processJobs(this, n, worker, options, doneQueue ?? undefined);
  }

  /** @internal */
  get address(): RedisAddress {
    return this.#address;
  }
  /** @internal */
  get prefix(): string {
    return this.#prefix;
  }
  /** @internal */
  get client(): RedisClient {
    return this.#client;
  }
}

/**
 * Opens a BullMQ job queue by name, owned by the current task (its
 * connections close when the task ends). Every process that opens the same
 * name on the same Redis shares the queue.
 *
 * Needs `bullmq` and `ioredis` (optional peer dependencies of corio).
 *
 * @example Add jobs, process them 4 at a time, watch the outcomes
 * ```ts
 * import { run, spawn } from "corio";
 * import { openJobQueue } from "corio/redis";
 * const squares = await run(function* () {
 *   const jobs = yield* openJobQueue<number, number>(`squares-${process.pid}`, { redis: process.env.REDIS_URL ?? "redis://127.0.0.1:6379" });
 *   const outcomes = yield* jobs.completions();
 *   const workers = yield* spawn(() => jobs.process(4, function* (n) { return n * n; }));
 *   for (const n of [1, 2, 3]) yield* jobs.add(n);
 *   const values: number[] = [];
 *   while (values.length < 3) {
 *     const next = yield* outcomes.next();
 *     if (!next.done && next.value.status === "completed") values.push(next.value.value);
 *   }
 *   workers.cancel();
 *   return values.sort((a, b) => a - b);
 * });
 * console.assert(squares.join() === "1,4,9");
 * ```
 */
export const openJobQueue = defineOperation(function* openJobQueue<D = unknown, R = unknown>(
  name: string,
  options: JobQueueOptions,
): Operation<JobQueue<D, R>> {
  if (typeof name !== "string" || name === "" || name.includes(":"))
    throw new TypeError(
      `Cannot open a job queue: the name must be a non-empty string without ':', received ${typeof name === "string" ? JSON.stringify(name) : typeof name}`,
    );
  if (options === null || typeof options !== "object" || options.redis === undefined)
    throw new TypeError("Cannot open a job queue: options.redis (a URL or connection options) is required");
  const prefix = options.prefix ?? "bull";
  const client = yield* openClient(options.redis, { maxRetriesPerRequest: null }, `job queue ${name}`);
  const queue = new BullQueue(name, {
    connection: client,
    prefix,
    ...(options.defaultJobOptions !== undefined && { defaultJobOptions: options.defaultJobOptions }),
  });
  queue.on("error", () => {
    // Connection errors: ioredis reconnects; commands report their own failures.
  });
  const owner = requireCurrentTask("open a job queue");
  const jobQueue = JobQueue.create<D, R>(name, options.redis, prefix, queue, client);
  owner.ensure({ name: `bullmq queue ${name}`, cleanup: () => until(queue.close()), handle: jobQueue });
  return returnedWrapped(client, jobQueue);
});

/** Takes job `id` out of the list or set of `state` (waiting, delayed, prioritized); true if it was there. */
async function takeOutOfWaiting(client: RedisClient, keys: Record<string, string>, state: string, id: string): Promise<boolean> {
  const key = (name: string): string => keys[name] as string;
  if (state === "delayed") return (await client.zrem(key("delayed"), id)) > 0;
  if (state === "prioritized") return (await client.zrem(key("prioritized"), id)) > 0;
  // Waiting: in `wait`, or in `paused` while the queue is paused.
  const [fromWait, fromPaused] = await Promise.all([client.lrem(key("wait"), 0, id), client.lrem(key("paused"), 0, id)]);
  return fromWait + fromPaused > 0;
}

function cancelChannel(prefix: string, name: string): string {
  return `${prefix}:${name}:corio-cancel`;
}

/** How long a stopping worker waits for Redis to take its jobs back (during an outage, for ever) before it drops the connections, in ms. */
const CLOSE_WAIT = 5000;

/** The processing loop of `JobQueue.process`. */
function* processJobs<D, R>(
  queue: JobQueue<D, R>,
  n: number,
  worker: (data: D, info: JobInfo) => Operation<R>,
  options: ProcessJobsOptions<D>,
  doneQueue: Queue<R | ProcessingFailure<D>> | undefined,
): Operation<never> {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`Cannot process the job queue ${queue.name}: n must be a positive integer, received ${String(n)}`);
  if (typeof worker !== "function") throw new TypeError(`Cannot process the job queue ${queue.name}: worker must be a function returning an operation`);
  const grace = options.grace ?? DEFAULT_GRACE;
  if (!(grace >= 0)) throw new RangeError(`Cannot process the job queue ${queue.name}: grace must be a non-negative number of ms, received ${String(grace)}`);
  const owner = requireCurrentTask("process a job queue");
  const loop = owner.loop;
  const running = new Map<string, RunningJob>();
  let stopping = false;

  // BullMQ runs the processor in promise land: each job becomes a task under the owner at once
  // (its first step is queued), and BullMQ waits for the task. Handing the jobs through a corio
  // queue to a loop that spawned them cost a step of that loop per job, 1-2 us of the 4-5 us corio
  // added to a trivial job (cpu profile of 20k jobs).
  const processor = (job: Job, token?: string): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const request: JobRequest = { job, token: token ?? "", resolve, reject };
      // Cancelled and not yet in its `finally` (a busy loop can be a flush behind): the stop has begun.
      if (stopping || owner.cancelError !== null) putBack(request);
      else start(request);
    });

  // Cancellation by id, from any process.
  const subscriber = yield* openClient(queue.address, {}, `job cancels ${queue.name}`);
  subscriber.on("message", (_channel: string, message: string) => {
    let parsed: { id?: unknown; reason?: unknown };
    try {
      parsed = JSON.parse(message);
    } catch {
      return;
    }
    const entry = typeof parsed.id === "string" ? running.get(parsed.id) : undefined;
    if (entry === undefined || entry.task.done) return;
    entry.cancelledById = typeof parsed.reason === "string" ? parsed.reason : "cancelled by id";
    entry.task.cancel(entry.cancelledById);
  });
  yield* until(subscriber.subscribe(cancelChannel(queue.prefix, queue.name)));

  let changed: Future<void> | null = null;
  const wake = (): void => {
    const future = changed;
    changed = null;
    future?.resolve();
  };

  function putBack(request: JobRequest): void {
    request.job.moveToWait(request.token).then(
      () => request.reject(new WaitingError("put back: the worker stopped")),
      (error: unknown) => request.reject(error instanceof Error ? error : new Error(String(error))),
    );
  }

  function* runJob(entry: RunningJob): Operation<void> {
    entry.started = true;
    const { request } = entry;
    const { job } = request;
    const data = job.data as D;
    try {
      if (options.validate !== undefined && !options.validate(data)) {
        throw new UnrecoverableError(`Malformed job data for ${queue.name} job ${job.id}: the validate option refused ${preview(data)}`);
      }
      const value = yield* worker(data, { id: job.id as string, name: job.name, attemptsMade: job.attemptsMade });
      request.resolve(value);
      if (doneQueue !== undefined) yield* doneQueue.put(value);
    } catch (error) {
      if (isCancellation(error)) {
        if (entry.cancelledById !== null) request.reject(new UnrecoverableError(`cancelled: ${entry.cancelledById}`));
        else putBack(request);
        throw error;
      }
      request.reject(error instanceof Error ? error : new Error(String(error)));
      if (doneQueue !== undefined) yield* doneQueue.put(new ProcessingFailure(data, error));
    }
  }

  /** A job's task ended; one cancelled before its first step never ran `runJob`, so its job is answered here. */
  const ended = (entry: RunningJob): void => {
    if (!entry.started) {
      if (entry.cancelledById !== null) entry.request.reject(new UnrecoverableError(`cancelled: ${entry.cancelledById}`));
      else putBack(entry.request);
    }
    wake();
  };

  function start(request: JobRequest): void {
    const entry = new RunningJob(request, running, ended);
    // Shielded: the owner's cancellation reaches jobs only after the grace.
    const task = new TaskImpl<void>(loop, owner, runJob(entry), `job ${entry.id}`, owner.priority, SHIELDED);
    entry.task = task;
    running.set(entry.id, entry);
    task.addWatcher(entry);
    task.enqueue();
  }

  // Made last, after every step that can be cancelled: it opens its connections at once, and only the
  // `finally` below closes them.
  const bull = new BullWorker(queue.name, processor, {
    connection: ownedConnection(queue.client),
    prefix: queue.prefix,
    concurrency: n,
    autorun: false,
    lockDuration: options.lockDuration ?? 30_000,
    stalledInterval: options.stalledInterval ?? 30_000,
    maxStalledCount: options.maxStalledCount ?? 1,
  });
  bull.on("error", (error: Error) => {
    if (!isConnectionError(error)) loop.report(error, { kind: "callback", path: `job queue ${queue.name}` });
  });
  bull.run().catch((error: unknown) => loop.report(error, { kind: "callback", path: `job queue ${queue.name}` }));
  try {
    return yield* suspend();
  } finally {
    // From here on, jobs BullMQ hands over go back to the queue.
    stopping = true;
    const closed = bull.close();
    // A cancellation is delivered once: these waits run to their end.
    const deadline = loop.now() + grace;
    while (running.size > 0 && loop.now() < deadline) {
      changed = new Future<void>();
      yield* moveOnAfter(Math.max(0, deadline - loop.now()), changed);
    }
    for (const { task } of running.values()) task.requestCancel(createCancelledError("the job queue worker stopped: the job goes back to the queue"));
    while (running.size > 0) {
      changed = new Future<void>();
      yield* changed;
    }
    // BullMQ's close waits for the put-backs and its own commands, which wait for Redis; in an outage, for ever.
    if ((yield* moveOnAfter(CLOSE_WAIT, until(closed))).cancelled) {
      // Dropping the connections fails what waits on them, so the close ends; a job not put back is
      // recovered by another worker when its lock expires, as after a crash.
      for (const client of bullClients(bull)) yield* dropClient(client);
      yield* until(closed);
    }
    // Nothing to flush on a subscriber: an UNSUBSCRIBE or QUIT would wait for Redis too.
    yield* dropClient(subscriber);
  }
}

/**
 * A job's task in `processJobs`, and the watcher that forgets it (told
 * synchronously when the task ends: a done callback would cost a trip
 * through the ready queue per job).
 */
class RunningJob implements Watcher {
  /** Set right after construction (the task's body needs this entry first). */
  task!: TaskImpl<void>;
  /** Why it was cancelled by id (`JobQueue.cancel`), if it was. */
  cancelledById: string | null = null;
  /**
   * Whether the task's body began. A task cancelled before its first step
   * never runs it (a `jobs.cancel(id)`, or a stop with no grace, can come
   * before that step when the loop is busy), and BullMQ would then wait for
   * the job forever.
   */
  started = false;
  readonly request: JobRequest;
  /** The job's id, its key in `running`. */
  readonly id: string;
  readonly #running: Map<string, RunningJob>;
  readonly #ended: (entry: RunningJob) => void;
  constructor(request: JobRequest, running: Map<string, RunningJob>, ended: (entry: RunningJob) => void) {
    this.request = request;
    this.id = request.job.id as string;
    this.#running = running;
    this.#ended = ended;
  }
  taskFinished(): void {
    if (this.#running.get(this.id) === this) this.#running.delete(this.id);
    this.#ended(this);
  }
}

/**
 * The ioredis clients a BullMQ worker opened. BullMQ gives them only as
 * promises of a ready connection (never settled if Redis was down from the
 * start), so they are read where BullMQ 5 (the worker) and 6 (its backend)
 * keep them.
 */
function bullClients(bull: BullWorker): RedisClient[] {
  type Holder = { connection?: { _client?: RedisClient }; blockingConnection?: { _client?: RedisClient } };
  const withBackend = bull as unknown as { getBackend?: () => Holder };
  const holder = typeof withBackend.getBackend === "function" ? withBackend.getBackend() : (bull as unknown as Holder);
  return [holder.connection?._client, holder.blockingConnection?._client].filter((client) => client !== undefined);
}

/** Errors of a connection going away: ioredis reconnects by itself, nothing to report. */
function isConnectionError(error: Error): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return (
    code === "ECONNREFUSED" || code === "ENOENT" || code === "ECONNRESET" || code === "EPIPE" || /Connection is closed|connection closed/i.test(error.message)
  );
}

/** A short rendering of job data for messages. */
function preview(data: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(data) ?? String(data);
  } catch {
    text = String(data);
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/**
 * Connection options for a BullMQ object that opens (and closes) its own
 * connections: those of a connected client, reconnecting forever after a
 * server restart. (Given a client instance, BullMQ would share it and leave
 * the duplicates it makes open.)
 */
function ownedConnection(client: RedisClient): Record<string, unknown> {
  return { ...client.options, lazyConnect: false, maxRetriesPerRequest: null, retryStrategy: (times: number) => Math.min(times * 100, 2000) };
}

defineOperationMethods(JobQueue);
