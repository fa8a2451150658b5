/**
 * A Unix socket file left behind by a server that is gone (a process that
 * crashed or was killed: Node removes the file at a clean close).
 * @module
 */
import { type BigIntStats, lstatSync, unlinkSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { ExternalPark } from "../core/_external-park.ts";
import type { Operation } from "../core/operation.ts";
import { requireCurrentTask } from "../core/spawn.ts";

/** How long a probe that reached a live server waits for it to close the connection before dropping it. */
const PROBE_LINGER_MS = 1000;

/**
 * Removes the socket file at `path` if nothing listens on it any more, and
 * says whether the listen may be tried again. asyncio's
 * `create_unix_server` removes any socket file it finds there; corio first
 * connects to it and removes it only when that is refused, so a live
 * server's socket is never taken over (its `EADDRINUSE` stands; the live
 * server sees one connection that sends nothing and ends). A path that is
 * not a socket file (a regular file, an abstract socket, a Windows pipe) is
 * left alone, and so is a file that changed since the probe began (another
 * server removed the stale one and listens there now).
 *
 * **Cancellation:** the probe connection is closed, the file left as it is.
 *
 * @throws an `EADDRINUSE` error that says so (the failure as its `cause`)
 * if the stale file cannot be removed (`EACCES`: a directory the process
 * may not write).
 */
export function* removeStaleSocket(path: string): Operation<boolean> {
  const probed = socketFileAt(path);
  if (probed === undefined) return false;
  const task = requireCurrentTask("listen");
  let probe: Socket | undefined;
  const park = new ExternalPark<boolean>(task, "io", () => probe?.destroy(), `a probe of the socket file ${path}`);
  probe = connect(path);
  probe.once("connect", () => {
    park.resolve(false);
    // A live server: end the connection as a client would (a reset would reach its handler as a peer that
    // went away); what it sends is read and dropped, and a server that keeps it open (a heartbeat would
    // keep an idle timeout from firing) is left after PROBE_LINGER_MS.
    const socket = probe as Socket;
    const linger = setTimeout(() => socket.destroy(), PROBE_LINGER_MS);
    linger.unref();
    socket.once("close", () => clearTimeout(linger));
    socket.on("data", () => {});
    socket.unref();
    socket.end();
  });
  probe.on("error", (error: NodeJS.ErrnoException) => {
    probe?.destroy();
    if (error.code === "ENOENT") park.resolve(true);
    else if (error.code !== "ECONNREFUSED") park.resolve(false);
    else {
      try {
        park.resolve(removeIfSame(path, probed));
      } catch (unlinkError) {
        park.reject(
          Object.assign(
            new Error(
              `Cannot listen on ${path}: a socket file left by a server that is gone is there, and removing it failed (${(unlinkError as NodeJS.ErrnoException).code ?? String(unlinkError)}): remove it yourself`,
              { cause: unlinkError },
            ),
            { code: "EADDRINUSE" },
          ),
        );
      }
    }
  });
  return (yield park) as boolean;
}

/** The socket file at `path`, or `undefined` for anything else (nothing there, a regular file, a directory). */
function socketFileAt(path: string): BigIntStats | undefined {
  try {
    const stats = lstatSync(path, { bigint: true });
    return stats.isSocket() ? stats : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Removes the file at `path` if it is still the one probed (same device,
 * inode and change time: a file system may give the new socket the inode
 * the removed one had): two servers probing one stale file at once must not
 * have the second remove the socket the first has just listened on. Says
 * whether the listen may be tried again.
 */
function removeIfSame(path: string, probed: BigIntStats): boolean {
  const now = socketFileAt(path);
  if (now === undefined) return !pathExists(path);
  if (now.ino !== probed.ino || now.dev !== probed.dev || now.ctimeNs !== probed.ctimeNs) return false;
  try {
    unlinkSync(path);
    return true;
  } catch (error) {
    // Gone meanwhile (removed by another server's probe): the listen may be tried. Anything else (EACCES)
    // leaves the file there, and the caller is told why.
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return true;
    throw error;
  }
}

function pathExists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}
