// Hello-world server for bench/cluster.bench.ts: raw node:http on node:cluster with N
// workers (argv[2]): the floor for serving from several processes.
import cluster from "node:cluster";
import { createServer } from "node:http";

const workers = Number(process.argv[2] ?? 2);
const body = "hello world";
if (cluster.isPrimary) {
  let listening = 0;
  let port = 0;
  for (let i = 0; i < workers; i++) {
    cluster.fork().on("message", (message) => {
      port = message.port;
      if (++listening === workers) console.log(port);
    });
  }
  process.stdin.on("end", () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.kill();
    process.exit(0);
  });
  process.stdin.resume();
} else {
  const server = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/plain; charset=utf-8", "content-length": Buffer.byteLength(body) });
    res.end(body);
  });
  server.listen(0, "127.0.0.1", () => process.send?.({ port: server.address().port }));
}
