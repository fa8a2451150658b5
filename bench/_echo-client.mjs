// Load generator for bench/net.bench.ts: CLIENTS connections, each sends a
// message and waits for its echo, LINES times. Messages are text lines, or
// SIZE-byte binary messages when a size is given. Prints messages/s and
// latency percentiles (ms) as JSON.
import { connect } from "node:net";

const [port, clients, lines, size] = process.argv.slice(2).map(Number);
const latencies = [];
const start = performance.now();
await Promise.all(
  Array.from(
    { length: clients },
    () =>
      new Promise((resolve, reject) => {
        const socket = connect(port, "127.0.0.1");
        socket.setNoDelay(true);
        let sent = 0;
        let sentAt = 0;
        let buffer = "";
        let pending = 0;
        const message = size ? Buffer.alloc(size, 97) : undefined;
        const send = () => {
          sentAt = performance.now();
          if (message) {
            pending = size;
            socket.write(message);
          } else socket.write(`line number ${sent} with some payload to echo back\n`);
          sent++;
        };
        const echoed = () => {
          latencies.push(performance.now() - sentAt);
          if (sent < lines) send();
          else socket.end();
        };
        socket.on("connect", send);
        socket.on("data", (chunk) => {
          if (message) {
            pending -= chunk.length;
            if (pending <= 0) echoed();
            return;
          }
          buffer += chunk.toString("utf8");
          while (buffer.includes("\n")) {
            buffer = buffer.slice(buffer.indexOf("\n") + 1);
            echoed();
          }
        });
        socket.on("close", resolve);
        socket.on("error", reject);
      }),
  ),
);
const seconds = (performance.now() - start) / 1000;
latencies.sort((a, b) => a - b);
const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
console.log(JSON.stringify({ linesPerSecond: latencies.length / seconds, p50: at(0.5), p99: at(0.99) }));
