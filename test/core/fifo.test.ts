// The ring buffer under the ready queue and every wait queue (src/core/_fifo.ts).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { Fifo } from "../../src/core/_fifo.ts";

type Step = { op: "push" | "unshift" | "shift" | "pop" } | { op: "remove"; pick: number };

describe("Fifo", () => {
  it("property: any mix of push, unshift, shift, pop and remove keeps the order an array model keeps", () => {
    const step: fc.Arbitrary<Step> = fc.oneof(
      fc.constantFrom<Step>({ op: "push" }, { op: "unshift" }, { op: "shift" }, { op: "pop" }),
      fc.nat(40).map((pick): Step => ({ op: "remove", pick })),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 200 }), (steps) => {
        const fifo = new Fifo<number>();
        const model: number[] = [];
        let next = 0;
        for (const s of steps) {
          if (s.op === "push") {
            fifo.push(next);
            model.push(next++);
          } else if (s.op === "unshift") {
            fifo.unshift(next);
            model.unshift(next++);
          } else if (s.op === "shift") assert.equal(fifo.shift(), model.shift());
          else if (s.op === "pop") assert.equal(fifo.pop(), model.pop());
          else if (s.op === "remove") {
            // An item in the queue (or one that is not, when the pick falls past the end).
            const target = s.pick < model.length ? (model[s.pick] as number) : -1;
            const at = model.indexOf(target);
            assert.equal(fifo.remove(target), at >= 0);
            if (at >= 0) model.splice(at, 1);
          }
          assert.equal(fifo.size, model.length);
          assert.equal(fifo.peek(), model[0]);
        }
        assert.deepEqual([...fifo], model);
      }),
      { seed: 3307, numRuns: 500 },
    );
  });
});
