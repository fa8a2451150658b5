/**
 * What Twisted's TCP and UDP listening ports share, over corio's server
 * skeleton (`net/_server.ts`): binding in `listenTCP`/`listenUDP` (before
 * the reactor runs, which waits for it), `whenListening`, `getHost`,
 * `stopListening`, and the port's task. Twisted has no grace: when the
 * reactor stops, the connections are cancelled at once (each flushes what
 * was written and closes cleanly, or is reset if it cannot).
 * @module
 */
import type { EventEmitter } from "node:events";
import { isIP } from "node:net";
import type { Operation } from "../../index.ts";
import { until } from "../../index.ts";
import { describeAddress } from "../../net/_listen.ts"; // compat-internal: formats addresses as the native servers do
import { ServerCore } from "../../net/_server.ts"; // compat-internal: Twisted ports run on the one server skeleton, which has no public API
import { type Address, IPv4Address, IPv6Address, toAddress } from "./address.ts";
import { Deferred } from "./deferred.ts";
import { CannotListenError } from "./errors.ts";
import type { IListeningPort } from "./interfaces.ts";
import type { Reactor, ReactorTask } from "./reactor.ts";
import { reportCallbackError } from "./transport.ts";

/** A bound address as Node gives it. */
export interface BoundAddress {
  address: string;
  port: number;
}

/** @internal A listening port: subclasses start and stop their factory or protocol, and accept connections through `core`. */
export abstract class ListeningPort implements IListeningPort {
  protected readonly reactor: Reactor;
  protected readonly core: ServerCore;
  readonly #kind: "TCP" | "UDP";
  readonly #port: number;
  readonly #interface: string;
  #state: "binding" | "listening" | "failed" | "closed" = "binding";
  #bound: Promise<void> = Promise.resolve();
  #failure: CannotListenError | null = null;
  #address: Address | null = null;
  #whenListening: Deferred<IListeningPort> | null = null;
  #stopped: Deferred<void> | null = null;
  #handle: ReactorTask | null = null;

  constructor(reactor: Reactor, kind: "TCP" | "UDP", port: number, iface: string, listener: EventEmitter, stopListening: () => void) {
    this.reactor = reactor;
    this.#kind = kind;
    this.#port = port;
    this.#interface = iface;
    this.core = new ServerCore({
      loop: reactor.loop,
      listener,
      name: `${kind.toLowerCase()} port ${iface || "*"}:${port}`,
      where: () => describeAddress(this.boundAddress(), `${iface || "*"}:${port}`),
      grace: 0,
      stopListening,
      onClose: () => this.#closing(),
      acceptErrors: kind === "TCP",
    });
  }

  /** The address the listener is bound to, or `null` before it is bound. */
  protected abstract boundAddress(): BoundAddress | null;
  /** The port is serving: start the factory (TCP) or the protocol (UDP). */
  protected abstract startServing(): void;
  /** The listener has closed (TCP: the factory stops; a UDP port stops its protocol when its receiving ends). */
  protected abstract stopServing(): void;

  /** Binds now (Twisted binds in `listenTCP`), holds the reactor's start until bound, and starts the port's task. */
  protected listen(start: () => void): void {
    this.#bound = new Promise<void>((resolve) => {
      this.core.bind(start, (error) => {
        if (error !== undefined) {
          this.#state = "failed";
          this.#failure = new CannotListenError(this.#interface, this.#port, error);
          this.core.abandon();
          this.#settleListening();
        } else {
          if (this.#state === "binding") this.#state = "listening";
          this.getHost(); // kept for after the port closes
        }
        resolve();
      });
    });
    this.reactor.holdStartUntil(this.#bound);
    this.#handle = this.reactor.startTask(`${this.#kind.toLowerCase()} port ${this.#interface || "*"}:${this.#port}`, () => this.#serve());
  }

  getHost(): Address {
    if (this.#address !== null) return this.#address;
    const info = this.boundAddress();
    if (info !== null) {
      // Listening on all interfaces: Node's dual-stack "::" is Twisted's "0.0.0.0".
      this.#address = this.#interface === "" ? new IPv4Address(this.#kind, "0.0.0.0", info.port) : toAddress(this.#kind, info);
      return this.#address;
    }
    if (this.#port !== 0)
      return isIP(this.#interface) === 6
        ? new IPv6Address(this.#kind, this.#interface, this.#port)
        : new IPv4Address(this.#kind, this.#interface || "0.0.0.0", this.#port);
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

  /** Stops listening; open TCP connections go on until they end or the reactor stops (Twisted's rule). */
  stopListening(): Deferred<void> {
    if (this.#stopped !== null) return this.#stopped;
    const stopped = new Deferred<void>();
    this.#stopped = stopped;
    if (this.core.serving) {
      // The port's task stops the listener, stops the factory and fires `stopped` (see #closing); no time
      // limit: open connections go on until they end.
      this.core.close(Number.POSITIVE_INFINITY);
    } else {
      // Not serving (yet, or any more): close here.
      this.#state = "closed";
      this.#handle?.cancel("the port was closed");
      this.core.abandon();
      if (this.reactor.running) this.reactor.callFromThread(() => stopped.callback(undefined));
      else stopped.callback(undefined);
    }
    return stopped;
  }

  loseConnection(): Deferred<void> {
    return this.stopListening();
  }

  /** Fires `stopListening()`'s Deferred (made now if nobody asked). */
  protected fireStopped(): void {
    const stopped = this.#stopped ?? (this.#stopped = new Deferred<void>());
    if (!stopped.called) stopped.callback(undefined);
  }

  #settleListening(): void {
    const deferred = this.#whenListening;
    if (this.#state === "failed") {
      if (deferred === null) reportCallbackError(this.reactor, this.#failure, `listen${this.#kind}(${this.#port})`);
      else if (!deferred.called) deferred.errback(this.#failure);
    } else if (deferred !== null && !deferred.called && this.#state !== "binding") deferred.callback(this);
  }

  /** The port's task: waits until bound, then serves until `stopListening()` or the reactor stops. */
  *#serve(): Operation<void> {
    if (this.#state === "binding") {
      try {
        yield* until(this.#bound);
      } catch (error) {
        this.#state = "closed";
        this.core.abandon();
        throw error;
      }
    }
    if (this.#state !== "listening") return;
    this.startServing();
    yield* this.core.serve();
  }

  /** The close began (the listener is stopped): only once the port served. */
  #closing(): void {
    if (this.#state !== "listening") return;
    this.#state = "closed";
    this.stopServing();
  }
}
