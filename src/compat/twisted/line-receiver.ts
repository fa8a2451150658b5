/**
 * Twisted's `LineReceiver` (`twisted.protocols.basic`): a protocol that
 * splits the incoming bytes into lines.
 * @module
 */
import { concatBytes, type Delimiter, delimiterOf, withDelimiter } from "../../streams/_framed-write.ts"; // compat-internal: one write per line, shared with the Calvin port
import { lineDecoder } from "../../streams/_message-reads.ts"; // compat-internal: the line decoder of lines() (the host's, U+FEFF kept)
import { Protocol } from "./protocol.ts";
import { toBytes } from "./transport.ts";

const EMPTY = new Uint8Array(0);
const encoder = new TextEncoder();
// Each line decoded alone keeps a U+FEFF at its start (Twisted gives the bytes), straight from the buffer.
const decodeRange = lineDecoder();
const decode = (bytes: Uint8Array): string => decodeRange(bytes, 0, bytes.length);

/** Index of the first `needle` in `haystack` at or after `from`, or -1. */
function indexOf(haystack: Uint8Array, needle: Uint8Array, from: number): number {
  const first = needle[0] as number;
  const last = haystack.length - needle.length;
  for (let i = haystack.indexOf(first, from); i !== -1 && i <= last; i = haystack.indexOf(first, i + 1)) {
    let match = true;
    for (let j = 1; j < needle.length; j++) {
      if (haystack[i + j] !== needle[j]) {
        match = false;
        break;
      }
    }
    if (match) return i;
  }
  return -1;
}

/**
 * Twisted's `LineReceiver`: calls `lineReceived(line)` for each line of
 * the input, however it was chunked, without its `delimiter` (default
 * `"\r\n"`), decoded as UTF-8. `sendLine(line)` writes a line and the
 * delimiter. A line longer than `MAX_LENGTH` bytes (default 16384) calls
 * `lineLengthExceeded(line)`, which by default closes the connection.
 * `setRawMode()` switches to `rawDataReceived(data)` for the bytes that
 * follow (a body after headers), `setLineMode(extra)` back to lines. As in
 * Twisted, lines stop being delivered once the transport is disconnecting,
 * while `pauseProducing()` holds the protocol, and after `lineReceived`
 * returns a true value (the reactor then drops the connection with it as
 * the reason).
 *
 * @example A line-based chat-style server talking to a client
 * ```ts
 * import { ClientFactory, createReactor, Factory, LineReceiver } from "corio/compat/twisted";
 * class Shout extends LineReceiver {
 *   override lineReceived(line: string) { this.sendLine(line.toUpperCase()); }
 * }
 * const replies: string[] = [];
 * class Client extends LineReceiver {
 *   override connectionMade() { this.transport.write("hello\r\nwor"); this.transport.write("ld\r\n"); }
 *   override lineReceived(line: string) { replies.push(line); if (replies.length === 2) this.transport.loseConnection(); }
 *   override connectionLost() { reactor.stop(); }
 * }
 * const reactor = createReactor();
 * const port = reactor.listenTCP(0, Factory.forProtocol(Shout), { interface: "127.0.0.1" });
 * reactor.callWhenRunning(() => reactor.connectTCP("127.0.0.1", port.getHost().port, ClientFactory.forProtocol(Client)));
 * await reactor.run();
 * console.assert(replies.join() === "HELLO,WORLD");
 * ```
 */
export class LineReceiver extends Protocol {
  /** What ends a line. @default "\r\n" */
  delimiter = "\r\n";
  /** The longest line accepted, in bytes, delimiter excluded. @default 16384 */
  MAX_LENGTH = 16384;
  /** True while `pauseProducing()` holds the protocol (Twisted's `paused`). */
  paused = false;
  #lineMode = true;
  /** The bytes not yet delivered are `#buffer[#start..]`: lines are taken by moving `#start`, not by slicing. */
  #buffer: Uint8Array = EMPTY;
  #start = 0;
  #busy = false;
  /** The `delimiter` string last checked, and it as bytes and text to send. */
  #delimiterChecked = "";
  #delimiterFraming: Delimiter | null = null;

  /** True in line mode, false in raw mode (Twisted's `line_mode`). */
  get lineMode(): boolean {
    return this.#lineMode;
  }

  /**
   * Splits the data into lines (or passes it on raw); do not override it
   * (override `lineReceived`). As in Twisted, a true value returned by
   * `lineReceived` or `rawDataReceived` (or the value of
   * `lineLengthExceeded`) stops the processing and is returned: the
   * reactor then closes the connection with it as the reason. The bytes
   * after it stay buffered.
   */
  override dataReceived(data: Uint8Array): unknown {
    this.#buffer = concatBytes(this.#takeRest(), data);
    if (this.#busy) return undefined; // called again from a callback: the running loop picks the data up
    this.#busy = true;
    try {
      while (this.#start < this.#buffer.length && !this.paused) {
        if (!this.#lineMode) {
          const why = this.rawDataReceived(this.#takeRest());
          if (why) return why;
          continue;
        }
        const delimiter = this.#delimiter().bytes;
        const buffer = this.#buffer;
        const start = this.#start;
        const at = indexOf(buffer, delimiter, start);
        if (at < 0) {
          if (buffer.length - start >= this.MAX_LENGTH + delimiter.length) return this.lineLengthExceeded(decode(this.#takeRest()));
          return undefined;
        }
        if (at - start > this.MAX_LENGTH) {
          // Twisted passes the long line with everything buffered after it.
          return this.lineLengthExceeded(decode(this.#takeRest()));
        }
        this.#start = at + delimiter.length;
        const why = this.lineReceived(decodeRange(buffer, start, at));
        if (why || this.transport?.disconnecting) return why;
      }
      return undefined;
    } finally {
      this.#busy = false;
      // Everything delivered: let go of the chunk.
      if (this.#start === this.#buffer.length) this.#takeRest();
    }
  }

  /** Called with each line, without its delimiter; a true value returned stops the processing and drops the connection (see `dataReceived`). */
  lineReceived(_line: string): unknown {
    throw new Error(`Cannot receive a line: ${this.constructor.name} does not override lineReceived`);
  }

  /** Called with the bytes that arrive in raw mode; a true value returned drops the connection (see `dataReceived`). */
  rawDataReceived(_data: Uint8Array): unknown {
    throw new Error(`Cannot receive raw data: ${this.constructor.name} does not override rawDataReceived`);
  }

  /** Writes `line` and the delimiter. */
  sendLine(line: string | Uint8Array): void {
    // One write; a string line stays a string, which the socket encodes (no TextEncoder copy).
    this.transport.write(withDelimiter(typeof line === "string" ? line : toBytes(line, "send a line"), this.#delimiter()));
  }

  /** Called with a line over `MAX_LENGTH` (and what was buffered after it); closes the connection by default. What it returns, `dataReceived` returns. */
  lineLengthExceeded(_line: string): unknown {
    this.transport.loseConnection();
    return undefined;
  }

  /** Switches to raw mode: the bytes that follow go to `rawDataReceived`. */
  setRawMode(): void {
    this.#lineMode = false;
  }

  /** Switches back to line mode; `extra` (bytes that belong to the lines) is processed at once, and what `dataReceived` returns for it is returned. */
  setLineMode(extra: string | Uint8Array = EMPTY): unknown {
    this.#lineMode = true;
    const bytes = toBytes(extra, "set line mode");
    return bytes.length > 0 ? this.dataReceived(bytes) : undefined;
  }

  /** Empties the buffer and returns what was in it. */
  clearLineBuffer(): Uint8Array {
    return this.#takeRest();
  }

  /** Stops delivering lines (and pauses the transport). */
  pauseProducing(): void {
    this.paused = true;
    this.transport.pauseProducing();
  }

  /** Delivers lines again, starting with the buffered ones. */
  resumeProducing(): void {
    this.paused = false;
    this.transport.resumeProducing();
    this.dataReceived(EMPTY);
  }

  /** Stops delivering lines and closes the connection. */
  stopProducing(): void {
    this.paused = true;
    this.transport.stopProducing();
  }

  /** Takes the bytes not yet delivered out of the buffer. */
  #takeRest(): Uint8Array {
    const rest = this.#start === 0 ? this.#buffer : this.#buffer.subarray(this.#start);
    this.#buffer = EMPTY;
    this.#start = 0;
    return rest;
  }

  #delimiter(): Delimiter {
    if (this.#delimiterChecked !== this.delimiter) {
      if (typeof this.delimiter !== "string" || this.delimiter === "")
        throw new TypeError(`Cannot split lines: delimiter must be a non-empty string, received ${JSON.stringify(this.delimiter)}`);
      this.#delimiterChecked = this.delimiter;
      this.#delimiterFraming = delimiterOf(encoder.encode(this.delimiter));
    }
    return this.#delimiterFraming as Delimiter;
  }
}
