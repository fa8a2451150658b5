/**
 * The transport between a Node socket (`net.Socket`, `tls.TLSSocket`, a pipe)
 * and a corio StreamReader/StreamWriter pair.
 * @module
 */
import type { Socket } from "node:net";
import { BrokenResourceError } from "../core/errors.ts";
import type { StreamEnd } from "../streams/memory-pair.ts";
import { StreamReader } from "../streams/stream-reader.ts";
import { StreamWriter } from "../streams/stream-writer.ts";
import type { ReadTransport, WriteTransport } from "../streams/transport.ts";

class SocketTransport implements ReadTransport, WriteTransport {
  readonly external = true;
  readonly canWriteEof: boolean;
  readonly #socket: Socket;
  /** The reader asked for a pause and has not asked to resume yet. */
  #readingPaused = false;

  constructor(socket: Socket, canWriteEof: boolean) {
    this.#socket = socket;
    this.canWriteEof = canWriteEof;
  }
  get writeBufferSize(): number {
    return this.#socket.writableLength;
  }
  get highWaterMark(): number {
    return this.#socket.writableHighWaterMark;
  }
  get remoteAddress(): { address: string; port: number; family: string } | undefined {
    const socket = this.#socket;
    return socket.remoteAddress === undefined ? undefined : { address: socket.remoteAddress, port: socket.remotePort ?? 0, family: socket.remoteFamily ?? "" };
  }
  get localAddress(): { address: string; port: number; family: string } | undefined {
    const socket = this.#socket;
    return socket.localAddress === undefined ? undefined : { address: socket.localAddress, port: socket.localPort ?? 0, family: socket.localFamily ?? "" };
  }
  write(data: Uint8Array): void {
    this.#socket.write(data);
  }
  writeString(data: string): void {
    // Node encodes it into the send request itself: TextEncoder's copy cost ~3.9k instructions per line of a line echo.
    this.#socket.write(data, "utf8");
  }
  cork(): void {
    this.#socket.cork();
  }
  uncork(): void {
    this.#socket.uncork();
  }
  writeEof(): void {
    this.#socket.end();
  }
  close(): void {
    // Flush what is queued, then close (without waiting for the peer's FIN).
    this.#socket.end(() => this.#socket.destroy());
  }
  abort(): void {
    resetSocket(this.#socket);
  }
  get readingPaused(): boolean {
    return this.#readingPaused;
  }
  pauseReading(): void {
    this.#readingPaused = true;
    this.#socket.pause();
  }
  resumeReading(): void {
    this.#readingPaused = false;
    this.#socket.resume();
  }
}

/**
 * Uncorks `socket` (the Twisted port corks one for the rest of a turn), so
 * what it held goes out now, then says whether it still holds bytes the OS
 * would not take.
 */
export function uncorkedHoldsUnsent(socket: Socket): boolean {
  while (socket.writableCorked > 0) socket.uncork();
  return socket.writableLength > 0;
}

/**
 * Closes a socket at once with a reset (RST), so the peer knows the data was
 * cut short. Only a plain TCP socket still writing can be reset: on a socket
 * whose end() is pending, Node fails with EINVAL and keeps the handle open,
 * and on TLS it throws; those are destroyed instead.
 */
export function resetSocket(socket: Socket): void {
  if (
    typeof socket.resetAndDestroy === "function" &&
    !socket.destroyed &&
    !socket.writableEnded &&
    socket.remoteAddress !== undefined &&
    !("encrypted" in socket)
  )
    socket.resetAndDestroy();
  else socket.destroy();
}

/**
 * Closes a socket whose owner is done with it: destroyed, or reset when it
 * still holds bytes it could not send, so the peer sees the data was cut
 * short rather than a clean end (see `resetSocket` for when a reset is
 * possible).
 */
export function dropSocket(socket: Socket): void {
  if (uncorkedHoldsUnsent(socket)) resetSocket(socket);
  else socket.destroy();
}

/** OS codes that mean the peer reset the connection or went away. */
const PEER_GONE = new Set(["ECONNRESET", "EPIPE", "ECONNABORTED"]);

/** Tells whether `error` is a connection's peer going away (a `BrokenResourceError` caused by a reset or `EPIPE`), ordinary for a server. */
export function isPeerGone(error: unknown): boolean {
  return error instanceof BrokenResourceError && PEER_GONE.has((error.cause as { code?: string } | undefined)?.code ?? "");
}

/** A socket's peer as `host:port` (`[::1]:port` for IPv6), or undefined (a Unix socket, or one already closed). */
export function describePeer(socket: Socket): string | undefined {
  const { remoteAddress: host, remotePort: port } = socket;
  if (host === undefined || port === undefined) return undefined;
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Connects a socket to a new reader/writer pair. `holdPause`: when something
 * other than the reader resumes the socket while the reader holds it paused
 * (Node resumes a child process's stdout and stderr once the child has
 * exited), it is paused again, so the reader's limit still bounds what it
 * buffers.
 */
export function wrapSocket(socket: Socket, options: { limit?: number; canWriteEof?: boolean; holdPause?: boolean } = {}): StreamEnd {
  const reader = new StreamReader(options.limit === undefined ? {} : { limit: options.limit });
  const transport = new SocketTransport(socket, options.canWriteEof ?? true);
  const writer = new StreamWriter(transport);
  reader.setTransport(transport);
  let ended = false;
  socket.on("data", (chunk: Uint8Array) => reader.feed(chunk));
  socket.on("end", () => {
    ended = true;
    reader.feedEof();
  });
  socket.on("error", (error: NodeJS.ErrnoException) => {
    const broken = new BrokenResourceError(`Cannot use the connection: ${error.code ?? error.message}${error.code ? ` (${error.message})` : ""}`, {
      cause: error,
    });
    if (!ended) reader.setException(broken);
    // A failed write's bytes are lost, though Node takes them off writableLength before it emits the error.
    writer.transportClosed(broken, error.syscall === "write" || transport.writeBufferSize > 0);
  });
  socket.on("drain", () => writer.transportDrained());
  if (options.holdPause === true) {
    socket.on("resume", () => {
      if (transport.readingPaused) socket.pause();
    });
  }
  socket.on("close", () => {
    if (!ended) {
      ended = true;
      // Closed without an error or a FIN (destroyed locally): the reader sees the end.
      if (reader.exception === undefined) reader.feedEof();
    }
    writer.transportClosed();
  });
  return { reader, writer };
}
