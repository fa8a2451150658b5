/**
 * Twisted's reactor, on a corio loop: `run`, `stop`, `callLater`,
 * `callWhenRunning`, and the network: `listenTCP`, `connectTCP`,
 * `listenUDP` (implemented in `./tcp.ts` and `./udp.ts`).
 * @module
 */

import { checkMadeByCorio, MADE_BY_CORIO } from "../../core/_made-by-corio.ts"; // compat-internal: the guard of its private constructor
import { type ErrorHandler, getRunningLoop, Loop } from "../../core/loop.ts"; // compat-internal: the reactor is a loop of its own; the public API has no loop handle
import { startRoot } from "../../core/run.ts"; // compat-internal: starts root tasks on the reactor's own loop
import type { Clock, Operation, Task } from "../../index.ts";
import { DelayedCall, suspend } from "../../index.ts";
import type { IConnector, IListeningPort } from "./interfaces.ts";
import type { ClientFactory, Factory } from "./protocol.ts";
import { type ConnectTCPOptions, connectTCP, type ListenTCPOptions, listenTCP } from "./tcp.ts";
import { type DatagramProtocol, type ListenUDPOptions, listenUDP } from "./udp.ts";

/**
 * @internal Seconds to the loop's milliseconds, on a microsecond grid. Twisted's
 * `task.Clock` adds the same float to the due time and to the clock, so
 * stepping it by a call's delay always reaches the call; the loop keeps time
 * in ms, and `0.1 * 1000 + 2700` must be the 2800 that `advance(100)` reaches,
 * not `(2.7 + 0.1) * 1000` = 2800.0000000000005. Rounding to the microsecond
 * makes the conversion exact for every delay written in decimal seconds, and
 * idempotent, so a delay computed in ms and passed back as seconds (as
 * `LoopingCall` does) lands on the same ms.
 */
export function secondsToMs(seconds: number): number {
  return Math.round(seconds * 1e6) / 1e3;
}

/** Each reactor by its loop: code its callbacks run has no task, but runs on that loop. */
const reactorOfLoop = new WeakMap<Loop, Reactor>();

/** @internal The task of the reactor whose loop is running now, if it runs (`deferToThread` from a reactor callback). */
export function runningReactorTask(): Task<void> | null {
  const loop = getRunningLoop();
  return loop === undefined ? null : (reactorOfLoop.get(loop)?.mainTask ?? null);
}

/**
 * Raised by `reactor.stop()` when the reactor is not running.
 *
 * @example
 * ```ts
 * import { createReactor, ReactorNotRunning } from "corio/compat/twisted";
 * try { createReactor().stop(); } catch (e) { console.assert(e instanceof ReactorNotRunning); }
 * ```
 */
export class ReactorNotRunning extends Error {
  override name = "ReactorNotRunning";
}
/**
 * Raised by `reactor.run()` on a reactor that has already run and stopped.
 *
 * @example
 * ```ts
 * import { createReactor, ReactorNotRestartable } from "corio/compat/twisted";
 * import { VirtualClock } from "corio/testing";
 * const reactor = createReactor({ clock: new VirtualClock() });
 * reactor.callWhenRunning(() => reactor.stop());
 * await reactor.run();
 * await reactor.run().catch((e) => console.assert(e instanceof ReactorNotRestartable));
 * ```
 */
export class ReactorNotRestartable extends Error {
  override name = "ReactorNotRestartable";
}
/**
 * Raised by `IDelayedCall` methods on a call that was cancelled.
 *
 * @example
 * ```ts
 * import { AlreadyCancelled, createReactor } from "corio/compat/twisted";
 * const call = createReactor().callLater(1, () => {});
 * call.cancel();
 * try { call.cancel(); } catch (e) { console.assert(e instanceof AlreadyCancelled); }
 * ```
 */
export class AlreadyCancelled extends Error {
  override name = "AlreadyCancelled";
}
/**
 * Raised by `IDelayedCall` methods on a call that has already run.
 *
 * @example
 * ```ts
 * import { AlreadyCalled, createReactor } from "corio/compat/twisted";
 * import { VirtualClock } from "corio/testing";
 * const reactor = createReactor({ clock: new VirtualClock() });
 * const call = reactor.callLater(1, () => reactor.stop());
 * await reactor.run();
 * try { call.reset(1); } catch (e) { console.assert(e instanceof AlreadyCalled); }
 * ```
 */
export class AlreadyCalled extends Error {
  override name = "AlreadyCalled";
}

/**
 * Twisted's `IDelayedCall`: what `reactor.callLater` returns. Times are in
 * seconds, as in Twisted. Unlike corio's own `DelayedCall`, it follows
 * Twisted exactly: `cancel`, `reset` and `delay` raise `AlreadyCalled` or
 * `AlreadyCancelled` once the call is over.
 *
 * @example
 * ```ts
 * import { createReactor } from "corio/compat/twisted";
 * import { VirtualClock } from "corio/testing";
 * const reactor = createReactor({ clock: new VirtualClock() });
 * const call = reactor.callLater(5, () => reactor.stop());
 * console.assert(call.active() && call.getTime() === 5);
 * await reactor.run();
 * console.assert(!call.active());
 * ```
 */
export class IDelayedCall {
  #call: DelayedCall | null = null;
  /** Before the reactor runs: the due time, in loop ms. */
  #pending: { due: number } | null;
  #cancelled = false;
  #called = false;
  readonly #reactor: Reactor;
  readonly #fn: () => void;

  /** @internal What `reactor.callLater` calls: the constructor is private, so that `new IDelayedCall()` does not type-check. */
  static create(reactor: Reactor, seconds: number, fn: (...args: unknown[]) => unknown, args: unknown[]): IDelayedCall {
    return new IDelayedCall(MADE_BY_CORIO, reactor, seconds, fn, args);
  }

  private constructor(token: typeof MADE_BY_CORIO, reactor: Reactor, seconds: number, fn: (...args: unknown[]) => unknown, args: unknown[]) {
    checkMadeByCorio(token, "an IDelayedCall", "use reactor.callLater(seconds, fn, ...args)");
    this.#reactor = reactor;
    this.#fn = () => {
      this.#called = true;
      fn(...args);
    };
    this.#pending = { due: reactor.loop.now() + secondsToMs(seconds) };
    reactor.schedule(this);
  }

  /** @internal Arms the call on the reactor's loop (at once if running, else when it starts). */
  arm(loop: Loop): void {
    if (this.#pending === null || this.#cancelled) return;
    const due = this.#pending.due;
    this.#pending = null;
    // compat-internal: DelayedCall.create arms the call on the reactor's own loop (callLater uses the current one).
    this.#call = DelayedCall.create(loop, Math.max(0, due - loop.now()), this.#fn, []);
  }

  /** When it will run, in reactor seconds. */
  getTime(): number {
    return (this.#pending !== null ? this.#pending.due : (this.#call as DelayedCall).time) / 1000;
  }

  /** True until it has run or been cancelled. */
  active(): boolean {
    return !this.#cancelled && !this.#called;
  }

  /** Stops it from running. @throws {AlreadyCalled} @throws {AlreadyCancelled} */
  cancel(): void {
    this.#checkActive("cancel");
    this.#cancelled = true;
    this.#call?.cancel();
  }

  /** Makes it run `seconds` from now. @throws {AlreadyCalled} @throws {AlreadyCancelled} */
  reset(seconds: number): void {
    this.#checkActive("reset");
    if (this.#pending !== null) this.#pending.due = this.#reactor.loop.now() + secondsToMs(seconds);
    else this.#call?.reset(secondsToMs(seconds));
  }

  /** Pushes it `seconds` later. @throws {AlreadyCalled} @throws {AlreadyCancelled} */
  delay(seconds: number): void {
    this.#checkActive("delay");
    if (this.#pending !== null) this.#pending.due += secondsToMs(seconds);
    else this.#call?.delay(secondsToMs(seconds));
  }

  #checkActive(action: string): void {
    if (this.#cancelled) throw new AlreadyCancelled(`Cannot ${action} the delayed call: it was cancelled`);
    if (this.#called) throw new AlreadyCalled(`Cannot ${action} the delayed call: it has already run`);
  }
}

/** @internal A task the reactor runs for a port or a connection, started when the reactor runs. */
export class ReactorTask {
  /** The task, once started. */
  task: Task<void> | null = null;
  /** True once cancelled (a queued task then never starts). */
  cancelled = false;

  cancel(reason: string): void {
    this.cancelled = true;
    this.task?.cancel(reason);
  }
}

/** Options of `createReactor`. */
export interface ReactorOptions {
  /** The clock (a `VirtualClock` in tests). @default the real clock */
  clock?: Clock;
  /** Where errors raised in callbacks go; they never stop the reactor. @default print to stderr */
  onError?: ErrorHandler;
}

/**
 * Twisted's reactor on a corio loop of its own. `run()` returns a promise
 * that resolves once `stop()` was called and shutdown is over (Twisted's
 * `run()` blocks instead). Nothing scheduled with `callLater` or
 * `callWhenRunning` runs before `run()`. An error raised in a callback is
 * reported and the reactor keeps running (Twisted's rule). Times are seconds.
 * Inside the reactor, corio operations run on the same loop: `run(op)` from a
 * callback, or `Deferred.fromOperation(op)`.
 *
 * The network: `listenTCP`, `connectTCP` and `listenUDP` drive `Protocol`s
 * and `DatagramProtocol`s (one corio task per port and per connection,
 * reading corio streams). Ports opened before `run()` are bound before
 * anything runs; shutdown is over (every port and connection closed) when
 * `run()` resolves.
 *
 * @example The countdown of Twisted's tutorial
 * ```ts
 * import { createReactor } from "corio/compat/twisted";
 * import { VirtualClock } from "corio/testing";
 * const reactor = createReactor({ clock: new VirtualClock() });
 * const out: string[] = [];
 * let counter = 5;
 * function count() {
 *   if (counter === 0) reactor.stop();
 *   else { out.push(`${counter}...`); counter--; reactor.callLater(1, count); }
 * }
 * reactor.callWhenRunning(count);
 * await reactor.run();
 * console.assert(out.join(" ") === "5... 4... 3... 2... 1...");
 * ```
 */
export class Reactor {
  /** @internal The corio loop the reactor runs on, for the porting layer's own modules (corio's public API has no loop handle). */
  readonly loop: Loop;
  #state: "new" | "running" | "stopped" = "new";
  #main: Task<void> | null = null;
  #beforeRun: IDelayedCall[] = [];
  #whenRunning: (() => void)[] = [];
  #tasks: { name: string; op: () => Operation<void>; handle: ReactorTask }[] = [];
  #startup: Promise<unknown>[] = [];

  constructor(options: ReactorOptions = {}) {
    this.loop = new Loop({ ...(options.clock !== undefined && { clock: options.clock }), ...(options.onError !== undefined && { onError: options.onError }) });
    reactorOfLoop.set(this.loop, this);
  }

  /** @internal The reactor's own task while it runs (what work started from its callbacks, outside any task, belongs to). */
  get mainTask(): Task<void> | null {
    return this.running ? this.#main : null;
  }

  /** True between `run()` and `stop()`. */
  get running(): boolean {
    return this.#state === "running";
  }

  /** The reactor's clock, in seconds. */
  seconds(): number {
    return this.loop.now() / 1000;
  }

  /**
   * Starts the reactor; resolves once it has been stopped.
   * @throws {ReactorNotRestartable} if it already ran.
   */
  async run(): Promise<void> {
    if (this.#state !== "new") throw new ReactorNotRestartable("Cannot run the reactor: it has already run; create a new one with createReactor()");
    this.#state = "running";
    // Twisted binds in listenTCP: ports opened before run() are bound before anything runs.
    while (this.#startup.length > 0) await Promise.all(this.#startup.splice(0));
    this.#main = startRoot(this.loop, suspend, { name: "reactor" });
    for (const { name, op, handle } of this.#tasks.splice(0)) if (!handle.cancelled) handle.task = startRoot(this.loop, op, { name });
    for (const call of this.#beforeRun.splice(0)) call.arm(this.loop);
    for (const fn of this.#whenRunning.splice(0)) this.loop.callSoon(fn, []);
    if (!this.running) this.loop.stop("reactor.stop()"); // stop() was called while the ports were binding
    try {
      await this.#main;
    } catch {
      // stop() cancels the reactor's main task: that is how it ends.
    }
    // Ports and connections close (their tasks were cancelled too) before run() returns.
    await new Promise<void>((resolve) => this.loop.whenRootsDone(resolve));
  }

  /** Stops the reactor. @throws {ReactorNotRunning} if it is not running. */
  stop(): void {
    if (this.#state !== "running") throw new ReactorNotRunning("Cannot stop the reactor: it is not running");
    this.#state = "stopped";
    this.loop.stop("reactor.stop()");
  }

  /** Calls `fn(...args)` after `seconds`; returns the `IDelayedCall`. */
  callLater<A extends unknown[]>(seconds: number, fn: (...args: A) => unknown, ...args: A): IDelayedCall {
    if (!(typeof seconds === "number" && seconds >= 0))
      throw new RangeError(`Cannot call later: seconds must be a non-negative number, received ${String(seconds)}`);
    return IDelayedCall.create(this, seconds, fn as (...args: unknown[]) => unknown, args);
  }

  /** Calls `fn(...args)` when the reactor starts, or soon if it is running. */
  callWhenRunning<A extends unknown[]>(fn: (...args: A) => unknown, ...args: A): void {
    const call = () => fn(...args);
    if (this.#state === "running") this.loop.callSoon(call, []);
    else this.#whenRunning.push(call);
  }

  /** Schedules `fn(...args)` on the reactor's loop at its next turn (Twisted's `callFromThread`, from the main thread). */
  callFromThread<A extends unknown[]>(fn: (...args: A) => unknown, ...args: A): void {
    this.loop.callSoon(() => fn(...args), []);
  }

  /**
   * Listens for TCP connections on `port` (0: a free one), building a
   * protocol with `factory` for each (Twisted's `reactor.listenTCP`).
   * Connections stay open after `stopListening()`; stopping the reactor
   * closes everything (open connections get `ConnectionLost`).
   *
   * @param port The port, 0 to 65535.
   * @param factory Builds the protocols; `doStart()` once listening, `doStop()` once closed.
   * @param options `interface`: the address to listen on (default `""`: all interfaces), `backlog`.
   * @returns The port: `getHost()`, `stopListening()`, `whenListening()`.
   * @throws {RangeError} for a port outside 0..65535. A bind error fails `whenListening()` with `CannotListenError`.
   */
  listenTCP(port: number, factory: Factory, options: ListenTCPOptions = {}): IListeningPort {
    return listenTCP(this, port, factory, options);
  }

  /**
   * Connects to `host:port`, building the connection's protocol with
   * `factory` (Twisted's `reactor.connectTCP`). The attempt starts when the
   * reactor runs; `factory.clientConnectionFailed` hears of a failure, or
   * `clientConnectionLost` of the end of the connection.
   *
   * @param options `timeout`: seconds to give up connecting after (default 30; `TimeoutError`).
   * @returns The connector: `disconnect()`, `stopConnecting()`, `getDestination()`, `connect()` to reconnect.
   */
  connectTCP(host: string, port: number, factory: ClientFactory, options: ConnectTCPOptions = {}): IConnector {
    return connectTCP(this, host, port, factory, options);
  }

  /**
   * Opens a UDP port on `port` (0: a free one) for a datagram protocol
   * (Twisted's `reactor.listenUDP`): `protocol.datagramReceived(data, [host, port])`
   * for each datagram, `protocol.transport.write(data, [host, port])` to send.
   *
   * @param options `interface` (default `""`: all interfaces), `maxPacketSize` (default 8192: longer datagrams are truncated, as Twisted's `recvfrom` does).
   * @throws {RangeError} for a port outside 0..65535.
   */
  listenUDP(port: number, protocol: DatagramProtocol, options: ListenUDPOptions = {}): IListeningPort {
    return listenUDP(this, port, protocol, options);
  }

  /** @internal Starts `op` as a root task on the reactor's loop: now if it runs, when it starts if not yet, never once stopped. */
  startTask(name: string, op: () => Operation<void>): ReactorTask {
    const handle = new ReactorTask();
    if (this.#state === "running") handle.task = startRoot(this.loop, op, { name });
    else if (this.#state === "new") this.#tasks.push({ name, op, handle });
    else handle.cancelled = true;
    return handle;
  }

  /** @internal Holds the start of `run()` until `promise` settles (a port binding before the reactor runs). */
  holdStartUntil(promise: Promise<unknown>): void {
    if (this.#state === "new") this.#startup.push(promise);
  }

  /** @internal */
  schedule(call: IDelayedCall): void {
    if (this.#state === "running") call.arm(this.loop);
    else this.#beforeRun.push(call);
  }
}

/**
 * Makes a new reactor (for tests, or to run several). The module also
 * exports a default `reactor`.
 *
 * @example
 * ```ts
 * import { createReactor } from "corio/compat/twisted";
 * import { VirtualClock } from "corio/testing";
 * const reactor = createReactor({ clock: new VirtualClock() });
 * reactor.callWhenRunning(() => reactor.stop());
 * await reactor.run();
 * ```
 */
export function createReactor(options: ReactorOptions = {}): Reactor {
  return new Reactor(options);
}

/**
 * The default reactor, on the real clock (Twisted's global `reactor`).
 *
 * @example
 * ```ts ignore
 * import { reactor } from "corio/compat/twisted";
 * reactor.callLater(1, () => reactor.stop());
 * await reactor.run();
 * ```
 */
export const reactor: Reactor = new Reactor();
