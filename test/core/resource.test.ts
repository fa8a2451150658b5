// Resources tied to the task that opened them (core/_resource.ts): closed
// when the task ends, whatever the way, even if it never suspended.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { adoptResource, adoptResourceWithCleanup } from "../../src/core/_resource.ts";
import { run, sleep, spawn, suspend } from "../../src/index.ts";
import { runVirtual } from "../../src/testing/index.ts";
import { checkLeaks } from "../_helpers.ts";

checkLeaks();

describe("adoptResource", () => {
  it("closes the resource of a task that returns without suspending", async () => {
    const closed: string[] = [];
    await run(function* () {
      adoptResource("r", () => closed.push("r"), "test");
    });
    assert.deepEqual(closed, ["r"]);
  });

  it("closes the resource of a task that throws before suspending, and of a cancelled one", async () => {
    const closed: string[] = [];
    await assert.rejects(
      async () =>
        run(function* () {
          adoptResource("failing", () => closed.push("failing"), "test");
          throw new Error("boom");
        }),
      /boom/,
    );
    await runVirtual(function* () {
      const child = yield* spawn(function* () {
        adoptResource("cancelled", () => closed.push("cancelled"), "test");
        yield* suspend();
      });
      yield* sleep(1);
      child.cancel();
      yield* sleep(1);
    });
    assert.deepEqual(closed, ["failing", "cancelled"]);
  });

  it("does not close a released resource", async () => {
    const closed: string[] = [];
    await run(function* () {
      adoptResource("r", () => closed.push("r"), "test").release();
    });
    assert.deepEqual(closed, []);
  });

  it("an operation cleanup runs to its end before the owner finishes", async () => {
    const order: string[] = [];
    await runVirtual(function* () {
      const child = yield* spawn(function* () {
        adoptResourceWithCleanup(
          "r",
          function* () {
            yield* sleep(10);
            order.push("cleaned");
          },
          "test",
        );
      });
      yield* child;
      order.push("owner done");
    });
    assert.deepEqual(order, ["cleaned", "owner done"]);
  });
});
