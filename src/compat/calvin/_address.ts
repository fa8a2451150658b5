/**
 * The peer and local addresses the Calvin classes hand out.
 * @module
 */

/**
 * A host and port (what Twisted gave as an `IPv4Address` in the original).
 * `String(address)` is `"host:port"` (`"[::1]:port"` for IPv6), unique per
 * peer, so it serves as a connection handle as `str(addr)` did.
 */
export interface Address {
  readonly host: string;
  readonly port: number;
  toString(): string;
}

/** Makes an `Address`. */
export function makeAddress(host: string, port: number): Address {
  const text = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  return Object.freeze({ host, port, toString: () => text });
}
