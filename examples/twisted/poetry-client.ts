// The Twisted poetry client of "An Introduction to Asynchronous Programming
// and Twisted", part 5, with its first exercise: a timeout. It downloads
// poems from several servers at once; a poem not finished within `timeout`
// seconds is given up (its connection closed), and the reactor stops once
// every download has finished, failed or timed out.
//
//   node --import tsx examples/twisted/poetry-client.ts [--timeout=SECONDS] PORT [HOST:PORT ...]
import { fileURLToPath } from "node:url";
import { ClientFactory, type Failure, type IConnector, type IDelayedCall, Protocol, type Reactor, reactor } from "../../src/compat/twisted/index.ts";

/** How one download went. */
export interface PoemResult {
  /** `host:port` of the server. */
  address: string;
  /** `complete`, `timeout` (what arrived so far is kept) or `failed` (could not connect). */
  status: "complete" | "timeout" | "failed";
  poem: string;
}

/** Collects the poem; gives up after the factory's timeout. */
export class PoetryProtocol extends Protocol {
  declare factory: PoetryClientFactory;
  poem = "";
  #timeout: IDelayedCall | null = null;
  #timedOut = false;

  override connectionMade(): void {
    this.#timeout = this.factory.reactor.callLater(this.factory.timeout, () => {
      this.#timedOut = true;
      this.transport.loseConnection();
    });
  }

  override dataReceived(data: Uint8Array): void {
    this.poem += new TextDecoder().decode(data);
  }

  override connectionLost(_reason: Failure): void {
    if (this.#timeout?.active()) this.#timeout.cancel();
    const peer = this.transport.getPeer();
    this.factory.poemFinished({ address: `${peer.host}:${peer.port}`, status: this.#timedOut ? "timeout" : "complete", poem: this.poem });
  }
}

/** Counts the downloads down; calls `done` with every result once the last one is over. */
export class PoetryClientFactory extends ClientFactory {
  override protocol = PoetryProtocol;
  readonly reactor: Reactor;
  readonly timeout: number;
  readonly results: PoemResult[] = [];
  #pending: number;
  readonly #done: (results: PoemResult[]) => void;

  constructor(on: Reactor, count: number, timeout: number, done: (results: PoemResult[]) => void) {
    super();
    this.reactor = on;
    this.#pending = count;
    this.timeout = timeout;
    this.#done = done;
  }

  poemFinished(result: PoemResult): void {
    this.results.push(result);
    if (--this.#pending === 0) this.#done(this.results);
  }

  override clientConnectionFailed(connector: IConnector, _reason: Failure): void {
    const destination = connector.getDestination();
    this.poemFinished({ address: `${destination.host}:${destination.port}`, status: "failed", poem: "" });
  }
}

/** Starts downloading from each `[host, port]`; `done` gets the results (the program stops the reactor there). */
export function getPoetry(on: Reactor, addresses: [string, number][], timeout: number, done: (results: PoemResult[]) => void): PoetryClientFactory {
  const factory = new PoetryClientFactory(on, addresses.length, timeout, done);
  for (const [host, port] of addresses) on.connectTCP(host, port, factory);
  return factory;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const timeoutArg = args.find((arg) => arg.startsWith("--timeout="));
  const addresses = args
    .filter((arg) => arg !== timeoutArg)
    .map((arg): [string, number] => {
      const [host, port] = arg.includes(":") ? arg.split(":") : ["127.0.0.1", arg];
      return [host as string, Number(port)];
    });
  if (addresses.length === 0) {
    console.error("usage: poetry-client.ts [--timeout=SECONDS] PORT [HOST:PORT ...]");
    process.exit(2);
  }
  const start = Date.now();
  getPoetry(reactor, addresses, Number(timeoutArg?.slice(10) ?? 10), (results) => {
    for (const { address, status, poem } of results) console.log(`${address}: ${status}, ${poem.length} characters\n${poem}`);
    console.log(`Got ${results.length} poems in ${((Date.now() - start) / 1000).toFixed(2)} seconds`);
    reactor.stop();
  });
  await reactor.run();
}
