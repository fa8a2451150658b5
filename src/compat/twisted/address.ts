/**
 * Twisted's addresses: what `getPeer()`, `getHost()` and `buildProtocol(addr)` give.
 * @module
 */

/**
 * An IPv4 address and port (Twisted's `IPv4Address`), for TCP or UDP. An
 * IPv4 peer seen through a dual-stack socket (`::ffff:1.2.3.4`) is shown
 * as plain IPv4, as Twisted's IPv4 reactor would.
 *
 * @example
 * ```ts
 * import { IPv4Address } from "corio/compat/twisted";
 * const address = new IPv4Address("TCP", "127.0.0.1", 8000);
 * console.assert(String(address) === "IPv4Address(type='TCP', host='127.0.0.1', port=8000)");
 * ```
 */
export class IPv4Address {
  /** `"TCP"` or `"UDP"`. */
  readonly type: "TCP" | "UDP";
  /** The dotted-quad host. */
  readonly host: string;
  /** The port number. */
  readonly port: number;

  constructor(type: "TCP" | "UDP", host: string, port: number) {
    this.type = type;
    this.host = host;
    this.port = port;
  }

  toString(): string {
    return `IPv4Address(type='${this.type}', host='${this.host}', port=${this.port})`;
  }
}

/**
 * An IPv6 address and port (Twisted's `IPv6Address`).
 *
 * @example
 * ```ts
 * import { IPv6Address } from "corio/compat/twisted";
 * console.assert(new IPv6Address("TCP", "::1", 8000).host === "::1");
 * ```
 */
export class IPv6Address {
  /** `"TCP"` or `"UDP"`. */
  readonly type: "TCP" | "UDP";
  /** The IPv6 host. */
  readonly host: string;
  /** The port number. */
  readonly port: number;

  constructor(type: "TCP" | "UDP", host: string, port: number) {
    this.type = type;
    this.host = host;
    this.port = port;
  }

  toString(): string {
    return `IPv6Address(type='${this.type}', host='${this.host}', port=${this.port})`;
  }
}

/** An address a transport or port reports. */
export type Address = IPv4Address | IPv6Address;

/** @internal An address from Node's `{ address, port, family }`. */
export function toAddress(type: "TCP" | "UDP", info: { address: string; port: number; family?: string | number } | string | undefined | null): Address {
  if (info === undefined || info === null || typeof info === "string") return new IPv4Address(type, info ?? "", 0);
  const { address, port } = info;
  if (address.startsWith("::ffff:") && address.includes(".")) return new IPv4Address(type, address.slice(7), port);
  if (address.includes(":")) return new IPv6Address(type, address, port);
  return new IPv4Address(type, address, port);
}
