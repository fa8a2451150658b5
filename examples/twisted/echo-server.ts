// Twisted's echo server (echoserv.py): a Protocol that writes back what it
// receives, and a Factory that builds one per connection.
//
//   node --import tsx examples/twisted/echo-server.ts [port]   (default 8000; 0 picks a free one)
//   then: nc 127.0.0.1 8000        Ctrl-C stops it.
import { fileURLToPath } from "node:url";
import { Factory, Protocol, reactor } from "../../src/compat/twisted/index.ts";

/** Echoes every chunk it receives. */
export class Echo extends Protocol {
  override dataReceived(data: Uint8Array): void {
    this.transport.write(data);
  }
}

/** Builds an `Echo` per connection. */
export class EchoFactory extends Factory {
  override protocol = Echo;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const port = reactor.listenTCP(Number(process.argv[2] ?? 8000), new EchoFactory(), { interface: "127.0.0.1" });
  reactor.callWhenRunning(() => console.log(`echo server listening on port ${port.getHost().port}`));
  process.once("SIGINT", () => reactor.stop());
  await reactor.run();
  console.log("echo server stopped");
}
