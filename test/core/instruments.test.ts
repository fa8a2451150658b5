// After Trio's instrument tests (test_run.py: test_instruments, test_instruments_crash,
// test_instrument_that_raises_on_getattr): hooks see every task start and end, in order,
// and a hook that throws is removed and reported instead of breaking the run.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { addInstrument, createContext, type ErrorContext, sleep, spawn, type Task, timeout } from "../../src/index.ts";
import { runVirtual } from "../../src/testing/index.ts";
import { checkLeaks } from "../_helpers.ts";

checkLeaks();

describe("addInstrument", () => {
  it("sees every task spawn and exit, children exiting before their parent", async () => {
    const events: string[] = [];
    const remove = addInstrument({
      taskSpawned: (task) => void events.push(`spawned ${task.name} (${task.state})`),
      taskExited: (task) => void events.push(`exited ${task.name} ${task.state}`),
    });
    try {
      await runVirtual(
        function* () {
          yield* spawn(
            function* () {
              yield* sleep(10);
            },
            { name: "child" },
          );
          const failing = yield* spawn(
            function* () {
              yield* sleep(100);
            },
            { name: "cancelled" },
          );
          yield* sleep(1);
          failing.cancel();
        },
        { name: "root" },
      );
    } finally {
      remove();
    }
    assert.deepEqual(events, [
      "spawned root (pending)",
      "spawned child (pending)",
      "spawned cancelled (pending)",
      "exited cancelled cancelled",
      "exited child done",
      "exited root done",
    ]);
  });

  it("sees failures, and tasks that boundaries start (a timeout's child)", async () => {
    const exited: string[] = [];
    const remove = addInstrument({ taskExited: (task: Task<unknown>) => void exited.push(`${task.name} ${task.state}`) });
    try {
      await assert.rejects(
        runVirtual(
          function* () {
            yield* timeout(5, function* () {
              throw new Error("boom");
            });
          },
          { name: "root" },
        ),
        /boom/,
      );
    } finally {
      remove();
    }
    assert.deepEqual(exited, ["timeout failed", "root failed"]);
  });

  it("taskSpawned runs with the inherited context already set", async () => {
    const requestId = createContext<string>("request id", "none");
    const seen: string[] = [];
    const remove = addInstrument({ taskSpawned: (task) => void (task.name === "child" && seen.push(readIn(task))) });
    function readIn(task: Task<unknown>): string {
      // The hook runs in the spawning task; the new task's inherited value is the parent's.
      return `${task.parent?.name}:${requestId.get()}`;
    }
    try {
      await runVirtual(
        function* () {
          requestId.set("r1");
          yield* spawn(function* () {}, { name: "child" });
        },
        { name: "root" },
      );
    } finally {
      remove();
    }
    assert.deepEqual(seen, ["root:r1"]);
  });

  it("an instrument that throws is removed and reported; the program goes on", async () => {
    const reports: [unknown, ErrorContext][] = [];
    let calls = 0;
    const remove = addInstrument({
      taskSpawned() {
        calls++;
        throw new Error("broken instrument");
      },
    });
    let other = 0;
    const removeOther = addInstrument({ taskSpawned: () => void other++ });
    try {
      const value = await runVirtual(
        function* () {
          yield* spawn(function* () {});
          return "finished";
        },
        { onError: (error, context) => void reports.push([error, context]) },
      );
      assert.equal(value, "finished");
    } finally {
      remove();
      removeOther();
    }
    assert.equal(calls, 1);
    assert.equal(other, 2);
    assert.equal(reports.length, 1);
    assert.match(String(reports[0]?.[0]), /broken instrument/);
    assert.equal(reports[0]?.[1].kind, "callback");
    assert.match(reports[0]?.[1].path ?? "", /instrument taskSpawned/);
  });

  it("adding twice installs once; removing twice is harmless; a bad argument is a TypeError", async () => {
    let count = 0;
    const instrument = { taskExited: () => void count++ };
    const remove = addInstrument(instrument);
    const again = addInstrument(instrument);
    await runVirtual(function* () {});
    remove();
    again();
    await runVirtual(function* () {});
    assert.equal(count, 1);
    assert.throws(() => addInstrument(null as never), /expected an object with taskSpawned/);
  });
});
