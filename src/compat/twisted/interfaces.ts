/**
 * The shapes of Twisted's `twisted.internet.interfaces` that protocols and
 * factories see: transports, listening ports and connectors; and the clock
 * that `addTimeout` and `deferLater` schedule on.
 * @module
 */
import type { Address } from "./address.ts";
import type { Deferred } from "./deferred.ts";
import type { ClientFactory } from "./protocol.ts";

/**
 * A connection's transport (Twisted's `ITCPTransport`), what
 * `protocol.transport` is once connected. Writes never wait: the bytes are
 * queued and sent in order, and the writes of one turn of the loop leave
 * together, in one system call, as Twisted sends a transport's buffer when
 * its reactor next turns. Writes after `loseConnection()` or once the
 * connection is lost are ignored, as in Twisted.
 */
export interface ITransport {
  /** True from `makeConnection` until the connection is lost. */
  readonly connected: boolean;
  /** True once `loseConnection()` or `abortConnection()` was called. */
  readonly disconnecting: boolean;
  /** Queues bytes to send (strings are UTF-8 encoded). */
  write(data: string | Uint8Array): void;
  /** Queues several chunks, in order. */
  writeSequence(data: Iterable<string | Uint8Array>): void;
  /** Closes the connection once the queued bytes are sent; no more data is delivered. `connectionLost` gets `ConnectionDone`. */
  loseConnection(): void;
  /** Closes the connection at once, dropping queued bytes; `connectionLost` gets `ConnectionAborted`. */
  abortConnection(): void;
  /** The other end's address. */
  getPeer(): Address;
  /** This end's address. */
  getHost(): Address;
  /** Whether Nagle's algorithm is off for this connection (`TCP_NODELAY`); false unless set, as in Twisted. */
  getTcpNoDelay(): boolean;
  /**
   * Turns Nagle's algorithm off (`true`) or back on. With it on, a small
   * write made while an earlier one is unacknowledged waits for the peer's
   * ACK (up to 40 ms); the writes of one turn leave together either way.
   */
  setTcpNoDelay(enabled: boolean): void;
  /** Whether TCP keep-alive probes are on (`SO_KEEPALIVE`); false unless set, as in Twisted. */
  getTcpKeepAlive(): boolean;
  /** Turns TCP keep-alive probes on or off. */
  setTcpKeepAlive(enabled: boolean): void;
  /** Stops delivering data to the protocol until `resumeProducing()` (the peer is slowed down by TCP flow control). */
  pauseProducing(): void;
  /** Delivers data again after `pauseProducing()`. */
  resumeProducing(): void;
  /** Same as `loseConnection()`. */
  stopProducing(): void;
}

/**
 * A listening port (Twisted's `IListeningPort`), returned by
 * `reactor.listenTCP` and `reactor.listenUDP`.
 */
export interface IListeningPort {
  /**
   * The address it listens on. Twisted binds inside `listenTCP`; Node binds
   * a moment later when an interface is given, so with port 0 the port is
   * known once bound: the reactor does not start running before the ports
   * opened before `run()` are bound, and `whenListening()` waits for it.
   * @throws {Error} if port 0 was asked for and the port is not bound yet.
   */
  getHost(): Address;
  /** Stops listening; the Deferred fires once the port is closed. Open connections stay open (as in Twisted). */
  stopListening(): Deferred<void>;
  /** Same as `stopListening()`. */
  loseConnection(): Deferred<void>;
  /**
   * Not in Twisted: a Deferred that fires with the port once it is bound, or
   * fails with `CannotListenError` (where Twisted's `listenTCP` would raise).
   * A bind error nobody asked for with `whenListening()` is reported to the
   * reactor's `onError`.
   */
  whenListening(): Deferred<IListeningPort>;
}

/**
 * A connection attempt and its connection (Twisted's `IConnector`),
 * returned by `reactor.connectTCP` and passed to the `ClientFactory`'s
 * callbacks. Calling `connect()` from `clientConnectionLost` or
 * `clientConnectionFailed` reconnects.
 */
export interface IConnector {
  /** Where it is. */
  readonly state: "disconnected" | "connecting" | "connected";
  /** The factory that builds the protocol. */
  readonly factory: ClientFactory;
  /** The connection's transport while connected. */
  readonly transport: ITransport | null;
  /** Connects (again). @throws {Error} unless disconnected. */
  connect(): void;
  /** Stops connecting, or loses the connection. */
  disconnect(): void;
  /** Gives up the attempt: `clientConnectionFailed` gets `UserError`. @throws {NotConnectingError} unless connecting. */
  stopConnecting(): void;
  /** The address it connects to. */
  getDestination(): Address;
}

/**
 * A UDP port as a datagram protocol's transport (Twisted's `IUDPTransport`).
 */
export interface IUDPTransport {
  /**
   * Sends one datagram to `addr` (`[host, port]`). Never waits; a send
   * error is reported to the reactor's `onError` (a refused port is ignored).
   * @throws {RangeError} for a datagram over 65507 bytes.
   */
  write(data: string | Uint8Array, addr: readonly [string, number]): void;
  /** The local address. */
  getHost(): Address;
  /** Closes the port; the Deferred fires once it is closed. */
  stopListening(): Deferred<void>;
  /** Same as `stopListening()`. */
  loseConnection(): Deferred<void>;
}

/**
 * What `Deferred.addTimeout` and `deferLater` schedule on (Twisted's
 * `IReactorTime`, as far as they use it): a `Reactor`, or a test double.
 */
export interface IReactorTime {
  /** The clock's time, in seconds. */
  seconds(): number;
  /** Calls `fn` after `seconds`; the handle can be cancelled while it is `active()`. */
  callLater(seconds: number, fn: () => void): { active(): boolean; cancel(): void };
}
