// Event-stream server for bench/redis.bench.ts: a redisEventSource on the Redis socket
// argv[2], stream argv[3], served over HTTP on a free port (printed); every request to
// /events is a client. Serves until its stdin closes.
import { Future, run } from "../src/index.ts";
import { serveHttp } from "../src/net/index.ts";
import { connectRedis, redisEventSource } from "../src/redis/index.ts";

const [path, channel] = process.argv.slice(2) as [string, string];
const stop = new Future<void>();
process.stdin.on("end", () => stop.resolve());
process.stdin.resume();
await run(function* () {
  const redis = yield* connectRedis({ path });
  const source = yield* redisEventSource({ redis, channel, heartbeat: 0, historySize: 1000, maxBuffered: 64 * 1024 * 1024 });
  const server = yield* serveHttp((request, response) => source.attach(request, response));
  console.log(server.address.port);
  yield* stop;
  server.close(0);
  yield* server.waitClosed();
});
process.exit(0);
