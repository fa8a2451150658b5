// Helpers for the Twisted network tests: a real-clock reactor that collects
// reported errors, and a run with a safety stop so a broken test fails
// instead of hanging.
import assert from "node:assert/strict";
import { createReactor, type Reactor } from "../../../src/compat/twisted/index.ts";

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
