// Load generator for bench/net.bench.ts: CLIENTS connections, each sends a
// line and waits for its echo, LINES times. Prints lines/s and latency
// percentiles (ms) as JSON.
import { connect } from "node:net";

const [port, clients, lines] = process.argv.slice(2).map(Number);
const latencies = [];
const start = performance.now();
await Promise.all(
  Array.from(
    { length: clients },
    () =>
      new Promise((resolve, reject) => {
        const socket = connect(port, "127.0.0.1");
        socket.setNoDelay(true);
        socket.setEncoding("utf8");
        let sent = 0;
        let sentAt = 0;
        let buffer = "";
        const send = () => {
          sentAt = performance.now();
          socket.write(`line number ${sent} with some payload to echo back\n`);
          sent++;
        };
        socket.on("connect", send);
        socket.on("data", (chunk) => {
          buffer += chunk;
          while (buffer.includes("\n")) {
            buffer = buffer.slice(buffer.indexOf("\n") + 1);
            latencies.push(performance.now() - sentAt);
            if (sent < lines) send();
            else socket.end();
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
