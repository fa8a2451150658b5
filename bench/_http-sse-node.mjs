// SSE fan-out server for bench/http.bench.ts: raw node:http (the floor). The
// same protocol, frames and pacing as _http-sse-corio.ts, and the same
// slow-client rule as corio's EventSource (drop a client with more than
// 1 MiB queued); the frame is built once per event and written to each client.
// Prints its port, serves until its stdin closes.
import { createServer } from "node:http";

const PACE = 256 * 1024;
const MAX_BUFFERED = 1024 * 1024;
const clients = new Map();
let nextId = 1;
let sent = 0;
let droppedSlow = 0;

const backlog = () => {
  let max = 0;
  for (const response of clients.values()) if (response.writableLength > max) max = response.writableLength;
  return max;
};

function broadcast(data) {
  const frame = `id: ${nextId++}\ndata: ${JSON.stringify(data)}\n\n`;
  for (const [id, response] of clients) {
    if (response.destroyed || response.writableEnded) {
      clients.delete(id);
      continue;
    }
    if (response.writableLength > MAX_BUFFERED) {
      droppedSlow++;
      response.destroy();
      clients.delete(id);
      continue;
    }
    response.write(frame);
    sent++;
  }
}

const server = createServer(async (req, res) => {
  const url = new URL(req.url, "http://localhost");
  if (url.pathname === "/events") {
    const id = url.searchParams.get("id") ?? String(nextId);
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      connection: "keep-alive",
      "access-control-allow-origin": "*",
      "x-accel-buffering": "no",
    });
    res.write("retry: 1000\n\n");
    clients.get(id)?.end();
    clients.set(id, res);
    res.once("close", () => {
      if (clients.get(id) === res) clients.delete(id);
    });
  } else if (url.pathname === "/start") {
    const n = Number(url.searchParams.get("n"));
    const batch = Number(url.searchParams.get("batch"));
    const started = performance.now();
    let paused = 0;
    for (let i = 0; i < n; ) {
      for (let b = 0; b < batch && i < n; b++, i++) broadcast({ seq: i, text: "the quick brown fox jumps over the lazy dog" });
      await new Promise((resolve) => setImmediate(resolve));
      while (backlog() > PACE) {
        paused++;
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    }
    const body = JSON.stringify({ serverMs: performance.now() - started, paused, clients: clients.size, sent, droppedSlow });
    res.writeHead(200, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(body) });
    res.end(body);
  } else {
    res.writeHead(404);
    res.end("not found");
  }
});
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
process.stdin.on("end", () => {
  for (const response of clients.values()) response.end();
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
process.stdin.resume();
