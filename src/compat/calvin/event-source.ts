/**
 * Calvin's `EventSource(port)`: server-sent events to the GUI, on a port
 * of its own, over corio's `serveHttp` and `EventSource`.
 * @module
 */
import { Future, isCancellation, type Operation } from "../../index.ts";
import { type HttpServer, EventSource as NativeEventSource, serveHttp } from "../../net/index.ts";
import { type Address, makeAddress } from "./_address.ts";
import { ownerTask, startService } from "./_trigger.ts";

/** Options of an `EventSource`. */
export interface EventSourceOptions {
  /** The interface to listen on (the original listened on all of them: pass `"0.0.0.0"` for that). @default "127.0.0.1" */
  host?: string;
}

/**
 * Calvin's `EventSource(port)`: an HTTP server on `port` (0: a free one)
 * where each client opens `GET /client_id/<id>` and receives
 * server-sent events; `send(clientId, data)` pushes to one client and
 * `broadcast(data)` to all, each as `data: <JSON of data>`. Anything else
 * gets 400. A client reconnecting with the same id replaces the old stream.
 * Native corio: `EventSource` (`corio/net`) attached inside a `serveHttp`
 * handler, which also gives event ids, `Last-Event-ID` replay, heartbeats
 * and the dropping of clients too slow to read.
 *
 * It listens in the background (`yield* ready()` gives the address). It
 * must be created inside a corio task, which owns it: when that task
 * finishes, the streams and the server close; `stop()` closes them earlier
 * (the original's `stop()` only printed FIXME).
 *
 * @example
 * ```ts
 * import { run, sleep, until } from "corio";
 * import { EventSource } from "corio/compat/calvin";
 * const first = await run(function* () {
 *   const events = new EventSource(0);
 *   const { port } = yield* events.ready();
 *   const response = yield* until(fetch(`http://127.0.0.1:${port}/client_id/ui-1`));
 *   const reader = response.body!.getReader();
 *   while (events.clients.length === 0) yield* sleep(5);
 *   events.send("ui-1", { actor: "a1", state: 3 });
 *   let text = "";
 *   while (!text.includes("data:") || !text.endsWith("\n\n")) text += new TextDecoder().decode((yield* until(reader.read())).value);
 *   events.stop();
 *   yield* until(reader.cancel());
 *   return text.split("\n").find((line) => line.startsWith("data:"));
 * });
 * console.assert(first === 'data: {"actor":"a1","state":3}');
 * ```
 */
export class EventSource {
  readonly #source = new NativeEventSource();
  readonly #listening = new Future<Address>();
  readonly #stopRequested = new Future<void>();
  #address: Address | undefined;
  #readyAsked = false;

  /**
   * @param port The port to listen on; 0 picks a free one.
   * @param options `host`.
   * @throws {Error} outside a corio task.
   * @throws {RangeError} for a bad port.
   */
  constructor(port: number, options: EventSourceOptions = {}) {
    const owner = ownerTask("EventSource");
    if (!(Number.isInteger(port) && port >= 0 && port < 65536)) {
      throw new RangeError(`Cannot create an EventSource: port must be an integer from 0 to 65535, received ${String(port)}`);
    }
    const host = options.host ?? "127.0.0.1";
    void startService(owner, `EventSource ${host}:${port}`, () => this.#serve(host, port), "create an EventSource");
  }

  /** The address it listens on, once listening. */
  get address(): Address | undefined {
    return this.#address;
  }

  /** The ids of the connected clients. */
  get clients(): string[] {
    return this.#source.clients;
  }

  /**
   * Waits until it listens and gives its address.
   *
   * **Cancellation:** only the wait stops.
   *
   * @throws {Error} with the OS `code` (`EADDRINUSE`...) if it could not listen.
   */
  *ready(): Operation<Address> {
    this.#readyAsked = true;
    return yield* this.#listening;
  }

  /** Sends `data` (as JSON) to the client `clientId`; returns `false` if it is not connected (the original dropped it silently). */
  send(clientId: string, data: unknown): boolean {
    return this.#source.send(String(clientId), JSON.stringify(data) ?? "null");
  }

  /** Sends `data` (as JSON) to every connected client; returns how many got it. */
  broadcast(data: unknown): number {
    return this.#source.broadcast(JSON.stringify(data) ?? "null");
  }

  /** Ends every stream and stops listening. Idempotent. */
  stop(): void {
    this.#source.close();
    this.#stopRequested.resolve();
  }

  *#serve(host: string, port: number): Operation<void> {
    const source = this.#source;
    let server: HttpServer;
    try {
      server = yield* serveHttp(
        function* eventSource(request, response) {
          const match = /^\/client_id\/([^/]+)$/.exec(request.path);
          if (request.method !== "GET" || match === null) return yield* response.send(400, "Bad Request\n");
          yield* source.attach(request, response, match[1] as string);
        },
        { host, port },
      );
    } catch (error) {
      if (isCancellation(error)) throw error;
      this.#listening.reject(error);
      if (!this.#readyAsked) throw error; // reported by startService
      return;
    }
    this.#address = makeAddress(server.address.address, server.address.port);
    this.#listening.resolve(this.#address);
    try {
      yield* this.#stopRequested;
    } finally {
      source.close();
      server.close(1000);
      yield* server.waitClosed();
    }
  }
}
