// Hello-world server for bench/http.bench.ts: raw node:http (the floor).
// Prints its port, serves until its stdin closes.
import { createServer } from "node:http";

const body = "hello world";
const server = createServer((_req, res) => {
  res.writeHead(200, { "content-type": "text/plain; charset=utf-8", "content-length": Buffer.byteLength(body) });
  res.end(body);
});
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
process.stdin.on("end", () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
process.stdin.resume();
