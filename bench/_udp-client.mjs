// UDP load for bench/net.bench.ts: sends COUNT datagrams with up to 32 in
// flight, counts the echoes, prints datagrams per second (lost ones are
// given up on after 1 s of silence).
import { createSocket } from "node:dgram";

const [port, count] = process.argv.slice(2).map(Number);
const socket = createSocket("udp4");
const payload = Buffer.alloc(64, 1);
let sent = 0;
let received = 0;
let last = performance.now();
const start = performance.now();
await new Promise((resolve) => {
  const pump = () => {
    while (sent < count && sent - received < 32) {
      sent++;
      socket.send(payload, port, "127.0.0.1");
    }
  };
  socket.on("message", () => {
    received++;
    last = performance.now();
    if (received >= count) resolve();
    else pump();
  });
  const watchdog = setInterval(() => {
    if (performance.now() - last > 1000) {
      clearInterval(watchdog);
      resolve();
    } else if (received >= count) clearInterval(watchdog);
    else {
      received = Math.max(received, sent - 32);
      pump();
    }
  }, 100);
  socket.bind(0, "127.0.0.1", pump);
});
console.log(received / ((last - start) / 1000));
socket.close();
process.exit(0);
