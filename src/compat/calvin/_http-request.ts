/**
 * Reading one HTTP request off a connection the way Calvin's `http` server
 * mode did: the request line, the headers (names lower-cased, values
 * stripped) and a body of exactly `Content-Length` bytes, or a chunked one.
 * @module
 */

import { IncompleteReadError, type Operation, type StreamReader } from "../../index.ts";
import { joinBytes } from "../../streams/_join-bytes.ts"; // compat-internal: the stream reader's own join

/**
 * One request of a `TCPServer` in `http` mode (Calvin's `(command, headers,
 * data)` tuple): the request line (`"POST /x HTTP/1.1"`), the headers with
 * lower-cased names and stripped values, and the data: an empty array for a
 * GET (a GET's body is dropped), the body's bytes (a chunked body decoded),
 * or `null` for another method without a body. A header sent more than
 * once is combined as Node's `IncomingMessage.headers` does: `set-cookie`
 * is always an array of its values, `cookie` values are joined with `"; "`,
 * the headers that cannot be repeated (`host`, `content-type`,
 * `authorization`...) keep their first value, the others are joined with
 * `", "` (the original kept the last one).
 */
export type HttpRequestData = [command: string, headers: Record<string, string | string[]>, data: Uint8Array | null];

const HEAD_END = new Uint8Array([13, 10, 13, 10]);
const CRLF = new Uint8Array([13, 10]);
const EMPTY = new Uint8Array(0);
const decoder = new TextDecoder();

/** Node's list (`_http_incoming.js`): a duplicate of these is discarded. */
const SINGLE = new Set([
  "age",
  "authorization",
  "content-length",
  "content-type",
  "etag",
  "expires",
  "from",
  "host",
  "if-modified-since",
  "if-unmodified-since",
  "last-modified",
  "location",
  "max-forwards",
  "proxy-authorization",
  "referer",
  "retry-after",
  "server",
  "user-agent",
]);

/** A request the server cannot take; it answers with `status`, then closes the connection. */
export class BadRequest extends Error {
  override name = "BadRequest";
  /** 400, 413 (body over `maxBodySize`) or 501 (a transfer coding other than chunked). */
  readonly status: 400 | 413 | 501;

  constructor(message: string, status: 400 | 413 | 501 = 400) {
    super(message);
    this.status = status;
  }
}

const REASONS = { 400: "Bad Request", 413: "Content Too Large", 501: "Not Implemented" } as const;

/** A request line: a method (a token), a target and an HTTP version (RFC 9112, 3). */
const REQUEST_LINE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+ [^\s]+ HTTP\/\d\.\d$/;
/** A header name: a token (RFC 9110, 5.1). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Whether `value` holds a control character other than a tab, which a header value cannot (RFC 9110, 5.5). */
function hasControl(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if ((code < 0x20 && code !== 0x09) || code === 0x7f) return true;
  }
  return false;
}

/** The response sent for a `BadRequest`, as Node's server sends for a request it cannot parse. */
export function badRequestResponse(error: BadRequest): string {
  return `HTTP/1.1 ${error.status} ${REASONS[error.status]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`;
}

function addHeader(headers: Record<string, string | string[]>, name: string, value: string): void {
  const previous = headers[name];
  if (name === "set-cookie") {
    if (Array.isArray(previous)) previous.push(value);
    else headers[name] = [value];
  } else if (previous === undefined) headers[name] = value;
  else if (name === "content-length") {
    // Node's parser rejects any repeated Content-Length; differing ones are the request-smuggling case (RFC 9112, 6.3).
    if (previous !== value) throw new BadRequest(`Cannot read an HTTP request: it has two different Content-Length headers (${previous}, ${value})`);
  } else if (!SINGLE.has(name)) headers[name] = `${previous as string}${name === "cookie" ? "; " : ", "}${value}`;
}

function endsWithHeadEnd(bytes: Uint8Array): boolean {
  const n = bytes.length;
  return n >= 4 && bytes[n - 4] === 13 && bytes[n - 3] === 10 && bytes[n - 2] === 13 && bytes[n - 1] === 10;
}

/**
 * Reads the next request, or gives `undefined` if the connection ended
 * between requests.
 * @throws {BadRequest} for a malformed head, a bad `Content-Length` or chunk, a body over `maxBodySize`, an unsupported `Transfer-Encoding` or a connection that ends inside a request.
 * @throws {LimitOverrunError} for a head (or a chunk-size line) over the reader's limit.
 */
export function* readHttpRequest(reader: StreamReader, maxBodySize: number): Operation<HttpRequestData | undefined> {
  // readLine, not readUntil: at the end of the connection it gives what is left instead of throwing
  // (an exception per keep-alive connection was the usual way out of here).
  const head = yield* reader.readLine(HEAD_END);
  if (!endsWithHeadEnd(head)) {
    if (head.every((byte) => byte === 13 || byte === 10)) return undefined;
    throw new BadRequest("Cannot read an HTTP request: the connection ended inside its head");
  }
  const lines = decoder.decode(head.subarray(0, head.length - HEAD_END.length)).split("\r\n");
  // Empty lines before a request line are ignored (RFC 9112, 2.2).
  while (lines.length > 1 && lines[0]?.trim() === "") lines.shift();
  const command = (lines.shift() ?? "").trim();
  if (!REQUEST_LINE.test(command))
    throw new BadRequest(`Cannot read an HTTP request: ${JSON.stringify(command)} is not a request line (method, target, HTTP version)`);
  const headers: Record<string, string | string[]> = Object.create(null);
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon < 0) throw new BadRequest(`Cannot read an HTTP request: the header line ${JSON.stringify(line)} has no ":"`);
    const name = line.slice(0, colon);
    const value = line.slice(colon + 1).trim();
    // A space before the colon or a folded line (RFC 9112, 5.1 and 5.2), or a bare CR or LF in a value: a proxy may frame
    // the request otherwise than this server does (Node's parser refuses them too).
    if (!TOKEN.test(name)) throw new BadRequest(`Cannot read an HTTP request: ${JSON.stringify(name)} is not a header name`);
    if (hasControl(value)) throw new BadRequest(`Cannot read an HTTP request: the value of ${name} holds a control character`);
    addHeader(headers, name.toLowerCase(), value);
  }
  const body = yield* readBody(reader, headers, maxBodySize);
  return [command, headers, command.toLowerCase().startsWith("get ") ? EMPTY : body];
}

/** The body, as `Transfer-Encoding` or `Content-Length` frame it; `null` if it is empty. */
function* readBody(reader: StreamReader, headers: Record<string, string | string[]>, maxBodySize: number): Operation<Uint8Array | null> {
  const coding = headers["transfer-encoding"];
  if (typeof coding === "string") {
    const codings = coding
      .toLowerCase()
      .split(",")
      .map((name) => name.trim());
    // Without a length, a request body must end with chunked (RFC 9112, 6.3); other codings are not implemented.
    if (codings.at(-1) !== "chunked")
      throw new BadRequest(`Cannot read an HTTP request: Transfer-Encoding ${JSON.stringify(coding)} does not end with chunked`, 400);
    if (codings.indexOf("chunked") < codings.length - 1)
      throw new BadRequest(`Cannot read an HTTP request: Transfer-Encoding ${JSON.stringify(coding)} applies chunked twice`);
    if (codings.length > 1) throw new BadRequest(`Cannot read an HTTP request: Transfer-Encoding ${JSON.stringify(coding)} is not implemented`, 501);
    // Both framings is how requests are smuggled past a proxy; Node's parser refuses it too.
    if (headers["content-length"] !== undefined) throw new BadRequest("Cannot read an HTTP request: it has both Transfer-Encoding and Content-Length");
    return yield* readChunked(reader, maxBodySize);
  }
  const declared = (headers["content-length"] as string | undefined) ?? "0";
  if (!/^\d+$/.test(declared))
    throw new BadRequest(`Cannot read an HTTP request: Content-Length must be a non-negative integer, received ${JSON.stringify(declared)}`);
  const length = Number(declared);
  if (length > maxBodySize) throw new BadRequest(`Cannot read an HTTP request: its body of ${length} bytes is over maxBodySize = ${maxBodySize}`, 413);
  return length > 0 ? yield* readExactly(reader, length) : null;
}

/** A chunked body (RFC 9112, 7.1), decoded; extensions and trailers are read and dropped. */
function* readChunked(reader: StreamReader, maxBodySize: number): Operation<Uint8Array | null> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const line = decoder.decode(yield* readLine(reader));
    const match = /^([0-9a-fA-F]{1,16})[ \t]*(;.*)?$/.exec(line);
    if (match === null) throw new BadRequest(`Cannot read an HTTP request: the chunk size line ${JSON.stringify(line.slice(0, 100))} is malformed`);
    const size = Number.parseInt(match[1] as string, 16);
    if (size === 0) break;
    total += size;
    if (total > maxBodySize) throw new BadRequest(`Cannot read an HTTP request: its chunked body is over maxBodySize = ${maxBodySize} bytes`, 413);
    const data = yield* readExactly(reader, size + 2);
    if (data[size] !== 13 || data[size + 1] !== 10) throw new BadRequest("Cannot read an HTTP request: a chunk's data is not followed by CRLF");
    chunks.push(data.subarray(0, size));
  }
  // The trailer section: header lines up to an empty one.
  while ((yield* readLine(reader)).length > 0);
  return total === 0 ? null : joinBytes(chunks, total);
}

/** A line without its CRLF. */
function* readLine(reader: StreamReader): Operation<Uint8Array> {
  try {
    const line = yield* reader.readUntil(CRLF);
    return line.subarray(0, line.length - CRLF.length);
  } catch (error) {
    if (error instanceof IncompleteReadError) throw new BadRequest("Cannot read an HTTP request: the connection ended inside its body");
    throw error;
  }
}

function* readExactly(reader: StreamReader, length: number): Operation<Uint8Array> {
  try {
    return yield* reader.readExactly(length);
  } catch (error) {
    if (error instanceof IncompleteReadError) throw new BadRequest("Cannot read an HTTP request: the connection ended inside its body");
    throw error;
  }
}
