/**
 * The life of one pool worker (`WorkerSlot`): started on demand, unref'd
 * while idle and stopped after the idle timeout, given `abortGrace` to end
 * a cancelled job before it is terminated, and, when it exits for whatever
 * reason, deciding what becomes of the jobs it held. What is sent to it and
 * what it answers is the pool's business (`thread-pool.ts`).
 * @module
 */
import { MessageChannel, type MessagePort, type ResourceLimits, type TransferListItem, Worker } from "node:worker_threads";
import { ClosedResourceError } from "../core/errors.ts";
import { MAX_HOST_DELAY } from "../core/loop.ts";
import type { Job } from "./_job.ts";
import { WORKER_SOURCE } from "./_worker-source.ts";
import { WorkerCrashedError } from "./errors.ts";

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
  /** A batch of records from the worker. */
  received(slot: WorkerSlot, batch: unknown[]): void;
  /** The worker exited: `requeue` are its jobs to run on another worker, in order. */
  exited(slot: WorkerSlot, requeue: Job[]): void;
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
  readonly inFlight = new Map<number, Job>();
  /** Function ids this worker has compiled. */
  readonly known = new Set<number>();
  /** Records waiting for the pool's next flush. */
  outbox: unknown[] = [];
  transfers: TransferListItem[] = [];
  dirty = false;
  /** Resolved with the exit code once the worker has exited. */
  readonly exited: Promise<number>;
  readonly #settings: WorkerSettings;
  readonly #host: WorkerHost;
  /** Where aborts go (the worker reads them even in a busy loop), and how many were sent. */
  readonly #abortPort: MessagePort;
  readonly #abortCount: Int32Array;
  #stopping: StopReason | undefined = undefined;
  #crash: Error | undefined = undefined;
  #idleTimer: ReturnType<typeof setTimeout> | undefined = undefined;
  #idleSince = 0;
  #graceTimer: ReturnType<typeof setTimeout> | undefined = undefined;

  constructor(settings: WorkerSettings, host: WorkerHost) {
    this.#settings = settings;
    this.#host = host;
    const aborts = new MessageChannel();
    const abortBuffer = new SharedArrayBuffer(4);
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      name: settings.name,
      workerData: { abortPort: aborts.port2, abortBuffer, tsxApi: tsxApi() },
      transferList: [aborts.port2],
      ...(settings.resourceLimits !== undefined && { resourceLimits: settings.resourceLimits }),
    });
    this.#abortPort = aborts.port1;
    this.#abortCount = new Int32Array(abortBuffer);
    this.exited = new Promise((resolve) => this.worker.once("exit", resolve));
    this.worker.on("message", (batch: unknown[]) => host.received(this, batch));
    this.worker.on("error", (error: Error) => {
      this.#crash = error;
    });
    this.worker.once("exit", (code: number) => this.#onExit(code));
  }

  /** Why it is being stopped, once it is. */
  get stopping(): StopReason | undefined {
    return this.#stopping;
  }

  /** Records `job` as sent to this worker. */
  add(job: Job): void {
    job.slot = this;
    // A worker with work keeps the process alive.
    if (this.inFlight.size === 0) this.worker.ref();
    this.inFlight.set(job.id, job);
  }

  /** Removes a job that ended (answered, or could not be sent); `undefined` if it is not in flight here. */
  finished(id: number): Job | undefined {
    const job = this.inFlight.get(id);
    if (job !== undefined) {
      this.inFlight.delete(id);
      if (this.inFlight.size === 0 && this.#stopping === undefined) this.#idle();
    }
    return job;
  }

  /** After a batch of answers: if the cancelled jobs ended within the grace, the worker stays. */
  checkGrace(): void {
    if (this.#graceTimer !== undefined && !this.#holdsAbandoned()) {
      clearTimeout(this.#graceTimer);
      this.#graceTimer = undefined;
    }
  }

  /** Tells the worker that `job` was cancelled, and terminates it if the job has not ended after the grace. */
  abort(job: Job): void {
    if (this.#stopping !== undefined || !this.inFlight.has(job.id)) return;
    this.#abortPort.postMessage(job.id);
    Atomics.add(this.#abortCount, 0, 1);
    const grace = this.#settings.abortGrace;
    if (this.#graceTimer === undefined && grace !== Infinity) {
      // Node fires a longer delay after 1 ms; a grace of 24.8 days is as good as a longer one.
      this.#graceTimer = setTimeout(
        () => {
          this.#graceTimer = undefined;
          if (this.#holdsAbandoned()) this.stop("abort");
        },
        Math.min(grace, MAX_HOST_DELAY),
      );
    }
  }

  /** Terminates the worker; `#onExit` follows. */
  stop(why: StopReason): void {
    this.#stopping = why;
    clearTimeout(this.#idleTimer);
    clearTimeout(this.#graceTimer);
    this.#idleTimer = this.#graceTimer = undefined;
    void this.worker.terminate();
  }

  #holdsAbandoned(): boolean {
    for (const job of this.inFlight.values()) if (job.abandoned) return true;
    return false;
  }

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
    clearTimeout(this.#idleTimer);
    clearTimeout(this.#graceTimer);
    const jobs = [...this.inFlight.values()];
    this.inFlight.clear();
    const requeue: Job[] = [];
    if (this.#stopping === "abort") {
      // Terminated to stop a cancelled job: the others did nothing wrong, so they run again.
      for (const job of jobs) {
        if (job.abandoned) continue;
        job.slot = undefined;
        requeue.push(job);
      }
    } else {
      const crash = this.#crash;
      const why =
        crash !== undefined ? `it failed: ${crash.message}` : this.#stopping === "close" ? "the thread pool was closed" : `it exited with code ${code}`;
      for (const job of jobs) {
        if (job.abandoned) continue;
        job.reject(
          this.#stopping === "close"
            ? new ClosedResourceError(`Cannot run in a thread: ${why}`)
            : new WorkerCrashedError(`The worker thread running this job died: ${why}`, code, crash === undefined ? undefined : { cause: crash }),
        );
      }
    }
    this.#host.exited(this, requeue);
  }
}
