/**
 * `reactor.listenTCP` and `reactor.connectTCP`: Twisted's listening port and
 * connector, over Node sockets wrapped as corio streams. Each port and each
 * connection attempt is a corio task on the reactor's loop; each accepted
 * connection is a child task of its port.
 * @module
 */
import { createServer, isIP, type Server as NetServer, connect as netConnect, type Socket } from "node:net";
import { until } from "../../core/call.ts";
import { TimeoutError as CorioTimeoutError, isCancellation } from "../../core/errors.ts";
import { Future } from "../../core/future.ts";
import type { Operation } from "../../core/operation.ts";
import { createTask, requireCurrentTask } from "../../core/spawn.ts";
import type { TaskImpl } from "../../core/task.ts";
import { waitForConnect } from "../../net/_connect.ts";
import { wrapSocket } from "../../net/_socket-transport.ts";
import type { StreamEnd } from "../../streams/memory-pair.ts";
import { timeout } from "../../time/timeout.ts";
import { type Address, IPv4Address, IPv6Address, toAddress } from "./address.ts";
import { Deferred } from "./deferred.ts";
import { CannotListenError, ConnectError, ConnectionRefusedError, DNSLookupError, NotConnectingError, TimeoutError, UserError } from "./errors.ts";
import { Failure } from "./failure.ts";
import type { IConnector, IListeningPort, ITransport } from "./interfaces.ts";
import type { ClientFactory, Factory, Protocol } from "./protocol.ts";
import type { Reactor, ReactorTask } from "./reactor.ts";
import { callback, peerAddress, reportCallbackError, runProtocol, TCPTransport } from "./transport.ts";

/** Options of `reactor.listenTCP`. */
export interface ListenTCPOptions {
  /** The address to listen on. @default "" (all interfaces) */
  interface?: string;
  /** The length of the queue of connections not yet accepted. @default 50 (Twisted's) */
  backlog?: number;
}

/** Options of `reactor.connectTCP`. */
export interface ConnectTCPOptions {
  /** Seconds to give up connecting after (`TimeoutError`). @default 30 */
  timeout?: number;
}

/** @internal */
export function checkPort(port: unknown, action: string): number {
  if (!(typeof port === "number" && Number.isInteger(port) && port >= 0 && port <= 65535))
    throw new RangeError(`Cannot ${action}: port must be an integer from 0 to 65535, received ${String(port)}`);
  return port;
}

/** @internal `reactor.listenTCP`. */
export function listenTCP(reactor: Reactor, port: number, factory: Factory, options: ListenTCPOptions): IListeningPort {
  checkPort(port, "listen on a TCP port");
  if (typeof factory?.buildProtocol !== "function") throw new TypeError("Cannot listen on a TCP port: factory must be a Factory (with buildProtocol)");
  const listening = new TCPPort(reactor, port, factory, options);
  listening.startListening();
  return listening;
}

/** @internal `reactor.connectTCP`. */
export function connectTCP(reactor: Reactor, host: string, port: number, factory: ClientFactory, options: ConnectTCPOptions): IConnector {
  if (typeof host !== "string" || host === "") throw new TypeError(`Cannot connect: host must be a non-empty string, received ${JSON.stringify(host)}`);
  checkPort(port, "connect");
  const seconds = options.timeout ?? 30;
  if (!(typeof seconds === "number" && seconds > 0))
    throw new RangeError(`Cannot connect: timeout must be a positive number of seconds, received ${String(seconds)}`);
  if (typeof factory?.buildProtocol !== "function") throw new TypeError("Cannot connect: factory must be a ClientFactory (with buildProtocol)");
  const connector = new TCPConnector(reactor, host, port, factory, seconds);
  connector.connect();
  return connector;
}

/** A TCP listening port (Twisted's `tcp.Port`). */
class TCPPort implements IListeningPort {
  /** True while listening (Twisted's attribute). */
  connected = false;
  readonly #reactor: Reactor;
  readonly #port: number;
  readonly #factory: Factory;
  readonly #interface: string;
  readonly #backlog: number;
  readonly #server: NetServer;
  #state: "binding" | "listening" | "failed" | "closed" = "binding";
  #bound: Promise<void> = Promise.resolve();
  #closed: Promise<void>;
  #failure: CannotListenError | null = null;
  #address: Address | null = null;
  #whenListening: Deferred<IListeningPort> | null = null;
  #stopped: Deferred<void> | null = null;
  #closeRequested = new Future<void>();
  #task: TaskImpl<void> | null = null;
  #handle: ReactorTask | null = null;
  #factoryStarted = false;
  #accepted: [Socket, StreamEnd][] = [];
  #connections = 0;

  constructor(reactor: Reactor, port: number, factory: Factory, options: ListenTCPOptions) {
    this.#reactor = reactor;
    this.#port = port;
    this.#factory = factory;
    this.#interface = options.interface ?? "";
    this.#backlog = options.backlog ?? 50;
    this.#server = createServer({ allowHalfOpen: true });
    const server = this.#server;
    this.#closed = new Promise<void>((resolve) => server.once("close", resolve));
  }

  startListening(): void {
    const server = this.#server;
    server.on("connection", (socket: Socket) => this.#accept(socket));
    this.#bound = new Promise<void>((resolve) => {
      const onError = (error: Error): void => {
        this.#state = "failed";
        this.#failure = new CannotListenError(this.#interface, this.#port, error);
        server.close();
        this.#settleListening();
        resolve();
      };
      server.once("error", onError);
      server.once("listening", () => {
        server.off("error", onError);
        server.on("error", () => {}); // after listening, errors belong to the connections
        if (this.#state === "binding") this.#state = "listening";
        this.getHost();
        resolve();
      });
    });
    // Without an interface, Node binds at once (Twisted's listenTCP does), so getHost() works right away.
    if (this.#interface === "") server.listen(this.#port, undefined, this.#backlog);
    else server.listen(this.#port, this.#interface, this.#backlog);
    this.#reactor.holdStartUntil(this.#bound);
    this.#handle = this.#reactor.startTask(`tcp port ${this.#interface || "*"}:${this.#port}`, () => this.#serve());
  }

  getHost(): Address {
    if (this.#address !== null) return this.#address;
    const info = this.#server.address();
    if (info !== null && typeof info === "object") {
      // Listening on all interfaces: Node's dual-stack "::" is Twisted's "0.0.0.0". Kept for after the port closes.
      this.#address = this.#interface === "" ? new IPv4Address("TCP", "0.0.0.0", info.port) : toAddress("TCP", info);
      return this.#address;
    }
    if (this.#port !== 0)
      return isIP(this.#interface) === 6
        ? new IPv6Address("TCP", this.#interface, this.#port)
        : new IPv4Address("TCP", this.#interface || "0.0.0.0", this.#port);
    if (this.#state === "failed") throw this.#failure as CannotListenError;
    throw new Error("Cannot get the port's address: port 0 was asked for and the port is not bound yet; wait for port.whenListening()");
  }

  whenListening(): Deferred<IListeningPort> {
    if (this.#whenListening === null) {
      this.#whenListening = new Deferred<IListeningPort>();
      void this.#bound.then(() => this.#settleListening());
    }
    return this.#whenListening;
  }

  stopListening(): Deferred<void> {
    if (this.#stopped !== null) return this.#stopped;
    const stopped = new Deferred<void>();
    this.#stopped = stopped;
    if (this.#task !== null && !this.#task.done) {
      // The port's task closes it, calls factory.doStop() and fires `stopped`.
      this.#closeRequested.resolve();
    } else {
      // Not serving (yet, or any more): close here.
      this.#state = "closed";
      this.#handle?.cancel("the port was closed");
      this.#server.close();
      for (const [socket] of this.#accepted.splice(0)) socket.destroy();
      if (this.#reactor.running) this.#reactor.callFromThread(() => stopped.callback(undefined));
      else stopped.callback(undefined);
    }
    return stopped;
  }

  loseConnection(): Deferred<void> {
    return this.stopListening();
  }

  toString(): string {
    return `<${this.#factory.constructor.name} on ${this.#port}>`;
  }

  #settleListening(): void {
    const deferred = this.#whenListening;
    if (this.#state === "failed") {
      if (deferred === null) reportCallbackError(this.#reactor, this.#failure, `listenTCP(${this.#port})`);
      else if (!deferred.called) deferred.errback(this.#failure);
    } else if (deferred !== null && !deferred.called && this.#state !== "binding") deferred.callback(this);
  }

  /** The port's task: waits until bound, then until stopListening() or the reactor stops. */
  *#serve(): Operation<void> {
    if (this.#state === "binding") {
      try {
        yield* until(this.#bound);
      } catch (error) {
        this.#state = "closed";
        this.#server.close();
        throw error;
      }
    }
    if (this.#state !== "listening") return;
    this.#task = requireCurrentTask("listen on a TCP port") as TaskImpl<void>;
    this.connected = true;
    this.#factoryStarted = callback(this.#reactor, `${this.#factory.logPrefix()}.doStart`, () => this.#factory.doStart()) === undefined;
    for (const [socket, end] of this.#accepted.splice(0)) this.#serveConnection(socket, end);
    try {
      yield* this.#closeRequested;
    } finally {
      this.#state = "closed";
      this.connected = false;
      this.#server.close();
      for (const [socket] of this.#accepted.splice(0)) socket.destroy();
      if (this.#factoryStarted) callback(this.#reactor, `${this.#factory.logPrefix()}.doStop`, () => this.#factory.doStop());
      const stopped = this.#stopped ?? (this.#stopped = new Deferred<void>());
      if (!stopped.called) stopped.callback(undefined);
      // Node's 'close' comes once the listening socket and the connections are closed.
      yield* until(this.#closed);
    }
  }

  #accept(socket: Socket): void {
    const end = wrapSocket(socket);
    const task = this.#task;
    if (this.#state === "closed" || this.#state === "failed" || task?.done) socket.destroy();
    // Accepted before the reactor runs: served once the port's task starts.
    else if (task === null) this.#accepted.push([socket, end]);
    else this.#serveConnection(socket, end);
  }

  /** Runs a connection as a child task of the port's task. */
  #serveConnection(socket: Socket, end: StreamEnd): void {
    const reactor = this.#reactor;
    const factory = this.#factory;
    createTask(
      reactor.loop,
      this.#task as TaskImpl<unknown>,
      function* connection() {
        let protocol: Protocol | null;
        try {
          protocol = factory.buildProtocol(peerAddress(socket));
        } catch (error) {
          reportCallbackError(reactor, error, `${factory.logPrefix()}.buildProtocol`);
          protocol = null;
        }
        if (protocol === null) {
          socket.destroy();
          return;
        }
        yield* runProtocol(reactor, protocol, new TCPTransport(socket, end.writer), end);
      },
      { name: `connection ${++this.#connections}` },
      0,
      "accept a connection",
    );
  }
}

/** A connector (Twisted's `tcp.Connector`): one connection attempt at a time, and its connection. */
class TCPConnector implements IConnector {
  state: "disconnected" | "connecting" | "connected" = "disconnected";
  transport: ITransport | null = null;
  readonly factory: ClientFactory;
  readonly #reactor: Reactor;
  readonly #host: string;
  readonly #port: number;
  readonly #timeout: number;
  #factoryStarted = false;
  /** Bumped by each connect() and stopConnecting(): an attempt whose number is stale reports nothing. */
  #attempt = 0;
  #handle: ReactorTask | null = null;

  constructor(reactor: Reactor, host: string, port: number, factory: ClientFactory, seconds: number) {
    this.#reactor = reactor;
    this.#host = host;
    this.#port = port;
    this.factory = factory;
    this.#timeout = seconds;
  }

  connect(): void {
    if (this.state !== "disconnected") throw new Error(`Cannot connect: the connector is ${this.state}; call disconnect() first`);
    this.state = "connecting";
    if (!this.#factoryStarted) {
      this.factory.doStart();
      this.#factoryStarted = true;
    }
    const attempt = ++this.#attempt;
    this.#handle = this.#reactor.startTask(`tcp client ${this.#host}:${this.#port}`, () => this.#connect(attempt));
    if (this.#handle.cancelled) {
      // The reactor has stopped: nothing will connect.
      this.#failed(new ConnectError("the reactor is not running"));
      return;
    }
    this.factory.startedConnecting(this);
  }

  disconnect(): void {
    if (this.state === "connecting") this.stopConnecting();
    else if (this.state === "connected") this.transport?.loseConnection();
  }

  stopConnecting(): void {
    if (this.state !== "connecting") throw new NotConnectingError();
    this.#attempt++;
    this.#handle?.cancel("stopConnecting() was called");
    this.#failed(new UserError());
  }

  getDestination(): Address {
    return isIP(this.#host) === 6 ? new IPv6Address("TCP", this.#host, this.#port) : new IPv4Address("TCP", this.#host, this.#port);
  }

  toString(): string {
    return `<TCPConnector instance of ${this.factory.constructor.name} to ${this.#host}:${this.#port}>`;
  }

  /** The attempt's task: connect (within the timeout), then drive the protocol. */
  *#connect(attempt: number): Operation<void> {
    let socket: Socket;
    try {
      socket = yield* timeout(this.#timeout * 1000, () => connectSocket(this.#host, this.#port));
    } catch (error) {
      if (attempt !== this.#attempt) throw error; // stopConnecting() already reported it
      if (isCancellation(error)) {
        this.#failed(new ConnectError("the reactor stopped", { cause: error }));
        throw error;
      }
      this.#failed(connectError(error, this.#host, this.#port, this.#timeout));
      return;
    }
    const end = wrapSocket(socket);
    let protocol: Protocol | null;
    try {
      protocol = this.factory.buildProtocol(peerAddress(socket));
    } catch (error) {
      reportCallbackError(this.#reactor, error, `${this.factory.logPrefix()}.buildProtocol`);
      socket.destroy();
      this.#failed(new ConnectError("buildProtocol() failed", { cause: error }));
      return;
    }
    if (protocol === null) {
      socket.destroy();
      this.#failed(new ConnectError("buildProtocol() returned null"));
      return;
    }
    const transport = new TCPTransport(socket, end.writer);
    this.state = "connected";
    this.transport = transport;
    yield* runProtocol(this.#reactor, protocol, transport, end, (reason) => {
      this.transport = null;
      if (attempt !== this.#attempt) return;
      this.state = "disconnected";
      callback(this.#reactor, `${this.factory.logPrefix()}.clientConnectionLost`, () => this.factory.clientConnectionLost(this, reason));
      this.#stopFactoryIfDone();
    });
  }

  /** The attempt failed: tell the factory (which may connect() again). */
  #failed(reason: Error): void {
    this.state = "disconnected";
    this.transport = null;
    const failure = new Failure(reason);
    callback(this.#reactor, `${this.factory.logPrefix()}.clientConnectionFailed`, () => this.factory.clientConnectionFailed(this, failure));
    this.#stopFactoryIfDone();
  }

  /** Twisted stops the factory unless its callback reconnected. */
  #stopFactoryIfDone(): void {
    if (this.state === "disconnected" && this.#factoryStarted) {
      this.#factoryStarted = false;
      callback(this.#reactor, `${this.factory.logPrefix()}.doStop`, () => this.factory.doStop());
    }
  }
}

/**
 * Opens a TCP connection. **Cancellation:** the socket is destroyed. (Not
 * `openConnection`: the protocol's task needs the socket itself, to close
 * it at once whatever state its end is in.)
 */
function* connectSocket(host: string, port: number): Operation<Socket> {
  const socket = netConnect({ host, port, allowHalfOpen: true });
  yield* waitForConnect(socket, `${host}:${port}`);
  return socket;
}

/** Twisted's error for a failed connection attempt. */
function connectError(error: unknown, host: string, port: number, seconds: number): Error {
  if (error instanceof CorioTimeoutError) return new TimeoutError(`no connection to ${host}:${port} within ${seconds} s`, { cause: error });
  const code = (error as { code?: string } | null)?.code;
  const detail = error instanceof Error ? error.message : String(error);
  const options = { cause: error, ...(code !== undefined && { code }) };
  if (code === "ECONNREFUSED") return new ConnectionRefusedError(`${host}:${port}`, options);
  if (code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "EAI_NONAME") return new DNSLookupError(host, { cause: error });
  return new ConnectError(detail, options);
}
