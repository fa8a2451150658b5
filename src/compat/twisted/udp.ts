/**
 * `reactor.listenUDP` and Twisted's `DatagramProtocol`, over a corio
 * `DatagramSocket`: the port is a corio task (on the server skeleton) whose
 * one child receives datagrams and calls `datagramReceived`.
 * @module
 */
import { createSocket, type Socket } from "node:dgram";
import { isIP } from "node:net";
import type { Operation } from "../../index.ts";
import { ClosedResourceError, isCancellation } from "../../index.ts";
import { type Datagram, DatagramSocket } from "../../net/index.ts";
import { type BoundAddress, ListeningPort } from "./_port.ts";
import type { IListeningPort, IUDPTransport } from "./interfaces.ts";
import type { Reactor } from "./reactor.ts";
import { checkPort } from "./tcp.ts";
import { callback, reportCallbackError, toBytes } from "./transport.ts";

/** Options of `reactor.listenUDP`. */
export interface ListenUDPOptions {
  /** The address to listen on. @default "" (all IPv4 interfaces) */
  interface?: string;
  /** Longer datagrams are truncated to this many bytes (as Twisted's `recvfrom`). @default 8192 */
  maxPacketSize?: number;
}

const MAX_DATAGRAM = 65507;

/**
 * Twisted's `DatagramProtocol`: the code of a UDP port, as callbacks.
 * `startProtocol()` when the port is open (`this.transport` is set),
 * `datagramReceived(data, [host, port])` for each datagram,
 * `stopProtocol()` once the port is closed. Send with
 * `this.transport.write(data, [host, port])`. An error thrown by a callback
 * is reported to the reactor's `onError` and the port keeps going.
 *
 * @example A UDP echo server and a client
 * ```ts
 * import { createReactor, DatagramProtocol } from "corio/compat/twisted";
 * class Echo extends DatagramProtocol {
 *   override datagramReceived(data: Uint8Array, addr: [string, number]) { this.transport.write(data, addr); }
 * }
 * let reply = "";
 * class Ping extends DatagramProtocol {
 *   readonly server: number;
 *   constructor(server: number) { super(); this.server = server; }
 *   override startProtocol() { this.transport.write("ping", ["127.0.0.1", this.server]); }
 *   override datagramReceived(data: Uint8Array) { reply = new TextDecoder().decode(data); reactor.stop(); }
 * }
 * const reactor = createReactor();
 * const server = reactor.listenUDP(0, new Echo(), { interface: "127.0.0.1" });
 * reactor.callWhenRunning(() => reactor.listenUDP(0, new Ping(server.getHost().port), { interface: "127.0.0.1" }));
 * await reactor.run();
 * console.assert(reply === "ping");
 * ```
 */
export class DatagramProtocol {
  /** The port, from `makeConnection` on. */
  transport!: IUDPTransport;
  /** How many ports use this protocol. */
  numPorts = 0;
  /** Twisted logs starts and stops when true; kept for ported code. */
  noisy = true;

  /** Called by the port once open: sets `transport`, then `doStart()`. */
  makeConnection(transport: IUDPTransport): void {
    this.transport = transport;
    this.doStart();
  }

  /** Calls `startProtocol()` for the first port. */
  doStart(): void {
    if (this.numPorts === 0) this.startProtocol();
    this.numPorts++;
  }

  /** Calls `stopProtocol()` after the last port closed. */
  doStop(): void {
    if (this.numPorts === 0) return;
    this.numPorts--;
    if (this.numPorts === 0) this.stopProtocol();
  }

  /** Called when the port is open. */
  startProtocol(): void {}

  /** Called when the port has closed. */
  stopProtocol(): void {}

  /** Called with each datagram and its sender, `[host, port]`. */
  datagramReceived(_data: Uint8Array, _addr: [string, number]): void {}

  /** Twisted calls it for an ICMP "port unreachable" on a connected port; connected UDP is not supported here, so it is never called. */
  connectionRefused(): void {}

  /** The prefix Twisted puts on log lines: the class name. */
  logPrefix(): string {
    return this.constructor.name;
  }
}

/** @internal `reactor.listenUDP`. */
export function listenUDP(reactor: Reactor, port: number, protocol: DatagramProtocol, options: ListenUDPOptions): IListeningPort {
  checkPort(port, "listen on a UDP port");
  if (typeof protocol?.makeConnection !== "function") throw new TypeError("Cannot listen on a UDP port: protocol must be a DatagramProtocol");
  const maxPacketSize = options.maxPacketSize ?? 8192;
  if (!(Number.isInteger(maxPacketSize) && maxPacketSize > 0))
    throw new RangeError(`Cannot listen on a UDP port: maxPacketSize must be a positive integer, received ${String(maxPacketSize)}`);
  const udp = new UDPPort(reactor, port, protocol, options.interface ?? "", maxPacketSize);
  udp.startListening();
  return udp;
}

/** A UDP port (Twisted's `udp.Port`): the listening port and the protocol's transport. */
class UDPPort extends ListeningPort implements IUDPTransport {
  readonly #port: number;
  readonly #protocol: DatagramProtocol;
  readonly #interface: string;
  readonly #maxPacketSize: number;
  readonly #socket: Socket;
  readonly #datagrams: DatagramSocket;

  constructor(reactor: Reactor, port: number, protocol: DatagramProtocol, iface: string, maxPacketSize: number) {
    const socket = createSocket({ type: isIP(iface) === 6 ? "udp6" : "udp4" });
    // compat-internal: DatagramSocket.create wraps the socket this port bound itself (openDatagram binds its own).
    const datagrams = DatagramSocket.create(socket, { maxSize: MAX_DATAGRAM, maxQueue: 1024, connected: false });
    // Closing it fails the waiting receive: the receiving task ends.
    super(reactor, "UDP", port, iface, socket, () => datagrams.close());
    this.#port = port;
    this.#protocol = protocol;
    this.#interface = iface;
    this.#maxPacketSize = maxPacketSize;
    this.#socket = socket;
    this.#datagrams = datagrams;
  }

  startListening(): void {
    this.listen(() => (this.#interface === "" ? this.#socket.bind(this.#port) : this.#socket.bind(this.#port, this.#interface)));
  }

  write(data: string | Uint8Array, addr: readonly [string, number]): void {
    const bytes = toBytes(data, "write a datagram");
    if (bytes.length > MAX_DATAGRAM) throw new RangeError(`Cannot write a datagram of ${bytes.length} bytes: the limit is ${MAX_DATAGRAM} bytes`);
    if (!Array.isArray(addr) || typeof addr[0] !== "string" || typeof addr[1] !== "number")
      throw new TypeError(`Cannot write a datagram: addr must be [host, port], received ${String(addr)}`);
    if (this.core.closing) return;
    const [host, port] = addr;
    this.#socket.send(bytes, port, host, (error) => {
      // As Twisted, a refused datagram on an unconnected port is not an error.
      if (error !== null && error !== undefined && (error as NodeJS.ErrnoException).code !== "ECONNREFUSED")
        reportCallbackError(this.reactor, error, `${this.#protocol.logPrefix()} (UDP write to ${host}:${port})`);
    });
  }

  override toString(): string {
    return `<${this.#protocol.constructor.name} on ${this.#port}>`;
  }

  protected override boundAddress(): BoundAddress | null {
    try {
      return this.#socket.address();
    } catch {
      return null; // not bound (yet, or any more)
    }
  }

  protected override startServing(): void {
    const name = this.#protocol.logPrefix();
    const started = callback(this.reactor, `${name}.startProtocol`, () => this.#protocol.makeConnection(this)) === undefined;
    this.core.spawn("datagrams", this.#receive(started));
  }

  /** The protocol stops once its receiving has ended (datagrams already queued are still delivered). */
  protected override stopServing(): void {}

  /** Receives until the port is closed or the reactor stops, then stops the protocol. */
  *#receive(started: boolean): Operation<void> {
    const protocol = this.#protocol;
    const name = protocol.logPrefix();
    try {
      for (;;) {
        let datagram: Datagram;
        try {
          datagram = yield* this.#datagrams.receive();
        } catch (error) {
          if (isCancellation(error)) throw error;
          if (error instanceof RangeError) continue; // an oversized datagram was dropped
          if (!(error instanceof ClosedResourceError)) reportCallbackError(this.reactor, error, `${name} (UDP port)`);
          break;
        }
        const data = datagram.data.length > this.#maxPacketSize ? datagram.data.subarray(0, this.#maxPacketSize) : datagram.data;
        callback(this.reactor, `${name}.datagramReceived`, () => protocol.datagramReceived(data, [datagram.address, datagram.port]));
      }
    } finally {
      this.#datagrams.close();
      if (started) callback(this.reactor, `${name}.stopProtocol`, () => protocol.doStop());
      this.fireStopped();
    }
  }
}
