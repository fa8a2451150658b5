// Load generator for `npm run bench:instructions -- http-hello http-hello-node`:
// CLIENTS keep-alive connections, each sending REQUESTS GETs one after the
// other (the next once the whole response is in), over raw sockets so that
// the client's own cost stays out of the server's count. With a last
// argument `exit`, then asks the server to exit (GET /exit). Prints the
// responses it counted.
import { connect } from "node:net";

const [port, clients, requests] = process.argv.slice(2, 5).map(Number);
const exit = process.argv[5] === "exit";

/** Sends `count` requests for `path` on one connection; resolves with the responses read. */
function session(path, count) {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    socket.setNoDelay(true);
    const request = `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`;
    let answered = 0;
    let buffer = "";
    socket.on("connect", () => socket.write(request));
    socket.on("data", (chunk) => {
      buffer += chunk.toString("latin1");
      for (;;) {
        const headEnd = buffer.indexOf("\r\n\r\n");
        if (headEnd < 0) return;
        const length = /\r\ncontent-length: *(\d+)/i.exec(buffer.slice(0, headEnd));
        if (length === null) return reject(new Error(`a response without content-length: ${buffer.slice(0, headEnd)}`));
        const end = headEnd + 4 + Number(length[1]);
        if (buffer.length < end) return;
        buffer = buffer.slice(end);
        if (++answered < count) socket.write(request);
        else socket.end();
      }
    });
    socket.on("close", () => resolve(answered));
    socket.on("error", reject);
  });
}

const answered = await Promise.all(Array.from({ length: clients }, () => session("/", requests)));
console.log(answered.reduce((sum, n) => sum + n, 0));
if (exit) await session("/exit", 1).catch(() => {});
