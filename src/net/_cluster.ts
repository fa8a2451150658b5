/**
 * Servers on every core: the `workers` option of `serveHttp` and
 * `startServer`, on `node:cluster`.
 *
 * node:cluster runs the program's main script again in each worker process,
 * so the same server calls happen, in the same order, in the primary and in
 * every worker. The n-th server call with `workers` in a process is its
 * server number n (its `index`), the same in every process.
 *
 * - **In a worker** this module, as it loads, listens for the primary's
 *   messages and tells it `{ corio: "ready" }` (Node drops a message nobody
 *   listens to, and loading a program can take a second). A server call
 *   listens as usual (the cluster shares the port: the primary holds the
 *   listening socket and hands connections round-robin to the workers;
 *   port 0 gives every worker the same free port, and a worker forked once
 *   the primary knows that port listens on it, see `WorkerSlot.listen`),
 *   then tells the primary `{ corio: "listening", index, address }` (or
 *   `listen-failed`, also for options Node refuses). A
 *   `{ corio: "close", grace? }` message from the primary closes the
 *   servers with `grace` when one is given, and once they have closed stops
 *   the loop (every root task is cancelled: servers close with their own
 *   grace, as on Ctrl-C under `main`); a close that comes before the first
 *   server call stops the loop at once, or as `main` starts, or at that
 *   call. Once no root task is left (or `main` has ended, even before any
 *   server call) the worker disconnects, so it can exit. If the primary
 *   dies, Node ends its workers at once.
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
 *   `close(grace)` on a handle, sends every worker the close message (a
 *   worker still starting, once it is ready) and waits for every worker to
 *   exit; past the largest `grace` of the servers (or the one given to
 *   `close`) plus `KILL_MARGIN` ms, the workers still running are killed
 *   (SIGKILL) and that is reported.
 * @module
 */
import type { Worker } from "node:cluster";
import type { AddressInfo } from "node:net";
import { MAX_HOST_DELAY, programEndHooks, programStartHooks } from "../core/_host.ts";
import { daemonReturnedAs, startDaemon } from "../core/_resource.ts";
import { type CancelledError, isCancellation } from "../core/errors.ts";
import { Future } from "../core/future.ts";
import { getDefaultLoop, type Loop } from "../core/loop.ts";
import type { Operation } from "../core/operation.ts";
import { requireCurrentTask } from "../core/spawn.ts";
import type { TaskImpl } from "../core/task.ts";
import { portValue } from "./_listen.ts";
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
  | { corio: "ready" }
  | { corio: "listening"; index: number; address: AddressInfo | string | null }
  | { corio: "listen-failed"; index: number; message: string; code: string | undefined };

function isWorkerMessage(message: unknown): message is WorkerMessage {
  const kind = typeof message === "object" && message !== null ? (message as { corio?: unknown }).corio : undefined;
  return kind === "ready" || kind === "listening" || kind === "listen-failed";
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

/**
 * Set by the primary in the environment of each worker it forks: JSON of
 * `{ ports }`, the port it reported for each server number (once a worker
 * told it). Removed once read, so a worker's own child processes do not
 * take themselves for workers.
 */
const WORKER_ENV = "CORIO_CLUSTER_WORKER";
const CLOSE_REASON = "the cluster primary is closing";

/** A listening server of this worker process. */
interface WorkerServer {
  /** Closes it with a grace, in ms. */
  close(grace: number): void;
  /** Its task (the server's), done once it has closed. */
  readonly task: TaskImpl<void>;
}

/** The servers with `workers` of this worker process, closed by the primary's close message. */
const workerServers = new Set<WorkerServer>();
let workerLoop: Loop | undefined;
/** The ports the primary reported, by server number: a restarted worker serves these in place of port 0. */
const primaryPorts = new Map<number, number>();
/** The close the primary asked, once it came (the shortest grace it gave, or none: each server's own). */
let closeAsked: { grace: number | undefined } | undefined;
/** The worker leaves the cluster once the loop's root tasks have ended (set at the primary's close). */
let leaveWhenDone = false;
/**
 * A close came while no program ran (no root task): the next one to start,
 * by `main` or `run()`, is stopped, with the `run()` calls made in the same
 * turn (`Promise.all([run(a), run(b)])` starts one program). Then settled: a
 * `run()` after the stopped program has ended (a cleanup) is not stopped.
 */
let stopOwed = false;
/** The owed stop was made: it is settled at the end of this turn. */
let stopOwedSettling = false;

/** A server call with `workers` in a worker process: its number, and how it tells the primary the outcome. */
export interface WorkerSlot {
  /**
   * Listens with `listenOn(port)` (which gives the address it listens on).
   * For `port` 0, a worker forked once the primary knows the server's port
   * listens on that port: Node's cluster gives a new free port to `listen(0)`
   * once every worker that shared the first one has exited. While one still
   * does, Node's port-0 handle holds the port (`EADDRINUSE`): then it
   * listens on 0, which joins that handle. Throws `EADDRINUSE` if that gives
   * another port all the same (the port was taken meanwhile).
   */
  listen(port: unknown, listenOn: (port: unknown) => Operation<AddressInfo | string | null>): Operation<void>;
  /** It listens: the primary's close closes it (with the primary's grace when it gives one). */
  listening(address: AddressInfo | string | null, server: WorkerServer): void;
  /** It could not listen (or could not even be made: a bad TLS option). */
  failed(error: unknown): void;
}

/** Starts a server call with `workers` in a worker process. */
export function workerSlot(loop: Loop): WorkerSlot {
  const index = nextIndex++;
  if (workerLoop === undefined) {
    workerLoop = loop;
    loop.whenRootsDone(() => {
      workerServers.clear();
      leaveCluster();
    });
  }
  // A close that came before this call stops the loop (this call is cancelled); while servers close with
  // the primary's grace, this one is closed with it once it listens.
  if (closeAsked !== undefined) stopWorkerWhenServersClosed();
  return {
    *listen(port, listenOn) {
      const shared = portValue(port) === 0 ? primaryPorts.get(index) : undefined;
      if (shared === undefined) {
        yield* listenOn(port);
        return;
      }
      try {
        yield* listenOn(shared);
        return;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EADDRINUSE") throw error;
      }
      const address = yield* listenOn(0);
      if (typeof address === "object" && address !== null && address.port !== shared) {
        throw Object.assign(new Error(`Cannot listen on port ${shared}, which this server's workers share: it is taken`), { code: "EADDRINUSE" });
      }
    },
    listening(address, server) {
      workerServers.add(server);
      server.task.addDoneCallback(stopWorkerWhenServersClosed);
      if (closeAsked?.grace !== undefined) server.close(closeAsked.grace);
      send({ corio: "listening", index, address });
    },
    failed(error) {
      // Cancelled by the primary's close: it waits for the exit, not for this.
      if (closeAsked !== undefined) return;
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
 * The primary's close message. Node drops a message nobody listens to, so
 * the listener is installed when this module loads, and the worker tells the
 * primary it is there (`ready`): the primary sends its close only then, and
 * a close that comes before the worker's first server call is kept.
 */
function onPrimaryMessage(message: unknown): void {
  if (typeof message !== "object" || message === null || (message as { corio?: unknown }).corio !== "close") return;
  const grace = (message as { grace?: unknown }).grace;
  const given = typeof grace === "number" ? grace : grace === "Infinity" ? Number.POSITIVE_INFINITY : undefined;
  const earlier = closeAsked?.grace;
  closeAsked = { grace: earlier === undefined ? given : given === undefined ? earlier : Math.min(earlier, given) };
  if (closeAsked.grace !== undefined) for (const server of workerServers) server.close(closeAsked.grace);
  // Not at a later call (a server's end): a program the worker runs once its stopped one has ended is not stopped.
  if ((workerLoop ?? getDefaultLoop()).roots.size === 0) stopOwed = true;
  stopWorkerWhenServersClosed();
}

/**
 * Once a close was asked: stops the loop, so every root task is cancelled
 * (servers close with their own grace, `finally` blocks run). With a grace
 * from the primary, only once the servers have closed with it: the loop
 * stopping first would close them with their own, shorter grace.
 */
function stopWorkerWhenServersClosed(): void {
  if (closeAsked === undefined) return;
  if (closeAsked.grace !== undefined) for (const server of workerServers) if (!server.task.done) return;
  // Before the first server call: the loop `main` and `run` use.
  const loop = workerLoop ?? getDefaultLoop();
  // No program running: one the close came before is stopped as it starts (`stopOwed`).
  if (loop.roots.size === 0) return;
  if (stopOwed && !stopOwedSettling) {
    stopOwedSettling = true;
    // Not at once: the run() calls of this turn are the same program's start. A root stopped here
    // ends in a later microtask, so a run() that waits for it is not.
    queueMicrotask(settleStopOwed);
  }
  loop.stop(CLOSE_REASON);
  // Under `run()` (not `main`) nothing else leaves the cluster once the program has ended, and the IPC
  // channel would keep the worker alive until the primary kills it.
  if (!leaveWhenDone) {
    leaveWhenDone = true;
    loop.whenRootsDone(leaveCluster);
  }
}

function settleStopOwed(): void {
  stopOwed = false;
  stopOwedSettling = false;
}

/** A program starting (`main`, `run()`): stopped if a close came while none ran. */
function stopOwedProgram(): void {
  if (stopOwed) stopWorkerWhenServersClosed();
}

/** In a worker forked by a corio primary: reads what the primary gave it, and listens for its close. */
function joinAsWorker(): void {
  const given = process.env[WORKER_ENV];
  if (given === undefined) return;
  delete process.env[WORKER_ENV];
  if (!process.connected || !nodeCluster().isWorker) return;
  try {
    const { ports } = JSON.parse(given) as { ports?: Record<string, unknown> };
    for (const [index, port] of Object.entries(ports ?? {})) if (typeof port === "number") primaryPorts.set(Number(index), port);
  } catch {
    // Not from a corio primary: serve as if none was given.
  }
  process.on("message", onPrimaryMessage);
  programStartHooks.push(stopOwedProgram);
  process.send?.({ corio: "ready" });
}
joinAsWorker();

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
  /** It listens for the close message (a message sent before would be lost). */
  ready: boolean;
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
    // The ports reported so far: a worker restarted after every other one exited must serve the same (see `WorkerSlot.listen`).
    const ports: Record<number, number> = {};
    for (const [index, address] of this.#addresses) if (typeof address === "object" && address !== null) ports[index] = address.port;
    const worker = nodeCluster().fork({ [WORKER_ENV]: JSON.stringify({ ports }) });
    const state: WorkerState = { worker, pid: worker.process.pid ?? 0, listening: new Set(), ready: false };
    this.#workers.set(worker, state);
    worker.on("message", (message: unknown) => {
      if (!isWorkerMessage(message)) return;
      if (message.corio === "ready") {
        state.ready = true;
        if (this.#closing) this.#tellClose(state);
        return;
      }
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

  /** Sends the close message to a worker that listens for it (one still starting gets it when it says it is ready). */
  #tellClose({ worker, ready }: WorkerState): void {
    if (!ready || !worker.isConnected()) return;
    try {
      // The channel speaks JSON, which has no Infinity (a grace that waits for the connections to end by themselves).
      const grace = this.#closeGrace === Number.POSITIVE_INFINITY ? "Infinity" : this.#closeGrace;
      worker.send(grace === undefined ? { corio: "close" } : { corio: "close", grace });
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
    for (const state of this.#workers.values()) this.#tellClose(state);
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
