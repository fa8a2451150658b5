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
  return hostPort(address.address, address.port);
}

/** `host:port`, or `[host]:port` for an IPv6 address (`[::1]:8080`, not the ambiguous `::1:8080`). */
export function hostPort(host: string, port: unknown): string {
  return host.includes(":") ? `[${host}]:${String(port)}` : `${host}:${String(port)}`;
}

/** Checks a port to listen on: an integer from 0 (any free port) to 65535; Node's own error would come from inside the listen. */
export function checkListenPort(port: unknown, action: string): void {
  const value = portValue(port);
  if (!(Number.isInteger(value) && value >= 0 && value <= 65535))
    throw new RangeError(`Cannot ${action}: port must be an integer from 0 to 65535, received ${String(port)}`);
}

/**
 * A port as Node reads one: a number, or a string of digits (`"8080"` from
 * an environment variable, which Node's `listen`, `bind` and `send` take);
 * NaN for anything else.
 */
export function portValue(port: unknown): number {
  if (typeof port === "number") return port;
  return typeof port === "string" && /^[0-9]+$/.test(port) ? Number(port) : Number.NaN;
}
