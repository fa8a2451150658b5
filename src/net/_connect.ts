/**
 * Waiting for a socket being opened to connect, as an operation.
 * @module
 */
import type { Socket } from "node:net";
import { ExternalPark } from "../core/_external-park.ts";
import type { Operation } from "../core/operation.ts";
import { requireCurrentTask } from "../core/spawn.ts";

/**
 * Waits for `socket` to emit `event` (`connect`, or `secureConnect` for TLS).
 * A connect error is thrown as an Error naming `target`, with the OS `code`
 * and the original as `cause`. **Cancellation** (or an error) destroys the socket.
 */
export function* waitForConnect(socket: Socket, target: string, event: "connect" | "secureConnect" = "connect"): Operation<void> {
  const connected = new ExternalPark<void>(requireCurrentTask("connect"), "io");
  const onError = (error: NodeJS.ErrnoException): void => {
    connected.reject(Object.assign(new Error(`Cannot connect to ${target}: ${error.message}`, { cause: error }), { code: error.code }));
  };
  socket.once("error", onError);
  socket.once(event, () => connected.resolve());
  try {
    yield connected;
  } catch (error) {
    socket.destroy();
    throw error;
  } finally {
    socket.off("error", onError);
  }
}
