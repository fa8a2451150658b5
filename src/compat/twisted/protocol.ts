/**
 * Twisted's `Protocol` and factories (`twisted.internet.protocol`): plain
 * callback objects that the reactor drives, one protocol per connection.
 * @module
 */
import type { Address } from "./address.ts";
import type { Failure } from "./failure.ts";
import type { IConnector, ITransport } from "./interfaces.ts";

/** A protocol class a factory can build (called without arguments, as in Twisted). */
export type ProtocolClass = new () => Protocol;

/**
 * Twisted's `Protocol`: the code of one connection, as callbacks. The
 * reactor calls `makeConnection(transport)` (which calls `connectionMade()`),
 * then `dataReceived(data)` for each chunk that arrives, then
 * `connectionLost(reason)` once. Chunks have no framing: a message may
 * arrive split, or several in one chunk (see `LineReceiver` for lines).
 * `reason` is a `Failure` of `ConnectionDone` for a clean close,
 * `ConnectionAborted` after `abortConnection()`, `ConnectionLost`
 * otherwise, or the error a callback of the protocol threw (or the true
 * value `dataReceived` returned).
 *
 * An error thrown by a callback is reported to the reactor's `onError`
 * (Twisted logs it) and drops that connection; the reactor keeps running.
 * Each connection is driven by a corio task that reads the socket's
 * `StreamReader` and calls these callbacks.
 *
 * @example An echo server and a client that says hello
 * ```ts
 * import { ClientFactory, createReactor, Factory, Protocol } from "corio/compat/twisted";
 * class Echo extends Protocol {
 *   override dataReceived(data: Uint8Array) { this.transport.write(data); }
 * }
 * let reply = "";
 * class Hello extends Protocol {
 *   override connectionMade() { this.transport.write("hello"); }
 *   override dataReceived(data: Uint8Array) { reply += new TextDecoder().decode(data); this.transport.loseConnection(); }
 *   override connectionLost() { reactor.stop(); }
 * }
 * const reactor = createReactor();
 * const port = reactor.listenTCP(0, Factory.forProtocol(Echo), { interface: "127.0.0.1" });
 * reactor.callWhenRunning(() => reactor.connectTCP("127.0.0.1", port.getHost().port, ClientFactory.forProtocol(Hello)));
 * await reactor.run();
 * console.assert(reply === "hello");
 * ```
 */
export class Protocol {
  /** The factory that built it (set by `Factory.buildProtocol`). */
  factory!: Factory;
  /** The connection's transport, from `makeConnection` on. */
  transport!: ITransport;
  /** True from `makeConnection` until the connection is lost. */
  connected = false;

  /** Connects the protocol to its transport and calls `connectionMade()`. */
  makeConnection(transport: ITransport): void {
    this.connected = true;
    this.transport = transport;
    this.connectionMade();
  }

  /** Called once connected: `this.transport` is set. */
  connectionMade(): void {}

  /**
   * Called with each chunk of bytes received. A true value it returns
   * closes the connection, with that value as the reason, as Twisted's
   * reactor does (a convention Twisted deprecates, but `LineReceiver` still
   * returns what `lineReceived` returns).
   */
  dataReceived(_data: Uint8Array): unknown {
    return undefined;
  }

  /** Called once when the connection is over; `reason` says why (see the class). */
  connectionLost(_reason: Failure): void {}

  /** The prefix Twisted puts on log lines: the class name. */
  logPrefix(): string {
    return this.constructor.name;
  }
}

/**
 * Twisted's `Factory`: builds one protocol per connection
 * (`buildProtocol(addr)` makes an instance of `protocol` and sets its
 * `factory`), and is told when it starts and stops being used by ports or
 * connectors (`startFactory`/`stopFactory`, once however many use it).
 * Protocols reach shared state through `this.factory`.
 *
 * @example A factory that counts its connections
 * ```ts
 * import { type Address, Factory, IPv4Address, Protocol } from "corio/compat/twisted";
 * class Counting extends Factory {
 *   connections = 0;
 *   override protocol = Protocol;
 *   override buildProtocol(addr: Address) { this.connections++; return super.buildProtocol(addr); }
 * }
 * const factory = new Counting();
 * const protocol = factory.buildProtocol(new IPv4Address("TCP", "127.0.0.1", 50000));
 * console.assert(protocol?.factory === factory && factory.connections === 1);
 * ```
 */
export class Factory {
  /** The protocol class `buildProtocol` instantiates. */
  protocol: ProtocolClass | undefined;
  /** How many ports and connectors use this factory (`doStart` / `doStop` count them). */
  numPorts = 0;
  /** Twisted logs starts and stops when true; kept for ported code. */
  noisy = true;

  /**
   * A factory of this class whose `protocol` is `protocol` (Twisted's
   * `Factory.forProtocol`); `args` go to the factory's constructor.
   *
   * @example
   * ```ts
   * import { ClientFactory, Protocol } from "corio/compat/twisted";
   * const factory = ClientFactory.forProtocol(Protocol);
   * console.assert(factory instanceof ClientFactory && factory.protocol === Protocol);
   * ```
   */
  static forProtocol<F extends Factory, A extends unknown[]>(this: new (...args: A) => F, protocol: ProtocolClass, ...args: A): F {
    const factory = new this(...args);
    factory.protocol = protocol;
    return factory;
  }

  /** Called by the reactor when a port or connector starts using it; calls `startFactory` for the first one. */
  doStart(): void {
    if (this.numPorts === 0) this.startFactory();
    this.numPorts++;
  }

  /** Called by the reactor when a port or connector stops using it; calls `stopFactory` after the last one. */
  doStop(): void {
    if (this.numPorts === 0) return;
    this.numPorts--;
    if (this.numPorts === 0) this.stopFactory();
  }

  /** Called before the first connection (override to open shared resources). */
  startFactory(): void {}

  /** Called after the last port or connector is done (override to close them). */
  stopFactory(): void {}

  /**
   * Builds the protocol of a new connection from `addr` (the peer), or
   * returns `null` to refuse it (the connection is closed).
   * @throws {TypeError} if `protocol` is not set.
   */
  buildProtocol(_addr: Address): Protocol | null {
    const ProtocolClass = this.protocol;
    if (typeof ProtocolClass !== "function")
      throw new TypeError(`Cannot build a protocol: ${this.constructor.name}.protocol is not set; set it, or use Factory.forProtocol(P)`);
    const protocol = new ProtocolClass();
    protocol.factory = this;
    return protocol;
  }

  /** The prefix Twisted puts on log lines: the class name. */
  logPrefix(): string {
    return this.constructor.name;
  }
}

/**
 * Twisted's `ServerFactory`: a `Factory` meant for `listenTCP` (nothing more).
 *
 * @example
 * ```ts
 * import { Factory, Protocol, ServerFactory } from "corio/compat/twisted";
 * console.assert(ServerFactory.forProtocol(Protocol) instanceof Factory);
 * ```
 */
export class ServerFactory extends Factory {}

/**
 * Twisted's `ClientFactory`: a `Factory` for `connectTCP`, told how the
 * attempt and the connection went. `startedConnecting` is called when
 * `connectTCP` (or `connector.connect()`) starts, `clientConnectionFailed`
 * with a `Failure` of `ConnectionRefusedError`, `TimeoutError`,
 * `DNSLookupError`, `UserError` (after `stopConnecting`) or `ConnectError`,
 * and `clientConnectionLost` once a connection that was made is over (with
 * the same reason as `connectionLost`). Calling `connector.connect()` from
 * the last two reconnects.
 *
 * @example Connection refused
 * ```ts
 * import { ClientFactory, ConnectionRefusedError, createReactor, type Failure, type IConnector, Protocol } from "corio/compat/twisted";
 * const reactor = createReactor();
 * let reason: Failure | undefined;
 * class Client extends ClientFactory {
 *   override protocol = Protocol;
 *   override clientConnectionFailed(_connector: IConnector, failure: Failure) { reason = failure; reactor.stop(); }
 * }
 * // Find a port nobody listens on: open one, then close it.
 * const port = reactor.listenTCP(0, Client.forProtocol(Protocol), { interface: "127.0.0.1" });
 * reactor.callWhenRunning(() => {
 *   const free = port.getHost().port;
 *   port.stopListening().addCallback(() => reactor.connectTCP("127.0.0.1", free, new Client()));
 * });
 * await reactor.run();
 * console.assert(reason?.check(ConnectionRefusedError) === ConnectionRefusedError);
 * ```
 */
export class ClientFactory extends Factory {
  /** Called when a connection attempt starts. */
  startedConnecting(_connector: IConnector): void {}

  /** Called when a connection attempt fails. */
  clientConnectionFailed(_connector: IConnector, _reason: Failure): void {}

  /** Called when a connection that was made is over. */
  clientConnectionLost(_connector: IConnector, _reason: Failure): void {}
}
