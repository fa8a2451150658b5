import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { currentTime, ensure, scope, sleep, spawn, suspend, TaskGroupError } from "../../src/index.ts";
import { runVirtual, waitAllTasksBlocked } from "../../src/testing/index.ts";
import { checkLeaks } from "../_helpers.ts";

checkLeaks();

describe("scope", () => {
  it("a body that throws with no child left: the scope fails with that error, and a cleanup that suspends runs to its end", async () => {
    const log: string[] = [];
    const boom = new Error("boom");
    await runVirtual(function* () {
      try {
        yield* scope(function* () {
          yield* ensure(function* () {
            yield* sleep(10);
            log.push(`cleanup done at ${currentTime()}`);
          });
          throw boom;
        });
      } catch (error) {
        log.push(error === boom ? "caught boom" : `caught ${String(error)}`);
      }
    });
    assert.deepEqual(log, ["cleanup done at 10", "caught boom"]);
  });

  it("waits for everything spawned inside it and returns the body's value", async () => {
    const log: string[] = [];
    await runVirtual(function* () {
      const value = yield* scope(function* () {
        yield* spawn(function* () {
          yield* sleep(50);
          log.push("child");
        });
        return "body";
      });
      log.push(`scope returned ${value}`);
    });
    assert.deepEqual(log, ["child", "scope returned body"]);
  });

  it("throws a child's failure to its caller, who can catch it", async () => {
    const log: string[] = [];
    const result = await runVirtual(function* () {
      try {
        yield* scope(function* () {
          yield* spawn(function* () {
            try {
              yield* suspend();
            } finally {
              log.push("sibling cancelled");
            }
          });
          yield* spawn(function* () {
            yield* sleep(5);
            throw new Error("worker failed");
          });
          yield* suspend();
        });
      } catch (error) {
        return (error as Error).message;
      }
      return undefined;
    });
    assert.equal(result, "worker failed");
    assert.deepEqual(log, ["sibling cancelled"]);
  });

  it("several failures inside become one TaskGroupError", async () => {
    await runVirtual(function* () {
      try {
        yield* scope(function* () {
          yield* spawn(function* () {
            try {
              yield* suspend();
            } catch {
              throw new Error("cleanup failed");
            }
          });
          yield* sleep(1);
          throw new Error("body failed");
        });
      } catch (error) {
        assert.ok(error instanceof TaskGroupError);
        assert.deepEqual(
          error.errors.map((e) => (e as Error).message),
          ["body failed", "cleanup failed"],
        );
        assert.equal(error.message, "2 failures; first: Error: body failed");
        return;
      }
      assert.fail("expected a TaskGroupError");
    });
  });

  it("cancelling the caller cancels the scope's tasks and throws after their cleanup", async () => {
    const log: string[] = [];
    await runVirtual(function* () {
      const task = yield* spawn(function* () {
        try {
          yield* scope(function* () {
            yield* spawn(function* () {
              try {
                yield* suspend();
              } finally {
                yield* sleep(10);
                log.push("inner cleanup");
              }
            });
            yield* suspend();
          });
        } finally {
          log.push("caller finally");
        }
      });
      yield* waitAllTasksBlocked();
      task.cancel();
      try {
        yield* task;
      } catch {}
    });
    assert.deepEqual(log, ["inner cleanup", "caller finally"]);
  });
});
