/**
 * The TCP transport a protocol writes to, and the task body that drives a
 * protocol from a connection's `StreamReader` (the part of Twisted's
 * reactor that calls `dataReceived` and `connectionLost`).
 * @module
 */
import type { Socket } from "node:net";
import type { Operation, StreamEnd, StreamWriter } from "../../index.ts";
import { BrokenResourceError, Future, isCancellation } from "../../index.ts";
import { type Address, toAddress } from "./address.ts";
import { ConnectionAborted, ConnectionDone, ConnectionLost } from "./errors.ts";
import { Failure } from "./failure.ts";
import type { ITransport } from "./interfaces.ts";
import type { Protocol } from "./protocol.ts";
import type { Reactor } from "./reactor.ts";

const encoder = new TextEncoder();
/** The most bytes handed to one `dataReceived` call. */
const CHUNK_SIZE = 65536;

/** @internal Bytes of a string (UTF-8) or of bytes; anything else is a TypeError, as Twisted's `write` of a non-bytes. */
export function toBytes(data: unknown, action: string): Uint8Array {
  if (typeof data === "string") return encoder.encode(data);
  if (data instanceof Uint8Array) return data;
  throw new TypeError(`Cannot ${action}: data must be a string or a Uint8Array, received ${data === null ? "null" : typeof data}`);
}

/** @internal Reports an error a protocol or factory callback threw, as Twisted logs it; the reactor goes on. */
export function reportCallbackError(reactor: Reactor, error: unknown, where: string): void {
  reactor.loop.report(error, { kind: "callback", path: where });
}

/** @internal Calls a protocol or factory callback; an error it throws is reported and returned. */
export function callback(reactor: Reactor, where: string, fn: () => void): unknown {
  try {
    fn();
    return undefined;
  } catch (error) {
    reportCallbackError(reactor, error, where);
    return error ?? new Error(`${where} threw ${String(error)}`);
  }
}

/**
 * @internal The transport of one TCP connection, over the connection's
 * `StreamWriter` (Twisted's `tcp.Server` / `tcp.Client`).
 */
export class TCPTransport implements ITransport {
  connected = false;
  disconnecting = false;
  /** True after `abortConnection()`. */
  aborted = false;
  readonly #socket: Socket;
  readonly #writer: StreamWriter;
  readonly #peer: Address;
  readonly #host: Address;
  #paused: Future<void> | null = null;
  #noDelay = false;
  #keepAlive = false;
  /** Whether the socket is corked until this turn's microtasks run (see `write`). */
  #corked = false;
  readonly #uncork = (): void => this.flushWrites();

  constructor(socket: Socket, writer: StreamWriter) {
    this.#socket = socket;
    this.#writer = writer;
    // Read now: Node forgets a socket's addresses once it is destroyed.
    this.#peer = peerAddress(socket);
    this.#host = toAddress("TCP", { address: socket.localAddress ?? "", port: socket.localPort ?? 0 });
  }

  write(data: string | Uint8Array): void {
    // A string goes to the writer as it is: the socket encodes it (no TextEncoder copy per write).
    if (typeof data !== "string") toBytes(data, "write to the transport");
    if (!this.connected || this.disconnecting || data.length === 0) return;
    // Twisted queues what a protocol writes and sends it when its reactor next turns, so the
    // writes of one callback leave together. Here the socket is corked until this turn's
    // microtasks have run: its writes go out in one system call (a writev). Without it, a
    // protocol answering with two writes would also wait on Nagle's algorithm for the second
    // (the peer delays its ACK by up to 40 ms). `loseConnection` ends the socket, which uncorks it.
    if (!this.#corked) {
      this.#corked = true;
      this.#socket.cork();
      queueMicrotask(this.#uncork);
    }
    try {
      this.#writer.write(data);
    } catch {
      // The connection broke: the reading side sees it and calls connectionLost.
    }
  }

  /** Sends the writes of this turn now instead of after its microtasks (see `write`). */
  flushWrites(): void {
    if (!this.#corked) return;
    this.#corked = false;
    this.#socket.uncork();
  }

  writeSequence(data: Iterable<string | Uint8Array>): void {
    for (const chunk of data) this.write(chunk);
  }

  loseConnection(): void {
    if (!this.connected || this.disconnecting) return;
    this.disconnecting = true;
    this.resumeProducing();
    this.#writer.close();
  }

  abortConnection(): void {
    if (!this.connected || this.aborted) return;
    this.disconnecting = true;
    this.aborted = true;
    this.resumeProducing();
    this.abort();
  }

  /**
   * Closes the socket at once: a reset, or a plain destroy once its end was
   * sent (Node cannot reset a socket with a shutdown under way: the reset
   * fails with EINVAL and the handle is never closed).
   */
  abort(): void {
    if (this.#socket.writableEnded) this.#socket.destroy();
    else this.#writer.abort();
  }

  getPeer(): Address {
    return this.#peer;
  }

  getHost(): Address {
    return this.#host;
  }

  getTcpNoDelay(): boolean {
    return this.#noDelay;
  }

  setTcpNoDelay(enabled: boolean): void {
    this.#noDelay = Boolean(enabled);
    this.#socket.setNoDelay(this.#noDelay);
  }

  getTcpKeepAlive(): boolean {
    return this.#keepAlive;
  }

  setTcpKeepAlive(enabled: boolean): void {
    this.#keepAlive = Boolean(enabled);
    this.#socket.setKeepAlive(this.#keepAlive);
  }

  pauseProducing(): void {
    if (this.#paused === null) this.#paused = new Future<void>();
  }

  resumeProducing(): void {
    const paused = this.#paused;
    this.#paused = null;
    paused?.resolve();
  }

  stopProducing(): void {
    this.loseConnection();
  }

  /** Waits while paused. */
  *whilePaused(): Operation<void> {
    while (this.#paused !== null) yield* this.#paused;
  }
}

/**
 * @internal Drives `protocol` over a connection, as a task body:
 * `makeConnection`, `dataReceived` for each chunk read, then
 * `connectionLost` once (also when the task is cancelled: the reactor
 * stopped), then `onLost(reason)`. Returns once the socket is closed.
 */
export function* runProtocol(
  reactor: Reactor,
  protocol: Protocol,
  transport: TCPTransport,
  end: StreamEnd,
  onLost?: (reason: Failure) => void,
): Operation<void> {
  const { reader, writer } = end;
  const name = protocol.logPrefix();
  let reason: unknown;
  let cancellation: unknown;
  try {
    transport.connected = true;
    reason = callback(reactor, `${name}.connectionMade`, () => protocol.makeConnection(transport));
    while (reason === undefined) {
      let chunk: Uint8Array;
      try {
        chunk = yield* reader.read(CHUNK_SIZE);
      } catch (error) {
        if (isCancellation(error)) throw error;
        reason = lostReason(error);
        break;
      }
      if (chunk.length === 0) {
        // The end of the stream: our loseConnection/abortConnection, or the peer closed (or broke) its end.
        reason = transport.aborted ? new ConnectionAborted() : reader.exception !== undefined ? lostReason(reader.exception) : new ConnectionDone();
        break;
      }
      // After loseConnection, Twisted stops reading: what still arrives is dropped.
      if (transport.disconnecting) continue;
      yield* transport.whilePaused();
      if (transport.disconnecting) continue;
      let why: unknown;
      reason = callback(reactor, `${name}.dataReceived`, () => {
        why = protocol.dataReceived(chunk);
      });
      // Twisted's reactor drops a connection whose dataReceived returns a true value, with it as the reason
      // (as for an error, but not logged): LineReceiver returns what lineReceived returned.
      if (reason === undefined && why) reason = why;
    }
    // After loseConnection(), connectionLost comes once the queued bytes are sent and the socket is closed;
    // a peer that breaks the connection before they are makes it a ConnectionLost.
    if (transport.disconnecting && !transport.aborted) {
      try {
        yield* writer.waitClosed();
      } catch (error) {
        if (!(error instanceof BrokenResourceError)) throw error;
        reason = lostReason(error);
      }
    }
  } catch (error) {
    // Only a cancellation gets here: the reactor stopped (Twisted's disconnectAll gives ConnectionLost).
    cancellation = error;
    reason = new ConnectionLost("the reactor stopped", { cause: error });
  }
  // A callback error closes the connection cleanly, as Twisted does, and so does a stop (Twisted's disconnectAll
  // shuts the socket down) unless bytes are still queued: they cannot be flushed now, so a reset. An abort resets.
  // This turn's writes wait in the corked socket: send them first, so that a stop does not count them as stuck.
  if (!transport.aborted) transport.flushWrites();
  if (transport.aborted || (cancellation !== undefined && writer.bufferSize > 0)) transport.abort();
  else writer.close();
  transport.connected = false;
  transport.disconnecting = true;
  protocol.connected = false;
  const failure = new Failure(reason);
  callback(reactor, `${name}.connectionLost`, () => protocol.connectionLost(failure));
  if (onLost !== undefined) callback(reactor, `${name}: connection lost`, () => onLost(failure));
  try {
    yield* writer.waitClosed();
  } catch (error) {
    transport.abort();
    // The protocol was told already (connectionLost): bytes a reset cut off now are not news to it.
    if (!(error instanceof BrokenResourceError)) throw error;
  }
  if (cancellation !== undefined) throw cancellation;
}

/** @internal The peer's address of a socket. */
export function peerAddress(socket: Socket): Address {
  return toAddress("TCP", { address: socket.remoteAddress ?? "", port: socket.remotePort ?? 0 });
}

function lostReason(error: unknown): ConnectionLost {
  const cause = (error as { cause?: { code?: string } } | null)?.cause;
  return new ConnectionLost(cause?.code ?? (error instanceof Error ? error.message : String(error)), { cause: error });
}
