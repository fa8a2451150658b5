/**
 * The clients' event callbacks (the original's `callbacks` dict of
 * `CalvinCB` lists), called from the client's task; what they throw is
 * reported to the loop's `onError`, as the original logged and swallowed it.
 * @module
 */
import type { Address } from "./_address.ts";
import { named, report } from "./_trigger.ts";

/** One callback, or a list of them (the original's lists of `CalvinCB`). */
export type OneOrMany<F> = F | readonly F[];

/**
 * The events of a `TCPClient` or `UDPClient` (the original's `callbacks`
 * dict, keys in camelCase). With `dataReceived`, data is pushed to it;
 * without, it waits for `dataGet()`.
 *
 * @typeParam D The data of one message.
 */
export interface ClientCallbacks<D> {
  /** Each message (`data_received`). */
  dataReceived?: OneOrMany<(data: D) => void>;
  /** The connection is up (`connected`), with the peer's address. */
  connected?: OneOrMany<(address: Address) => void>;
  /** The connection has ended (`connection_lost`), with the address connected to and why. */
  connectionLost?: OneOrMany<(address: Address, reason: string) => void>;
  /** The connection could not be made (`connection_failed`). */
  connectionFailed?: OneOrMany<(address: Address, reason: string) => void>;
}

const NAMES = ["dataReceived", "connected", "connectionLost", "connectionFailed"] as const;

/** Checks a callbacks object, or throws a `TypeError` naming `what`. */
export function checkCallbacks(callbacks: unknown, what: string): void {
  if (callbacks === undefined) return;
  if (callbacks === null || typeof callbacks !== "object")
    throw new TypeError(`Cannot create ${named(what)}: callbacks must be an object, received ${typeof callbacks}`);
  for (const [name, value] of Object.entries(callbacks)) {
    if (!(NAMES as readonly string[]).includes(name)) {
      throw new TypeError(`Cannot create ${named(what)}: unknown callback ${JSON.stringify(name)}; the events are ${NAMES.join(", ")}`);
    }
    const list: unknown[] = Array.isArray(value) ? value : [value];
    if (!list.every((fn) => typeof fn === "function"))
      throw new TypeError(`Cannot create ${named(what)}: callbacks.${name} must be a function or a list of functions`);
  }
}

/** True if `event` has at least one callback. */
export function has(callbacks: ClientCallbacks<never> | undefined, event: (typeof NAMES)[number]): boolean {
  const value = callbacks?.[event];
  return value !== undefined && (!Array.isArray(value) || value.length > 0);
}

/** Calls every callback of `event`, each on its own: one that throws is reported and the others still run. */
export function emit(callbacks: object | undefined, event: (typeof NAMES)[number], args: unknown[]): void {
  const value = (callbacks as Record<string, unknown> | undefined)?.[event];
  if (value === undefined) return;
  for (const fn of Array.isArray(value) ? value : [value]) invoke(fn, args);
}

/** Calls `fn(...args)`; what it throws is reported to the loop's `onError`. */
export function invoke(fn: (...args: never[]) => unknown, args: unknown[]): void {
  try {
    fn(...(args as never[]));
  } catch (error) {
    report(error, fn.name ? `callback ${fn.name}` : "callback", "callback");
  }
}
