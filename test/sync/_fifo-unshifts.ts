// A test helper that reaches into corio's internals (the ring buffer under
// Queue and the memory channels). Kept out of test/_helpers.ts, which the
// benches import from their compiled build, where src/core/_fifo is bundled
// away.
import { Fifo } from "../../src/core/_fifo.ts";

/** Runs `body` and counts the items it puts back at the front of any ring buffer (`Fifo.unshift`): a give-back's cost. */
export function countFifoUnshifts(body: () => void): number {
  let unshifted = 0;
  const unshift = Fifo.prototype.unshift;
  Fifo.prototype.unshift = function countUnshift(this: Fifo<unknown>, item: unknown): void {
    unshifted++;
    unshift.call(this, item);
  };
  try {
    body();
  } finally {
    Fifo.prototype.unshift = unshift;
  }
  return unshifted;
}
