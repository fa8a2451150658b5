import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { ReadyQueue, type Runnable } from "../../src/core/_ready-queue.ts";

function entry(priority: number, name: string): Runnable & { name: string } {
  return { priority, name, runStep() {} };
}

/** The order the scheduler promises: most urgent priority first, FIFO within one. */
class Model {
  #items: { priority: number; name: string; seq: number }[] = [];
  #seq = 0;
  push(item: { priority: number; name: string }): void {
    this.#items.push({ ...item, seq: this.#seq++ });
  }
  shift(): string | undefined {
    if (this.#items.length === 0) return undefined;
    let best = 0;
    for (let i = 1; i < this.#items.length; i++) {
      const a = this.#items[i] as { priority: number; seq: number };
      const b = this.#items[best] as { priority: number; seq: number };
      if (a.priority < b.priority || (a.priority === b.priority && a.seq < b.seq)) best = i;
    }
    return this.#items.splice(best, 1)[0]?.name;
  }
  get size(): number {
    return this.#items.length;
  }
}

describe("ReadyQueue", () => {
  it("runs the most urgent priority first and keeps FIFO order within one", () => {
    const queue = new ReadyQueue();
    queue.push(entry(10, "a"));
    queue.push(entry(10, "b"));
    queue.push(entry(5, "urgent"));
    queue.push(entry(50, "background"));
    queue.push(entry(10, "c"));
    queue.push(entry(5, "urgent-2"));
    const order: string[] = [];
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) order.push((next as Runnable & { name: string }).name);
    assert.deepEqual(order, ["urgent", "urgent-2", "a", "b", "c", "background"]);
    assert.equal(queue.size, 0);
  });

  it("keeps FIFO order for a priority that arrived while the queue held another one", () => {
    // 20 is queued behind 10 first; once 10 has drained, a new 20 must still go behind the old one.
    const queue = new ReadyQueue();
    queue.push(entry(10, "a"));
    queue.push(entry(20, "old"));
    assert.equal((queue.shift() as Runnable & { name: string }).name, "a");
    queue.push(entry(20, "new"));
    queue.push(entry(10, "b"));
    const order: string[] = [];
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) order.push((next as Runnable & { name: string }).name);
    assert.deepEqual(order, ["b", "old", "new"]);
  });

  it("gives the same order as a stable sort by priority for any pushes and shifts (property)", () => {
    const op = fc.oneof(fc.record({ push: fc.constantFrom(1, 5, 10, 10, 10, 50, 100) }), fc.constant("shift" as const));
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        const queue = new ReadyQueue();
        const model = new Model();
        let n = 0;
        for (const step of ops) {
          if (step === "shift") {
            const got = queue.shift() as (Runnable & { name: string }) | undefined;
            assert.equal(got?.name, model.shift());
          } else {
            const name = `e${n++}`;
            queue.push(entry(step.push, name));
            model.push({ priority: step.push, name });
          }
          assert.equal(queue.size, model.size);
        }
        for (let expected = model.shift(); expected !== undefined; expected = model.shift()) {
          assert.equal((queue.shift() as Runnable & { name: string }).name, expected);
        }
        assert.equal(queue.shift(), undefined);
      }),
      { numRuns: 500 },
    );
  });
});
