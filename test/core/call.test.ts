import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CancelledError, call, currentTime, type Operation, sleep, spawn, until } from "../../src/index.ts";
import { runVirtual, waitAllTasksBlocked } from "../../src/testing/index.ts";
import { checkLeaks, promiseWithResolvers, rejectsOp } from "../_helpers.ts";

checkLeaks();

describe("until", () => {
  it("gives the value of a promise and throws its rejection", async () => {
    await runVirtual(function* () {
      assert.equal(yield* until(Promise.resolve(3)), 3);
      const boom = new Error("boom");
      try {
        yield* until(Promise.reject(boom));
      } catch (error) {
        assert.equal(error, boom);
      }
    });
  });

  it("holds the virtual clock still while the promise is pending", async () => {
    await runVirtual(function* () {
      yield* spawn(function* () {
        yield* sleep(1000);
      });
      // The promise settles after a real macrotask; the 1000 ms sleeper must not have run first.
      yield* until(new Promise((resolve) => setImmediate(resolve)));
      assert.equal(currentTime(), 0);
    });
  });

  it("checks what it is given when it runs, as a generator would, and gives back a value that is no promise", async () => {
    await runVirtual(function* () {
      const later = until(Promise.resolve(1));
      assert.equal(yield* later, 1);
      const again = yield* rejectsOp(later, TypeError);
      assert.match(again.message, /^Cannot run until\(…\) twice: /, "it runs once");
      assert.equal(yield* until(5 as unknown as PromiseLike<number>), 5);
      const notYet = until((() => Promise.resolve(1)) as unknown as PromiseLike<number>);
      assert.throws(() => notYet[Symbol.iterator]().next(), {
        name: "TypeError",
        message: "Cannot wait until: expected a promise, received a function (call it first, or use call())",
      });
    });
  });

  it("closed with return() while it waits (driven by hand), it no longer holds the virtual clock", async () => {
    await runVirtual(function* () {
      // What a hand-written combinator driving operations itself may do: start a wait, then drop it.
      const wait = until(new Promise<number>(() => {}))[Symbol.iterator]();
      assert.equal(wait.next().done, false);
      assert.deepEqual(wait.return?.(), { done: true, value: undefined });
      // Still counted as work, the promise would hold the virtual clock still for ever: this sleep would not end.
      yield* sleep(5);
      assert.equal(currentTime(), 5);
    });
  });

  it("a generator around it closed from another task leaves its task waiting for the promise, not for ever", async () => {
    await runVirtual(function* () {
      const { promise, resolve } = promiseWithResolvers<string>();
      const inner = (function* (): Generator<unknown, string, unknown> {
        return yield* until(promise);
      })();
      const task = yield* spawn(() => inner as unknown as Operation<string>);
      yield* waitAllTasksBlocked();
      inner.return("closed");
      setImmediate(() => resolve("late"));
      assert.equal(yield* task, undefined, "the closed generator gives undefined to the task, as before");
    });
  });

  it("a thenable that calls back at once, or whose then throws, is waited for like a promise", async () => {
    await runVirtual(function* () {
      const atOnce = { then: (onValue: (value: number) => void) => onValue(7) } as unknown as PromiseLike<number>;
      assert.equal(yield* until(atOnce), 7);
      assert.equal(yield* call(() => atOnce), 7);
      const throwing = {
        then: () => {
          throw new RangeError("no then today");
        },
      };
      const error = yield* rejectsOp(until(throwing as PromiseLike<number>), RangeError);
      assert.equal(error.message, "no then today");
      // Had the failed wait stayed counted as work, this sleep would never end.
      yield* sleep(5);
      assert.equal(currentTime(), 5);
    });
  });

  it("is abandoned on cancel, and a later rejection is not unhandled", async () => {
    let reject: (error: Error) => void = () => {};
    const pending = new Promise<void>((_, r) => {
      reject = r;
    });
    await runVirtual(function* () {
      const task = yield* spawn(() => until(pending));
      yield* waitAllTasksBlocked();
      task.cancel();
      try {
        yield* task;
      } catch (error) {
        assert.ok(error instanceof CancelledError);
      }
    });
    reject(new Error("late"));
    await new Promise((resolve) => setImmediate(resolve));
  });
});

describe("call", () => {
  it("passes an AbortSignal that is aborted when the task is cancelled", async () => {
    let seen: AbortSignal | undefined;
    await runVirtual(function* () {
      const task = yield* spawn(() =>
        call((signal) => {
          seen = signal;
          return new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason)));
        }),
      );
      yield* waitAllTasksBlocked();
      task.cancel("give up");
      try {
        yield* task;
      } catch (error) {
        assert.ok(error instanceof CancelledError);
      }
    });
    assert.ok(seen?.aborted);
    assert.ok(seen?.reason instanceof CancelledError);
    assert.equal(((seen as AbortSignal).reason as CancelledError).reason, "give up");
  });

  it("makes a signal only for a function that declares a parameter, and calls the others with no argument", async () => {
    const argumentCounts: number[] = [];
    await runVirtual(function* () {
      // Declared: a signal, not yet aborted.
      assert.equal(yield* call((signal) => typeof signal.addEventListener === "function" && !signal.aborted), true);
      // Not declared: called with no argument at all.
      yield* call(function (this: unknown) {
        // biome-ignore lint/complexity/noArguments: what the function was given is the point here
        argumentCounts.push(arguments.length);
      });
      const rest = (...args: unknown[]): Promise<unknown[]> => Promise.resolve(args);
      assert.deepEqual(yield* call(rest), []);
      // A parameter with a default value does not count in fn.length either.
      assert.equal(yield* call((signal: AbortSignal | undefined = undefined) => signal), undefined);
    });
    assert.deepEqual(argumentCounts, [0]);
  });

  it("accepts functions returning operations and plain values", async () => {
    await runVirtual(function* () {
      assert.equal(yield* call(() => 5), 5);
      assert.equal(
        yield* call(function* () {
          yield* sleep(1);
          return 6;
        }),
        6,
      );
      assert.equal(yield* call(async () => 7), 7);
    });
  });

  it("rejects a non-function", async () => {
    await runVirtual(function* () {
      try {
        yield* call(5 as never);
      } catch (error) {
        assert.ok(error instanceof TypeError);
        assert.equal(error.message, "Cannot call: expected a function, received number");
      }
    });
  });
});
