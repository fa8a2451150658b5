// Twisted's inlineCallbacks tests (twisted/test/test_defgen.py's InlineCallbacksTests,
// twisted/internet/test/test_inlinecb.py), and the order of calls of a scenario run on Twisted 22.4.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CancelledError, Deferred, type Failure, fail, inlineCallbacks, succeed } from "../../../src/compat/twisted/index.ts";
import { checkLeaks } from "../../_helpers.ts";
import { outcome, steppedReactor } from "./_reactor.ts";

checkLeaks();

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

class TerminalException extends Error {}

describe("inlineCallbacks (Twisted's InlineCallbacksTests)", () => {
  it("testBasics: waits for a Deferred that fires later, gets a failure thrown, and returns a value", async () => {
    const m = steppedReactor();
    try {
      const getThing = (): Deferred<string> => {
        const d = new Deferred<string>();
        m.reactor.callLater(0, () => d.callback("hi"));
        return d;
      };
      const getOwie = (): Deferred<string> => {
        const d = new Deferred<string>();
        m.reactor.callLater(0, () => d.errback(new RangeError("OMG")));
        return d;
      };
      const seen: unknown[] = [];
      const genBasics = inlineCallbacks(function* () {
        const x: string = yield getThing();
        seen.push(x);
        try {
          yield getOwie();
        } catch (error) {
          assert.ok(error instanceof RangeError);
          seen.push(error.message);
        }
        return "WOOSH";
      });
      const d = genBasics();
      assert.equal(d.called, false);
      await m.advance(0);
      await m.advance(0);
      assert.deepEqual(outcome(d), ["result", "WOOSH"]);
      assert.deepEqual(seen, ["hi", "OMG"]);
    } finally {
      await m.stop();
    }
  });

  it("testBuggy: an error the generator throws fails the Deferred with that error", () => {
    const error = new RangeError("1 / 0");
    const d = inlineCallbacks(function* () {
      yield succeed("thing");
      throw error;
    })();
    const [kind, failure] = outcome(d) ?? [];
    assert.equal(kind, "failure");
    assert.equal((failure as Failure).value, error);
  });

  it("testNothing / testReturnNoValue: a generator that returns nothing fires the Deferred with undefined", () => {
    assert.deepEqual(outcome(inlineCallbacks(function* () {})()), ["result", undefined]);
    assert.deepEqual(
      outcome(
        inlineCallbacks(function* () {
          yield 5;
          return;
        })(),
      ),
      ["result", undefined],
    );
  });

  it("testHandledTerminalFailure / testHandledTerminalAsyncFailure: a failure caught in the generator does not fail the Deferred", () => {
    const handled = inlineCallbacks(function* (d: Deferred<unknown>) {
      try {
        yield d;
      } catch (error) {
        if (!(error instanceof TerminalException)) throw error;
      }
    });
    assert.deepEqual(outcome(handled(fail(new TerminalException("Handled Terminal Failure")))), ["result", undefined]);
    const later = new Deferred<unknown>();
    const d = handled(later);
    later.errback(new TerminalException("Handled Terminal Failure"));
    assert.deepEqual(outcome(d), ["result", undefined]);
  });

  it("testStackUsage: 100,000 Deferreds that have fired are taken in a loop, at a constant stack depth", () => {
    const depths: number[] = [];
    const d = inlineCallbacks(function* () {
      for (let i = 0; i < 100_000; i++) {
        if (i < 3 || i === 99_999) depths.push(stackDepth());
        yield succeed(1);
      }
      return 0;
    })();
    assert.deepEqual(outcome(d), ["result", 0]);
    assert.equal(new Set(depths).size, 1, `depths: ${depths.join()}`);
  });

  it("testStackUsage2: 100,000 values that are not Deferreds come straight back, at a constant stack depth", () => {
    const depths: number[] = [];
    const d = inlineCallbacks(function* () {
      let sum = 0;
      for (let i = 0; i < 100_000; i++) {
        if (i < 3 || i === 99_999) depths.push(stackDepth());
        sum += (yield 1) as number;
      }
      return sum;
    })();
    assert.deepEqual(outcome(d), ["result", 100_000]);
    assert.equal(new Set(depths).size, 1, `depths: ${depths.join()}`);
  });

  it("testYieldNonDeferred / testReturnValue / test_returnWithValue: yield gives a value back; return (Twisted's returnValue) fires the Deferred", () => {
    assert.deepEqual(
      outcome(
        inlineCallbacks(function* () {
          return yield 5;
        })(),
      ),
      ["result", 5],
    );
    const d1 = new Deferred<null>();
    const d2 = inlineCallbacks(function* (d: Deferred<null>) {
      yield d;
      return 14;
    })(d1);
    assert.equal(d2.called, false);
    d1.callback(null);
    assert.deepEqual(outcome(d2), ["result", 14]);
  });

  it("test_nonGeneratorReturn: a function that does not produce a generator is a TypeError that names inlineCallbacks", () => {
    const noYield = inlineCallbacks((() => 5) as unknown as () => Generator<unknown, number>);
    assert.throws(() => noYield(), { name: "TypeError", message: /^inlineCallbacks requires .* to produce a generator; instead got number 5$/ });
  });

  it("test_forwardLotsOfTracebacks: an error goes up through nested inlineCallbacks as the same error", () => {
    const error = new Error("Error Marker");
    const erroring = inlineCallbacks(function* () {
      yield "forcing generator";
      throw error;
    });
    const calling3 = inlineCallbacks(function* () {
      yield erroring();
    });
    const calling2 = inlineCallbacks(function* () {
      yield calling3();
    });
    const calling = inlineCallbacks(function* () {
      yield calling2();
    });
    const [kind, failure] = outcome(calling()) ?? [];
    assert.equal(kind, "failure");
    assert.equal((failure as Failure).value, error);
  });
});

describe("inlineCallbacks, the order of calls (as Twisted 22.4)", () => {
  it("runs the generator at once up to the first Deferred with no result, and takes each result out of its Deferred", () => {
    const log: unknown[] = [];
    const pending = new Deferred<string>();
    const failing = new Deferred<string>();
    const g = inlineCallbacks(function* (a: string) {
      log.push(["start", a]);
      const x: number = yield succeed(1);
      log.push(["fired", x]);
      const y: number = yield 5;
      log.push(["plain", y]);
      const z: string = yield pending;
      log.push(["pending", z]);
      try {
        yield failing;
      } catch (error) {
        log.push(["caught", (error as Error).message]);
      }
      return x + y + z.length;
    });
    const d = g("arg");
    log.push("g returned");
    d.addCallback((result: number) => log.push(["d result", result]));
    pending.addBoth((result: unknown) => {
      log.push(["pending chain before", result]);
      return result;
    });
    pending.callback("abc");
    pending.addBoth((result: unknown) => log.push(["pending chain after", result]));
    log.push("fired pending");
    failing.errback(new Error("bad"));
    failing.addBoth((result: unknown) => log.push(["failing chain after", result]));
    assert.deepEqual(log, [
      ["start", "arg"],
      ["fired", 1],
      ["plain", 5],
      "g returned",
      ["pending", "abc"],
      ["pending chain before", undefined],
      ["pending chain after", undefined],
      "fired pending",
      ["caught", "bad"],
      ["d result", 9],
      ["failing chain after", undefined],
    ]);
  });

  it("passes this and the arguments to the generator function", () => {
    const counter = {
      step: 10,
      add: inlineCallbacks(function* (this: { step: number }, n: number) {
        const m: number = yield succeed(n);
        return m + this.step;
      }),
    };
    assert.deepEqual(outcome(counter.add(5)), ["result", 15]);
  });

  it("a generator that returns a Deferred fails the Deferred with a TypeError (deliberately unlike Twisted 22.4, where callback's assert raises out)", () => {
    const d = inlineCallbacks(function* () {
      yield 1;
      return succeed(3);
    })();
    const [kind, failure] = outcome(d) ?? [];
    assert.equal(kind, "failure");
    assert.ok((failure as Failure).check(TypeError));
    assert.match((failure as Failure).getErrorMessage(), /yield it, and return its result/);
  });
});

describe("inlineCallbacks cancellation (Twisted's CancellationTests)", () => {
  class UntranslatedError extends Error {}
  class TranslatedError extends Error {}
  class DontFail extends Error {
    readonly actualValue: number;
    constructor(actualValue: number) {
      super("DontFail");
      this.actualValue = actualValue;
    }
  }

  /** Twisted's sampleInlineCB: waits on a child Deferred, translating two errors. */
  const sampleInlineCB = inlineCallbacks(function* (getChildDeferred: () => Deferred<number>) {
    let x: number;
    try {
      x = yield getChildDeferred();
    } catch (error) {
      if (error instanceof UntranslatedError) throw new TranslatedError();
      if (error instanceof DontFail) x = error.actualValue - 2;
      else throw error;
    }
    return x + 1;
  });

  it("test_cascadeCancellingOnCancel: cancelling the Deferred cancels the one the generator waits on", () => {
    let childResult: unknown = "FAILURE";
    const d = sampleInlineCB(() =>
      new Deferred<number>().addErrback((failure: Failure) => {
        childResult = failure.check(CancelledError);
        return failure;
      }),
    );
    d.addErrback(() => null);
    d.cancel();
    assert.equal(childResult, CancelledError, "no cascade cancelling occurs");
  });

  it("test_errbackCancelledErrorOnCancel: the child's CancelledError fails the Deferred", () => {
    const child = new Deferred<number>();
    const d = sampleInlineCB(() => child);
    d.cancel();
    const [kind, failure] = outcome(d) ?? [];
    assert.equal(kind, "failure");
    assert.throws(() => (failure as Failure).raiseException(), CancelledError);
  });

  it("test_errorToErrorTranslation / test_errorToSuccessTranslation: the generator may turn the child's cancellation error into another error, or a result", () => {
    const translated = sampleInlineCB(() => new Deferred<number>((it) => it.errback(new UntranslatedError())));
    translated.cancel();
    assert.ok((outcome(translated)?.[1] as Failure | undefined)?.check(TranslatedError));
    const results: unknown[] = [];
    const recovered = sampleInlineCB(() => new Deferred<number>((it) => it.errback(new DontFail(4321))));
    recovered.addCallback((value: number) => results.push(value));
    recovered.cancel();
    assert.deepEqual(results, [4320]);
  });

  it("test_asynchronousCancellation: the Deferred fires only once the child gets to where the generator waits on it", () => {
    const moreDeferred = new Deferred<number>();
    const d = sampleInlineCB(() =>
      new Deferred<number>().addErrback((failure: Failure) => {
        failure.trap(CancelledError);
        return moreDeferred;
      }),
    );
    d.cancel();
    assert.equal(d.called, true); // fired by the canceller, and waiting on the child
    assert.equal(d.paused, 1);
    moreDeferred.callback(6543);
    assert.deepEqual(outcome(d), ["result", 6544]);
  });

  it("cancelling again cancels what the generator waits on by then (as Twisted 22.4)", () => {
    const log: unknown[] = [];
    const first = new Deferred<number>();
    const second = new Deferred<number>();
    const d = inlineCallbacks(function* () {
      try {
        yield first;
      } catch (error) {
        if (error instanceof CancelledError) log.push("caught first cancel");
      }
      try {
        yield second;
      } catch (error) {
        if (error instanceof CancelledError) log.push("caught second cancel");
        return "done";
      }
      return "not cancelled";
    })();
    d.addBoth((result: unknown) => log.push(["d", result]));
    d.cancel();
    log.push("cancelled once");
    d.cancel();
    log.push("cancelled twice");
    assert.deepEqual(log, ["caught first cancel", "cancelled once", "caught second cancel", ["d", "done"], "cancelled twice"]);
  });
});
