/**
 * The skeleton every server shares (TCP, HTTP and the Twisted ports; UDP for
 * listening): listen, accept, one task per connection, a graceful close with
 * a grace, and accept errors reported through the loop's `onError` with
 * back-off, never thrown and never stopping the server.
 *
 * A close (DESIGN edge case 16), asked with `close(grace)` or because the
 * owner ended or was cancelled: the listener stops at once (Node's HTTP
 * server also closes its idle keep-alive connections then), the connection
 * tasks get until the deadline, then are cancelled; a socket still holding
 * unsent bytes at the deadline cannot flush in time and is reset, and a TLS
 * connection still in its handshake is destroyed. The
 * owner's cancellation never reaches the connection tasks directly (they are
 * shielded): it is a close with the default grace. A connection task that
 * fails (its handler, a task the handler started, or its close failed) is reported
 * under its own path and never fails the server (flag `FAILS_ALONE`).
 * @module
 */

import type { EventEmitter } from "node:events";
import type { Socket } from "node:net";
import type { TLSSocket, Server as TlsServer } from "node:tls";
import { defineOperationMethods } from "../core/_dev.ts";
import { ExternalPark } from "../core/_external-park.ts";
import { Park, resume, resumeThrow } from "../core/_park.ts";
import { startDaemon } from "../core/_resource.ts";
import { FAILS_ALONE, SHIELDED } from "../core/_scope.ts";
import type { TimerEntry } from "../core/_timer-heap.ts";
import { type CancelledError, isCancellation } from "../core/errors.ts";
import { Future } from "../core/future.ts";
import type { Loop } from "../core/loop.ts";
import type { Operation, OperationLike } from "../core/operation.ts";
import { createTask, requireCurrentTask } from "../core/spawn.ts";
import type { TaskImpl, Watcher } from "../core/task.ts";
import type { StreamWriter } from "../streams/stream-writer.ts";
import { AcceptErrors } from "./_accept-errors.ts";
import { onceListening, waitListening } from "./_listen.ts";
import { dropSocket, isPeerGone, resetSocket, uncorkedHoldsUnsent } from "./_socket-transport.ts";

/** The grace of a close that names none: `close()`, and the owner ending or being cancelled. */
export const DEFAULT_GRACE = 5000;

/** A grace in ms: a non-negative number (`Infinity` waits for the connections to end by themselves). */
export function checkGrace(grace: unknown, action: string): number {
  if (typeof grace !== "number" || !(grace >= 0))
    throw new RangeError(`Cannot ${action}: grace must be a non-negative number of ms, received ${String(grace)}`);
  return grace;
}

/** What a server plugs into the skeleton. */
export interface ServerCoreOptions {
  /** The loop it reports to. */
  loop: Loop;
  /** Its listening handle: its 'close' event ends a close, and an 'error' after listening is an accept error. */
  listener: EventEmitter;
  /** The server task's name (`tcp server`), also the report path while no task runs it yet. */
  name: string;
  /** Where it listens, for messages (`127.0.0.1:8080`); read when needed, so it can give the bound port. */
  where: () => string;
  /** The grace of `close()` without one and of the owner ending, in ms. */
  grace: number;
  /** Stops accepting: closes the listening handle. */
  stopListening(): void;
  /** Called once when a close begins, right after the listener stopped. */
  onClose?(): void;
  /** Report the listener's errors after listening as accept errors. @default true (a UDP port's errors go to its receivers) */
  acceptErrors?: boolean;
}

/**
 * One server's lifecycle. `serve()` runs it in a task (the server task, a
 * daemon of the owner, from `start(owner)`; or a Twisted port's own task);
 * `spawn()` runs each connection (or request) as a shielded child of that
 * task, counted from its creation to its end by a watcher, so a task
 * cancelled before its first step is counted out all the same.
 */
export class ServerCore implements Watcher {
  readonly #options: ServerCoreOptions;
  readonly #loop: Loop;
  readonly #closeRequested = new Future<void>();
  /** Connection tasks started and not finished (they are the server task's children; a count, not a set: no table work per request). */
  #inFlight = 0;
  readonly #sockets = new Set<Socket>();
  /** A TLS server's raw connections whose handshake has not finished: no task runs them, but Node's 'close' waits for them. */
  readonly #handshaking = new Set<Socket>();
  #task: TaskImpl<unknown> | null = null;
  #pending: [name: string, op: OperationLike<void>, peer: string | undefined][] = [];
  #listenerClosed = false;
  #closing = false;
  #expired = false;
  #deadline = Number.POSITIVE_INFINITY;
  #park: ClosePark | null = null;
  readonly #acceptErrors: AcceptErrors;

  constructor(options: ServerCoreOptions) {
    this.#options = options;
    this.#loop = options.loop;
    this.#acceptErrors = new AcceptErrors(options.loop, (detail, cause) => this.#reportAcceptError(detail, cause));
    options.listener.once("close", () => {
      this.#listenerClosed = true;
    });
  }

  /** True once a close has begun: the listener is stopped. */
  get closing(): boolean {
    return this.#closing;
  }

  /** True while a task runs `serve()`. */
  get serving(): boolean {
    return this.#task !== null && !this.#task.done;
  }

  /** Connection tasks not finished yet. */
  get size(): number {
    return this.#inFlight;
  }

  /** Listens (`start` calls `listen`); a failure is thrown as `fail(error)`. Later errors are accept errors. */
  *listen(start: () => void, fail: (error: NodeJS.ErrnoException) => Error): Operation<void> {
    yield* waitListening(this.#options.listener, start, fail);
    this.#listening();
  }

  /** `listen` with a callback, for code outside tasks (Twisted binds in `listenTCP`). */
  bind(start: () => void, done: (error?: NodeJS.ErrnoException) => void): void {
    onceListening(this.#options.listener, start, (error) => {
      if (error === undefined) this.#listening();
      done(error);
    });
  }

  /** Starts the server task: a daemon of `owner` running `serve()`, whose first step runs now (an owner that ends at once still closes it). */
  start(owner: TaskImpl<unknown>): TaskImpl<void> {
    return startDaemon(owner, this.#options.name, () => this.serve());
  }

  /**
   * Runs `op` as one of the server's tasks, named after its connection (or
   * request). The owner's cancellation does not reach it; the close cancels
   * it once the grace is over. Before `serve()` runs, it waits for it.
   * With `afterIo`, its first step waits for this turn's other I/O callbacks
   * (`Loop.scheduleAfterIo`); it is counted in flight from now either way.
   * Its failure is reported (kind `task`, or `peer-gone` for a peer that
   * went away, with `peer`, its address, in the report), not thrown to the
   * server task.
   */
  spawn(name: string, op: OperationLike<void>, afterIo = false, peer?: string): TaskImpl<void> | undefined {
    if (this.#task === null) {
      this.#pending.push([name, op, peer]);
      return undefined;
    }
    return this.#start(name, op, afterIo, peer);
  }

  /** Tracks an accepted socket: the close resets it if it cannot flush in time, and destroys it at the end. */
  track(socket: Socket): void {
    this.#sockets.add(socket);
    socket.once("close", () => this.#sockets.delete(socket));
  }

  /**
   * Tracks a TLS server's connections from their accept, while they
   * handshake: the close destroys those still handshaking (once the grace is
   * over, or at once when no connection task is left), since Node's 'close',
   * which the close waits for, waits for them too: a client that never sends
   * its ClientHello would hold the close until Node's handshake timeout
   * (120 s). A handshake that ends is handed over to `track` (the server's
   * 'secureConnection' listener).
   */
  trackHandshakes(server: TlsServer): void {
    server.on("connection", (raw: Socket) => {
      this.#handshaking.add(raw);
      raw.once("close", () => this.#handshaking.delete(raw));
    });
    // Node links a server's TLS socket to its raw one by `_parent` (undocumented, there since Node 0.11);
    // were it missing, a secured connection would only be destroyed at the grace's end, with the rest.
    server.on("secureConnection", (socket: TLSSocket) => {
      const raw = (socket as TLSSocket & { _parent?: Socket | null })._parent;
      if (raw != null) this.#handshaking.delete(raw);
    });
  }

  /**
   * Closes: the server task stops the listener at its next step (in this
   * turn of the loop) and gives the connection tasks `grace` ms (a later
   * close, or the owner ending, can only bring the deadline closer).
   */
  close(grace = this.#options.grace): void {
    checkGrace(grace, "close the server");
    this.#shorten(grace);
    this.#closeRequested.resolve();
  }

  /** Closes a server that no task serves (a Twisted port stopped before the reactor ran): stops listening and destroys its sockets. */
  abandon(): void {
    this.#expired = true;
    this.#pending = [];
    this.#beginClose();
    this.#sweep();
  }

  /**
   * The server task's body: starts the connections accepted before it ran,
   * waits for `close()` or a cancellation, then closes (see the module
   * comment). Ends cancelled if it was cancelled, once the close is over.
   */
  *serve(): Operation<void> {
    this.#task = requireCurrentTask("serve");
    for (const [name, op, peer] of this.#pending.splice(0)) this.#start(name, op, false, peer);
    let cancellation: CancelledError | null = null;
    try {
      yield* this.#closeRequested;
    } catch (error) {
      cancellation = this.#absorb(error, cancellation);
    }
    this.#beginClose();
    // A cancellation is delivered once (edge case 4): after it, these waits run to their end.
    while (this.#inFlight > 0 && this.#loop.now() < this.#deadline) {
      try {
        yield* this.#pause(this.#deadline);
      } catch (error) {
        cancellation = this.#absorb(error, cancellation);
      }
    }
    if (this.#inFlight > 0) this.#expire();
    while (this.#inFlight > 0) {
      try {
        yield* this.#pause(Number.POSITIVE_INFINITY);
      } catch (error) {
        cancellation = this.#absorb(error, cancellation);
      }
    }
    this.#sweep();
    while (!this.#listenerClosed) {
      try {
        yield* this.#waitListenerClosed();
      } catch (error) {
        cancellation = this.#absorb(error, cancellation);
      }
    }
    this.#acceptErrors.flush();
    if (cancellation !== null) throw cancellation;
  }

  /**
   * Closes a connection whose handler has ended: flushes what was written,
   * sends a FIN, and waits for the socket to close. Once the grace is over
   * nothing more is waited for, and a connection with bytes still queued is
   * reset. **Cancellation:** the connection is reset.
   */
  *closeConnection(writer: StreamWriter): Operation<void> {
    if (this.#expired) {
      if (writer.bufferSize > 0) writer.abort();
      else writer.close();
      return;
    }
    writer.close();
    try {
      yield* writer.waitClosed();
    } catch (error) {
      writer.abort();
      throw error;
    }
  }

  /**
   * Waits until the server task has finished; throws only its failure (it
   * ends cancelled when its owner was: not an error for whoever waits, and
   * a cleanup goes on). **Cancellation:** only the wait stops.
   */
  *waitClosed(): Operation<void> {
    if (this.#task !== null) yield* waitTaskClosed(this.#task, "wait for a server to close");
  }

  /** Waits until closed; if the caller is cancelled, closes (with the default grace) and waits for the end. */
  *serveForever(): Operation<void> {
    try {
      yield* this.waitClosed();
    } finally {
      if (this.serving) {
        this.close();
        yield* this.waitClosed();
      }
    }
  }

  /** @internal A connection task has finished; its failure is reported here, as it does not reach the server task. */
  taskFinished(task: TaskImpl<unknown>, peer?: string): void {
    if (task.state === "failed") {
      const error = task.error;
      if (isPeerGone(error)) this.#loop.report(error, { kind: "peer-gone", task, path: task.path, ...(peer !== undefined && { peer }) });
      else this.#loop.report(error, { kind: "task", task, path: task.path });
    }
    this.#inFlight--;
    if (this.#inFlight === 0) this.#park?.wake();
  }

  /** @internal What the closing server task waits on, for the inspector. */
  describeWait(): string {
    const until = Number.isFinite(this.#deadline) && !this.#expired ? `, grace until ${this.#deadline} ms` : "";
    return `${this.#inFlight} connection task(s) to finish${until}`;
  }

  #start(name: string, op: OperationLike<void>, afterIo: boolean, peer: string | undefined): TaskImpl<void> {
    const task = createTask(this.#loop, this.#task, op, { name }, SHIELDED | FAILS_ALONE, "accept a connection", afterIo);
    this.#inFlight++;
    task.addWatcher(peer === undefined ? this : new PeerWatcher(this, peer));
    if (this.#expired) task.cancel("the server closed");
    return task;
  }

  #beginClose(): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#options.stopListening();
    this.#options.onClose?.();
  }

  /** The server task's own cancellation (its owner ended): kept for the end, and a close with the default grace. */
  #absorb(error: unknown, earlier: CancelledError | null): CancelledError {
    if (!isCancellation(error)) throw error;
    this.#shorten(this.#options.grace);
    return earlier ?? error;
  }

  #shorten(grace: number): void {
    const deadline = this.#loop.now() + grace;
    if (deadline < this.#deadline) {
      this.#deadline = deadline;
      this.#park?.wake();
    }
  }

  /** The grace is over: what is still queued in a socket cannot be flushed in time; every connection task is cancelled. */
  #expire(): void {
    this.#expired = true;
    this.#dropHandshakes();
    for (const socket of this.#sockets) if (uncorkedHoldsUnsent(socket)) resetSocket(socket);
    for (const task of (this.#task as TaskImpl<unknown>).children) task.cancel("the server closed");
  }

  /** The connections still in their TLS handshake go: no handler ever saw them. */
  #dropHandshakes(): void {
    for (const raw of [...this.#handshaking]) raw.destroy();
  }

  /** The end of a close: the sockets still open go (reset if they still hold unsent bytes), and those still handshaking. */
  #sweep(): void {
    this.#dropHandshakes();
    for (const socket of [...this.#sockets]) dropSocket(socket);
  }

  /** Parks the server task until a connection task ends, the deadline moves, or the clock reaches `deadline`. */
  *#pause(deadline: number): Operation<void> {
    const park = new ClosePark(this.#task as TaskImpl<unknown>, this);
    if (Number.isFinite(deadline)) this.#loop.addTimer(park, deadline);
    this.#park = park;
    try {
      yield park;
    } finally {
      this.#park = null;
    }
  }

  /** Waits for the listener's 'close' event (for a `net` server: once every connection is closed); busy for the virtual clock. */
  *#waitListenerClosed(): Operation<void> {
    const park = new ExternalPark<void>(this.#task as TaskImpl<unknown>, "io", undefined, "the listening socket to close");
    this.#options.listener.once("close", () => park.resolve());
    yield park;
  }

  #listening(): void {
    // After listening, an 'error' is an accept error: Node keeps listening, and so does the server.
    if (this.#options.acceptErrors !== false) this.#options.listener.on("error", this.#acceptErrors.onError);
  }

  #reportAcceptError(detail: string, cause: NodeJS.ErrnoException): void {
    const error = Object.assign(new Error(`Cannot accept a connection on ${this.#options.where()}: ${detail}`, { cause }), { code: cause.code });
    const task = this.#task;
    this.#loop.report(error, task === null ? { kind: "task", path: this.#options.name } : { kind: "task", task, path: task.path });
  }
}
defineOperationMethods(ServerCore);

/** Tells the server that a connection task finished, with the peer's address for its report. */
class PeerWatcher implements Watcher {
  readonly #core: ServerCore;
  readonly #peer: string;

  constructor(core: ServerCore, peer: string) {
    this.#core = core;
    this.#peer = peer;
  }

  taskFinished(task: TaskImpl<unknown>): void {
    this.#core.taskFinished(task, this.#peer);
  }
}

/**
 * Waits until a server's task has finished; throws only its failure (see
 * `ClosedPark`). **Cancellation:** only the wait stops.
 */
export function* waitTaskClosed(task: TaskImpl<unknown>, api: string): Operation<void> {
  if (!task.done) {
    const park = new ClosedPark(requireCurrentTask(api), task);
    task.addWatcher(park);
    yield park;
  } else if (task.state === "failed") throw task.error;
}

/**
 * A wait for the server task's end, which resumes the waiter (throwing only
 * a failure): not `yield* task`, whose CancelledError may be the waiter's
 * own (the owner's cancellation is shared with the server task) and could
 * not be told apart.
 */
class ClosedPark extends Park implements Watcher {
  readonly #server: TaskImpl<unknown>;

  constructor(task: TaskImpl<unknown>, server: TaskImpl<unknown>) {
    super(task, "child");
    this.#server = server;
  }

  taskFinished(server: TaskImpl<unknown>): void {
    if (server.state === "failed") resumeThrow(this, server.error);
    else resume(this, undefined);
  }

  override cancelled(woken: boolean): void {
    if (!woken) this.#server.removeWatcher(this);
  }

  override describe(): string {
    return `server ${this.#server.path} to close`;
  }
}

/** The closing server task's wait: woken by a connection task's end, a closer deadline, or its timer. */
class ClosePark extends Park implements TimerEntry {
  deadline = 0;
  seq = 0;
  heapIndex = -1;
  readonly #core: ServerCore;

  constructor(task: TaskImpl<unknown>, core: ServerCore) {
    super(task, "child");
    this.#core = core;
  }

  /** The timer: the deadline has come. */
  fire(): void {
    resume(this, undefined);
  }

  wake(): void {
    this.#unschedule();
    resume(this, undefined);
  }

  override cancelled(): void {
    this.#unschedule();
  }

  override describe(): string {
    return this.#core.describeWait();
  }

  #unschedule(): void {
    if (this.heapIndex >= 0) (this.task as TaskImpl<unknown>).loop.removeTimer(this);
  }
}
