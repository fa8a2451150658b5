/**
 * Finding a runtime node's TLS certificate by its name (the Calvin seed's
 * `node_name`).
 * @module
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { SecureContext } from "node:tls";
import { nodeTls } from "./_node-modules.ts";

/** A node's credentials, PEM-encoded. */
export interface NodeCredentials {
  cert: string;
  key: string;
  /** The CA certificates the node trusts for transport, if a trust store exists. */
  ca?: string[];
}

/**
 * Loads the certificate and key of the node called `nodeName` from a
 * security directory laid out as the Calvin runtime does:
 * `<dir>/runtimes/<nodeName>/mine/<id>.pem` (the certificate),
 * `<dir>/runtimes/<nodeName>/private/private.key` (its key), and the CA
 * certificates of `<dir>/runtimes/truststore_for_transport/*.pem`.
 *
 * @throws {Error} naming the missing file when the node has no certificate.
 * @example
 * ```ts ignore
 * import { loadNodeCredentials, startServer } from "corio/net";
 * const credentials = loadNodeCredentials("/etc/calvin/security", "node-1");
 * const server = yield* startServer(handler, { port: 5001, tls: credentials });
 * ```
 */
export function loadNodeCredentials(securityDir: string, nodeName: string): NodeCredentials {
  const nodeDir = join(securityDir, "runtimes", nodeName);
  const mine = join(nodeDir, "mine");
  const certFile = existsSync(mine) ? readdirSync(mine).find((file) => file.endsWith(".pem")) : undefined;
  if (certFile === undefined) throw new Error(`Cannot find the certificate of node ${nodeName}: no .pem file in ${mine}`);
  const keyPath = join(nodeDir, "private", "private.key");
  if (!existsSync(keyPath)) throw new Error(`Cannot find the private key of node ${nodeName}: ${keyPath} does not exist`);
  const trustDir = join(securityDir, "runtimes", "truststore_for_transport");
  const ca = existsSync(trustDir)
    ? readdirSync(trustDir)
        .filter((file) => file.endsWith(".pem"))
        .map((file) => readFileSync(join(trustDir, file), "utf8"))
    : [];
  return { cert: readFileSync(join(mine, certFile), "utf8"), key: readFileSync(keyPath, "utf8"), ...(ca.length > 0 && { ca }) };
}

/**
 * Whether a name a client asks for can name a runtime's directory: one path
 * segment (no `/`, `\` or NUL, not `.` or `..`), at most 255 bytes in UTF-8.
 * Calvin's node names are not host names (`com.ericsson++++laptop`, parts
 * with spaces), so nothing more is asked of them.
 */
function isNodeDirectoryName(name: string): boolean {
  // 255 bytes, as file systems count a name (a long non-ASCII name would fail there, less clearly).
  return name.length > 0 && Buffer.byteLength(name) <= 255 && name !== "." && name !== ".." && !/[/\\\0]/.test(name);
}

/**
 * An `SNICallback` for `startServer({ tls })` that serves, for each TLS
 * client, the certificate of the node it asked for by name (its SNI
 * server name), found with `loadNodeCredentials`. Contexts are cached.
 * The name comes from the client: one that is not a single directory name
 * (a `/`, `\` or NUL in it, or `.` or `..`) fails the handshake, so it can
 * never name a path outside `<dir>/runtimes`.
 *
 * @example
 * ```ts ignore
 * import { nodeCertificateResolver, startServer } from "corio/net";
 * const SNICallback = nodeCertificateResolver("/etc/calvin/security");
 * const server = yield* startServer(handler, { port: 5001, tls: { SNICallback } });
 * ```
 */
export function nodeCertificateResolver(securityDir: string): (servername: string, callback: (error: Error | null, context?: SecureContext) => void) => void {
  const cache = new Map<string, SecureContext>();
  return (servername, callback) => {
    try {
      if (!isNodeDirectoryName(servername)) {
        throw new Error(`Cannot serve a certificate for ${JSON.stringify(servername)}: a node name is one directory name (no /, \\, NUL, . or ..)`);
      }
      let context = cache.get(servername);
      if (context === undefined) {
        const { cert, key } = loadNodeCredentials(securityDir, servername);
        context = nodeTls().createSecureContext({ cert, key });
        cache.set(servername, context);
      }
      callback(null, context);
    } catch (error) {
      callback(error as Error);
    }
  };
}
