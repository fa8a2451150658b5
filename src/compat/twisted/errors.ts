/**
 * Twisted's network errors (`twisted.internet.error`): why a connection
 * ended, and why one could not be made or a port could not be opened. They
 * reach protocols and factories wrapped in a `Failure`, so errbacks and
 * `connectionLost` can `failure.check(ConnectionDone)` as in Twisted.
 * @module
 */

/** Twisted's message, with the detail after a colon (its `str()` of an error with arguments). */
function message(base: string, detail: string | undefined): string {
  return detail === undefined || detail === "" ? base : `${base}: ${detail}`;
}

/**
 * Base of `ConnectionDone` and `ConnectionLost`: the connection is over.
 *
 * @example
 * ```ts
 * import { ConnectionClosed, ConnectionDone } from "corio/compat/twisted";
 * console.assert(new ConnectionDone() instanceof ConnectionClosed);
 * ```
 */
export class ConnectionClosed extends Error {
  override name = "ConnectionClosed";
  constructor(detail?: string, options?: ErrorOptions) {
    super(message("Connection was closed", detail), options);
  }
}

/**
 * The reason given to `connectionLost` for a clean close: the peer closed
 * its end, or `loseConnection()` finished sending and closed ours.
 *
 * @example
 * ```ts
 * import { ConnectionDone, Failure } from "corio/compat/twisted";
 * const reason = new Failure(new ConnectionDone());
 * console.assert(reason.check(ConnectionDone) === ConnectionDone);
 * console.assert(reason.getErrorMessage() === "Connection was closed cleanly.");
 * ```
 */
export class ConnectionDone extends ConnectionClosed {
  override name = "ConnectionDone";
  constructor(detail?: string, options?: ErrorOptions) {
    super(undefined, options);
    this.message = message("Connection was closed cleanly.", detail);
  }
}

/**
 * The reason given to `connectionLost` when the connection ended any other
 * way: reset by the peer, a network error, or the reactor stopping with the
 * connection open. The OS error, when there is one, is the `cause`.
 *
 * @example
 * ```ts
 * import { ConnectionLost } from "corio/compat/twisted";
 * const error = new ConnectionLost("ECONNRESET");
 * console.assert(error.message === "Connection to the other side was lost in a non-clean fashion: ECONNRESET");
 * ```
 */
export class ConnectionLost extends ConnectionClosed {
  override name = "ConnectionLost";
  constructor(detail?: string, options?: ErrorOptions) {
    super(undefined, options);
    this.message = message("Connection to the other side was lost in a non-clean fashion", detail);
  }
}

/**
 * The reason given to `connectionLost` after `transport.abortConnection()`.
 *
 * @example
 * ```ts
 * import { ConnectionAborted, ConnectionLost } from "corio/compat/twisted";
 * console.assert(new ConnectionAborted() instanceof ConnectionLost);
 * ```
 */
export class ConnectionAborted extends ConnectionLost {
  override name = "ConnectionAborted";
  constructor(detail?: string, options?: ErrorOptions) {
    super(undefined, options);
    this.message = message("Connection was aborted locally using ITCPTransport.abortConnection.", detail);
  }
}

/**
 * A connection could not be made (given to `clientConnectionFailed`). The
 * OS error, when there is one, is the `cause`, and its `code` is copied.
 *
 * @example
 * ```ts
 * import { ConnectError, ConnectionRefusedError } from "corio/compat/twisted";
 * console.assert(new ConnectionRefusedError() instanceof ConnectError);
 * ```
 */
export class ConnectError extends Error {
  override name = "ConnectError";
  /** The OS error code (`ECONNREFUSED`, `EHOSTUNREACH`...), when there is one. */
  code: string | undefined;
  constructor(detail?: string, options?: ErrorOptions & { code?: string }) {
    super(message("An error occurred while connecting", detail), options);
    this.code = options?.code;
  }
}

/**
 * The peer refused the connection (nothing listens on that port).
 *
 * @example
 * ```ts
 * import { ConnectionRefusedError } from "corio/compat/twisted";
 * console.assert(new ConnectionRefusedError().message === "Connection was refused by other side");
 * ```
 */
export class ConnectionRefusedError extends ConnectError {
  override name = "ConnectionRefusedError";
  constructor(detail?: string, options?: ErrorOptions & { code?: string }) {
    super(undefined, options);
    this.message = message("Connection was refused by other side", detail);
  }
}

/**
 * The connection attempt was cancelled by `connector.stopConnecting()`.
 *
 * @example
 * ```ts
 * import { UserError } from "corio/compat/twisted";
 * console.assert(new UserError().message === "User aborted connection");
 * ```
 */
export class UserError extends ConnectError {
  override name = "UserError";
  constructor(detail?: string, options?: ErrorOptions & { code?: string }) {
    super(undefined, options);
    this.message = message("User aborted connection", detail);
  }
}

/**
 * The connection attempt took longer than `connectTCP`'s `timeout`
 * (Twisted's `twisted.internet.error.TimeoutError`; not corio's own
 * `TimeoutError`, which `timeout()` throws).
 *
 * @example
 * ```ts
 * import { TimeoutError, UserError } from "corio/compat/twisted";
 * const error = new TimeoutError();
 * console.assert(error instanceof UserError && error.message === "User timeout caused connection failure.");
 * ```
 */
export class TimeoutError extends UserError {
  override name = "TimeoutError";
  constructor(detail?: string, options?: ErrorOptions & { code?: string }) {
    super(undefined, options);
    this.message = message("User timeout caused connection failure.", detail);
  }
}

/**
 * The host name of a connection could not be resolved.
 *
 * @example
 * ```ts
 * import { DNSLookupError } from "corio/compat/twisted";
 * console.assert(new DNSLookupError("no.such.host").message === "DNS lookup failed: no.such.host");
 * ```
 */
export class DNSLookupError extends Error {
  override name = "DNSLookupError";
  constructor(detail?: string, options?: ErrorOptions) {
    super(message("DNS lookup failed", detail), options);
  }
}

/**
 * A port could not be opened (`listenTCP`, `listenUDP`): the address is in
 * use, or not available. The OS error is the `cause`.
 *
 * @example
 * ```ts
 * import { CannotListenError } from "corio/compat/twisted";
 * const error = new CannotListenError("127.0.0.1", 80, new Error("EACCES"));
 * console.assert(error.port === 80 && error.message === "Couldn't listen on 127.0.0.1:80: EACCES.");
 * ```
 */
export class CannotListenError extends Error {
  override name = "CannotListenError";
  /** The interface asked for (`""` for all). */
  readonly interface: string;
  /** The port asked for. */
  readonly port: number;
  /** The OS error code (`EADDRINUSE`, `EACCES`...), when there is one. */
  readonly code: string | undefined;
  constructor(iface: string, port: number, cause: unknown) {
    const why = cause instanceof Error ? cause.message : String(cause);
    super(`Couldn't listen on ${iface === "" ? "any" : iface}:${port}: ${why}.`, { cause });
    this.interface = iface;
    this.port = port;
    this.code = (cause as { code?: string } | null)?.code;
  }
}

/**
 * Raised by `connector.stopConnecting()` when it is not connecting.
 *
 * @example
 * ```ts
 * import { NotConnectingError } from "corio/compat/twisted";
 * console.assert(new NotConnectingError().name === "NotConnectingError");
 * ```
 */
export class NotConnectingError extends Error {
  override name = "NotConnectingError";
  constructor(detail = "we're not trying to connect") {
    super(message("The Connector was not connecting when it was asked to stop connecting", detail));
  }
}
