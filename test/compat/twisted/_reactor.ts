// Helpers for the Twisted tests: a real-clock reactor that collects reported
// errors, and a run with a safety stop so a broken test fails instead of
// hanging; a reactor on a clock stepped by hand, as Twisted's task.Clock; what
// a Deferred holds now.
import assert from "node:assert/strict";
import { createReactor, type Deferred, type Failure, type Reactor } from "../../../src/compat/twisted/index.ts";
import { VirtualClock } from "../../../src/testing/index.ts";

export interface TestReactor {
  reactor: Reactor;
  /** Errors the reactor reported (callback errors, bind errors). */
  errors: unknown[];
  /** Runs the reactor until stopped; fails if it is still running after `seconds`. */
  run(seconds?: number): Promise<void>;
}

export function testReactor(): TestReactor {
  const errors: unknown[] = [];
  const reactor = createReactor({ onError: (error) => errors.push(error) });
  return {
    reactor,
    errors,
    async run(seconds = 10) {
      let timedOut = false;
      const guard = reactor.callLater(seconds, () => {
        timedOut = true;
        reactor.stop();
      });
      await reactor.run();
      if (guard.active()) guard.cancel();
      assert.equal(timedOut, false, `the reactor was still running after ${seconds} s`);
    },
  };
}

export const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

/** Calls `fn` once it has been called `n` times (to stop the reactor once both ends are done). */
export function after(n: number, fn: () => void): () => void {
  let count = 0;
  return () => {
    if (++count === n) fn();
  };
}

/**
 * A running reactor on a clock that moves only when told (Twisted's
 * `task.Clock`): `advance(seconds)` moves it and lets the reactor run what is
 * due; `pump` advances by each of `timings` in turn, as `Clock.pump`.
 */
export function steppedReactor(start = 0) {
  const clock = new VirtualClock({ autoAdvance: false, start: start * 1000 });
  const reactor = createReactor({ clock });
  const done = reactor.run();
  const advance = async (seconds: number): Promise<void> => {
    clock.advance(seconds * 1000);
    await new Promise((resolve) => setImmediate(resolve)); // the loop flushes what is due on a microtask
  };
  return {
    reactor,
    advance,
    async pump(timings: number[]): Promise<void> {
      for (const seconds of timings) await advance(seconds);
    },
    async stop(): Promise<void> {
      reactor.stop();
      await done;
    },
  };
}

/** What the Deferred holds now, taken out of its chain: `["result", value]`, `["failure", failure]`, or undefined if it has not fired. */
export function outcome<T>(deferred: Deferred<T>): [string, unknown] | undefined {
  let seen: [string, unknown] | undefined;
  deferred.addCallbacks(
    (value: T) => {
      seen = ["result", value];
    },
    (failure: Failure) => {
      seen = ["failure", failure];
    },
  );
  return seen;
}
