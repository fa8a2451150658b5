// Resources tied to the task that opened them (core/_resource.ts): closed
// when the task ends, whatever the way, even if it never suspended.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { adoptResource, adoptResourceWithCleanup, startDaemon } from "../../src/core/_resource.ts";
import type { TaskImpl } from "../../src/core/task.ts";
import {
  all,
  allSettled,
  currentTask,
  moveOnAfter,
  type Operation,
  race,
  run,
  scope,
  shield,
  sleep,
  spawn,
  suspend,
  TimeoutError,
  timeout,
} from "../../src/index.ts";
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

describe("resources opened inside a boundary", () => {
  /** Opens a resource named `name` in the current task; its closes are logged. */
  function* open(name: string, log: string[]): Operation<string> {
    adoptResource(name, () => log.push(`closed ${name}`), "test");
    return name;
  }

  it("go to the caller with the value of timeout, moveOnAfter, all, race, allSettled and shield (asyncio's wait_for(open_connection()))", async () => {
    const log: string[] = [];
    await runVirtual(function* () {
      yield* timeout(100, open("timeout", log));
      yield* moveOnAfter(100, open("moveOnAfter", log));
      yield* all([open("all", log)]);
      yield* race([open("race", log), suspend()]);
      yield* allSettled([open("allSettled", log)]);
      yield* shield(open("shield", log));
      yield* sleep(1);
      log.push("caller ends");
    });
    assert.deepEqual(log, ["caller ends", "closed shield", "closed allSettled", "closed race", "closed all", "closed moveOnAfter", "closed timeout"]);
  });

  it("of a scope are the scope's: closed as it ends", async () => {
    const log: string[] = [];
    await runVirtual(function* () {
      yield* scope(open("scope", log));
      log.push("after the scope");
    });
    assert.deepEqual(log, ["closed scope", "after the scope"]);
  });

  it("are closed when the boundary does not end done: timed out, lost the race, failed", async () => {
    const log: string[] = [];
    await runVirtual(function* () {
      const late = function* (name: string): Operation<void> {
        yield* open(name, log);
        yield* sleep(1000);
      };
      yield* assertThrowsOp(timeout(10, late("timed out")), TimeoutError);
      log.push("timeout thrown");
      yield* race([late("loser"), sleep(10)]);
      log.push("race over");
      yield* assertThrowsOp(
        all([
          late("sibling"),
          (function* () {
            yield* sleep(10);
            throw new Error("boom");
          })(),
        ]),
        Error,
      );
      log.push("all failed");
    });
    assert.deepEqual(log, ["closed timed out", "timeout thrown", "closed loser", "race over", "closed sibling", "all failed"]);
  });

  it("released by hand after the hand-over, are forgotten by the caller (no entry left per call)", async () => {
    const log: string[] = [];
    await runVirtual(function* () {
      for (let i = 0; i < 100; i++) {
        const keeper = yield* timeout(100, function* () {
          return adoptResource(`r${i}`, () => log.push(`closed r${i}`), "test");
        });
        keeper.release();
      }
      assert.deepEqual((currentTask() as TaskImpl<unknown>).resourceNames(), []);
    });
    assert.deepEqual(log, []);
  });

  it("a service (daemon) started inside timeout() runs on for the caller, or is stopped with the boundary that did not end done", async () => {
    const log: string[] = [];
    await runVirtual(function* () {
      const caller = currentTask() as TaskImpl<unknown>;
      const service = (name: string): Operation<TaskImpl<void>> =>
        (function* () {
          return startDaemon(currentTask() as TaskImpl<unknown>, name, function* () {
            try {
              yield* suspend();
            } finally {
              log.push(`stopped ${name}`);
            }
          });
        })();
      const kept = yield* timeout(100, service("kept"));
      yield* sleep(50);
      assert.equal(kept.done, false, "the service outlives the timeout it was started in");
      assert.equal(kept.parent, caller);
      yield* assertThrowsOp(
        timeout(10, function* () {
          yield* service("abandoned");
          yield* sleep(1000);
        }),
        TimeoutError,
      );
      assert.deepEqual(log, ["stopped abandoned"], "stopped before the TimeoutError was thrown");
      // A service that ends by itself leaves no stop entry behind.
      for (let i = 0; i < 50; i++) {
        const short = yield* timeout(100, service(`short ${i}`));
        short.cancel();
        yield* sleep(1);
      }
      assert.deepEqual(caller.resourceNames(), ["kept"], "only the stop entry of the service still running");
      log.length = 0;
    });
    assert.deepEqual(log, ["stopped kept"]);
  });
});

function* assertThrowsOp(op: Operation<unknown>, type: new (...args: never[]) => Error): Operation<void> {
  try {
    yield* op;
  } catch (error) {
    assert.ok(error instanceof type, `expected a ${type.name}, got ${String(error)}`);
    return;
  }
  assert.fail(`expected a ${type.name}`);
}
