/**
 * The life of one pool worker (`WorkerSlot`): started on demand, unref'd
 * while idle and stopped after the idle timeout, given `abortGrace` to end
 * a cancelled job before it is terminated, and, when it exits for whatever
 * reason, deciding what becomes of the jobs it held: those it had not begun
 * run on another worker, those it had begun fail (running them again could
 * repeat their side effects). What is sent to it and what it answers is the
 * pool's business (`thread-pool.ts`).
 * @module
 */
import { MessageChannel, type MessagePort, type ResourceLimits, receiveMessageOnPort, type TransferListItem, Worker } from "node:worker_threads";
import { MAX_HOST_DELAY } from "../core/_host.ts";
import { ClosedResourceError } from "../core/errors.ts";
import { InFlight } from "./_in-flight.ts";
import type { Job } from "./_job.ts";
import { ABORTS, STARTED } from "./_protocol.ts";
import { WORKER_SOURCE } from "./_worker-source.ts";
import { WorkerCrashedError, WorkerTerminatedError } from "./errors.ts";
import { isDetached } from "./transfer.ts";

/** What a pool's workers are started with. */
export interface WorkerSettings {
  readonly name: string;
  readonly resourceLimits: ResourceLimits | undefined;
  /** Real ms, or `Infinity`. */
  readonly idleTimeout: number;
  /** Real ms, or `Infinity`. */
  readonly abortGrace: number;
}

/** What a worker tells its pool. */
export interface WorkerHost {
  /** A batch of records from the worker, or a bare result (see `_protocol.ts`). */
  received(slot: WorkerSlot, batch: unknown): void;
  /** The worker exited: `requeue` are the jobs it had not begun, to run on another worker, in order. */
  exited(slot: WorkerSlot, requeue: Job[]): void;
  /** The worker died of an error that no job fails with (its jobs had returned): for the owner's `onError`. */
  unreported(slot: WorkerSlot, error: WorkerCrashedError): void;
}

/** Why a worker is being stopped. */
export type StopReason = "abort" | "idle" | "close";

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

/** One worker and what is in flight on it. */
export class WorkerSlot {
  readonly worker: Worker;
  readonly inFlight = new InFlight();
  /** Function ids this worker has compiled. */
  readonly known = new Set<number>();
  /** Records waiting for the pool's next flush. */
  outbox: unknown[] = [];
  /** Where in `outbox` the `RUN_FUNCTION` record pushed last starts, and where it ends: a job may join it while nothing follows it (see `RUN_FUNCTION`). */
  seriesAt = 0;
  seriesEnd = -1;
  transfers: TransferListItem[] = [];
  /** The id and function of the lone job the worker was last sent (-1: none): a message of the next job of that function may go bare (see bare messages in `_protocol.ts`). */
  sentJobId = 0;
  sentFnId = -1;
  dirty = false;
  /** The worker's thread id (Node's `worker.threadId` is -1 once it has exited). */
  readonly threadId: number;
  /** Resolved with the exit code once the worker has exited. */
  readonly exited: Promise<number>;
  readonly #settings: WorkerSettings;
  readonly #host: WorkerHost;
  /**
   * The pool's end of the channel it talks to the worker on: jobs, results,
   * `callFromThread` (see `_protocol.ts`). Not the worker's `parentPort`:
   * that one is left to the jobs' own code, so nothing a job posts there can
   * pass for a result (the pool does not read it).
   */
  readonly port: MessagePort;
  /** Where aborts go (the worker reads them even in a busy loop). */
  readonly #abortPort: MessagePort;
  /** Shared with the worker: `[ABORTS]` aborts sent, `[STARTED]` the id of the job it began last. */
  readonly #shared: Int32Array;
  #nextJobId = 1;
  #answered = false;
  /** The id the pool last stored in `[STARTED]` to take jobs back (0: never); the worker's own claims are other values. */
  #takenTo = 0;
  /** Whether the worker had begun a job before the pool last stored `#takenTo`. */
  #begunBefore = false;
  #stopping: StopReason | undefined = undefined;
  #crash: Error | undefined = undefined;
  #idleTimer: ReturnType<typeof setTimeout> | undefined = undefined;
  #idleSince = 0;
  /** Cancelled jobs still in flight, first cancelled first. */
  readonly #aborting: Job[] = [];
  #graceTimer: ReturnType<typeof setTimeout> | undefined = undefined;
  /** The cancelled job that outlived its grace, once there is one. */
  #stuck: Job | undefined = undefined;

  constructor(settings: WorkerSettings, host: WorkerHost) {
    this.#settings = settings;
    this.#host = host;
    const aborts = new MessageChannel();
    const channel = new MessageChannel();
    const shared = new SharedArrayBuffer(8);
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      name: settings.name,
      workerData: { port: channel.port2, abortPort: aborts.port2, shared, tsxApi: tsxApi() },
      transferList: [channel.port2, aborts.port2],
      ...(settings.resourceLimits !== undefined && { resourceLimits: settings.resourceLimits }),
    });
    this.threadId = this.worker.threadId;
    this.port = channel.port1;
    this.#abortPort = aborts.port1;
    this.#shared = new Int32Array(shared);
    this.exited = new Promise((resolve) => this.worker.once("exit", resolve));
    this.port.on("message", this.#onMessage);
    // The worker keeps the process alive while it has jobs (`add`, `#idle`): its port must not keep it alive on its own.
    this.port.unref();
    this.worker.on("error", (error: Error) => {
      this.#crash ??= error;
    });
    // A message from the worker that could not be read held results, or a bare result whose job the
    // pool could no longer tell (see bare messages in `_protocol.ts`): the worker cannot go on.
    this.port.on("messageerror", (error: Error) => {
      this.#broken(new Error(`a message it sent could not be read (${error.message})`, { cause: error }));
    });
    this.worker.once("exit", (code: number) => {
      // What the worker sent just before it exited (its results, CRASHED) first: they tell which of its jobs had returned.
      for (let entry = receiveMessageOnPort(this.port); entry !== undefined; entry = receiveMessageOnPort(this.port)) this.#onMessage(entry.message);
      this.#onExit(code);
    });
  }

  readonly #onMessage = (batch: unknown): void => {
    this.#answered = true;
    try {
      this.#host.received(this, batch);
    } catch (error) {
      // Only the pool's worker code posts on this port, so this is a bug, not a job's doing: the worker cannot be trusted
      // to go on, and an exception must not escape a message handler (it would end the process).
      this.#broken(new Error(`a message it sent could not be handled (${error instanceof Error ? error.message : String(error)})`, { cause: error }));
    }
  };

  /** The worker cannot go on: its jobs fail with `error` as the cause. */
  #broken(error: Error): void {
    this.#crash ??= error;
    void this.worker.terminate();
  }

  /**
   * Whether the worker has sent anything yet. Until then it may still be
   * starting up (tens of ms), so the jobs sent to it may run sooner on a
   * worker that is up and has run dry.
   */
  get answered(): boolean {
    return this.#answered;
  }

  /** Why it is being stopped, once it is. */
  get stopping(): StopReason | undefined {
    return this.#stopping;
  }

  /** Records `job` as sent to this worker, under the next id (the worker begins jobs in the order they are sent). */
  add(job: Job): void {
    job.slot = this;
    job.id = this.#nextJobId++;
    // A worker with work keeps the process alive.
    if (this.inFlight.size === 0) this.worker.ref();
    this.inFlight.add(job);
  }

  /** Jobs sent to this worker that it has not begun, but cancelled ones (it drops those): they wait, as the pool's queue does. */
  get waiting(): number {
    if (this.inFlight.size === 0) return 0;
    const begun = Atomics.load(this.#shared, STARTED);
    let count = 0;
    // Ids wrap around in the shared Int32: compare their difference.
    for (const job of this.inFlight.values()) if (((job.id - begun) | 0) > 0 && !job.abandoned) count++;
    return count;
  }

  /** Jobs sent to this worker that it has begun and not answered. */
  get begun(): number {
    if (this.inFlight.size === 0) return 0;
    const begun = Atomics.load(this.#shared, STARTED);
    let count = 0;
    for (const job of this.inFlight.values()) if (((job.id - begun) | 0) <= 0) count++;
    return count;
  }

  /** How many jobs sent to this worker it has not begun and `takeBack` would move. */
  get movable(): number {
    return this.#movable(Atomics.load(this.#shared, STARTED)).length;
  }

  /**
   * Takes back the jobs sent to this worker that it has not begun, for the
   * pool to run on a worker that ran dry (a long job must not hold up the
   * jobs queued behind it). It stops before the first job that transferred
   * something: its buffers are on this worker already. Returns them in the
   * order they were sent, no longer in flight here; a cancelled one is
   * dropped. The worker skips them (see `STARTED`).
   */
  takeBack(): Job[] {
    for (;;) {
      const begun = Atomics.load(this.#shared, STARTED);
      const jobs = this.#movable(begun);
      if (jobs.length === 0) return jobs;
      const last = (jobs[jobs.length - 1] as Job).id | 0;
      // Fails if the worker began another job meanwhile: look again.
      if (Atomics.compareExchange(this.#shared, STARTED, begun, last) !== begun) continue;
      if (begun !== this.#takenTo) this.#begunBefore = true;
      this.#takenTo = last;
      const moved: Job[] = [];
      for (const job of jobs) {
        this.finished(job.id);
        if (job.abandoned) continue;
        job.slot = undefined;
        moved.push(job);
      }
      return moved;
    }
  }

  /**
   * The jobs after `begun` (a value of `[STARTED]`), in order, up to the first
   * one that transferred something. From a worker that has answered, none
   * unless a job it began is still in flight: it would be left idle in turn,
   * and two idle workers would pass the same jobs back and forth. One that
   * has not answered yet may still be starting up, and never takes jobs back
   * itself (the pool's `#takeBackForIdle`), so all of its jobs may move.
   */
  #movable(begun: number): Job[] {
    const jobs: Job[] = [];
    if (this.#stopping !== undefined) return jobs;
    let mayMove = !this.#answered;
    for (const job of this.inFlight.values()) {
      // Ids wrap around in the shared Int32: compare their difference.
      if (((job.id - begun) | 0) <= 0) {
        // Begun and still running: the jobs behind it may move.
        mayMove = true;
        continue;
      }
      if (!mayMove || job.transfers.length > 0) break;
      jobs.push(job);
    }
    return jobs;
  }

  /** The worker said what kills it: an error thrown outside any job (see `CRASHED`). */
  crashed(error: unknown): void {
    this.#crash ??= error instanceof Error ? error : new Error(String(error));
  }

  /** Removes a job that ended (answered, or could not be sent); `undefined` if it is not in flight here. */
  finished(id: number): Job | undefined {
    const job = this.inFlight.get(id);
    if (job === undefined) return undefined;
    this.inFlight.delete(id);
    if (job.abandoned) this.#abortEnded(job);
    if (this.inFlight.size === 0 && this.#stopping === undefined) this.#idle();
    return job;
  }

  /** Removes the job sent first of those in flight: it is the one a bare result answers. */
  finishedOldest(): Job | undefined {
    const job = this.inFlight.oldest();
    return job === undefined ? undefined : this.finished(job.id);
  }

  /** Tells the worker that `job` was cancelled, and terminates it if the job has not ended after the grace. */
  abort(job: Job): void {
    if (this.#stopping !== undefined || this.inFlight.get(job.id) !== job) return;
    this.#abortPort.postMessage(job.id);
    Atomics.add(this.#shared, ABORTS, 1);
    job.abortedAt = Date.now();
    job.seenBegun = ((job.id - Atomics.load(this.#shared, STARTED)) | 0) <= 0;
    this.#aborting.push(job);
    if (this.#graceTimer === undefined) this.#armGrace(this.#settings.abortGrace);
  }

  /** Terminates the worker; `#onExit` follows. */
  stop(why: StopReason): void {
    this.#stopping = why;
    clearTimeout(this.#idleTimer);
    clearTimeout(this.#graceTimer);
    this.#idleTimer = this.#graceTimer = undefined;
    void this.worker.terminate();
  }

  /** A cancelled job ended: if it was the last one, the worker stays. */
  #abortEnded(job: Job): void {
    const index = this.#aborting.indexOf(job);
    if (index >= 0) this.#aborting.splice(index, 1);
    if (this.#aborting.length === 0 && this.#graceTimer !== undefined) {
      clearTimeout(this.#graceTimer);
      this.#graceTimer = undefined;
    }
  }

  #armGrace(ms: number): void {
    if (ms === Infinity) return;
    // Node fires a longer delay after 1 ms; a grace of 24.8 days is as good as a longer one.
    this.#graceTimer = setTimeout(this.#graceEnded, Math.min(ms, MAX_HOST_DELAY));
  }

  /**
   * A grace may be over: the worker is terminated if a cancelled job it has
   * begun still runs after its grace. A cancelled job it has not begun
   * (queued behind a long one) is not stuck: the worker drops it when it gets
   * there, so its grace starts again. Terminating the worker for it would
   * fail the job running there, which nobody cancelled. A job first seen
   * begun now began since the last look, most likely to be dropped (its
   * answer is on the way): its whole grace starts now.
   */
  readonly #graceEnded = (): void => {
    this.#graceTimer = undefined;
    if (this.#aborting.length === 0 || this.#stopping !== undefined) return;
    const now = Date.now();
    const grace = this.#settings.abortGrace;
    const started = Atomics.load(this.#shared, STARTED);
    let next = grace;
    for (const job of this.#aborting) {
      // Ids wrap around in the shared Int32: compare their difference.
      const begun = ((job.id - started) | 0) <= 0;
      if (!begun || !job.seenBegun) {
        job.seenBegun = begun;
        job.abortedAt = now;
      } else if (job.abortedAt + grace <= now) {
        this.#stuck = job;
        this.stop("abort");
        return;
      }
      next = Math.min(next, job.abortedAt + grace - now);
    }
    this.#armGrace(next);
  };

  #idle(): void {
    // An idle worker must not keep the process alive.
    this.worker.unref();
    this.#idleSince = Date.now();
    // One timer per idle spell, not one per job: when it fires, it checks how long the worker has really been idle.
    if (this.#settings.idleTimeout !== Infinity && this.#idleTimer === undefined) this.#armIdleTimer(this.#settings.idleTimeout);
  }

  #armIdleTimer(ms: number): void {
    this.#idleTimer = setTimeout(
      () => {
        this.#idleTimer = undefined;
        if (this.inFlight.size > 0 || this.#stopping !== undefined) return;
        const idleFor = Date.now() - this.#idleSince;
        if (idleFor >= this.#settings.idleTimeout) this.stop("idle");
        else this.#armIdleTimer(this.#settings.idleTimeout - idleFor);
      },
      // Node fires a longer delay after 1 ms: wait at most that long, then check again.
      Math.min(ms, MAX_HOST_DELAY),
    );
    this.#idleTimer.unref();
  }

  #onExit(code: number): void {
    this.#abortPort.close();
    this.port.close();
    clearTimeout(this.#idleTimer);
    clearTimeout(this.#graceTimer);
    const started = Atomics.load(this.#shared, STARTED);
    // Whether the worker itself began a job: `[STARTED]` also holds what the pool stored to take jobs back.
    const begunAny = this.#begunBefore || started !== this.#takenTo;
    // A worker that died before it began any job cannot start at all (resourceLimits too small...): sending its jobs to the next one would loop.
    const moveOn = this.#stopping === "abort" || (this.#stopping === undefined && begunAny);
    const requeue: Job[] = [];
    let told = false;
    for (const job of this.inFlight.values()) {
      if (job.abandoned) continue;
      // Ids wrap around in the shared Int32: compare their difference.
      const notBegun = moveOn && ((started - job.id) | 0) < 0;
      // Not begun: it runs on another worker, unless the buffers it transferred were moved to this one (they died with it).
      if (notBegun && !job.transfers.some(isDetached)) {
        job.slot = undefined;
        requeue.push(job);
      } else {
        job.reject(this.#failure(code, notBegun));
        told = true;
      }
    }
    this.inFlight.clear();
    this.#aborting.length = 0;
    // Thrown after its jobs returned (a timer, an unhandled rejection): no job fails with it, so it is reported, not dropped.
    if (!told && this.#stopping === undefined && (this.#crash !== undefined || code !== 0)) this.#host.unreported(this, this.#unreported(code));
    this.#host.exited(this, requeue);
  }

  /** A death no job fails with. */
  #unreported(code: number): WorkerCrashedError {
    const crash = this.#crash;
    const why = crash !== undefined ? `it failed: ${crash.message}` : `it exited with code ${code}`;
    return new WorkerCrashedError(
      `A worker thread of the pool died with no job running: ${why}. An error thrown outside a job (in a timer, an unhandled rejection, after the job returned) kills its worker: catch it inside the job, or await what it starts`,
      code,
      crash === undefined ? undefined : { cause: crash },
    );
  }

  /**
   * Why a job that had begun on this worker cannot finish; or, `transferredTo`,
   * one that had not begun but whose transferred buffers were on this worker.
   */
  #failure(code: number, transferredTo = false): Error {
    if (this.#stopping === "close") return new ClosedResourceError("Cannot run in a thread: the thread pool was closed");
    const fate = transferredTo
      ? "this job had not begun, but the buffers it transferred (transfer()) were on that worker, so it cannot run on another"
      : "this job had already begun, so it is not run again (its side effects could happen twice)";
    const stuck = this.#stuck;
    if (this.#stopping === "abort" && stuck !== undefined) {
      return new WorkerTerminatedError(
        `Cannot finish this job: its worker thread was terminated because another job on it, ${stuck.work}, did not stop within abortGrace (${this.#settings.abortGrace} ms) after it was cancelled; ${fate}`,
      );
    }
    const crash = this.#crash;
    const why = crash !== undefined ? `it failed: ${crash.message}` : `it exited with code ${code}`;
    const what = transferredTo ? `The worker thread this job was sent to died (${fate})` : "The worker thread running this job died";
    return new WorkerCrashedError(`${what}: ${why}`, code, crash === undefined ? undefined : { cause: crash });
  }
}
