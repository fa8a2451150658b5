import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { callLater, Future, shield, sleep, spawn, suspend } from "../../src/index.ts";
import { runVirtual, VirtualTestError, waitAllTasksBlocked } from "../../src/testing/index.ts";
import { checkLeaks } from "../_helpers.ts";

checkLeaks();

describe("runVirtual", () => {
  it("reports a deadlock with what each task waits on", async () => {
    await assert.rejects(
      runVirtual(function* () {
        const never = new Future<void>();
        yield* spawn(() => never, { name: "stuck" });
        yield* sleep(10);
        yield* never;
      }),
      (error: unknown) => {
        assert.ok(error instanceof VirtualTestError);
        assert.match(
          error.message,
          /^Deadlock: every task is blocked and nothing can wake them:\n {2}test \[running\] waits on a Future to be set\n {4}stuck \[running\] waits on a Future to be set$/,
        );
        return true;
      },
    );
  });

  it("rejects with the deadlock when the tasks stay blocked after its cancel (a shield), instead of never settling", async () => {
    await assert.rejects(
      runVirtual(function* () {
        yield* shield(suspend());
      }),
      (error: unknown) => {
        assert.ok(error instanceof VirtualTestError);
        assert.equal(
          error.message,
          [
            "Deadlock: every task is blocked and nothing can wake them:",
            "  test [running] waits on task test/shield to finish",
            "    shield [running] waits on nothing: suspended until cancelled (suspend())",
            "The tasks were cancelled and are still blocked (in a shield, or in a cleanup that waits on something that never comes):",
            "  test [running] waits on task test/shield to finish",
            "    shield [running] waits on nothing: suspended until cancelled (suspend())",
          ].join("\n"),
        );
        return true;
      },
    );
  });

  it("rejects with the deadlock when a cleanup blocks after its cancel", async () => {
    await assert.rejects(
      runVirtual(function* () {
        try {
          yield* suspend();
        } finally {
          yield* new Future<void>();
        }
      }),
      (error: unknown) => {
        assert.ok(error instanceof VirtualTestError);
        assert.match(error.message, /^Deadlock: every task is blocked and nothing can wake them:\n {2}test \[running\] waits on nothing: suspended/);
        assert.match(error.message, /\nThe tasks were cancelled and are still blocked \(.*\):\n {2}test \[running\] waits on a Future to be set$/);
        return true;
      },
    );
  });

  it("fails a test that leaves a timer behind", async () => {
    await assert.rejects(
      runVirtual(function* () {
        callLater(1000, () => {});
      }),
      { name: "VirtualTestError", message: "The test left 1 timer(s) pending (a callLater that was never cancelled?)" },
    );
  });

  it("fails a test in which an error was reported, and names where it came from", async () => {
    await assert.rejects(
      runVirtual(function* () {
        callLater(1, function broken() {
          throw new Error("oops");
        });
        yield* sleep(2);
      }),
      { name: "VirtualTestError", message: "1 error(s) were reported during the test; first, from callback broken (callback): Error: oops" },
    );
  });

  it("passes the test's own error through", async () => {
    const boom = new Error("boom");
    await assert.rejects(
      runVirtual(function* () {
        yield* sleep(1);
        throw boom;
      }),
      (error) => error === boom,
    );
  });
});

describe("waitAllTasksBlocked", () => {
  it("returns once every other task is suspended, before time moves", async () => {
    await runVirtual(function* () {
      const log: string[] = [];
      for (const name of ["a", "b"]) {
        yield* spawn(function* () {
          log.push(`${name} step 1`);
          yield* sleep(0);
          log.push(`${name} step 2`);
          yield* sleep(100);
        });
      }
      yield* waitAllTasksBlocked();
      assert.deepEqual(log, ["a step 1", "b step 1", "a step 2", "b step 2"]);
    });
  });
});
