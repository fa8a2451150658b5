// Hello-world server for bench/http.bench.ts: fastify (a peer), no logger.
// Prints its port, serves until its stdin closes.
import Fastify from "fastify";

const app = Fastify({ logger: false });
app.get("/", (_request, reply) => {
  reply.type("text/plain; charset=utf-8").send("hello world");
});
await app.listen({ port: 0, host: "127.0.0.1" });
console.log(app.server.address().port);
process.stdin.on("end", () => {
  app.server.closeAllConnections();
  void app.close().then(() => process.exit(0));
});
process.stdin.resume();
