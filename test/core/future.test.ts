import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Future, run, spawn } from "../../src/index.ts";
import { runVirtual, waitAllTasksBlocked } from "../../src/testing/index.ts";
import { checkLeaks } from "../_helpers.ts";

checkLeaks();

describe("Future", () => {
  it("wakes every waiter with its value; a second resolve is ignored", async () => {
    await runVirtual(function* () {
      const future = new Future<number>();
      const waiters = [];
      for (let i = 0; i < 3; i++) waiters.push(yield* spawn(() => future));
      yield* waitAllTasksBlocked();
      assert.equal(future.resolve(1), true);
      assert.equal(future.resolve(2), false);
      for (const waiter of waiters) assert.equal(yield* waiter, 1);
      assert.equal(yield* future, 1, "a settled future returns without suspending");
    });
  });

  it("a rejected future throws its error to every waiter", async () => {
    const boom = new Error("boom");
    await runVirtual(function* () {
      const future = new Future<number>();
      future.reject(boom);
      assert.throws(
        () => future.result(),
        (error) => error === boom,
      );
      try {
        yield* future;
      } catch (error) {
        assert.equal(error, boom);
      }
    });
  });

  it("wakes a task from plain code outside the loop, after that code has returned", async () => {
    const order: string[] = [];
    const future = new Future<string>();
    const task = run(function* () {
      order.push(`got ${yield* future}`);
    });
    await new Promise((resolve) => setImmediate(resolve));
    setImmediate(() => {
      future.resolve("x");
      order.push("callback returned");
    });
    await task;
    assert.deepEqual(order, ["callback returned", "got x"]);
  });

  it("result() of a pending future throws", () => {
    assert.throws(() => new Future().result(), { message: "Cannot read the result of a Future: it is still pending" });
  });
});
