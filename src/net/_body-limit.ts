/**
 * Refusing a request body over `maxBodySize` so that the client can read the
 * 413: before `100 Continue` when the declared size is over the limit, and
 * with a lingering close when the body is already on its way.
 * @module
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";

// Bounds of a lingering close (nginx's lingering_timeout is 5 s too): a client that writes its whole
// body before it reads still sees the answer, and one that never stops costs a few ms of parsing.
/** How long, in real ms, a refused connection keeps discarding what the client still sends before it is cut. */
const LINGER_MS = 5000;
/** How many more bytes of a refused body are read and discarded before the connection is cut. */
const LINGER_BYTES = 16 * 1024 * 1024;

const refused = new WeakSet<Socket>();
const lingering = new WeakSet<Socket>();

/**
 * The message of the 413 answer to a body whose declared size is over the limit.
 *
 * @example
 * ```ts ignore
 * bodyOverLimitMessage(2000, 1000); // "Cannot read the request body: its 2000 bytes are over the limit of 1000 bytes"
 * ```
 */
export function bodyOverLimitMessage(declared: number, maxBodySize: number): string {
  return `Cannot read the request body: its ${declared} bytes are over the limit of ${maxBodySize} bytes`;
}

/**
 * The `checkContinue` listener of a server (Node then no longer sends
 * `100 Continue` by itself): a request whose `Content-Length` is over
 * `maxBodySize` gets 413 at once, before the client sends its body; any other
 * request gets `100 Continue` and goes to `onRequest`, exactly as Node would
 * have passed it to the `request` listener.
 *
 * @example
 * ```ts ignore
 * server.on("request", onRequest);
 * server.on("checkContinue", continueWithinLimit(limits.maxBodySize, onRequest));
 * ```
 */
export function continueWithinLimit(
  maxBodySize: number,
  onRequest: (req: IncomingMessage, res: ServerResponse) => void,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const declared = Number(req.headers["content-length"] ?? Number.NaN);
    if (declared > maxBodySize) {
      const message = bodyOverLimitMessage(declared, maxBodySize);
      refuseBody(req, res);
      res.writeHead(413, { "content-type": "text/plain; charset=utf-8", "content-length": Buffer.byteLength(message) });
      res.end(message);
      return;
    }
    res.writeContinue();
    onRequest(req, res);
  };
}

/**
 * Stops reading the body of `req` and makes its connection close after the
 * response, with a lingering close: the response and a FIN go out, then what
 * the client still sends is read and discarded (for at most `LINGER_MS` and
 * `LINGER_BYTES`) until the body ends or the client closes. Destroying the
 * socket at once with unread bytes would make the kernel answer with a reset,
 * and the client would see EPIPE/ECONNRESET instead of the status.
 * Idempotent.
 *
 * @example
 * ```ts ignore
 * refuseBody(req, res);
 * res.writeHead(413).end("too large"); // the client reads the 413, then the connection closes
 * ```
 */
export function refuseBody(req: IncomingMessage, res: ServerResponse): void {
  req.pause();
  if (!res.headersSent) res.setHeader("connection", "close");
  const socket = req.socket;
  if (refused.has(socket)) return;
  refused.add(socket);
  // Node ends a `connection: close` exchange with `socket.destroySoon()` once the response is written.
  socket.destroySoon = () => lingeringClose(socket, req);
  // A response already under way as keep-alive: close after it anyway, since the rest of the body is never read.
  if (res.writableFinished) lingeringClose(socket, req);
  else res.once("finish", () => lingeringClose(socket, req));
}

/** Ends `socket` after what was written, reading and discarding the rest of `req`'s body for a bounded time and amount. */
function lingeringClose(socket: Socket, req: IncomingMessage): void {
  if (lingering.has(socket)) return;
  lingering.add(socket);
  if (socket.destroyed) return;
  socket.end();
  let discarded = 0;
  const cut = (): void => {
    socket.destroy();
  };
  const timer = setTimeout(cut, LINGER_MS).unref();
  let reading = true;
  const nothingMoreToRead = (): void => {
    if (!reading) return;
    reading = false;
    req.off("data", discard);
    // Stop reading: bytes after the body would be parsed as a next request.
    socket.pause();
    // As destroySoon: destroy once the answer reached the kernel; with nothing unread, the client gets a FIN, not a reset.
    if (socket.writableFinished) cut();
    else socket.once("finish", cut);
  };
  const discard = (chunk: Uint8Array): void => {
    discarded += chunk.length;
    if (discarded > LINGER_BYTES) cut();
  };
  socket.once("close", () => clearTimeout(timer));
  socket.once("end", nothingMoreToRead);
  if (req.complete) {
    nothingMoreToRead();
    return;
  }
  req.on("data", discard);
  req.once("end", nothingMoreToRead);
  req.resume();
}
