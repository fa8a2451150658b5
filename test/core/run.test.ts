import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CancelledError, callLater, currentTime, run, sleep, stop, suspend, type Task } from "../../src/index.ts";
import { VirtualClock } from "../../src/testing/index.ts";
import { checkLeaks } from "../_helpers.ts";

checkLeaks();

describe("run / stop", () => {
  it("run() with a clock gets a loop of its own on that clock", async () => {
    const clock = new VirtualClock({ start: 1000 });
    const t = await run(
      function* () {
        yield* sleep(500);
        return currentTime();
      },
      { clock },
    );
    assert.equal(t, 1500);
  });

  it("stop() cancels every root task of the loop, and their cleanup runs", async () => {
    const log: string[] = [];
    const roots = [1, 2].map((i) =>
      run(function* () {
        try {
          yield* suspend();
        } finally {
          log.push(`root ${i} cleaned up`);
        }
      }),
    );
    await new Promise((resolve) => setImmediate(resolve));
    stop("shutdown");
    for (const root of roots) {
      await assert.rejects(
        async () => await root,
        (error: unknown) => error instanceof CancelledError && error.reason === "shutdown",
      );
    }
    assert.deepEqual(log, ["root 1 cleaned up", "root 2 cleaned up"]);
  });

  it("run() inside a task starts a root on the same loop", async () => {
    const clock = new VirtualClock();
    const inner = await run(
      function* () {
        const other = run(function* () {
          yield* sleep(100);
          return currentTime();
        });
        return yield* other;
      },
      { clock },
    );
    assert.equal(inner, 100);
  });

  it("a VirtualClock drives one loop at a time: a second run() on it while the first runs throws, and a run after it may use it", async () => {
    const clock = new VirtualClock();
    const first = run(
      function* () {
        yield* sleep(10);
        return currentTime();
      },
      { clock },
    );
    assert.throws(() => run(function* () {}, { clock }), {
      name: "Error",
      message:
        "Cannot use this VirtualClock in a second loop: another loop still uses it (it has a task running on it). A VirtualClock drives one loop at a time: give this run() or runVirtual() a VirtualClock of its own, or start the work from a task of the other loop with spawn(), or with run() without loop options (a run() given a clock, and every runVirtual(), makes a new loop)",
    });
    assert.equal(await first, 10);
    const next = await run(
      function* () {
        yield* sleep(5);
        return currentTime();
      },
      { clock },
    );
    assert.equal(next, 15);
  });

  it("a finished run that left a timer does not hold its clock: a later run may use it, and the timer fires once advance moves the clock past it", async () => {
    const clock = new VirtualClock();
    let firedAt = -1;
    await run(
      function* () {
        callLater(1000, () => {
          firedAt = currentTime();
        });
      },
      { clock },
    );
    const next = await run(
      function* () {
        yield* sleep(5);
        return currentTime();
      },
      { clock },
    );
    assert.equal(next, 5);
    assert.equal(firedAt, -1); // a loop with no task left never moves the clock for its timer
    clock.advance(995);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(firedAt, 1000);
  });

  it("a run started on the clock from a done callback of the last task of the run before it (inside that loop's flush) may use it", async () => {
    const clock = new VirtualClock();
    const first = run(
      function* () {
        yield* sleep(1);
      },
      { clock },
    );
    // A task is a thenable: wrapped, so that the promise gives the task, not its value.
    const second = await new Promise<{ task: Task<number> }>((resolve, reject) => {
      first.addDoneCallback(() => {
        try {
          const task = run(
            function* () {
              yield* sleep(3);
              return currentTime();
            },
            { clock },
          );
          resolve({ task });
        } catch (error) {
          reject(error);
        }
      });
    });
    assert.equal(await second.task, 4);
  });

  it("a virtual clock can be advanced by hand", async () => {
    const clock = new VirtualClock({ autoAdvance: false });
    const task = run(
      function* () {
        yield* sleep(1000);
        return currentTime();
      },
      { clock },
    );
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(task.done, false);
    clock.advance(1000);
    assert.equal(await task, 1000);
    assert.throws(() => clock.advance(-1), { name: "RangeError", message: "Cannot advance the clock: ms must be a non-negative finite number, received -1" });
  });

  it("run(op, { signal }): aborting cancels the task with signal.reason, and its cleanup runs", async () => {
    const controller = new AbortController();
    const log: string[] = [];
    const task = run(
      function* () {
        try {
          yield* suspend();
        } finally {
          log.push("cleanup");
        }
      },
      { signal: controller.signal, clock: new VirtualClock() },
    );
    await new Promise((resolve) => setImmediate(resolve));
    controller.abort("user went away");
    const error = await task.then(
      () => assert.fail("should be cancelled"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof CancelledError);
    assert.equal(error.reason, "user went away");
    assert.deepEqual(log, ["cleanup"]);
  });

  it("an already-aborted signal cancels the task before its body runs", async () => {
    let ran = false;
    const reason = new Error("too late");
    const task = run(
      function* () {
        ran = true;
      },
      { signal: aborted(reason) },
    );
    await assert.rejects(Promise.resolve(task), (e: unknown) => e instanceof CancelledError && e.reason === reason);
    assert.equal(ran, false);
  });

  it("the abort listener is removed when the task ends; a later abort does nothing", async () => {
    const controller = new AbortController();
    const added: unknown[] = [];
    const removed: unknown[] = [];
    const signal = controller.signal;
    const spy = signal as unknown as { addEventListener(...args: unknown[]): void; removeEventListener(...args: unknown[]): void };
    const add = spy.addEventListener.bind(signal);
    const remove = spy.removeEventListener.bind(signal);
    spy.addEventListener = (...args: unknown[]) => {
      added.push(args[1]);
      add(...args);
    };
    spy.removeEventListener = (...args: unknown[]) => {
      removed.push(args[1]);
      remove(...args);
    };
    assert.equal(
      await run(
        function* () {
          yield* sleep(1);
          return 5;
        },
        { signal },
      ),
      5,
    );
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(added.length, 1);
    assert.deepEqual(removed, added);
    controller.abort();
  });

  it("a signal that is not an AbortSignal is a TypeError", () => {
    assert.throws(() => run(suspend, { signal: {} as AbortSignal }), {
      name: "TypeError",
      message: "Cannot run: signal must be an AbortSignal, received object",
    });
  });
});

function aborted(reason: unknown): AbortSignal {
  const controller = new AbortController();
  controller.abort(reason);
  return controller.signal;
}
