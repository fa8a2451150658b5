/**
 * Waiting for a server (or a UDP socket) to listen, with its first error
 * thrown as the protocol's own message; and the address it listens on, for
 * messages.
 * @module
 */
import type { EventEmitter } from "node:events";
import { ExternalPark } from "../core/_external-park.ts";
import type { Operation } from "../core/operation.ts";
import { requireCurrentTask } from "../core/spawn.ts";

/**
 * Starts listening (`start` calls `listen` or `bind`) and calls `done` once:
 * with the first 'error', or with nothing at 'listening'.
 */
export function onceListening(listener: EventEmitter, start: () => void, done: (error?: NodeJS.ErrnoException) => void): void {
  const onError = (error: NodeJS.ErrnoException): void => {
    listener.off("listening", onListening);
    done(error);
  };
  const onListening = (): void => {
    listener.off("error", onError);
    done();
  };
  listener.once("error", onError);
  listener.once("listening", onListening);
  try {
    start();
  } catch (error) {
    listener.off("error", onError);
    listener.off("listening", onListening);
    throw error;
  }
}

/**
 * `onceListening` as an operation (busy for the virtual clock); a failure is
 * thrown as `fail(error)`. **Cancellation:** only the wait stops: the caller
 * closes the listener.
 */
export function* waitListening(listener: EventEmitter, start: () => void, fail: (error: NodeJS.ErrnoException) => Error): Operation<void> {
  const park = new ExternalPark<void>(requireCurrentTask("listen"), "io", undefined, "a server socket to listen");
  try {
    onceListening(listener, start, (error) => (error === undefined ? park.resolve() : park.reject(fail(error))));
  } catch (error) {
    park.cancelled(false, undefined); // never yielded: give back its busy count
    throw error;
  }
  yield park;
}

/** `host:port` (`[host]:port` for IPv6) of a bound address, the path of a Unix socket, or `fallback`. */
export function describeAddress(address: { address: string; port: number } | string | null, fallback: string): string {
  if (typeof address === "string") return address;
  if (address === null) return fallback;
  return address.address.includes(":") ? `[${address.address}]:${address.port}` : `${address.address}:${address.port}`;
}
