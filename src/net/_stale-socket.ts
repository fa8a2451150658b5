/**
 * A Unix socket file left behind by a server that is gone (a process that
 * crashed or was killed: Node removes the file at a clean close).
 * @module
 */
import { lstatSync, unlinkSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { ExternalPark } from "../core/_external-park.ts";
import type { Operation } from "../core/operation.ts";
import { requireCurrentTask } from "../core/spawn.ts";

/**
 * Removes the socket file at `path` if nothing listens on it any more, and
 * says whether the listen may be tried again. asyncio's
 * `create_unix_server` removes any socket file it finds there; corio first
 * connects to it and removes it only when that is refused, so a live
 * server's socket is never taken over (its `EADDRINUSE` stands). A path
 * that is not a socket file (a regular file, an abstract socket, a Windows
 * pipe) is left alone.
 *
 * **Cancellation:** the probe connection is closed, the file left as it is.
 */
export function* removeStaleSocket(path: string): Operation<boolean> {
  try {
    if (!lstatSync(path).isSocket()) return false;
  } catch {
    return false;
  }
  const task = requireCurrentTask("listen");
  let probe: Socket | undefined;
  const park = new ExternalPark<boolean>(task, "io", () => probe?.destroy(), `a probe of the socket file ${path}`);
  probe = connect(path);
  probe.once("connect", () => {
    probe?.destroy();
    park.resolve(false);
  });
  probe.once("error", (error: NodeJS.ErrnoException) => {
    probe?.destroy();
    if (error.code === "ENOENT") park.resolve(true);
    else if (error.code !== "ECONNREFUSED") park.resolve(false);
    else {
      try {
        unlinkSync(path);
        park.resolve(true);
      } catch (unlinkError) {
        park.resolve((unlinkError as NodeJS.ErrnoException).code === "ENOENT");
      }
    }
  });
  return (yield park) as boolean;
}
