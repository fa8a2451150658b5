/**
 * Reading one HTTP request off a connection the way Calvin's `http` server
 * mode did: the request line, the headers (names lower-cased, values
 * stripped) and a body of exactly `Content-Length` bytes.
 * @module
 */

import { IncompleteReadError, type Operation, type StreamReader } from "../../index.ts";

/**
 * One request of a `TCPServer` in `http` mode (Calvin's `(command, headers,
 * data)` tuple): the request line (`"POST /x HTTP/1.1"`), the headers with
 * lower-cased names and stripped values, and the data: an empty array for a
 * GET (a GET's body is dropped), the body's bytes, or `null` for another
 * method without a body.
 */
export type HttpRequestData = [command: string, headers: Record<string, string>, data: Uint8Array | null];

const HEAD_END = new Uint8Array([13, 10, 13, 10]);
const EMPTY = new Uint8Array(0);
const decoder = new TextDecoder();

/** A request the server cannot parse; the connection is closed. */
export class BadRequest extends Error {
  override name = "BadRequest";
}

/**
 * Reads the next request, or gives `undefined` if the connection ended
 * between requests.
 * @throws {BadRequest} for a malformed head, a bad `Content-Length`, a body over `maxBodySize` or a connection that ends inside a request.
 * @throws {LimitOverrunError} for a head over the reader's limit.
 */
export function* readHttpRequest(reader: StreamReader, maxBodySize: number): Operation<HttpRequestData | undefined> {
  let head: Uint8Array;
  try {
    head = yield* reader.readUntil(HEAD_END);
  } catch (error) {
    if (!(error instanceof IncompleteReadError)) throw error;
    if (error.partial.every((byte) => byte === 13 || byte === 10)) return undefined;
    throw new BadRequest("Cannot read an HTTP request: the connection ended inside its head");
  }
  const lines = decoder.decode(head.subarray(0, head.length - HEAD_END.length)).split("\r\n");
  // Empty lines before a request line are ignored (RFC 9112, 2.2).
  while (lines.length > 1 && lines[0]?.trim() === "") lines.shift();
  const command = (lines.shift() ?? "").trim();
  const headers: Record<string, string> = Object.create(null);
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon < 0) throw new BadRequest(`Cannot read an HTTP request: the header line ${JSON.stringify(line)} has no ":"`);
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const declared = headers["content-length"] ?? "0";
  if (!/^\d+$/.test(declared))
    throw new BadRequest(`Cannot read an HTTP request: Content-Length must be a non-negative integer, received ${JSON.stringify(declared)}`);
  const length = Number(declared);
  if (length > maxBodySize) throw new BadRequest(`Cannot read an HTTP request: its body of ${length} bytes is over maxBodySize = ${maxBodySize}`);
  let body: Uint8Array | null = null;
  if (length > 0) {
    try {
      body = yield* reader.readExactly(length);
    } catch (error) {
      if (error instanceof IncompleteReadError) throw new BadRequest("Cannot read an HTTP request: the connection ended inside its body");
      throw error;
    }
  }
  return [command, headers, command.toLowerCase().startsWith("get ") ? EMPTY : body];
}
