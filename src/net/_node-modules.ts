/**
 * The Node modules `corio/net` needs only for some servers and connections
 * (TLS, HTTPS, a cluster's workers), loaded when first used rather than when
 * `corio/net` is imported: `node:tls`, `node:https` and `node:cluster` took
 * about 9 of the 53 ms that `import "corio/net"` took, in programs that
 * mostly serve plain HTTP or TCP. Node's own modules load synchronously
 * through `require`, so a server's options are still checked and its socket
 * created within the call, as before.
 * @module
 */
import type * as Cluster from "node:cluster";
import type * as Https from "node:https";
import { createRequire } from "node:module";
import type * as Tls from "node:tls";

const require = createRequire(import.meta.url);

let tls: typeof Tls | undefined;
let https: typeof Https | undefined;
let cluster: Cluster.Cluster | undefined;

/** `node:tls`. */
export function nodeTls(): typeof Tls {
  tls ??= require("node:tls") as typeof Tls;
  return tls;
}

/** `node:https`. */
export function nodeHttps(): typeof Https {
  https ??= require("node:https") as typeof Https;
  return https;
}

/** `node:cluster`'s cluster. */
export function nodeCluster(): Cluster.Cluster {
  cluster ??= require("node:cluster") as Cluster.Cluster;
  return cluster;
}
