// Hello-world server for bench/cluster.bench.ts: corio's serveHttp with `workers: N`
// (argv[2]) on node:cluster. The primary prints the port and stops everything when its
// stdin closes (a SIGINT to itself: main closes the workers gracefully).
import cluster from "node:cluster";
import { main, suspend } from "../src/index.ts";
import { serveHttp } from "../src/net/index.ts";

const workers = Number(process.argv[2] ?? 2);
if (cluster.isPrimary) {
  process.stdin.on("end", () => process.kill(process.pid, "SIGINT"));
  process.stdin.resume();
}
await main(function* () {
  const server = yield* serveHttp(
    function* (_request, response) {
      yield* response.send(200, "hello world");
    },
    { port: 0, workers },
  );
  if (cluster.isPrimary) console.log(server.address.port);
  yield* suspend();
});
