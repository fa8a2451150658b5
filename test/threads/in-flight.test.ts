import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { InFlight } from "../../src/threads/_in-flight.ts";
import type { Job } from "../../src/threads/_job.ts";

/** A stand-in for a job: `InFlight` reads only its id. */
function job(id: number): Job {
  return { id } as Job;
}

/** Adds (the next id) and deletes (of any id, in flight or not), checked against a Map, which kept insertion order before. */
const steps = fc.array(fc.oneof(fc.constant<"add">("add"), fc.integer({ min: -2, max: 40 })), { maxLength: 300 });

describe("InFlight (a worker's jobs in flight)", () => {
  it("answers as a Map of the same jobs would, through growth, holes and compaction", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 40 }), steps, (firstId, script) => {
        const inFlight = new InFlight();
        const model = new Map<number, Job>();
        let nextId = firstId;
        for (const step of script) {
          if (step === "add") {
            const added = job(nextId++);
            inFlight.add(added);
            model.set(added.id, added);
          } else {
            // An offset back from the next id: most hit a job in flight, some one answered or never sent.
            const id = nextId - 1 - step;
            assert.equal(inFlight.delete(id), model.delete(id));
          }
          assert.equal(inFlight.size, model.size);
          assert.deepEqual([...inFlight.values()], [...model.values()]);
          assert.equal(inFlight.oldest(), model.values().next().value);
          for (let id = nextId - 45; id <= nextId + 1; id++) assert.equal(inFlight.get(id), model.get(id));
        }
        inFlight.clear();
        assert.equal(inFlight.size, 0);
        assert.deepEqual([...inFlight.values()], []);
      }),
      { numRuns: 300 },
    );
  });

  it("refuses a job whose id does not follow the last one (the ids of one worker are consecutive)", () => {
    const inFlight = new InFlight();
    inFlight.add(job(7));
    assert.throws(() => inFlight.add(job(9)), /job 9 sent out of order \(expected 8\)/);
    inFlight.delete(7);
    // Empty, it starts again at any id.
    inFlight.add(job(100));
    assert.equal(inFlight.get(100)?.id, 100);
  });
});
