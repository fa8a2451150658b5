/**
 * Servers on every core: the `workers` option of `serveHttp` and
 * `startServer`, on `node:cluster`.
 *
 * node:cluster runs the program's main script again in each worker process,
 * so the same server calls happen, in the same order, in the primary and in
 * every worker. The n-th server call with `workers` in a process is its
 * server number n (its `index`), the same in every process.
 *
 * - **In a worker** the call listens as usual (the cluster shares the port:
 *   the primary holds the listening socket and hands connections round-robin
 *   to the workers; port 0 gives every worker the same free port), then
 *   tells the primary `{ corio: "listening", index, address }` (or
 *   `listen-failed`). The first such call installs the worker's side of the
 *   close: a `{ corio: "close", grace? }` message from the primary closes
 *   the servers with `grace` when one is given and stops the loop (every
 *   root task is cancelled: servers close with their grace, as on Ctrl-C
 *   under `main`); once no root task is left (or `main` has ended, even
 *   before any server call) the worker disconnects, so it can exit. If the
 *   primary dies, Node ends its workers at once.
 * - **In the primary** the first call forks the workers and starts the
 *   supervisor: a daemon task of the calling task that owns them. Later
 *   calls reuse it. Each call waits until every worker reports its server
 *   listening and returns a handle with that address; the primary never
 *   listens itself.
 * - **Supervision.** A worker exiting while no close was asked (a crash, a
 *   `kill -9`) is reported through the loop's `onError` and forked again;
 *   restarts back off (at once, then 100 ms doubling to 5 s), and more than
 *   `MAX_RESTARTS` crashes within `RESTART_WINDOW` ms fail the supervisor
 *   with an error saying so: the servers' waits throw it, and so does the
 *   owner.
 * - **Close.** The owner ending or being cancelled (Ctrl-C under `main`), or
 *   `close(grace)` on a handle, sends every worker the close message and
 *   waits for every worker to exit; past the largest `grace` of the servers
 *   (or the one given to `close`) plus `KILL_MARGIN` ms, the workers still
 *   running are killed (SIGKILL) and that is reported.
 * @module
 */
import type { Worker } from "node:cluster";
import type { AddressInfo } from "node:net";
import { MAX_HOST_DELAY, programEndHooks } from "../core/_host.ts";
import { daemonReturnedAs, startDaemon } from "../core/_resource.ts";
import { type CancelledError, isCancellation } from "../core/errors.ts";
import { Future } from "../core/future.ts";
import type { Loop } from "../core/loop.ts";
import type { Operation } from "../core/operation.ts";
import { requireCurrentTask } from "../core/spawn.ts";
import type { TaskImpl } from "../core/task.ts";
import { nodeCluster } from "./_node-modules.ts";
import { waitTaskClosed } from "./_server.ts";

/** More crashes than this within `RESTART_WINDOW` ms: the supervisor gives up. */
export const MAX_RESTARTS = 5;
/** The window, in ms, in which crashes are counted. */
export const RESTART_WINDOW = 60_000;
/** How long the primary waits for its workers past the grace before it kills them, in ms. */
export const KILL_MARGIN = 5_000;
const FIRST_BACKOFF = 100;
const MAX_BACKOFF = 5_000;

/** What a worker tells the primary. */
type WorkerMessage =
  | { corio: "listening"; index: number; address: AddressInfo | string | null }
  | { corio: "listen-failed"; index: number; message: string; code: string | undefined };

function isWorkerMessage(message: unknown): message is WorkerMessage {
  return (
    typeof message === "object" &&
    message !== null &&
    ((message as { corio?: unknown }).corio === "listening" || (message as { corio?: unknown }).corio === "listen-failed")
  );
}

/** The `workers` option: a positive integer. */
export function checkWorkers(workers: unknown, action: string): number {
  if (typeof workers !== "number" || !Number.isInteger(workers) || workers < 1) {
    throw new RangeError(`Cannot ${action}: workers must be a positive integer, received ${String(workers)}`);
  }
  return workers;
}

/** True in the primary of a cluster (a process that was not forked by `node:cluster`). */
export function isClusterPrimary(): boolean {
  return nodeCluster().isPrimary;
}

/** The number the next server call with `workers` gets in this process. */
let nextIndex = 0;

// ---------------------------------------------------------------- worker side

/** The servers with `workers` of this worker process, closed by the primary's close message. */
const workerServers = new Set<(grace: number) => void>();
let workerLoop: Loop | undefined;

/** A server call with `workers` in a worker process: its number, and how it tells the primary the outcome. */
export interface WorkerSlot {
  /** It listens: `close(grace)` closes it when the primary asks with a grace. */
  listening(address: AddressInfo | string | null, close: (grace: number) => void): void;
  /** It could not listen. */
  failed(error: unknown): void;
}

/** Starts a server call with `workers` in a worker process. */
export function workerSlot(loop: Loop): WorkerSlot {
  const index = nextIndex++;
  installWorkerClose(loop);
  return {
    listening(address, close) {
      workerServers.add(close);
      send({ corio: "listening", index, address });
    },
    failed(error) {
      const cause = error as NodeJS.ErrnoException;
      send({ corio: "listen-failed", index, message: String(cause?.message ?? error), code: cause?.code });
    },
  };
}

function send(message: WorkerMessage): void {
  if (process.connected) process.send?.(message);
}

/**
 * Lets go of the IPC channel, which would keep a worker alive once its
 * program has ended; the worker then exits with the program's exit code
 * when nothing else is left. (`cluster.worker.disconnect()`, not
 * `process.disconnect()`, with which Node would end it at once with code 0.)
 */
function leaveCluster(): void {
  // Only a process with an IPC channel can be a worker: node:cluster is not loaded for the others.
  if (process.connected) nodeCluster().worker?.disconnect();
}
programEndHooks.push(leaveCluster);

/**
 * Once per worker process: the primary's close message stops the loop.
 * (If the primary itself dies, Node ends its workers at once.)
 */
function installWorkerClose(loop: Loop): void {
  if (workerLoop !== undefined) return;
  workerLoop = loop;
  const onMessage = (message: unknown): void => {
    if (typeof message !== "object" || message === null || (message as { corio?: unknown }).corio !== "close") return;
    const grace = (message as { grace?: unknown }).grace;
    if (typeof grace === "number") for (const close of workerServers) close(grace);
    loop.stop("the cluster primary is closing");
  };
  process.on("message", onMessage);
  loop.whenRootsDone(() => {
    process.off("message", onMessage);
    workerServers.clear();
    leaveCluster();
  });
}

// --------------------------------------------------------------- primary side

/** What `HttpServer` and `Server` ask of their backend. */
export interface ServerBackend {
  /** Tasks (connections or requests) running in this process. */
  readonly size: number;
  close(grace?: number): void;
  waitClosed(): Operation<void>;
  serveForever(): Operation<void>;
}

let supervisor: Supervisor | undefined;

/**
 * A server call with `workers` in the primary: forks the workers (first
 * call) or reuses them, waits until each has this server listening, and
 * returns the address with a backend that closes the cluster, and
 * `returned(server)`, which names the server object the call returns (a
 * boundary such as `timeout` that returns it hands the cluster on, see
 * `daemonReturnedAs`).
 */
export function* primaryServer(
  owner: TaskImpl<unknown>,
  workers: number,
  grace: number,
  action: string,
): Operation<{ address: AddressInfo | string | null; backend: ServerBackend; returned<T extends object>(server: T): T }> {
  if (supervisor !== undefined && !supervisor.finished && supervisor.count !== workers) {
    throw new RangeError(`Cannot ${action} with ${workers} workers: this process already runs ${supervisor.count} (the servers share them)`);
  }
  const started = supervisor === undefined || supervisor.finished;
  if (started) supervisor = new Supervisor(owner, workers);
  const index = nextIndex++;
  const current = supervisor as Supervisor;
  current.noteGrace(grace);
  const address = yield* current.waitListening(index);
  // Only the call that forked the workers names what hands them on: a later server shares them, it does not own them.
  return { address, backend: current, returned: (server) => (started ? daemonReturnedAs(current.task, server) : server) };
}

interface WorkerState {
  readonly worker: Worker;
  readonly pid: number;
  /** The server numbers it reported listening. */
  readonly listening: Set<number>;
}

/** Forks the workers, restarts the ones that crash, and closes them all when its task ends. */
class Supervisor implements ServerBackend {
  readonly count: number;
  readonly #loop: Loop;
  readonly #task: TaskImpl<void>;
  readonly #owner: TaskImpl<unknown>;
  readonly #workers = new Map<Worker, WorkerState>();
  readonly #addresses = new Map<number, AddressInfo | string | null>();
  readonly #listenFailures = new Map<number, Error>();
  readonly #waiters = new Set<() => void>();
  readonly #closeRequested = new Future<void>();
  readonly #allExited = new Future<void>();
  readonly #crashes: number[] = [];
  readonly #restartTimers = new Set<NodeJS.Timeout>();
  #maxGrace = 0;
  #closeGrace: number | undefined;
  #closing = false;
  #failure: Error | undefined;

  constructor(owner: TaskImpl<unknown>, count: number) {
    this.count = count;
    this.#loop = owner.loop;
    this.#owner = owner;
    for (let i = 0; i < count; i++) this.#fork();
    this.#task = startDaemon(owner, "cluster", () => this.#run());
  }

  get finished(): boolean {
    return this.#task.done;
  }

  /** The supervising daemon task. */
  get task(): TaskImpl<void> {
    return this.#task;
  }

  /** Requests and connections run in the workers, not here. */
  get size(): number {
    return 0;
  }

  noteGrace(grace: number): void {
    this.#maxGrace = Math.max(this.#maxGrace, grace);
  }

  close(grace?: number): void {
    if (grace !== undefined) this.#closeGrace = Math.min(this.#closeGrace ?? grace, grace);
    this.#closeRequested.resolve();
  }

  *waitClosed(): Operation<void> {
    yield* waitTaskClosed(this.#task, "wait for the cluster to close");
  }

  *serveForever(): Operation<void> {
    try {
      yield* this.waitClosed();
    } finally {
      if (!this.#task.done) {
        this.close();
        yield* this.waitClosed();
      }
    }
  }

  /** Waits until every worker has server `index` listening; throws if one could not listen or the supervisor ended. */
  *waitListening(index: number): Operation<AddressInfo | string | null> {
    for (;;) {
      const failure = this.#listenFailures.get(index);
      if (failure !== undefined) throw failure;
      if (this.#failure !== undefined) {
        // The supervisor task fails with it and so cancels its owner: the owner just waits for that
        // (its failure is the supervisor's, once); another task throws it once the supervisor has ended.
        if (requireCurrentTask("wait for the cluster's workers") === this.#owner) yield* new Future<never>();
        yield* waitTaskClosed(this.#task, "wait for the cluster's workers");
        throw this.#failure;
      }
      if (this.#closing || this.#task.done) throw new Error("Cannot start a server on the cluster: its workers are closing");
      if (this.#workers.size === this.count && [...this.#workers.values()].every((state) => state.listening.has(index))) {
        return this.#addresses.get(index) ?? null;
      }
      const changed = new Future<void>();
      const wake = (): void => void changed.resolve();
      this.#waiters.add(wake);
      try {
        yield* changed;
      } finally {
        this.#waiters.delete(wake);
      }
    }
  }

  #changed(): void {
    for (const wake of [...this.#waiters]) wake();
  }

  #fork(): void {
    const worker = nodeCluster().fork();
    const state: WorkerState = { worker, pid: worker.process.pid ?? 0, listening: new Set() };
    this.#workers.set(worker, state);
    worker.on("message", (message: unknown) => {
      if (!isWorkerMessage(message)) return;
      if (message.corio === "listening") {
        state.listening.add(message.index);
        if (!this.#addresses.has(message.index)) this.#addresses.set(message.index, message.address);
      } else if (!this.#listenFailures.has(message.index)) {
        this.#listenFailures.set(message.index, Object.assign(new Error(`${message.message} (in worker ${state.pid})`), { code: message.code }));
      }
      this.#changed();
    });
    // Errors on the IPC channel (a worker gone while a message was sent) end in 'exit'.
    worker.on("error", () => {});
    worker.once("exit", (code: number | null, signal: NodeJS.Signals | null) => this.#exited(state, code, signal));
    if (this.#closing) this.#tellClose(worker);
  }

  #exited(state: WorkerState, code: number | null, signal: NodeJS.Signals | null): void {
    this.#workers.delete(state.worker);
    this.#changed();
    if (this.#closing) {
      if (this.#workers.size === 0) this.#allExited.resolve();
      return;
    }
    const how = signal !== null ? `was killed by ${signal}` : `exited with code ${code}`;
    const now = Date.now();
    this.#crashes.push(now);
    while (this.#crashes.length > 0 && (this.#crashes[0] as number) <= now - RESTART_WINDOW) this.#crashes.shift();
    const error = Object.assign(new Error(`Cluster worker ${state.pid} ${how}`), { pid: state.pid, exitCode: code, signal });
    if (this.#crashes.length > MAX_RESTARTS) {
      this.#failure = Object.assign(
        new Error(
          `Cluster workers keep crashing: ${this.#crashes.length} unexpected exits within ${RESTART_WINDOW / 1000} s (the last: worker ${state.pid} ${how}); giving up`,
        ),
        { cause: error },
      );
      this.#changed();
      this.#closeRequested.resolve();
      return;
    }
    const backoff = this.#crashes.length <= 1 ? 0 : Math.min(MAX_BACKOFF, FIRST_BACKOFF * 2 ** (this.#crashes.length - 2));
    error.message += backoff === 0 ? "; restarting it" : `; restarting it in ${backoff} ms`;
    this.#loop.report(error, { kind: "task", task: this.#task, path: this.#task.path });
    const timer = setTimeout(() => {
      this.#restartTimers.delete(timer);
      if (!this.#closing) this.#fork();
    }, backoff);
    this.#restartTimers.add(timer);
  }

  #tellClose(worker: Worker): void {
    if (!worker.isConnected()) return;
    try {
      worker.send(this.#closeGrace === undefined ? { corio: "close" } : { corio: "close", grace: this.#closeGrace });
    } catch {
      // It is going away already: its 'exit' comes.
    }
  }

  /** The supervisor task: waits for a close (asked, a failure, or its owner ending), then closes every worker. */
  *#run(): Operation<void> {
    let cancellation: CancelledError | null = null;
    try {
      yield* this.#closeRequested;
    } catch (error) {
      if (!isCancellation(error)) throw error;
      cancellation = error;
    }
    this.#closing = true;
    this.#changed();
    for (const timer of this.#restartTimers) clearTimeout(timer);
    this.#restartTimers.clear();
    if (this.#workers.size === 0) this.#allExited.resolve();
    for (const { worker } of this.#workers.values()) this.#tellClose(worker);
    const bound = (this.#closeGrace ?? this.#maxGrace) + KILL_MARGIN;
    // An infinite grace waits for the workers as long as they take (a host timer clamps longer delays to 1 ms).
    const killer = !(bound <= MAX_HOST_DELAY)
      ? undefined
      : setTimeout(() => {
          for (const { worker, pid } of this.#workers.values()) {
            this.#loop.report(new Error(`Cluster worker ${pid} did not exit within ${bound} ms of the close: killing it`), {
              kind: "task",
              task: this.#task,
              path: this.#task.path,
            });
            worker.process.kill("SIGKILL");
          }
        }, bound);
    // A cancellation is delivered once: this wait runs to its end.
    try {
      yield* this.#allExited;
    } catch (error) {
      if (!isCancellation(error)) throw error;
      cancellation ??= error;
      yield* this.#allExited;
    } finally {
      if (killer !== undefined) clearTimeout(killer);
    }
    if (supervisor === this) supervisor = undefined;
    if (this.#failure !== undefined) throw this.#failure;
    if (cancellation !== null) throw cancellation;
  }
}
