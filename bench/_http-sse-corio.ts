// SSE fan-out server for bench/http.bench.ts: corio's serveHttp + EventSource.
// GET /events?id=N attaches subscriber N; GET /start?n=N&batch=B broadcasts N
// messages, B per turn of the host loop, waiting while a subscriber has more
// than PACE bytes queued, and answers with the server-side time and the
// EventSource's stats. Prints its port, serves until its stdin closes.
import type { ServerResponse } from "node:http";
import { Future, run, until } from "../src/index.ts";
import { EventSource, serveHttp } from "../src/net/index.ts";

const PACE = 256 * 1024;
const stop = new Future<void>();
process.stdin.on("end", () => stop.resolve());
process.stdin.resume();

const backlog = (subscribers: Set<ServerResponse>): number => {
  let max = 0;
  for (const response of subscribers) if (response.writableLength > max) max = response.writableLength;
  return max;
};

await run(function* () {
  const events = new EventSource({ heartbeat: 0 });
  const subscribers = new Set<ServerResponse>();
  const server = yield* serveHttp(function* (request, response) {
    if (request.path === "/events") {
      subscribers.add(response.raw);
      try {
        yield* events.attach(request, response, request.query.get("id") ?? undefined);
      } finally {
        subscribers.delete(response.raw);
      }
    } else if (request.path === "/start") {
      const n = Number(request.query.get("n"));
      const batch = Number(request.query.get("batch"));
      const started = performance.now();
      let paused = 0;
      for (let i = 0; i < n; ) {
        for (let b = 0; b < batch && i < n; b++, i++) events.broadcast({ seq: i, text: "the quick brown fox jumps over the lazy dog" });
        yield* until(new Promise((resolve) => setImmediate(resolve)));
        while (backlog(subscribers) > PACE) {
          paused++;
          yield* until(new Promise((resolve) => setTimeout(resolve, 1)));
        }
      }
      yield* response.json({ serverMs: performance.now() - started, paused, ...events.stats });
    } else yield* response.send(404, "not found");
  });
  console.log(server.address.port);
  yield* stop;
  events.close();
  server.close(0);
  yield* server.waitClosed();
});
process.exit(0);
