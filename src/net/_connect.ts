/**
 * Waiting for a socket being opened to connect, as an operation.
 * @module
 */
import type { Socket } from "node:net";
import { ExternalPark } from "../core/_external-park.ts";
import { MAX_HOST_DELAY } from "../core/_host.ts";
import type { Operation } from "../core/operation.ts";
import { requireCurrentTask } from "../core/spawn.ts";

/**
 * Waits for `socket` to emit `event` (`connect`, or `secureConnect` for TLS).
 * A connect error is thrown as an Error naming `target`, with the OS `code`
 * and the original as `cause`. After `limitMs` of real time (the TLS
 * handshake timeout) it gives up with code `ETIMEDOUT`. **Cancellation** (or
 * an error) destroys the socket.
 */
export function* waitForConnect(
  socket: Socket,
  target: string,
  event: "connect" | "secureConnect" = "connect",
  limitMs = Number.POSITIVE_INFINITY,
): Operation<void> {
  const connected = new ExternalPark<void>(requireCurrentTask("connect"), "io", undefined, "a connection to open (connect)");
  const onError = (error: NodeJS.ErrnoException): void => {
    connected.reject(Object.assign(new Error(`Cannot connect to ${target}: ${describeConnectError(error)}`, { cause: error }), { code: error.code }));
  };
  socket.once("error", onError);
  socket.once(event, () => connected.resolve());
  // Real time: a silent peer is I/O, which holds a virtual clock still.
  const timer =
    limitMs < MAX_HOST_DELAY
      ? setTimeout(() => {
          const error = new Error(`Cannot connect to ${target}: the TLS handshake did not finish within ${limitMs} ms (set handshakeTimeout to wait longer)`);
          connected.reject(Object.assign(error, { code: "ETIMEDOUT" }));
        }, limitMs)
      : undefined;
  try {
    yield connected;
  } catch (error) {
    socket.destroy();
    throw error;
  } finally {
    if (timer !== undefined) clearTimeout(timer);
    socket.off("error", onError);
  }
}

/**
 * What went wrong connecting. A name with several addresses, all of which
 * failed (Node tries each, "happy eyeballs"), gives an `AggregateError`
 * whose own message is empty: its inner errors say it, as asyncio's
 * "Multiple exceptions: ..." does.
 */
function describeConnectError(error: Error): string {
  if (error instanceof AggregateError && error.errors.length > 0) {
    return `Multiple exceptions: ${error.errors.map((inner: unknown) => (inner instanceof Error ? inner.message : String(inner))).join(", ")}`;
  }
  return error.message;
}
