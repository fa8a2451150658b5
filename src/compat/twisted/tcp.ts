/**
 * `reactor.listenTCP` and `reactor.connectTCP`: Twisted's listening port and
 * connector, over Node sockets wrapped as corio streams. Each port and each
 * connection attempt is a corio task on the reactor's loop; each accepted
 * connection is a child task of its port (corio's server skeleton).
 * @module
 */
import { createServer, isIP, type Server as NetServer, connect as netConnect, type Socket } from "node:net";
import type { Operation } from "../../index.ts";
import { TimeoutError as CorioTimeoutError, isCancellation, timeout } from "../../index.ts";
import { waitForConnect } from "../../net/_connect.ts"; // compat-internal: waits for a socket the Twisted connector opened itself (openConnection opens its own)
import { wrapSocket } from "../../net/_socket-transport.ts"; // compat-internal: turns the connector's own socket into a reader/writer pair
import { type BoundAddress, ListeningPort } from "./_port.ts";
import { type Address, IPv4Address, IPv6Address } from "./address.ts";
import { ConnectError, ConnectionRefusedError, DNSLookupError, NotConnectingError, TimeoutError, UserError } from "./errors.ts";
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

/** A TCP listening port (Twisted's `tcp.Port`); each accepted connection is a task of the port's task. */
class TCPPort extends ListeningPort {
  /** True while listening (Twisted's attribute). */
  connected = false;
  readonly #port: number;
  readonly #factory: Factory;
  readonly #interface: string;
  readonly #backlog: number;
  readonly #server: NetServer;
  #factoryStarted = false;
  #connections = 0;

  constructor(reactor: Reactor, port: number, factory: Factory, options: ListenTCPOptions) {
    const server = createServer({ allowHalfOpen: true });
    super(reactor, "TCP", port, options.interface ?? "", server, () => server.close());
    this.#server = server;
    this.#port = port;
    this.#factory = factory;
    this.#interface = options.interface ?? "";
    this.#backlog = options.backlog ?? 50;
    server.on("connection", (socket: Socket) => this.#accept(socket));
  }

  startListening(): void {
    // Without an interface, Node binds at once (Twisted's listenTCP does), so getHost() works right away.
    this.listen(() =>
      this.#interface === "" ? this.#server.listen(this.#port, undefined, this.#backlog) : this.#server.listen(this.#port, this.#interface, this.#backlog),
    );
  }

  override toString(): string {
    return `<${this.#factory.constructor.name} on ${this.#port}>`;
  }

  protected override boundAddress(): BoundAddress | null {
    const info = this.#server.address();
    return info !== null && typeof info === "object" ? info : null;
  }

  protected override startServing(): void {
    this.connected = true;
    this.#factoryStarted = callback(this.reactor, `${this.#factory.logPrefix()}.doStart`, () => this.#factory.doStart()) === undefined;
  }

  protected override stopServing(): void {
    this.connected = false;
    if (this.#factoryStarted) callback(this.reactor, `${this.#factory.logPrefix()}.doStop`, () => this.#factory.doStop());
    this.fireStopped();
  }

  /** Runs a connection as a task of the port's task (once it runs, if it does not yet). */
  #accept(socket: Socket): void {
    if (this.core.closing) {
      socket.destroy();
      return;
    }
    const end = wrapSocket(socket);
    this.core.track(socket);
    const reactor = this.reactor;
    const factory = this.#factory;
    this.core.spawn(`connection ${++this.#connections}`, () => serveConnection(reactor, factory, socket, end));
  }
}

/**
 * One accepted connection, at its task's first step: builds its protocol and
 * gives the operation that runs it. A plain function, not a generator that
 * `yield*`s `runProtocol`: that level would be resumed at every chunk read.
 */
function serveConnection(reactor: Reactor, factory: Factory, socket: Socket, end: ReturnType<typeof wrapSocket>): Operation<void> {
  let protocol: Protocol | null;
  try {
    protocol = factory.buildProtocol(peerAddress(socket));
  } catch (error) {
    reportCallbackError(reactor, error, `${factory.logPrefix()}.buildProtocol`);
    protocol = null;
  }
  if (protocol === null) {
    socket.destroy();
    return []; // an operation that ends at once
  }
  return runProtocol(reactor, protocol, new TCPTransport(socket, end.writer), end);
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
