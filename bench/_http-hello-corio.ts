// Hello-world server for bench/http.bench.ts: corio's serveHttp, one task per
// request. Prints its port, serves until its stdin closes. Started with
// its compiled form (bench/_build.ts; `--cpu-prof` when the bench
// profiles it).
import { Future, run } from "../src/index.ts";
import { serveHttp } from "../src/net/index.ts";

const stop = new Future<void>();
process.stdin.on("end", () => stop.resolve());
process.stdin.resume();
await run(function* () {
  const server = yield* serveHttp(function* (_request, response) {
    yield* response.send(200, "hello world");
  });
  console.log(server.address.port);
  yield* stop;
  server.close(0);
  yield* server.waitClosed();
});
process.exit(0);
