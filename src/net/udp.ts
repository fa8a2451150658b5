/**
 * UDP sockets (`node:dgram`) as corio resources.
 * @module
 */

import { createSocket, type Socket } from "node:dgram";
import { isIP } from "node:net";
import { defineOperation, defineOperationMethods } from "../core/_dev.ts";
import { ExternalPark } from "../core/_external-park.ts";
import { Fifo } from "../core/_fifo.ts";
import { checkMadeByCorio, MADE_BY_CORIO } from "../core/_made-by-corio.ts";
import { adoptResource, type ResourceKeeper } from "../core/_resource.ts";
import { BrokenResourceError, ClosedResourceError, describe } from "../core/errors.ts";
import type { Operation } from "../core/operation.ts";
import { requireCurrentTask } from "../core/spawn.ts";
import { hostPort, portValue, waitListening } from "./_listen.ts";

/** A host and port. */
export interface DatagramAddress {
  host: string;
  port: number;
}

/** One received datagram. */
export interface Datagram {
  data: Uint8Array;
  /** The sender's address. */
  address: string;
  /** The sender's port. */
  port: number;
}

/** Options of `openDatagram`: `bind` for a server (or a client with a fixed port), `connect` for a client. */
export interface OpenDatagramOptions {
  /** Local address to bind. @default `{ host: "127.0.0.1", port: 0 }` (`::1` for an IPv6 `connect`) */
  bind?: { host?: string; port?: number };
  /** Remote address: `send` needs no target and only datagrams from it are received. */
  connect?: DatagramAddress;
  /**
   * Largest datagram accepted, in bytes, both ways; at most what the
   * socket's family can carry: 65507 bytes over IPv4, 65527 over IPv6 (an
   * IPv6 `bind` or `connect` address). @default that largest size
   */
  maxSize?: number;
  /**
   * Received datagrams buffered while nobody receives; past it the oldest
   * are dropped (and counted in `dropped`), so a flood to a slow receiver
   * holds at most `maxQueue` datagrams of up to `maxSize` bytes (64 MiB at
   * the defaults: lower either for many sockets). Node reads the kernel's
   * buffer as fast as datagrams come, so this queue, not the kernel's, is
   * where they wait; asyncio hands each to `datagram_received` at once and
   * Trio leaves them in the kernel, which drops the newest instead.
   * @default 1024
   */
  maxQueue?: number;
  /**
   * The kernel's receive buffer (`SO_RCVBUF`), in bytes. Datagrams that
   * arrive while it is full are dropped by the kernel, and the application
   * never learns of it (`dropped` counts only corio's own queue): raise it
   * for bursts. At most `2 ** 31 - 1`; the OS may cap it lower (Linux, at
   * `net.core.rmem_max`) or refuse it (macOS, past `kern.ipc.maxsockbuf`:
   * `openDatagram` then throws with the OS `code`). @default the OS default
   */
  recvBufferSize?: number;
  /** The kernel's send buffer (`SO_SNDBUF`), in bytes, at most `2 ** 31 - 1` (see `recvBufferSize`). @default the OS default */
  sendBufferSize?: number;
  /**
   * Allow sending to broadcast addresses (`SO_BROADCAST`, asyncio's
   * `allow_broadcast`): without it the OS refuses them (`EACCES`).
   * @default false
   */
  broadcast?: boolean;
  /**
   * Let other sockets bind the same address and port (`SO_REUSEADDR`,
   * Node's `reuseAddr`): several receivers of one multicast group on one
   * host, each of which gets every datagram sent to the group (which of
   * them gets a unicast datagram is the OS's choice). Every socket sharing
   * the port must ask for it; then any process of the same user may bind
   * the port too and take unicast datagrams meant for this one (why asyncio
   * dropped `reuse_address` for UDP): use it for multicast receivers.
   * @default false
   */
  reuseAddress?: boolean;
  /**
   * How multicast datagrams this socket sends go out: `interface`, the
   * address of the interface to send them from (`IP_MULTICAST_IF`; default:
   * the OS's choice); `ttl`, how many routers they may cross
   * (`IP_MULTICAST_TTL`, 0 to 255; default 1, the local network);
   * `loopback`, whether members of the group on this host get them too
   * (`IP_MULTICAST_LOOP`; default true). To receive, see `joinGroup`.
   */
  multicast?: { interface?: string; ttl?: number; loopback?: boolean };
}

/** The largest UDP payload: 65535 bytes less the UDP header (8) and, over IPv4, the IP header (20); IPv6's length field leaves its header out. */
const LARGEST_DATAGRAM = { ipv4: 65507, ipv6: 65527 } as const;
/** The largest kernel buffer size that can be asked for: the OS takes an int. */
const MAX_BUFFER_SIZE = 2 ** 31 - 1;

/**
 * A UDP socket (asyncio's datagram endpoint, the Calvin seed's `UDPServer` /
 * `UDPClient`). It belongs to the task that opened it and is closed when
 * that task finishes.
 *
 * Errors the OS reports on the socket do not break it (asyncio's
 * `error_received`): the typical one is a connected socket whose peer has
 * nothing listening, which answers with an ICMP port-unreachable. The next
 * `receive()` throws it once, as a `BrokenResourceError` with the OS `code`
 * (`ECONNREFUSED`); the receives after it go on, and datagrams flow again
 * once the peer listens. UDP promises nothing else: a datagram lost on the
 * way or dropped by a full kernel buffer (see `recvBufferSize`) is never
 * reported.
 *
 * @example An echo server and a client
 * ```ts
 * import { run, spawn } from "corio";
 * import { openDatagram } from "corio/net";
 * const reply = await run(function* () {
 *   const server = yield* openDatagram({ bind: { host: "127.0.0.1", port: 0 } });
 *   yield* spawn(function* () {
 *     const { data, address, port } = yield* server.receive();
 *     yield* server.send(data, { host: address, port });
 *   });
 *   const client = yield* openDatagram({ connect: { host: "127.0.0.1", port: server.address.port } });
 *   yield* client.send("ping");
 *   const answer = yield* client.receive();
 *   return new TextDecoder().decode(answer.data);
 * });
 * console.assert(reply === "ping");
 * ```
 */
export class DatagramSocket {
  readonly #socket: Socket;
  readonly #maxSize: number;
  readonly #maxQueue: number;
  readonly #queue = new Fifo<Datagram | Error>();
  readonly #receivers = new Fifo<ExternalPark<Datagram>>();
  /** Sends waiting for the OS, failed by `close()` (Node never calls back one still looking up its host). */
  readonly #sending = new Set<ExternalPark<void>>();
  #keeper: ResourceKeeper | null = null;
  #connected: boolean;
  #closed = false;
  /** The local address, kept at `close()` for `address`. */
  #closedAddress: { address: string; port: number; family: string } = { address: "", port: 0, family: "" };
  #dropped = 0;

  /** @internal What `openDatagram` calls: the constructor is private, so that `new DatagramSocket()` does not type-check. */
  static create(socket: Socket, options: { maxSize: number; maxQueue: number; connected: boolean }): DatagramSocket {
    return new DatagramSocket(MADE_BY_CORIO, socket, options);
  }

  private constructor(token: typeof MADE_BY_CORIO, socket: Socket, options: { maxSize: number; maxQueue: number; connected: boolean }) {
    checkMadeByCorio(token, "a DatagramSocket", "use yield* openDatagram(options)");
    this.#socket = socket;
    this.#maxSize = options.maxSize;
    this.#maxQueue = options.maxQueue;
    this.#connected = options.connected;
    socket.on("message", (data, info) => {
      if (data.length > this.#maxSize) {
        this.#deliver(
          new RangeError(
            `Cannot receive a datagram of ${data.length} bytes from ${hostPort(info.address, info.port)}: the limit is maxSize = ${this.#maxSize} bytes`,
          ),
        );
      } else {
        this.#deliver({ data, address: info.address, port: info.port });
      }
    });
    // Node keeps reading after a receive error, and so does the socket: each is thrown once, in order.
    socket.on("error", (error: NodeJS.ErrnoException) => this.#deliver(this.#receiveError(error)));
  }

  /** The local address; once closed, the one it had (Node then throws "Not running"), as `Server.address` keeps its own. */
  get address(): { address: string; port: number; family: string } {
    return this.#closed ? { ...this.#closedAddress } : this.#socket.address();
  }

  /** The connected peer, for a socket opened with `connect`. */
  get remoteAddress(): { address: string; port: number; family: string } | undefined {
    return this.#connected && !this.#closed ? this.#socket.remoteAddress() : undefined;
  }

  /**
   * The kernel's receive buffer size in bytes (Linux reports twice what was asked: it counts its bookkeeping).
   * @throws {ClosedResourceError} once closed: the kernel's buffer is gone.
   */
  get recvBufferSize(): number {
    if (this.#closed) throw new ClosedResourceError("Cannot read recvBufferSize: the UDP socket is closed");
    return this.#socket.getRecvBufferSize();
  }

  /**
   * The kernel's send buffer size in bytes.
   * @throws {ClosedResourceError} once closed.
   */
  get sendBufferSize(): number {
    if (this.#closed) throw new ClosedResourceError("Cannot read sendBufferSize: the UDP socket is closed");
    return this.#socket.getSendBufferSize();
  }

  /**
   * Bytes of datagrams handed over (by `send` or `sendNowait`) that the OS
   * has not taken yet: Node keeps them in memory while the kernel's send
   * buffer is full. Always 0 on loopback, where the kernel takes a datagram
   * at once. 0 once closed: the close drops them.
   */
  get sendQueueSize(): number {
    return this.#closed ? 0 : this.#socket.getSendQueueSize();
  }

  /** Datagrams counted in `sendQueueSize`. */
  get sendQueueCount(): number {
    return this.#closed ? 0 : this.#socket.getSendQueueCount();
  }

  /** Datagrams dropped because `maxQueue` were already waiting (the kernel's own drops are not seen). */
  get dropped(): number {
    return this.#dropped;
  }

  /** True once closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Sends one datagram (to `target`, or to the connected peer: no target,
   * or `null` as asyncio's `addr=None`) and returns once the OS has taken it.
   *
   * **Cancellation:** the datagram may still be sent; nothing else happens.
   *
   * @throws {RangeError} for a datagram over `maxSize`, a missing target, a target on a connected socket (even its peer's own address, which asyncio's `sendto` takes: Node refuses any), or a port not from 1 to 65535.
   * @throws {Error} with the OS `code` when the OS refuses it (`ECONNREFUSED` for a refusal pending on a connected socket); the socket still works.
   * @throws {ClosedResourceError} after `close()`.
   */
  *send(data: Uint8Array | string, target?: DatagramAddress | null): Operation<void> {
    const bytes = this.#toSend(data, target);
    const park = new ExternalPark<void>(requireCurrentTask("send a datagram"), "io", undefined, "a datagram to be sent (send)");
    const sending = this.#sending;
    const done = (error: Error | null): void => {
      sending.delete(park);
      if (error === null) park.resolve();
      else park.reject(withCode(sendFailure(error), error));
    };
    try {
      if (target == null) this.#socket.send(bytes, done);
      else this.#socket.send(bytes, target.port, target.host, done);
    } catch (error) {
      // Node refused it before sending (the arguments are checked above, so rarely): the park was never
      // yielded, and its busy count must be given back or the virtual clock would stop for good.
      park.cancelled(false, undefined);
      throw withCode(sendFailure(error as Error), error as Error);
    }
    sending.add(park);
    yield park;
  }

  /**
   * Sends one datagram without waiting (asyncio's `transport.sendto`): hands
   * it to the OS and returns at once, from a task or from plain code. It
   * saves the task switch that `send` spends to learn the outcome, which is
   * a large part of a small datagram's cost: use it where no one acts on
   * one datagram's fate (an echo, telemetry, a game's state updates).
   *
   * An error the OS reports for the datagram is not lost: the next
   * `receive()` throws it once, as a `BrokenResourceError` with the OS
   * `code` (asyncio's `error_received`, which gets send and receive errors
   * alike), and the receives after it go on.
   *
   * It never waits, so nothing slows a sender that outruns the network:
   * datagrams the kernel cannot take yet wait in memory (`sendQueueSize`
   * says how many bytes). Where that can happen (a fast sender to a remote
   * host), check `sendQueueSize` or use `send`, which waits for each.
   *
   * @throws {RangeError} for a datagram over `maxSize`, a missing target, a target on a connected socket, or a port not from 1 to 65535.
   * @throws {ClosedResourceError} after `close()`.
   * @example
   * ```ts
   * import { run } from "corio";
   * import { openDatagram } from "corio/net";
   * await run(function* () {
   *   const server = yield* openDatagram({ bind: { host: "127.0.0.1", port: 0 } });
   *   const client = yield* openDatagram({ connect: { host: "127.0.0.1", port: server.address.port } });
   *   for (const reading of ["21.5", "21.7"]) client.sendNowait(reading);
   *   console.assert(new TextDecoder().decode((yield* server.receive()).data) === "21.5");
   * });
   * ```
   */
  sendNowait(data: Uint8Array | string, target?: DatagramAddress | null): void {
    const bytes = this.#toSend(data, target);
    if (target == null) this.#socket.send(bytes, this.#sentNowait);
    else this.#socket.send(bytes, target.port, target.host, this.#sentNowait);
  }

  /** The outcome of a `sendNowait`: an error goes to the receivers (made once per socket, so a send allocates no callback). */
  readonly #sentNowait = (error: NodeJS.ErrnoException | null): void => {
    if (error === null || this.#closed) return;
    // A refusal pending on a connected socket is reported by whichever system call comes next, a send or
    // the receive: either way it is the same news, told the same way.
    if (error.code === "ECONNREFUSED") {
      this.#deliver(this.#receiveError(error));
      return;
    }
    const hint = error.code === "EACCES" ? ` (${BROADCAST_HINT})` : "";
    const message = `A datagram sent with sendNowait failed: ${error.message}${hint}; the socket still works, receive again`;
    this.#deliver(brokenWithCode(message, error));
  };

  /** The bytes of a datagram to send, checked: the socket is open, the size is within `maxSize`, there is a target. */
  #toSend(data: Uint8Array | string, target: DatagramAddress | null | undefined): Uint8Array {
    if (this.#closed) throw new ClosedResourceError("Cannot send: the UDP socket is closed");
    // Buffer.from takes a small string's bytes from Node's shared pool; TextEncoder would allocate a buffer per datagram.
    const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
    if (bytes.length > this.#maxSize) throw new RangeError(`Cannot send a datagram of ${bytes.length} bytes: the limit is maxSize = ${this.#maxSize} bytes`);
    if (target == null) {
      if (!this.#connected) throw new RangeError("Cannot send: the socket is not connected, so a target { host, port } is needed");
    } else {
      // Node would throw its own error for these, after `send` had begun its wait.
      if (this.#connected) throw new RangeError("Cannot send to a target: the socket is connected to its peer, so send takes no target");
      checkTarget(target, "send a datagram");
    }
    return bytes;
  }

  /**
   * Waits for the next datagram.
   *
   * **Cancellation:** no datagram is lost: one that was already handed to
   * the cancelled call goes back to the front of the queue.
   *
   * @throws {RangeError} for a datagram that was over `maxSize` (it is dropped; the next call goes on).
   * @throws {ClosedResourceError} once closed and drained.
   * @throws {BrokenResourceError} once for each error the OS reported, with its `code` (`ECONNREFUSED`: the connected peer has nothing listening); the next call goes on.
   */
  *receive(): Operation<Datagram> {
    const ready = this.tryReceive();
    if (ready !== undefined) return ready;
    if (this.#closed) throw new ClosedResourceError("Cannot receive: the UDP socket is closed");
    const park = new ExternalPark<Datagram>(
      requireCurrentTask("receive a datagram"),
      "io",
      (woken, value) => {
        if (woken) this.#queue.unshift(value as Datagram);
        else this.#receivers.remove(park);
      },
      "a datagram to arrive (receive)",
    );
    this.#receivers.push(park);
    return (yield park) as Datagram;
  }

  /**
   * The next buffered datagram, or `undefined` if none is waiting (never suspends).
   * @throws {RangeError} for a datagram that was over `maxSize`.
   * @throws {BrokenResourceError} for an error the OS reported, as `receive()` does.
   */
  tryReceive(): Datagram | undefined {
    const entry = this.#queue.shift();
    if (entry instanceof Error) throw entry;
    return entry;
  }

  /**
   * Joins a multicast group (`IP_ADD_MEMBERSHIP`, Twisted's `joinGroup`):
   * datagrams sent to `group` on this socket's port reach it. Bind it to
   * that port on the group's address (only the group's datagrams) or on
   * `0.0.0.0`; several receivers on one host need `reuseAddress`.
   * `iface` is the address of the interface to join on (default: the OS's
   * choice, the one its route to the group takes). The membership ends
   * with `leaveGroup` or the socket's close.
   *
   * @throws {Error} with the OS `code` when the OS refuses (`EINVAL` for an address that is not a multicast group, `EADDRINUSE` when already joined, `ENODEV` for an interface it does not have).
   * @throws {ClosedResourceError} after `close()`.
   * @example A member of a group on this host's loopback interface
   * ```ts
   * import { run } from "corio";
   * import { openDatagram } from "corio/net";
   * await run(function* () {
   *   const member = yield* openDatagram({ bind: { host: "239.1.2.3", port: 0 }, reuseAddress: true });
   *   member.joinGroup("239.1.2.3", "127.0.0.1");
   *   const sender = yield* openDatagram({ multicast: { interface: "127.0.0.1" } });
   *   yield* sender.send("hello, group", { host: "239.1.2.3", port: member.address.port });
   *   console.assert(new TextDecoder().decode((yield* member.receive()).data) === "hello, group");
   * });
   * ```
   */
  joinGroup(group: string, iface?: string): void {
    this.#membership("join", group, iface);
  }

  /**
   * Leaves a multicast group joined with `joinGroup` (`IP_DROP_MEMBERSHIP`), on the same interface.
   * @throws {Error} with the OS `code` when the OS refuses (`EADDRNOTAVAIL`: not a member).
   * @throws {ClosedResourceError} after `close()`.
   */
  leaveGroup(group: string, iface?: string): void {
    this.#membership("leave", group, iface);
  }

  #membership(action: "join" | "leave", group: string, iface: string | undefined): void {
    const what = `Cannot ${action} the multicast group ${String(group)}${iface === undefined ? "" : ` on ${String(iface)}`}`;
    if (this.#closed) throw new ClosedResourceError(`${what}: the UDP socket is closed`);
    if (typeof group !== "string" || isIP(group) === 0) throw new TypeError(`${what}: the group must be an IP address`);
    if (iface !== undefined && typeof iface !== "string") throw new TypeError(`${what}: the interface must be given by its address`);
    try {
      if (action === "join") this.#socket.addMembership(group, iface);
      else this.#socket.dropMembership(group, iface);
    } catch (error) {
      throw withCode(what, error as Error);
    }
  }

  /** Closes the socket; waiting receivers and senders get `ClosedResourceError`. Idempotent. */
  close(): void {
    if (this.#closed) return;
    // A socket wrapped before its bind finished (the Twisted port's) has no address yet: Node throws "Not running".
    try {
      this.#closedAddress = this.#socket.address();
    } catch {}
    this.#closed = true;
    this.#keeper?.release();
    this.#socket.close();
    this.#failReceivers(new ClosedResourceError("Cannot receive: the UDP socket was closed"));
    // Node drops a send still waiting for its host name (or for the bind) without calling back.
    for (const park of this.#sending)
      park.reject(new ClosedResourceError("Cannot tell whether the datagram was sent: the UDP socket was closed before the OS answered"));
    this.#sending.clear();
  }

  /** @internal Ties the socket to the task that opened it, once it is open. */
  adopt(keeper: ResourceKeeper, connected: boolean): void {
    this.#keeper = keeper;
    this.#connected = connected;
  }

  #deliver(entry: Datagram | Error): void {
    for (let park = this.#receivers.shift(); park !== undefined; park = this.#receivers.shift()) {
      if (entry instanceof Error ? park.reject(entry) : park.resolve(entry)) return;
    }
    if (this.#queue.size >= this.#maxQueue) {
      this.#queue.shift();
      this.#dropped++;
    }
    this.#queue.push(entry);
  }

  #receiveError(error: NodeJS.ErrnoException): BrokenResourceError {
    const peer = this.remoteAddress;
    const from = peer === undefined ? "" : ` from ${hostPort(peer.address, peer.port)}`;
    const message =
      error.code === "ECONNREFUSED"
        ? `Cannot receive${from}: the peer refused a datagram sent earlier (ECONNREFUSED: nothing listens on that port); the socket still works, receive again`
        : `Cannot receive${from}: ${error.message}; the socket still works, receive again`;
    return brokenWithCode(message, error);
  }

  #failReceivers(error: Error): void {
    for (let park = this.#receivers.shift(); park !== undefined; park = this.#receivers.shift()) park.reject(error);
  }
}
defineOperationMethods(DatagramSocket);

/**
 * Opens a UDP socket: bound (`{ bind }`, a server) or connected to a peer
 * (`{ connect }`, a client). The socket belongs to the current task and is
 * closed when it finishes.
 *
 * **Cancellation:** a socket being opened is closed.
 *
 * @param options `bind`, `connect`, `maxSize`, `maxQueue`, `recvBufferSize`, `sendBufferSize`, `broadcast`, `reuseAddress`, `multicast`.
 * @returns The open socket.
 * @throws {Error} with the OS `code` (`EADDRINUSE`, ...) when it cannot be opened, or when the OS refuses a buffer size (`ENOBUFS`).
 * @throws {RangeError} for an option out of range (`maxSize`, `maxQueue`, a buffer size not from 1 to `2 ** 31 - 1`, `bind.port` not from 0 to 65535, `connect.port` not from 1 to 65535, `multicast.ttl` not from 0 to 255).
 * @throws {TypeError} for `broadcast` or `reuseAddress` not a boolean, a `multicast` that is not an object of the fields it takes.
 * @example
 * ```ts
 * import { run } from "corio";
 * import { openDatagram } from "corio/net";
 * await run(function* () {
 *   const socket = yield* openDatagram({ bind: { host: "127.0.0.1", port: 0 } });
 *   console.assert(socket.address.port > 0);
 *   socket.close();
 * });
 * ```
 */
export const openDatagram = defineOperation(function* openDatagram(options: OpenDatagramOptions = {}): Operation<DatagramSocket> {
  if (typeof options !== "object" || options === null)
    throw new TypeError(`Cannot open a datagram socket: the options must be an object ({ bind } or { connect }), received ${String(options)}`);
  const connect = options.connect;
  const ipv6 = isIP(connect?.host ?? options.bind?.host ?? "") === 6;
  const largest = ipv6 ? LARGEST_DATAGRAM.ipv6 : LARGEST_DATAGRAM.ipv4;
  const maxSize = options.maxSize ?? largest;
  if (!Number.isInteger(maxSize) || maxSize < 1 || maxSize > largest) {
    throw new RangeError(
      `Cannot open a datagram socket: maxSize must be an integer from 1 to ${largest} (on an ${ipv6 ? "IPv6" : "IPv4"} socket), received ${String(maxSize)}`,
    );
  }
  const maxQueue = options.maxQueue ?? 1024;
  if (!Number.isInteger(maxQueue) || maxQueue < 1)
    throw new RangeError(`Cannot open a datagram socket: maxQueue must be a positive integer, received ${String(maxQueue)}`);
  for (const name of ["recvBufferSize", "sendBufferSize"] as const) {
    const size = options[name];
    // The OS takes an int: libuv refuses 2 ** 31 and more (EINVAL), where Node's own check lets up to 2 ** 32 - 1 through.
    if (size !== undefined && (!Number.isInteger(size) || size < 1 || size > MAX_BUFFER_SIZE))
      throw new RangeError(`Cannot open a datagram socket: ${name} must be an integer of bytes from 1 to ${MAX_BUFFER_SIZE}, received ${String(size)}`);
  }
  if (connect !== undefined) checkTarget(connect, "open a datagram socket", "connect.");
  checkSocketOptions(options);
  const bindPort = portValue(options.bind?.port ?? 0);
  if (!Number.isInteger(bindPort) || bindPort < 0 || bindPort > 65535)
    throw new RangeError(`Cannot open a datagram socket: bind.port must be an integer from 0 to 65535, received ${String(options.bind?.port)}`);
  const host = options.bind?.host ?? (ipv6 ? "::1" : "127.0.0.1");
  // The buffer sizes are set here once bound, not by createSocket's options: Node sets those inside its bind
  // callback, where the OS refusing one (macOS past kern.ipc.maxsockbuf, ENOBUFS) is an uncaught exception.
  const socket = createSocket({ type: ipv6 ? "udp6" : "udp4", reuseAddr: options.reuseAddress === true });
  const task = requireCurrentTask("open a datagram socket");
  let wrapper: DatagramSocket | undefined;
  try {
    yield* waitListening(
      socket,
      () => socket.bind(bindPort, host),
      (error) => withCode(`Cannot bind a UDP socket to ${hostPort(host, bindPort)}`, error),
    );
    setBufferSizes(socket, options);
    setSendingOptions(socket, options);
    wrapper = DatagramSocket.create(socket, { maxSize, maxQueue, connected: false });
    if (connect !== undefined) {
      const peer = hostPort(connect.host, connect.port);
      const connected = new ExternalPark<void>(task, "io", undefined, "a UDP socket to connect");
      try {
        socket.connect(connect.port, connect.host, (error?: Error) =>
          error ? connected.reject(withCode(`Cannot connect a UDP socket to ${peer}`, error)) : connected.resolve(),
        );
      } catch (error) {
        // Refused before connecting: the park was never yielded; give back its busy count (see `send`).
        connected.cancelled(false, undefined);
        throw withCode(`Cannot connect a UDP socket to ${peer}`, error as Error);
      }
      yield connected;
    }
  } catch (error) {
    if (wrapper !== undefined) wrapper.close();
    else socket.close();
    throw error;
  }
  const open = wrapper;
  const keeper = adoptResource("udp socket", () => open.close(), "open a datagram socket");
  open.adopt(keeper, connect !== undefined);
  return keeper.returnedAs(open);
});

/** Sets the kernel's buffer sizes asked for; the OS refusing one is thrown with its own code (`EINVAL`, `ENOBUFS`). */
function setBufferSizes(socket: Socket, options: OpenDatagramOptions): void {
  for (const [name, size, set] of [
    ["recvBufferSize", options.recvBufferSize, (bytes: number) => socket.setRecvBufferSize(bytes)],
    ["sendBufferSize", options.sendBufferSize, (bytes: number) => socket.setSendBufferSize(bytes)],
  ] as const) {
    if (size === undefined) continue;
    try {
      set(size);
    } catch (error) {
      // Node's ERR_SOCKET_BUFFER_SIZE keeps the OS's code in `info`.
      const code = (error as { info?: { code?: string } }).info?.code ?? (error as NodeJS.ErrnoException).code;
      throw Object.assign(new Error(`Cannot open a datagram socket: the OS refused ${name} = ${size}: ${(error as Error).message}`, { cause: error }), {
        code,
      });
    }
  }
}

/** Checks `broadcast`, `reuseAddress` and `multicast` before anything is opened. */
function checkSocketOptions(options: OpenDatagramOptions): void {
  for (const name of ["broadcast", "reuseAddress"] as const) {
    const value = options[name];
    if (value !== undefined && typeof value !== "boolean")
      throw new TypeError(`Cannot open a datagram socket: ${name} must be true or false, received ${describe(value)}`);
  }
  const multicast = options.multicast;
  if (multicast === undefined) return;
  if (typeof multicast !== "object" || multicast === null)
    throw new TypeError(`Cannot open a datagram socket: multicast must be { interface?, ttl?, loopback? }, received ${String(multicast)}`);
  const { interface: iface, ttl, loopback } = multicast;
  if (iface !== undefined && (typeof iface !== "string" || isIP(iface.split("%")[0] as string) === 0))
    throw new TypeError(`Cannot open a datagram socket: multicast.interface must be the IP address of an interface, received ${String(iface)}`);
  if (ttl !== undefined && (!Number.isInteger(ttl) || ttl < 0 || ttl > 255))
    throw new RangeError(`Cannot open a datagram socket: multicast.ttl must be an integer from 0 to 255, received ${String(ttl)}`);
  if (loopback !== undefined && typeof loopback !== "boolean")
    throw new TypeError(`Cannot open a datagram socket: multicast.loopback must be true or false, received ${String(loopback)}`);
}

/** Sets `broadcast` and `multicast` once bound (Node refuses them before); the OS refusing one is thrown with its code. */
function setSendingOptions(socket: Socket, options: OpenDatagramOptions): void {
  const multicast = options.multicast;
  try {
    if (options.broadcast === true) socket.setBroadcast(true);
    if (multicast?.interface !== undefined) socket.setMulticastInterface(multicast.interface);
    if (multicast?.ttl !== undefined) socket.setMulticastTTL(multicast.ttl);
    if (multicast?.loopback !== undefined) socket.setMulticastLoopback(multicast.loopback);
  } catch (error) {
    throw withCode("Cannot open a datagram socket: the OS refused an option", error as Error);
  }
}

/** What a send the OS refused with `EACCES` (a broadcast address without `SO_BROADCAST`) says besides. */
const BROADCAST_HINT = "to a broadcast address, the socket needs openDatagram({ broadcast: true })";

/** What a failed send says; a refused broadcast says how to allow it. */
function sendFailure(error: NodeJS.ErrnoException): string {
  return error.code === "EACCES" ? `Cannot send a datagram (${BROADCAST_HINT})` : "Cannot send a datagram";
}

/** Checks a peer's address: a host name or address (none: Node's localhost), and a port from 1 to 65535 (a number or digits, as Node takes). */
function checkTarget(target: DatagramAddress, action: string, field = ""): void {
  if (typeof target !== "object" || target === null)
    throw new RangeError(`Cannot ${action}: ${field === "" ? "the target" : "connect"} must be { host, port }, received ${String(target)}`);
  if (target.host !== undefined && (typeof target.host !== "string" || target.host === ""))
    throw new RangeError(`Cannot ${action}: ${field}host must be a host name or an IP address, received ${String(target.host)}`);
  const port = portValue(target.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new RangeError(`Cannot ${action}: ${field}port must be an integer from 1 to 65535, received ${String(target.port)}`);
}

/** A `BrokenResourceError` for an OS error the socket survives, with its `code`. */
function brokenWithCode(message: string, error: NodeJS.ErrnoException): BrokenResourceError {
  return Object.assign(new BrokenResourceError(message, { cause: error }), { code: error.code });
}

function withCode(message: string, error: Error): Error {
  // Node's argument errors (thrown at once) keep their class: a TypeError for data of the wrong type.
  const ErrorClass = error instanceof TypeError ? TypeError : error instanceof RangeError ? RangeError : Error;
  return Object.assign(new ErrorClass(`${message}: ${error.message}`, { cause: error }), { code: (error as NodeJS.ErrnoException).code });
}
