import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { HandOffFuture } from "../../src/core/future.ts";
import { CancelledError, Future, isCancellation, type Operation, run, sleep, spawn, type Task } from "../../src/index.ts";
import { runVirtual, waitAllTasksBlocked } from "../../src/testing/index.ts";
import { checkLeaks, rejectsOp } from "../_helpers.ts";

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

  it("waits that follow one another get their own future's outcome, in one task and across tasks", async () => {
    // A finished wait is reused by the next one (in any task): nothing of the old one may leak.
    await runVirtual(function* () {
      const a = new Future<string>();
      const b = new Future<string>();
      const c = new Future<string>();
      const first = yield* spawn(function* () {
        return [yield* a, yield* b];
      });
      const second = yield* spawn(function* () {
        let failure = "";
        try {
          yield* c;
        } catch (error) {
          failure = (error as Error).message;
        }
        return [failure, yield* b];
      });
      yield* waitAllTasksBlocked();
      c.reject(new Error("c failed"));
      yield* waitAllTasksBlocked();
      a.resolve("a");
      yield* waitAllTasksBlocked();
      b.resolve("b");
      assert.deepEqual(yield* first, ["a", "b"]);
      assert.deepEqual(yield* second, ["c failed", "b"]);
    });
  });

  it("every wait gets its own future's outcome, whatever the order of settling and cancelling (property)", async () => {
    const FUTURES = 6;
    const plans = fc.array(fc.array(fc.nat(FUTURES - 1), { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 5 });
    const settles = fc.array(fc.record({ future: fc.nat(FUTURES - 1), reject: fc.boolean(), cancelTask: fc.option(fc.nat(4)) }), { maxLength: 10 });
    await fc.assert(
      fc.asyncProperty(plans, settles, async (plan, steps) => {
        const outcome = new Map<number, string>();
        const expected = (f: number): string => outcome.get(f) ?? `ok ${f * 10}`;
        const seen: string[][] = plan.map(() => []);
        const cancelled = new Set<number>();
        await runVirtual(function* () {
          const futures = Array.from({ length: FUTURES }, () => new Future<number>());
          function* waiter(index: number, order: number[]): Operation<void> {
            for (const f of order) {
              try {
                seen[index]?.push(`ok ${yield* futures[f] as Future<number>}`);
              } catch (error) {
                if (isCancellation(error)) throw error;
                seen[index]?.push(`err ${(error as Error).message}`);
              }
            }
          }
          const tasks: Task<void>[] = [];
          for (const [index, order] of plan.entries()) tasks.push(yield* spawn(waiter(index, order)));
          yield* waitAllTasksBlocked();
          for (const step of steps) {
            const future = futures[step.future] as Future<number>;
            if (!future.done) {
              outcome.set(step.future, step.reject ? `err f${step.future}` : `ok ${step.future * 10}`);
              if (step.reject) future.reject(new Error(`f${step.future}`));
              else future.resolve(step.future * 10);
            }
            const victim = step.cancelTask === null ? undefined : tasks[step.cancelTask];
            if (victim !== undefined && !victim.done) {
              victim.cancel();
              cancelled.add(step.cancelTask as number);
            }
            yield* waitAllTasksBlocked();
          }
          for (const [f, future] of futures.entries()) if (!future.done) future.resolve(f * 10);
          for (const task of tasks) {
            try {
              yield* task;
            } catch (error) {
              if (!isCancellation(error)) throw error;
            }
          }
        });
        for (const [index, order] of plan.entries()) {
          const want = order.map(expected);
          const got = seen[index] as string[];
          if (cancelled.has(index)) assert.deepEqual(got, want.slice(0, got.length));
          else assert.deepEqual(got, want);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("a waiter woken and then cancelled in one turn throws the cancel, as asyncio's task does; a hand-off future gives it the outcome, then the cancel, whatever the waiter's priority", async () => {
    await runVirtual(function* () {
      const boom = new Error("boom");
      for (const kind of ["plain", "hand-off"] as const) {
        for (const settle of ["resolve", "reject"] as const) {
          for (const order of ["settled first", "cancelled first"] as const) {
            for (const priority of [1, 50]) {
              const future = kind === "plain" ? new Future<string>() : new HandOffFuture<string>();
              let got: unknown = "nothing";
              let later = "not cancelled";
              const waiter = yield* spawn(
                function* () {
                  try {
                    got = yield* future;
                  } catch (error) {
                    got = error instanceof CancelledError ? "cancel" : error;
                    if (isCancellation(error)) throw error;
                  }
                  try {
                    yield* sleep(1);
                  } catch (error) {
                    later = (error as Error).name;
                    throw error;
                  }
                },
                { priority },
              );
              yield* waitAllTasksBlocked();
              // One step (priority 1, before a waiter of priority 50 runs) does both, in this order.
              yield* spawn(
                function* () {
                  if (order === "cancelled first") waiter.cancel();
                  if (settle === "resolve") future.resolve("v");
                  else future.reject(boom);
                  if (order === "settled first") waiter.cancel();
                },
                { priority: 1 },
              );
              yield* rejectsOp(waiter, CancelledError);
              const what = `${kind}, ${settle}, ${order}, priority ${priority}`;
              const given = kind === "hand-off" && order === "settled first";
              assert.equal(got, given ? (settle === "resolve" ? "v" : boom) : "cancel", what);
              assert.equal(later, given ? "CancelledError" : "not cancelled", what);
            }
          }
        }
      }
    });
  });

  it("an iterator driven by hand finishes as a generator does", () => {
    const future = new Future<number>();
    const it = future[Symbol.iterator]();
    future.resolve(7);
    assert.deepEqual(it.next(), { value: 7, done: true });
    assert.deepEqual(it.next(), { value: undefined, done: true });
  });

  it("result() of a pending future throws", () => {
    assert.throws(() => new Future().result(), { message: "Cannot read the result of a Future: it is still pending" });
  });
});
