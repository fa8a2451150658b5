// The "slow poetry" server of "An Introduction to Asynchronous Programming
// and Twisted": it sends a poem to each client a few bytes at a time, with a
// delay between chunks, then closes the connection. The original is a
// blocking Python program; this one is a Twisted Protocol, so it serves any
// number of clients at once.
//
//   node --import tsx examples/twisted/poetry-server.ts [port] [bytes-per-chunk] [delay-seconds]
import { fileURLToPath } from "node:url";
import { Factory, type IDelayedCall, Protocol, reactor } from "../../src/compat/twisted/index.ts";

export const POEM = `Tyger Tyger, burning bright,
In the forests of the night;
What immortal hand or eye,
Could frame thy fearful symmetry?
`;

/** Sends the factory's poem in chunks of `numBytes`, every `delay` seconds, then hangs up. */
export class SlowPoetry extends Protocol {
  declare factory: PoetryServerFactory;
  #sent = 0;
  #next: IDelayedCall | null = null;

  override connectionMade(): void {
    this.#sendChunk();
  }

  override connectionLost(): void {
    if (this.#next?.active()) this.#next.cancel();
  }

  #sendChunk = (): void => {
    const { poem, numBytes, delay } = this.factory;
    if (this.#sent >= poem.length) {
      this.transport.loseConnection();
      return;
    }
    this.transport.write(poem.subarray(this.#sent, this.#sent + numBytes));
    this.#sent += numBytes;
    this.#next = this.factory.reactor.callLater(delay, this.#sendChunk);
  };
}

/** The poem and the pace; one `SlowPoetry` per connection. */
export class PoetryServerFactory extends Factory {
  override protocol = SlowPoetry;
  readonly poem: Uint8Array;
  readonly numBytes: number;
  readonly delay: number;
  readonly reactor: typeof reactor;

  constructor(on: typeof reactor, poem: string, options: { numBytes?: number; delay?: number } = {}) {
    super();
    this.reactor = on;
    this.poem = new TextEncoder().encode(poem);
    this.numBytes = options.numBytes ?? 10;
    this.delay = options.delay ?? 0.1;
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [port = "10000", numBytes = "10", delay = "0.1"] = process.argv.slice(2);
  const factory = new PoetryServerFactory(reactor, POEM, { numBytes: Number(numBytes), delay: Number(delay) });
  const listening = reactor.listenTCP(Number(port), factory, { interface: "127.0.0.1" });
  reactor.callWhenRunning(() => console.log(`serving poetry on port ${listening.getHost().port}`));
  process.once("SIGINT", () => reactor.stop());
  await reactor.run();
}
