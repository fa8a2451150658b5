import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type Operation, run, sleep, spawn } from "../../src/index.ts";
import { runVirtual } from "../../src/testing/index.ts";
import { checkLeaks } from "../_helpers.ts";

checkLeaks();

// corio gives a generator function it calls for the first time one shared,
// already-used prototype (a cheaper first call in V8, see operation.ts):
// generator objects must behave exactly as before.
describe("generator functions called by corio", () => {
  it("make generator objects that still work as generators (next, return, throw, instanceof)", async () => {
    const body = function* (): Generator<undefined, number, unknown> {
      try {
        yield;
        return 1;
      } finally {
        cleaned++;
      }
    };
    let cleaned = 0;
    await run(() => (function* () {})()); // corio is loaded and has run a task
    assert.equal(
      await run(function* () {
        return yield* yield* spawn(function* () {
          return 7;
        });
      }),
      7,
    );
    await run(function* () {
      yield* spawn(body);
    });
    const g = body();
    assert.ok(g instanceof body);
    assert.equal(Object.prototype.toString.call(g), "[object Generator]");
    assert.equal(typeof g[Symbol.iterator], "function");
    assert.equal(g[Symbol.iterator](), g);
    assert.deepEqual(g.next(), { value: undefined, done: false });
    assert.deepEqual(g.return(5), { value: 5, done: true });
    const h = body();
    h.next();
    assert.throws(() => h.throw(new Error("boom")), /boom/);
    assert.equal(cleaned, 3);
  });

  it("runs a hoisted generator function spawned many times, with arguments bound by a closure", async () => {
    function* double(n: number): Operation<number> {
      yield* sleep(1);
      return n * 2;
    }
    const results = await runVirtual(function* () {
      const tasks = [];
      for (let i = 0; i < 5; i++) {
        tasks.push(
          yield* spawn(function* () {
            return yield* double(i);
          }),
        );
        tasks.push(yield* spawn(double(i)));
      }
      const values: number[] = [];
      for (const task of tasks) values.push(yield* task);
      return values;
    });
    assert.deepEqual(results, [0, 0, 2, 2, 4, 4, 6, 6, 8, 8]);
  });

  it("leaves a frozen generator function alone", async () => {
    const frozen = Object.freeze(function* (): Operation<string> {
      return "frozen";
    });
    const own = frozen.prototype;
    assert.equal(await run(frozen), "frozen");
    assert.equal(await run(frozen), "frozen");
    assert.equal(frozen.prototype, own);
  });

  it("leaves corio's own operations their label (the message of a mistaken await names them)", async () => {
    const before = Object.getPrototypeOf(sleep(1));
    // Called by corio with no arguments, sleep fails; its prototype must be the same afterwards.
    await assert.rejects(
      runVirtual(function* () {
        yield* yield* spawn(sleep as unknown as () => Operation<void>);
      }),
      /Cannot sleep/,
    );
    assert.equal(Object.getPrototypeOf(sleep(1)), before);
    await assert.rejects(async () => {
      await (sleep(1) as unknown as Promise<void>);
    }, /Cannot await sleep\(…\)/);
  });
});
