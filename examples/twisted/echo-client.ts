// Twisted's echo client (echoclient.py): says "hello, world!", prints the
// reply, hangs up; the ClientFactory stops the reactor when the connection
// fails or ends.
//
//   node --import tsx examples/twisted/echo-client.ts [port]   (default 8000; run echo-server.ts first)
import { fileURLToPath } from "node:url";
import { ClientFactory, type Failure, type IConnector, Protocol, type Reactor, reactor } from "../../src/compat/twisted/index.ts";

/** Sends a greeting, prints the answer, and closes. */
export class EchoClient extends Protocol {
  declare factory: EchoClientFactory;

  override connectionMade(): void {
    this.transport.write("hello, world!");
  }

  override dataReceived(data: Uint8Array): void {
    this.factory.print(`Server said: ${new TextDecoder().decode(data)}`);
    this.transport.loseConnection();
  }
}

/** Stops the reactor once the connection failed or is over. */
export class EchoClientFactory extends ClientFactory {
  override protocol = EchoClient;
  readonly reactor: Reactor;
  readonly print: (line: string) => void;

  constructor(on: Reactor, print: (line: string) => void) {
    super();
    this.reactor = on;
    this.print = print;
  }

  override clientConnectionFailed(_connector: IConnector, _reason: Failure): void {
    this.print("Connection failed - goodbye!");
    this.reactor.stop();
  }

  override clientConnectionLost(_connector: IConnector, _reason: Failure): void {
    this.print("Connection lost - goodbye!");
    this.reactor.stop();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  reactor.connectTCP("127.0.0.1", Number(process.argv[2] ?? 8000), new EchoClientFactory(reactor, console.log));
  await reactor.run();
}
