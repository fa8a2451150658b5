// SSE subscribers for bench/http.bench.ts: opens SUBSCRIBERS event streams
// (GET /events?id=i on raw sockets, 100 connects at a time), waits until each
// has its response head, then asks the server to broadcast MESSAGES messages
// (GET /start?n=MESSAGES&batch=BATCH) and counts the events each subscriber
// receives (occurrences of "\nid: " in its byte stream). Prints JSON: total
// deliveries, deliveries per second (from the /start request to the last
// delivery), how many subscribers got every message, how many were closed
// early, and the server's own answer.
import { get } from "node:http";
import { connect } from "node:net";

const [port, subscribers, messages, batch] = process.argv.slice(2).map(Number);
const MARK = "\nid: ";
const subs = [];
let pending = subscribers;
let lastDelivery = 0;
let finish;
const finished = new Promise((resolve) => {
  finish = resolve;
});
const settle = () => {
  if (--pending === 0) finish();
};

function subscribe(i) {
  return new Promise((resolve, reject) => {
    const sub = { socket: connect(port, "127.0.0.1"), count: 0, tail: "", ready: false, done: false, closed: false };
    subs.push(sub);
    sub.socket.on("connect", () => sub.socket.write(`GET /events?id=${i} HTTP/1.1\r\nhost: 127.0.0.1\r\naccept: text/event-stream\r\n\r\n`));
    sub.socket.on("data", (chunk) => {
      const text = sub.tail + chunk.toString("latin1");
      if (!sub.ready && text.includes("retry:")) {
        sub.ready = true;
        resolve();
      }
      const before = sub.count;
      for (let at = text.indexOf(MARK); at >= 0; at = text.indexOf(MARK, at + MARK.length)) sub.count++;
      sub.tail = text.slice(-(MARK.length - 1));
      if (sub.count > before) lastDelivery = performance.now();
      if (!sub.done && sub.count >= messages) {
        sub.done = true;
        settle();
      }
    });
    sub.socket.on("error", (error) => {
      if (!sub.ready) reject(error);
    });
    sub.socket.on("close", () => {
      sub.closed = true;
      if (!sub.done) {
        sub.done = true;
        settle();
      }
    });
  });
}

for (let i = 0; i < subscribers; i += 100) {
  await Promise.all(Array.from({ length: Math.min(100, subscribers - i) }, (_, k) => subscribe(i + k)));
}

const started = performance.now();
const server = await new Promise((resolve, reject) => {
  get(`http://127.0.0.1:${port}/start?n=${messages}&batch=${batch}`, (response) => {
    let body = "";
    response.setEncoding("utf8");
    response.on("data", (chunk) => {
      body += chunk;
    });
    response.on("end", () => resolve(JSON.parse(body)));
  }).on("error", reject);
});
const timeout = setTimeout(finish, 120_000);
await finished;
clearTimeout(timeout);
const delivered = subs.reduce((sum, sub) => sum + sub.count, 0);
const seconds = (lastDelivery - started) / 1000;
console.log(
  JSON.stringify({
    subscribers,
    messages,
    delivered,
    expected: subscribers * messages,
    complete: subs.filter((sub) => sub.count === messages).length,
    closedEarly: subs.filter((sub) => sub.closed && sub.count < messages).length,
    seconds,
    deliveriesPerSecond: delivered / seconds,
    server,
  }),
);
for (const sub of subs) sub.socket.destroy();
