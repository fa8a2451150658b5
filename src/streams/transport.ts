/**
 * The contract between streams and what carries their bytes (a socket, a
 * pipe, a file, an in-memory pipe). A transport feeds a `StreamReader` with
 * `feed`/`feedEof`/`setException` and honours `pauseReading`/`resumeReading`;
 * it carries a `StreamWriter`'s bytes and tells it when its buffer has
 * drained or the connection has closed.
 * @module
 */

/**
 * What a `StreamReader` asks of the transport that feeds it: stop and start
 * delivering data (backpressure). Optional: a reader fed by hand has none.
 */
export interface ReadTransport {
  /** Stop delivering data until `resumeReading` (the reader's buffer is full). */
  pauseReading(): void;
  /**
   * Deliver data again. It may `feed` the reader synchronously, from inside
   * this call (the in-memory pipe does); the reader allows for it.
   */
  resumeReading(): void;
  /**
   * True if the data comes from outside the corio loop (a socket, a file):
   * a task waiting on it counts as busy, so a virtual clock holds still.
   */
  readonly external: boolean;
}

/**
 * What a `StreamWriter` drives. The transport must call the writer's
 * `transportDrained()` when its buffer falls back to `highWaterMark` or
 * below, and `transportClosed(error?)` once it is closed (with the peer's or
 * OS's error if it broke).
 */
export interface WriteTransport {
  /** Queues bytes to send. */
  write(data: Uint8Array): void;
  /**
   * Queues a string to send as UTF-8, for a transport that encodes on the
   * way out (a Node socket writes it straight into its send request, with
   * no buffer allocated per write). Without it, the writer encodes first.
   */
  writeString?(data: string): void;
  /**
   * Holds the writes that follow until `uncork()`, which sends them
   * together (a Node socket: one `writev` system call). Optional: a
   * transport without it sends each write as it comes.
   */
  cork?(): void;
  /** Sends what `cork()` held. */
  uncork?(): void;
  /** Bytes queued and not yet handed to the OS (or the peer). */
  readonly writeBufferSize: number;
  /** Above this many queued bytes, `drain()` waits. */
  readonly highWaterMark: number;
  /** True if `writeEof` is supported (TCP half-close). */
  readonly canWriteEof: boolean;
  /** Sends end-of-file after the queued bytes; reading may go on. */
  writeEof(): void;
  /** Closes after the queued bytes have been sent. */
  close(): void;
  /** Closes at once, dropping queued bytes. */
  abort(): void;
  /** True if the data goes outside the corio loop (see `ReadTransport.external`). */
  readonly external: boolean;
  /** Addresses, when the transport has them. */
  readonly remoteAddress?: { address: string; port: number; family: string } | string | undefined;
  readonly localAddress?: { address: string; port: number; family: string } | string | undefined;
}
