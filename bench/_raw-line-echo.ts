// The raw node:net line echo that net.bench.ts measures corio against (its floor), shared with
// bench/_instructions-case.ts (`line-echo-raw`) so that both count the same server.
import type { Socket } from "node:net";

/**
 * Echoes `socket`'s lines as a plain node:net server would: text split with `indexOf`, one write
 * for the whole lines of each chunk (a partial line waits for its rest).
 *
 * @example
 * createServer({ noDelay: true }, echoLinesRaw).listen(0, "127.0.0.1");
 */
export function echoLinesRaw(socket: Socket): void {
  let buffer = "";
  socket.setEncoding("utf8");
  socket.on("data", (chunk: string) => {
    buffer += chunk;
    let out = "";
    for (let i = buffer.indexOf("\n"); i >= 0; i = buffer.indexOf("\n")) {
      out += buffer.slice(0, i + 1);
      buffer = buffer.slice(i + 1);
    }
    if (out) socket.write(out);
  });
}
