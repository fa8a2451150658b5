import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  AlreadyCalledError,
  CancelledError,
  createReactor,
  Deferred,
  DeferredTimeoutError,
  ensureDeferred,
  Failure,
  fail,
  gatherResults,
  maybeDeferred,
  succeed,
} from "../../../src/compat/twisted/index.ts";
import { CancelledError as CorioCancelledError, isCancellation, run, sleep, spawn } from "../../../src/index.ts";
import { runVirtual, VirtualClock, waitAllTasksBlocked } from "../../../src/testing/index.ts";
import { checkLeaks } from "../../_helpers.ts";
import { outcome, steppedReactor } from "./_reactor.ts";

checkLeaks();

describe("Deferred", () => {
  it("passes each step's result to the next, switching tracks on errors and recoveries", () => {
    const log: string[] = [];
    const d = new Deferred<number>();
    d.addCallback((n: number) => n + 1)
      .addCallback((n: number) => {
        log.push(`cb ${n}`);
        throw new Error("broken");
      })
      .addCallback(() => log.push("skipped"))
      .addErrback((failure: Failure) => {
        log.push(`eb ${failure.getErrorMessage()}`);
        return "recovered";
      })
      .addCallbacks(
        (value: string) => log.push(`back on callbacks: ${value}`),
        () => log.push("not called"),
      );
    d.callback(1);
    assert.deepEqual(log, ["cb 2", "eb broken", "back on callbacks: recovered"]);
  });

  it("an errback that returns the failure (or traps another type) keeps the errback track", () => {
    const log: string[] = [];
    fail(new TypeError("t"))
      .addErrback((failure: Failure) => failure.trap(RangeError))
      .addErrback((failure: Failure) => {
        log.push(`still failing: ${(failure.value as Error).name}`);
        return null;
      });
    assert.deepEqual(log, ["still failing: TypeError"]);
  });

  it("passes extra arguments, and addBoth sees results and failures alike", () => {
    const seen: unknown[] = [];
    succeed(1).addCallback((value: number, extra: string) => seen.push([value, extra]), "x");
    fail(new Error("e")).addBoth((result: unknown) => seen.push(result instanceof Failure));
    assert.deepEqual(seen, [[1, "x"], true]);
  });

  it("a callback that returns an unfired Deferred pauses the chain until it fires", () => {
    const log: string[] = [];
    const inner = new Deferred<string>();
    const outer = new Deferred<number>();
    outer.addCallback(() => inner).addCallback((value: string) => log.push(`continued with ${value}`));
    outer.callback(0);
    assert.deepEqual(log, []);
    assert.equal(outer.paused, 1);
    inner.callback("inner result");
    assert.deepEqual(log, ["continued with inner result"]);
  });

  it("a callback that returns a fired Deferred continues at once with its result", () => {
    const log: unknown[] = [];
    succeed(1)
      .addCallback(() => succeed(2))
      .addCallback((value: number) => log.push(value));
    assert.deepEqual(log, [2]);
  });

  it("callbacks added after firing run at once", () => {
    const d = succeed("early");
    let seen: unknown;
    d.addCallback((value: string) => {
      seen = value;
    });
    assert.equal(seen, "early");
  });

  it("firing twice raises AlreadyCalledError", () => {
    const d = new Deferred<number>();
    d.callback(1);
    assert.throws(() => d.callback(2), AlreadyCalledError);
    assert.throws(() => d.errback(new Error("x")), {
      name: "AlreadyCalledError",
      message: "Cannot fire the Deferred: it has already been fired; a Deferred fires exactly once",
    });
  });

  it("cancel() without a canceller errbacks CancelledError and swallows the producer's later callback once", () => {
    const d = new Deferred<number>();
    let failure: Failure | undefined;
    d.addErrback((f: Failure) => {
      failure = f;
      return null;
    });
    d.cancel();
    assert.ok(failure?.check(CancelledError));
    assert.ok(!failure?.check(CorioCancelledError), "Twisted's CancelledError, not corio's");
    d.callback(5); // ignored, not AlreadyCalledError
    assert.throws(() => d.callback(6), AlreadyCalledError);
  });

  it("cancel() calls the canceller, which may fire the Deferred itself", () => {
    const d = new Deferred<string>((self) => self.callback("cancelled politely"));
    let seen: unknown;
    d.addCallback((value: string) => {
      seen = value;
    });
    d.cancel();
    assert.equal(seen, "cancelled politely");
  });

  it("cancelling a Deferred paused on a chained one cancels that one", () => {
    let innerCancelled = false;
    const inner = new Deferred<number>(() => {
      innerCancelled = true;
    });
    const outer = succeed(0).addCallback(() => inner);
    outer.addErrback(() => null);
    outer.cancel();
    assert.equal(innerCancelled, true);
  });

  it("converts to and from promises", async () => {
    assert.equal(await succeed(3).toPromise(), 3);
    await assert.rejects(fail(new Error("no")).toPromise(), { message: "no" });
    const d = Deferred.fromPromise(Promise.resolve("p"));
    assert.equal(await d.toPromise(), "p");
  });
});

describe("Deferred and operations", () => {
  it("yield* deferred waits for its result, or throws its error", async () => {
    await runVirtual(function* () {
      const d = new Deferred<number>();
      yield* spawn(function* () {
        yield* sleep(10);
        d.callback(42);
      });
      assert.equal(yield* d, 42);
      try {
        yield* fail(new RangeError("bad"));
      } catch (error) {
        assert.ok(error instanceof RangeError);
      }
    });
  });

  it("yield* on a fired Deferred leaves its result for later callbacks; on a pending one takes it, as Twisted's await", async () => {
    await runVirtual(function* () {
      const seen: unknown[] = [];
      const fired = succeed(5);
      assert.equal(yield* fired, 5);
      fired.addCallback((value: number) => seen.push(`fired: ${value}`));
      const failed = fail(new RangeError("bad"));
      try {
        yield* failed;
      } catch (error) {
        assert.ok(error instanceof RangeError);
      }
      failed.addErrback((failure: Failure) => seen.push(`failed: ${failure.getErrorMessage()}`));
      // Pending: the waiting callback returns nothing, so the chain goes on with undefined (Twisted: None).
      const pending = new Deferred<number>();
      yield* spawn(function* () {
        yield* sleep(1);
        pending.callback(7);
      });
      assert.equal(yield* pending, 7);
      pending.addCallback((value: unknown) => seen.push(`pending: ${String(value)}`));
      const pendingFailure = new Deferred<number>();
      yield* spawn(function* () {
        yield* sleep(1);
        pendingFailure.errback(new RangeError("later"));
      });
      try {
        yield* pendingFailure;
      } catch (error) {
        assert.ok(error instanceof RangeError);
      }
      pendingFailure.addBoth((value: unknown) => seen.push(`pending failure: ${String(value)}`));
      assert.deepEqual(seen, ["fired: 5", "failed: bad", "pending: undefined", "pending failure: undefined"]);
    });
  });

  it("cancelling the task that waits on a Deferred cancels the Deferred", async () => {
    await runVirtual(function* () {
      let cancelled = false;
      const d = new Deferred<number>(() => {
        cancelled = true;
      });
      d.addErrback(() => null);
      const waiter = yield* spawn(() => d);
      yield* waitAllTasksBlocked();
      waiter.cancel();
      try {
        yield* waiter;
      } catch {}
      assert.equal(cancelled, true);
    });
  });

  it("a Deferred cancelled by someone else fails the task waiting on it, with Twisted's CancelledError (Twisted's inlineCallbacks)", async () => {
    // With corio's CancelledError the waiting task ended "cancelled" and its parent returned normally, nothing reported.
    const outcome = await runVirtual(function* () {
      const d = new Deferred<number>();
      yield* spawn(() => d);
      yield* waitAllTasksBlocked();
      d.cancel(); // the producer's side: a timeout, say
      yield* sleep(1);
      return "the parent returned";
    }).catch((error: unknown) => error);
    assert.ok(outcome instanceof CancelledError, String(outcome));
    assert.equal(isCancellation(outcome), false);
    // Caught in the waiting task, it is an error like any other: the task goes on.
    const caught = await runVirtual(function* () {
      const d = new Deferred<number>();
      yield* spawn(function* () {
        yield* sleep(5);
        d.cancel();
      });
      try {
        yield* d;
      } catch (error) {
        assert.ok(error instanceof CancelledError);
      }
      yield* sleep(1);
      return "went on";
    });
    assert.equal(caught, "went on");
  });

  it("the waiting task's own cancellation stays corio's, and the Deferred fails with Twisted's", async () => {
    await runVirtual(function* () {
      const d = new Deferred<number>();
      let failure: Failure | undefined;
      d.addErrback((f: Failure) => {
        failure = f;
        return null;
      });
      const waiter = yield* spawn(() => d);
      yield* waitAllTasksBlocked();
      waiter.cancel("no longer needed");
      let error: unknown;
      try {
        yield* waiter;
      } catch (e) {
        error = e;
      }
      assert.ok(isCancellation(error) && error.reason === "no longer needed", String(error));
      assert.ok(failure?.check(CancelledError));
    });
  });

  it("a Deferred failed with corio's CancelledError (a cancelled task's promise) gives Twisted's, corio's as its cause", async () => {
    const task = run(function* () {
      yield* sleep(1000);
    });
    task.cancel("shutting down");
    const d = Deferred.fromPromise(task);
    await assert.rejects(d.toPromise(), (error: unknown) => error instanceof CancelledError && isCancellation((error as Error).cause));
    // An errback with corio's CancelledError by hand: yield* throws Twisted's, so the waiting task fails instead of ending cancelled.
    await assert.rejects(
      runVirtual(function* () {
        const handmade = new Deferred<number>();
        handmade.errback(new CorioCancelledError("by hand"));
        yield* handmade;
      }),
      (error: unknown) => error instanceof CancelledError,
    );
  });

  it("fromOperation runs the operation as a task; cancelling the Deferred cancels the task", async () => {
    await runVirtual(function* () {
      const done = Deferred.fromOperation(function* () {
        yield* sleep(5);
        return "result";
      });
      assert.equal(yield* done, "result");
      const log: string[] = [];
      const slow = Deferred.fromOperation(function* () {
        try {
          yield* sleep(1000);
        } finally {
          log.push("task cleaned up");
        }
      });
      let failure: Failure | undefined;
      slow.addErrback((f: Failure) => {
        failure = f;
        return null;
      });
      yield* sleep(1);
      slow.cancel();
      yield* sleep(1);
      assert.deepEqual(log, ["task cleaned up"]);
      assert.ok(failure?.check(CancelledError));
    });
  });
});

describe("Deferred chains (iterative, as Twisted's _runCallbacks)", () => {
  /** The number of frames on the stack where it is called. */
  function stackDepth(): number {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = Number.POSITIVE_INFINITY;
    try {
      return (new Error().stack ?? "").split("\n").length;
    } finally {
      Error.stackTraceLimit = limit;
    }
  }

  /** Twisted's test_boundedStackDepth: `top` waits on `howMany` Deferreds, each waiting on the next, the last on `last`. */
  function chainDeferreds(howMany: number): { depth: number | undefined; result: unknown } {
    let depth: number | undefined;
    let result: unknown;
    const top = new Deferred<null>();
    const inners = Array.from({ length: howMany }, () => new Deferred<null>());
    const last = new Deferred<string>();
    top
      .addCallback(() => inners[0])
      .addCallback((value: unknown) => {
        depth = stackDepth();
        result = value;
      });
    for (let i = 0; i < howMany - 1; i++) inners[i]?.addCallback(() => inners[i + 1]);
    inners[howMany - 1]?.addCallback(() => last);
    top.callback(null);
    // Fired innermost first, so that each one waits on a fired but paused one.
    for (let i = howMany - 1; i >= 0; i--) inners[i]?.callback(null);
    assert.equal(depth, undefined, "nothing fires before last does");
    last.callback("done");
    return { depth, result };
  }

  it("calls the outer callbacks at the same stack depth however many Deferreds are chained (test_boundedStackDepth)", () => {
    const one = chainDeferreds(1);
    assert.equal(one.result, "done");
    assert.equal(chainDeferreds(2).depth, one.depth);
    assert.equal(chainDeferreds(50).depth, one.depth);
  });

  it("a chain of 100,000 Deferreds, each waiting on the next, fires the outer one with the innermost result", () => {
    assert.equal(chainDeferreds(100_000).result, "done");
  });

  it("a chain of 100,000 Deferreds each returning the next, unfired, fires the outer one once the innermost fires", () => {
    const n = 100_000;
    const deferreds = Array.from({ length: n }, () => new Deferred<number>());
    for (let i = 0; i < n - 1; i++) deferreds[i]?.addCallback(() => deferreds[i + 1]);
    const seen: unknown[] = [];
    deferreds[0]?.addCallbacks(
      (value: unknown) => seen.push(value),
      (failure: Failure) => seen.push(failure.getErrorMessage()),
    );
    for (let i = 0; i < n - 1; i++) deferreds[i]?.callback(i);
    assert.deepEqual(seen, []);
    deferreds[n - 1]?.callback(42);
    assert.deepEqual(seen, [42]);
  });

  it("a failure travels down a long chain to the outer errback", () => {
    const n = 20_000;
    const deferreds = Array.from({ length: n }, () => new Deferred<number>());
    for (let i = 0; i < n - 1; i++) deferreds[i]?.addCallback(() => deferreds[i + 1]);
    const seen: unknown[] = [];
    deferreds[0]?.addErrback((failure: Failure) => seen.push(failure.getErrorMessage()));
    for (let i = 0; i < n - 1; i++) deferreds[i]?.callback(i);
    deferreds[n - 1]?.errback(new Error("deep"));
    assert.deepEqual(seen, ["deep"]);
  });
});

describe("Deferred callbacks added while a chain runs (Twisted 22.4's order)", () => {
  it("a callback added by a callback to the Deferred it waited on runs at once, not after the waiting chain (Twisted's _runningCallbacks)", () => {
    // Twisted marks a Deferred as running only while one of its callbacks runs: `inner`, which has handed its
    // result to `outer` and waits lower on the loop's stack, runs what `outer`'s callback adds to it there and then.
    const log: unknown[] = [];
    const inner = new Deferred<string>();
    const outer = new Deferred<number>();
    outer.addCallback(() => inner);
    outer.addCallback((value: string) => {
      log.push(["outer cb", value]);
      inner.addCallback((result: unknown) => log.push(["added to inner", result]));
      log.push("outer cb returns");
      return value;
    });
    outer.addCallback((value: string) => log.push(["outer next", value]));
    outer.callback(0);
    inner.callback("v");
    log.push("after");
    assert.deepEqual(log, [["outer cb", "v"], ["added to inner", undefined], "outer cb returns", ["outer next", "v"], "after"]);
  });

  it("the same three Deferreds deep: what the outer one adds to the two it waited on runs at once, innermost first", () => {
    const log: unknown[] = [];
    const a = new Deferred<number>();
    const b = new Deferred<number>();
    const c = new Deferred<string>();
    a.addCallback(() => b);
    b.addCallback(() => c);
    a.addCallback((value: string) => {
      log.push(["a cb", value]);
      c.addCallback((result: unknown) => {
        log.push(["added to c", result]);
        return "c2";
      });
      b.addCallback((result: unknown) => {
        log.push(["added to b", result]);
        return "b2";
      });
      log.push("a cb returns");
      return value;
    });
    a.callback(0);
    b.callback(0);
    c.callback("cv");
    assert.deepEqual(outcome(c), ["result", "c2"]);
    assert.deepEqual(outcome(b), ["result", "b2"]);
    assert.deepEqual(outcome(a), ["result", "cv"]);
    assert.deepEqual(log, [["a cb", "cv"], ["added to c", undefined], ["added to b", undefined], "a cb returns"]);
  });

  it("test_reentrantRunCallbacks / test_nonReentrantCallbacks: a callback added by a callback of the same Deferred runs after it, at the end", () => {
    const called: number[] = [];
    const d = new Deferred<null>();
    d.addCallback(() => {
      called.push(1);
      d.addCallback(() => called.push(3));
      assert.deepEqual(called, [1]);
    });
    d.addCallback(() => called.push(2));
    d.callback(null);
    assert.deepEqual(called, [1, 2, 3]);
  });

  it("test_reentrantRunCallbacksWithFailure: an error from a callback added that way goes to the next errback", () => {
    const d = new Deferred<null>();
    d.addCallback(() => {
      d.addCallback(() => {
        throw new Error("callback raised exception");
      });
    });
    d.callback(null);
    const [kind, failure] = outcome(d) ?? [];
    assert.equal(kind, "failure");
    assert.equal((failure as Failure).getErrorMessage(), "callback raised exception");
  });

  it("test_innerCallbacksPreserved: a Deferred returned while it waits on a third runs its own callbacks before the outer one goes on", () => {
    const results: unknown[] = [];
    const inner = new Deferred<string>();
    const outer = succeed("outer").addCallback((value: string) => {
      results.push(["start-of-cb", value]);
      return succeed("inner")
        .addCallback(() => {
          results.push(["firstCallback", "inner"]);
          return inner;
        })
        .addCallback((value: string) => {
          results.push(["secondCallback", value]);
          return value.repeat(2);
        });
    });
    inner.callback("orange");
    outer.addCallback((value: string) => results.push(value));
    assert.deepEqual(results, [["start-of-cb", "outer"], ["firstCallback", "inner"], ["secondCallback", "orange"], "orangeorange"]);
  });
});

describe("a callback that returns a Deferred which has a result (Twisted 22.4's chaining)", () => {
  it("takes the result of one running a callback at once: the result that callback was given, and the callback's own goes on in its chain", () => {
    const log: unknown[] = [];
    const d1 = new Deferred<string>();
    const d2 = new Deferred<string>();
    d1.addCallback((value: string) => {
      log.push(["d1 cb1", value]);
      return d2;
    });
    d1.addCallback((value: string) => {
      log.push(["d1 cb2", value]);
      return value;
    });
    d2.addCallback((value: string) => {
      log.push(["d2 cb1 start", value]);
      d1.callback("d1 value"); // d1's callback returns d2, in the middle of this callback
      log.push("d2 cb1 returns");
      return "d2 cb1 result";
    });
    d2.addCallback((value: string) => {
      log.push(["d2 cb2", value]);
      return "d2 cb2 result";
    });
    d2.callback("d2 value");
    assert.deepEqual(log, [["d2 cb1 start", "d2 value"], ["d1 cb1", "d1 value"], ["d1 cb2", "d2 value"], "d2 cb1 returns", ["d2 cb2", "d2 cb1 result"]]);
    assert.deepEqual(outcome(d1), ["result", "d2 value"]);
    assert.deepEqual(outcome(d2), ["result", "d2 cb2 result"]);
  });

  it("takes a failure an errback is handling, while the errback recovers its own Deferred", () => {
    const log: unknown[] = [];
    const d1 = new Deferred<null>();
    const d2 = new Deferred<string>();
    d1.addCallback(() => d2);
    d1.addCallbacks(
      (value: unknown) => log.push(["d1 cb", value]),
      (failure: Failure) => log.push(["d1 eb", failure.getErrorMessage()]),
    );
    d2.addErrback((failure: Failure) => {
      log.push(["d2 eb start", failure.getErrorMessage()]);
      d1.callback(null);
      log.push("d2 eb returns");
      return "recovered";
    });
    d2.addBoth((result: unknown) => log.push(["d2 next", result]));
    d2.errback(new Error("boom"));
    assert.deepEqual(log, [["d2 eb start", "boom"], ["d1 eb", "boom"], "d2 eb returns", ["d2 next", "recovered"]]);
  });

  it("takes undefined (Twisted's None) from one lower on the loop's stack, which has handed its result on; its later callbacks run after", () => {
    const log: unknown[] = [];
    const inner = new Deferred<string>();
    const outer = new Deferred<number>();
    const other = new Deferred<string>();
    outer.addCallback(() => inner);
    outer.addCallback((value: string) => {
      log.push(["outer cb", value]);
      other.callback("o");
      log.push("outer cb returns");
      return value;
    });
    other.addCallback((value: string) => {
      log.push(["other cb", value]);
      return inner;
    });
    other.addCallback((value: unknown) => log.push(["other next", value]));
    outer.callback(0);
    inner.addCallback((value: unknown) => {
      log.push(["inner after continuation", value]);
      return "i2";
    });
    inner.callback("v");
    inner.addCallback((value: unknown) => log.push(["inner final", value]));
    assert.deepEqual(log, [
      ["outer cb", "v"],
      ["other cb", "o"],
      ["other next", undefined],
      "outer cb returns",
      ["inner after continuation", undefined],
      ["inner final", "i2"],
    ]);
  });

  it("test_synchronousImplicitChain / test_synchronousImplicitErrorChain: a fired one gives its result (or failure) and keeps undefined", () => {
    const result = {};
    const first = succeed(result);
    const second = new Deferred<null>();
    second.addCallback(() => first);
    second.callback(null);
    assert.deepEqual(outcome(first), ["result", undefined]);
    assert.equal(outcome(second)?.[1], result);
    const failed = fail(new RangeError("First Deferred's Failure"));
    const waiting = new Deferred<null>();
    waiting.addCallback(() => failed);
    waiting.callback(null);
    assert.deepEqual(outcome(failed), ["result", undefined]);
    assert.ok((outcome(waiting)?.[1] as Failure | undefined)?.check(RangeError));
  });

  it("test_asynchronousImplicitChain / test_doubleAsynchronousImplicitChaining: an unfired one hands its result on when it fires", () => {
    const first = new Deferred<object>();
    const second = new Deferred<null>();
    second.addCallback(() => first);
    second.callback(null);
    const firstResult: unknown[] = [];
    const secondResult: unknown[] = [];
    first.addCallback((value: unknown) => firstResult.push(value));
    second.addCallback((value: unknown) => secondResult.push(value));
    assert.deepEqual([firstResult, secondResult], [[], []]);
    const result = {};
    first.callback(result);
    assert.deepEqual(firstResult, [undefined]);
    assert.equal(secondResult[0], result);

    const a = new Deferred<object>();
    const b = new Deferred<null>();
    const c = new Deferred<null>();
    b.addCallback(() => a);
    c.addCallback(() => b);
    const cResult: unknown[] = [];
    c.addCallback((value: unknown) => cResult.push(value));
    b.callback(null);
    c.callback(null);
    assert.deepEqual(cResult, []);
    a.callback(result);
    assert.equal(cResult[0], result);
  });

  it("test_chainedPausedDeferredWithResult / test_pausedDeferredChained: a paused one is waited on until unpaused", () => {
    const expected = {};
    const paused = succeed(expected);
    paused.pause();
    const chained = new Deferred<null>();
    chained.addCallback(() => paused);
    chained.callback(null);
    const result: unknown[] = [];
    chained.addCallback((value: unknown) => result.push(value));
    assert.deepEqual(result, []);
    paused.unpause();
    assert.equal(result[0], expected);

    const first = new Deferred<null>();
    const second = new Deferred<null>();
    first.addCallback(() => second);
    first.callback(null);
    first.pause();
    second.callback(null);
    assert.deepEqual(outcome(second), ["result", undefined]);
  });

  it("a Deferred whose result goes to a waiting one that is still paused goes on with its own callbacks (deliberately unlike Twisted 22.4)", () => {
    // Twisted 22.4 stops its loop at the paused Deferred: `second`'s later callback would wait for the next addCallbacks.
    const log: unknown[] = [];
    const first = new Deferred<null>();
    const second = new Deferred<number>();
    first.addCallback(() => second);
    first.callback(null);
    first.pause();
    second.addCallback((value: unknown) => log.push(["second after continuation", value]));
    second.callback(1);
    log.push("fired second");
    first.addCallback((value: unknown) => log.push(["first", value]));
    first.unpause();
    assert.deepEqual(log, [["second after continuation", undefined], "fired second", ["first", 1]]);
  });

  it("test_resultOfDeferredResultOfDeferredOfFiredDeferredCalled: callbacks added to the middle one run once the last fires", () => {
    const first = new Deferred<null>();
    const second = new Deferred<null>();
    const third = new Deferred<null>();
    first.addCallback(() => second);
    second.addCallback(() => third);
    second.callback(null);
    first.callback(null);
    third.callback(null);
    assert.deepEqual(outcome(second), ["result", undefined]);
  });

  it("test_callbackOrderPreserved: a callback added after one that returned a waiting Deferred runs after that Deferred's callbacks", () => {
    const results: unknown[] = [];
    const a = new Deferred<string>();
    const outer = new Deferred<string>();
    outer.addCallback((value: string) => {
      results.push(["cb", value]);
      const d = new Deferred<null>();
      d.addCallback((value: unknown) => {
        results.push(["firstCallback", value]);
        return gatherResults([a]);
      });
      d.addCallback((value: unknown) => results.push(["secondCallback", value]));
      d.callback(null);
      return d;
    });
    outer.addCallback(() => results.push(["final", null]));
    outer.callback("outer");
    assert.deepEqual(results, [
      ["cb", "outer"],
      ["firstCallback", null],
    ]);
    a.callback("withers");
    assert.deepEqual(results, [
      ["cb", "outer"],
      ["firstCallback", null],
      ["secondCallback", ["withers"]],
      ["final", null],
    ]);
  });
});

describe("maybeDeferred (Twisted's test_maybeDeferred*)", () => {
  it("a value, with the arguments, becomes a fired Deferred", () => {
    const result = {};
    assert.equal(outcome(maybeDeferred(() => result))?.[1], result);
    assert.deepEqual(outcome(maybeDeferred((x: number) => x + 5, 10)), ["result", 15]);
  });

  it("an error thrown becomes a failed Deferred; a Failure returned is the failure itself", () => {
    const thrown = outcome(maybeDeferred(() => JSON.parse("{")));
    assert.equal(thrown?.[0], "failure");
    assert.ok((thrown?.[1] as Failure | undefined)?.value instanceof SyntaxError);
    const expected = new Failure(new TypeError("returned"));
    assert.deepEqual(outcome(maybeDeferred(() => expected)), ["failure", expected]);
    assert.equal(outcome(maybeDeferred(() => expected))?.[1], expected);
  });

  it("a Deferred returned passes through, and its outcome with it", () => {
    const d1 = new Deferred<string>();
    const d2 = maybeDeferred(() => d1);
    assert.equal(d2, d1);
    d1.callback("Success");
    assert.deepEqual(outcome(d2), ["result", "Success"]);
    const failing = new Deferred<string>();
    const passed = maybeDeferred(() => failing);
    failing.errback(new RangeError("async"));
    assert.ok((outcome(passed)?.[1] as Failure | undefined)?.check(RangeError));
  });
});

describe("ensureDeferred (Twisted's EnsureDeferredTests)", () => {
  it("passes a Deferred through", () => {
    const d1 = new Deferred<void>();
    assert.equal(ensureDeferred(d1), d1);
  });

  it("runs an operation (Twisted's coroutine) as a task, its outcome as a Deferred", async () => {
    await runVirtual(function* () {
      const d = ensureDeferred(function* () {
        return yield* succeed("foo");
      });
      assert.ok(d instanceof Deferred);
      assert.equal(yield* d, "foo");
      const failing = ensureDeferred(function* (): Generator<never, never> {
        throw new RangeError("in the operation");
      });
      try {
        yield* failing;
        assert.fail("expected the failure");
      } catch (error) {
        assert.ok(error instanceof RangeError);
      }
    });
  });
});

describe("Deferred.addTimeout (Twisted's TimeoutErrorTests, on a stepped clock)", () => {
  const overridden = (): string => "OVERRIDDEN"; // Twisted's _overrideFunc

  /** Runs `body` with a reactor whose clock moves only by `advance`, and stops it after. */
  async function withClock(body: (m: ReturnType<typeof steppedReactor>) => Promise<void>): Promise<void> {
    const m = steppedReactor();
    try {
      await body(m);
    } finally {
      await m.stop();
    }
  }

  it("test_timeoutChainable: returns the Deferred, chainable", () => {
    const reactor = createReactor({ clock: new VirtualClock() });
    const d = new Deferred<void>();
    d.addTimeout(5, reactor).addCallback(() => "done");
    d.callback();
    assert.deepEqual(outcome(d), ["result", "done"]);
  });

  it("test_timedOut(Custom): fails with DeferredTimeoutError, or what onTimeoutCancel returns", async () => {
    await withClock(async (m) => {
      const d = new Deferred<void>().addTimeout(10, m.reactor);
      const custom = new Deferred<void>().addTimeout(10, m.reactor, overridden);
      await m.advance(9);
      assert.equal(d.called, false);
      await m.advance(6);
      const [kind, failure] = outcome(d) ?? [];
      assert.equal(kind, "failure");
      assert.ok((failure as Failure).check(DeferredTimeoutError));
      assert.equal(((failure as Failure).value as DeferredTimeoutError).timeout, 10);
      assert.deepEqual(outcome(custom), ["result", "OVERRIDDEN"]);
    });
  });

  it("test_timedOutProvidedCancelSuccess / Failure: a canceller that fires the Deferred decides the outcome", async () => {
    await withClock(async (m) => {
      const error = new RangeError("what!");
      const succeeded = new Deferred<string>((self) => self.callback("I was cancelled!")).addTimeout(10, m.reactor);
      const failed = new Deferred<string>((self) => self.errback(error)).addTimeout(10, m.reactor);
      const custom = new Deferred<string>((self) => self.errback(error)).addTimeout(10, m.reactor, overridden);
      await m.advance(15);
      assert.deepEqual(outcome(succeeded), ["result", "I was cancelled!"]);
      assert.equal((outcome(failed)?.[1] as Failure | undefined)?.value, error);
      assert.deepEqual(outcome(custom), ["result", "OVERRIDDEN"]); // test_providedCancelCalledBeforeTimeoutCustom
    });
  });

  it("test_successResultBeforeTimeout / test_failureBeforeTimeout: a Deferred that fired is never cancelled", async () => {
    await withClock(async (m) => {
      for (const fire of [(d: Deferred<string>) => d.callback("results"), (d: Deferred<string>) => d.errback(new RangeError("fail"))]) {
        for (const onTimeoutCancel of [undefined, overridden]) {
          const d = new Deferred<string>().addTimeout(10, m.reactor, onTimeoutCancel);
          let innerCancelled = false;
          const inner = new Deferred<void>(() => {
            innerCancelled = true;
          });
          let seen: unknown;
          d.addBoth((result: unknown) => {
            seen = result;
            return inner;
          });
          fire(d);
          assert.notEqual(seen, undefined);
          await m.advance(15);
          assert.equal(innerCancelled, false);
          assert.equal(inner.called, false);
        }
      }
    });
  });

  it("test_cancelBeforeTimeout(Custom): a cancel before the timeout is a CancelledError, and the timeout is called off", async () => {
    await withClock(async (m) => {
      for (const onTimeoutCancel of [undefined, overridden]) {
        const d = new Deferred<void>().addTimeout(10, m.reactor, onTimeoutCancel);
        const inner = new Deferred<void>();
        let cancelled: Failure | undefined;
        d.addErrback((failure: Failure) => {
          cancelled = failure;
          return inner;
        });
        d.cancel();
        assert.ok(cancelled?.check(CancelledError));
        await m.advance(15);
        assert.equal(inner.called, false);
      }
    });
  });

  it("test_errbackAddedBeforeTimeout(…): callbacks added before see the CancelledError; those after, the translation", async () => {
    await withClock(async (m) => {
      const seen: unknown[] = [];
      const passOn = new Deferred<void>();
      passOn.addErrback((failure: Failure) => {
        seen.push(failure.check(CancelledError)?.name);
        return failure;
      });
      passOn.addTimeout(10, m.reactor);
      const suppress = new Deferred<void>();
      suppress.addErrback((failure: Failure) => {
        failure.trap(CancelledError);
      });
      suppress.addTimeout(10, m.reactor);
      const passOnCustom = new Deferred<void>();
      passOnCustom.addErrback((failure: Failure) => failure);
      passOnCustom.addTimeout(10, m.reactor, overridden);
      const canceller = new Deferred<string>((self) => self.callback("success"));
      canceller.addCallback((value: string) => {
        seen.push(value);
        return value;
      });
      canceller.addTimeout(10, m.reactor);
      await m.advance(15);
      assert.deepEqual(seen, ["CancelledError", "success"]);
      assert.ok((outcome(passOn)?.[1] as Failure | undefined)?.check(DeferredTimeoutError));
      assert.deepEqual(outcome(suppress), ["result", undefined]);
      assert.deepEqual(outcome(passOnCustom), ["result", "OVERRIDDEN"]);
      assert.deepEqual(outcome(canceller), ["result", "success"]);
    });
  });
});
