import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CancelledError, currentTime, shield, sleep, spawn, suspend, TimeoutError, timeout } from "../../src/index.ts";
import { runVirtual, waitAllTasksBlocked } from "../../src/testing/index.ts";
import { checkLeaks } from "../_helpers.ts";

checkLeaks();

describe("shield", () => {
  it("shielded work finishes after its caller was cancelled, then the cancel is thrown at the next suspension", async () => {
    const log: string[] = [];
    await runVirtual(function* () {
      const task = yield* spawn(function* () {
        const saved = yield* shield(function* () {
          yield* sleep(100);
          log.push(`saved at ${currentTime()}`);
          return "state";
        });
        log.push(`shield returned ${saved}`);
        yield* sleep(1);
        log.push("BUG: not cancelled at the next suspension");
      });
      yield* sleep(10);
      task.cancel("stop");
      try {
        yield* task;
      } catch (error) {
        assert.ok(error instanceof CancelledError);
        assert.equal(error.reason, "stop");
      }
      assert.equal(task.state, "cancelled");
    });
    assert.deepEqual(log, ["saved at 100", "shield returned state"]);
  });

  it("a caller that returns right after the shield ends cancelled", async () => {
    await runVirtual(function* () {
      const task = yield* spawn(function* () {
        yield* shield(sleep(50));
        return "dropped";
      });
      yield* waitAllTasksBlocked();
      task.cancel();
      try {
        yield* task;
      } catch (error) {
        assert.ok(error instanceof CancelledError);
      }
      assert.equal(task.state, "cancelled");
    });
  });

  it("protects async cleanup in a finally from the rest of the cancellation", async () => {
    const log: string[] = [];
    await runVirtual(function* () {
      const task = yield* spawn(function* () {
        try {
          yield* suspend();
        } finally {
          yield* shield(function* () {
            yield* sleep(20);
            log.push("flushed");
          });
        }
      });
      yield* waitAllTasksBlocked();
      task.cancel();
      yield* sleep(5);
      task.cancel("again");
      try {
        yield* task;
      } catch {}
    });
    assert.deepEqual(log, ["flushed"]);
  });

  it("a timeout inside the shield still works", async () => {
    await runVirtual(function* () {
      const result = yield* shield(function* () {
        try {
          yield* timeout(10, sleep(100));
        } catch (error) {
          return error instanceof TimeoutError ? "timed out" : "other";
        }
        return "no timeout";
      });
      assert.equal(result, "timed out");
    });
  });

  it("errors of the shielded operation are thrown to the caller", async () => {
    const boom = new Error("boom");
    await runVirtual(function* () {
      try {
        yield* shield(function* () {
          yield* sleep(1);
          throw boom;
        });
      } catch (error) {
        assert.equal(error, boom);
      }
    });
  });
});
