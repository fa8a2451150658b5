/**
 * Calvin's `UDPServerProtocol` and `UDPClientProtocolFactory`, later
 * `UDPServer` and `UDPClient`, over corio's `openDatagram`.
 * @module
 */
import { ClosedResourceError, Future, isCancellation, type Operation, spawn, type Task } from "../../index.ts";
import { type DatagramSocket, openDatagram } from "../../net/index.ts";
import { type Address, makeAddress } from "./_address.ts";
import { type ClientCallbacks, checkCallbacks, emit, has } from "./_callbacks.ts";
import { Inbox } from "./_inbox.ts";
import { ownerTask, report, startService, type Trigger, Waker } from "./_trigger.ts";

/** One datagram received by a `UDPServer` (the original's dict): the sender's host and port, and the bytes. */
export interface UDPMessage {
  host: string;
  port: number;
  data: Uint8Array;
}

/** Datagrams waiting for the actor before the socket stops taking them (then corio's own queue of 1024 drops the oldest). */
const INBOX_DATAGRAMS = 1024;

/**
 * Calvin's `UDPServer(trigger, actor_id)`: a UDP socket bound with
 * `start(host, port)`, each datagram calling `trigger(actorId)`; the actor
 * polls `haveData()` and pulls `dataGet()` → `{ host, port, data }`, oldest
 * first. Native corio: `openDatagram({ bind })` (`corio/net`) and
 * `yield* socket.receive()`.
 *
 * It must be created inside a corio task, which owns it: when that task
 * finishes, the socket closes; `stop()` closes it earlier.
 *
 * @typeParam A What the trigger is called with.
 * @example
 * ```ts
 * import { Event, run } from "corio";
 * import { UDPServer } from "corio/compat/calvin";
 * import { openDatagram } from "corio/net";
 * const message = await run(function* () {
 *   const wakeup = new Event();
 *   const server = new UDPServer(() => wakeup.set(), "actor-1");
 *   server.start("127.0.0.1", 0);
 *   const { port } = yield* server.ready();
 *   const client = yield* openDatagram({ connect: { host: "127.0.0.1", port } });
 *   yield* client.send("hello");
 *   while (!server.haveData()) {
 *     yield* wakeup.wait();
 *     wakeup.clear();
 *   }
 *   const { host, data } = server.dataGet();
 *   server.stop();
 *   return `${host} ${new TextDecoder().decode(data)}`;
 * });
 * console.assert(message === "127.0.0.1 hello");
 * ```
 */
export class UDPServer<A = unknown> {
  readonly #owner: Task<unknown>;
  readonly #waker: Waker;
  readonly #inbox = new Inbox<UDPMessage>(INBOX_DATAGRAMS, () => 1);
  readonly #bound = new Future<Address>();
  #task: Task<void> | null = null;
  #address: Address | undefined;
  #readyAsked = false;
  #stopped = false;

  /**
   * @param trigger Called with `actorId` for each datagram (see `Trigger`).
   * @param actorId What the trigger is called with.
   * @throws {Error} outside a corio task.
   */
  constructor(trigger: Trigger<A>, actorId?: A) {
    const owner = ownerTask("UDPServer");
    this.#owner = owner;
    this.#waker = new Waker(owner, trigger, actorId, "UDPServer");
  }

  /** The address it is bound to, once bound. */
  get address(): Address | undefined {
    return this.#address;
  }

  /**
   * Binds the socket to `host`:`port` (0: a free port) in the background;
   * `yield* ready()` waits for it.
   * @throws {Error} if it was already started (or stopped).
   */
  start(host: string, port: number): void {
    if (this.#task !== null || this.#stopped) throw new Error("Cannot start the UDPServer: it was already started (or stopped)");
    this.#task = startService(this.#owner, `UDPServer ${host}:${port}`, () => this.#serve(host, port), "start a UDPServer");
  }

  /**
   * Waits until the socket is bound and gives its address.
   *
   * **Cancellation:** only the wait stops.
   *
   * @throws {Error} with the OS `code` if it could not bind, if `start()` was not called, or if `stop()` came before the socket was bound.
   */
  *ready(): Operation<Address> {
    if (this.#task === null) throw new Error("Cannot wait for the UDPServer: call start(host, port) first");
    this.#readyAsked = true;
    return yield* this.#bound;
  }

  /** True while `dataGet()` has a datagram. */
  haveData(): boolean {
    return this.#inbox.length > 0;
  }

  /**
   * Takes the oldest datagram.
   * @throws {Error} if none is waiting (check `haveData()` first), as the original did.
   */
  dataGet(): UDPMessage {
    const message = this.#inbox.shift();
    if (message === undefined) throw new Error("Cannot get data: no datagram is waiting; check haveData() first");
    return message;
  }

  /** Closes the socket; the trigger is not called again. Idempotent. */
  stop(): void {
    this.#stopped = true;
    this.#waker.stop();
    this.#task?.cancel("the UDPServer was stopped");
  }

  *#serve(host: string, port: number): Operation<void> {
    let socket: DatagramSocket;
    try {
      socket = yield* openDatagram({ bind: { host, port } });
    } catch (error) {
      if (isCancellation(error)) {
        this.#bound.reject(new Error("Cannot wait for the UDPServer: it was stopped before it was bound"));
        throw error;
      }
      this.#bound.reject(error);
      if (!this.#readyAsked) throw error; // reported by startService
      return;
    }
    this.#address = makeAddress(socket.address.address, socket.address.port);
    this.#bound.resolve(this.#address);
    try {
      for (;;) {
        yield* this.#inbox.waitForRoom();
        let datagram: Awaited<ReturnType<DatagramSocket["tryReceive"]>>;
        try {
          datagram = yield* socket.receive();
        } catch (error) {
          if (error instanceof RangeError) continue; // over the size limit: dropped, as the OS would truncate it
          throw error;
        }
        if (datagram === undefined) continue;
        this.#inbox.push({ host: datagram.address, port: datagram.port, data: datagram.data });
        this.#waker.fire();
      }
    } finally {
      socket.close();
    }
  }
}

/** Options of a `UDPClient`: the original `callbacks`, plus the trigger of the pull style. */
export interface UDPClientOptions<A> {
  /** Event callbacks (the original `callbacks`). */
  callbacks?: ClientCallbacks<Uint8Array>;
  /** Called with `actorId` on each event: the pull style (`dataAvailable`/`dataGet()`), used when there is no `dataReceived` callback. */
  trigger?: Trigger<A>;
  /** What the trigger is called with. */
  actorId?: A;
}

/**
 * Calvin's `UDPClient(callbacks)`: a UDP socket connected to one peer.
 * `connect(addr, port)` binds a free local port and connects it; then
 * `connected` is called back, and each datagram from the peer goes to
 * `dataReceived` (or, without it, waits for `dataGet()`, announced by
 * `trigger(actorId)`). `send(data)` queues a datagram; `disconnect()` closes
 * the socket and calls `connectionLost` (the original's `disconnect()`
 * raised, and the error was swallowed). Native corio: `openDatagram({
 * connect })` (`corio/net`), `send` and `receive` operations.
 *
 * It must be created inside a corio task, which owns it: when that task
 * finishes, the socket closes (without callbacks).
 *
 * @typeParam A What the trigger is called with.
 * @example
 * ```ts
 * import { Future, run } from "corio";
 * import { UDPClient } from "corio/compat/calvin";
 * import { openDatagram } from "corio/net";
 * const reply = await run(function* () {
 *   const echo = yield* openDatagram({ bind: { host: "127.0.0.1", port: 0 } });
 *   const answer = new Future<string>();
 *   const client = new UDPClient({
 *     callbacks: {
 *       connected: () => client.send("ping"),
 *       dataReceived: (data) => answer.resolve(new TextDecoder().decode(data)),
 *     },
 *   });
 *   client.connect("127.0.0.1", echo.address.port);
 *   const { data, address, port } = yield* echo.receive();
 *   yield* echo.send(data, { host: address, port });
 *   const text = yield* answer;
 *   client.disconnect();
 *   echo.close();
 *   return text;
 * });
 * console.assert(reply === "ping");
 * ```
 */
export class UDPClient<A = unknown> {
  readonly #options: UDPClientOptions<A>;
  readonly #owner: Task<unknown>;
  readonly #waker: Waker;
  readonly #pull: boolean;
  readonly #inbox = new Inbox<Uint8Array>(INBOX_DATAGRAMS, () => 1);
  #outbox: Uint8Array[] = [];
  #outboxReady: Future<void> | null = null;
  #task: Task<void> | null = null;
  #socket: DatagramSocket | null = null;
  #disconnecting = false;
  /** Between connect() and the connectionLost/connectionFailed callback: connect() may be called again from those. */
  #active = false;

  /** Connected: the task runs and has not reached its last callback (nor been cancelled with its owner). */
  get #live(): boolean {
    return this.#active && this.#task !== null && !this.#task.done;
  }

  /**
   * @param options `callbacks`, `trigger`, `actorId`.
   * @throws {Error} outside a corio task.
   * @throws {TypeError} for bad callbacks.
   */
  constructor(options: UDPClientOptions<A> = {}) {
    const owner = ownerTask("UDPClient");
    checkCallbacks(options.callbacks, "UDPClient");
    this.#options = options;
    this.#owner = owner;
    this.#waker = new Waker(owner, options.trigger, options.actorId, "UDPClient");
    this.#pull = !has(options.callbacks, "dataReceived");
  }

  /** True while connected (after `connected`, before `connectionLost`). */
  get isConnected(): boolean {
    return this.#socket !== null && !this.#socket.closed;
  }

  /** True while `dataGet()` has a datagram (pull style). */
  get dataAvailable(): boolean {
    return this.#inbox.length > 0;
  }

  /**
   * Takes the oldest datagram (pull style).
   * @throws {Error} if none is waiting.
   */
  dataGet(): Uint8Array {
    const data = this.#inbox.shift();
    if (data === undefined) throw new Error("Cannot get data: no datagram is waiting in the UDPClient; check dataAvailable first");
    return data;
  }

  /**
   * Opens a socket on a free local port, connected to `addr`:`port`, in the
   * background; `connected` (or `connectionFailed`) follows.
   * @throws {Error} if it is already connected.
   */
  connect(addr: string, port: number): void {
    if (this.#live) throw new Error("Cannot connect the UDPClient: it is already connected; disconnect() first");
    this.#active = true;
    this.#disconnecting = false;
    this.#outbox = [];
    this.#task = startService(this.#owner, `UDPClient ${addr}:${port}`, () => this.#run(addr, port), "connect a UDPClient");
  }

  /**
   * Queues one datagram for the peer (a string is UTF-8 encoded).
   * @throws {Error} if not connecting or connected.
   */
  send(data: string | Uint8Array): void {
    if (!this.#live || this.#disconnecting) throw new Error("Cannot send: the UDPClient is not connected");
    if (typeof data !== "string" && !(data instanceof Uint8Array))
      throw new TypeError(`Cannot send: data must be a string or a Uint8Array, received ${typeof data}`);
    this.#outbox.push(typeof data === "string" ? new TextEncoder().encode(data) : data);
    this.#outboxReady?.resolve();
  }

  /** Closes the socket; `connectionLost` follows. Idempotent. */
  disconnect(): void {
    if (this.#task === null || !this.#live || this.#disconnecting) return;
    this.#disconnecting = true;
    this.#outbox = [];
    this.#task.cancel("the UDPClient disconnected");
  }

  *#run(addr: string, port: number): Operation<void> {
    const target = makeAddress(addr, port);
    let socket: DatagramSocket;
    try {
      socket = yield* openDatagram({ connect: { host: addr, port } });
    } catch (error) {
      if (isCancellation(error) && !this.#disconnecting) throw error;
      this.#active = false;
      emit(this.#options.callbacks, "connectionFailed", [target, isCancellation(error) ? "disconnected" : (error as Error).message]);
      this.#waker.fire();
      if (isCancellation(error)) throw error;
      return;
    }
    this.#socket = socket;
    emit(this.#options.callbacks, "connected", [target]);
    this.#waker.fire();
    let reason = "disconnected";
    let cancellation: unknown;
    try {
      yield* spawn(() => this.#sendQueued(socket), { name: "send", daemon: true });
      for (;;) {
        if (this.#pull) yield* this.#inbox.waitForRoom();
        let data: Uint8Array;
        try {
          data = (yield* socket.receive()).data;
        } catch (error) {
          if (error instanceof RangeError) continue; // over the size limit: dropped
          // An ICMP port unreachable: Twisted called protocol.connectionRefused(), a no-op for Calvin's protocol; the socket goes on.
          // The OS reports it to the next receive or send, whichever comes first (a send then drops its datagram).
          if ((error as { code?: unknown }).code === "ECONNREFUSED") continue;
          throw error;
        }
        if (this.#pull) {
          this.#inbox.push(data);
          this.#waker.fire();
        } else emit(this.#options.callbacks, "dataReceived", [data]);
      }
    } catch (error) {
      if (!isCancellation(error)) reason = (error as Error).message;
      else if (!this.#disconnecting)
        throw error; // the owner has finished: no callbacks
      else cancellation = error;
    } finally {
      socket.close();
    }
    this.#active = false;
    emit(this.#options.callbacks, "connectionLost", [target, reason]);
    this.#waker.fire();
    if (cancellation !== undefined) throw cancellation;
  }

  /** Sends what `send()` queued, in order; a failed send is reported to the loop (UDP gives no guarantee anyway). */
  *#sendQueued(socket: DatagramSocket): Operation<void> {
    for (;;) {
      const data = this.#outbox.shift();
      if (data === undefined) {
        this.#outboxReady = new Future<void>();
        yield* this.#outboxReady;
        this.#outboxReady = null;
        continue;
      }
      try {
        yield* socket.send(data);
      } catch (error) {
        if (isCancellation(error) || error instanceof ClosedResourceError) throw error;
        // A refusal of an earlier datagram, reported by this send (and this datagram dropped): as on receive.
        if ((error as { code?: unknown }).code === "ECONNREFUSED") continue;
        report(error, `${this.#owner.path}/UDPClient send`);
      }
    }
  }
}
