// The countdown of "An Introduction to Asynchronous Programming and
// Twisted", part 3: callWhenRunning starts it, each step schedules the next
// with callLater, and the last one stops the reactor.
//
//   node --import tsx examples/twisted/countdown.ts
import { fileURLToPath } from "node:url";
import { type Reactor, reactor } from "../../src/compat/twisted/index.ts";

/** Counts down from 5, one step every 0.1 s, then stops the reactor. */
export class Countdown {
  counter = 5;
  readonly #reactor: Reactor;
  readonly #print: (line: string) => void;

  constructor(on: Reactor, print: (line: string) => void) {
    this.#reactor = on;
    this.#print = print;
  }

  count = (): void => {
    if (this.counter === 0) {
      this.#reactor.stop();
    } else {
      this.#print(`${this.counter} ...`);
      this.counter--;
      this.#reactor.callLater(0.1, this.count);
    }
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  reactor.callWhenRunning(new Countdown(reactor, console.log).count);
  console.log("Start!");
  await reactor.run();
  console.log("Stop!");
}
