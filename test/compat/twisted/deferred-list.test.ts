// Ported from Twisted's test_defer.py (DeferredListTests, gatherResults).
import assert from "node:assert/strict";
import { describe, it, mock } from "node:test";
import {
  CancelledError,
  Deferred,
  DeferredList,
  type DeferredListResult,
  type Failure,
  FirstError,
  fail,
  gatherResults,
  succeed,
} from "../../../src/compat/twisted/index.ts";
import { checkLeaks } from "../../_helpers.ts";

checkLeaks();

class GenericError extends Error {}

/** Twisted's fakeCallbackCanceller: a canceller that fires the Deferred with a result. */
const fakeCallbackCanceller = (deferred: Deferred<string>): void => deferred.callback("Callback Result");

/** The outcome of a fired Deferred, taken out of its chain (Twisted's successResultOf / failureResultOf). */
function outcome<T>(deferred: Deferred<T>): { ok: boolean; value: unknown } | undefined {
  let seen: { ok: boolean; value: unknown } | undefined;
  deferred.addCallbacks(
    (value: unknown) => {
      seen = { ok: true, value };
    },
    (failure: Failure) => {
      seen = { ok: false, value: failure };
    },
  );
  return seen;
}

const failedWith = <T>(deferred: Deferred<T>, type: abstract new (...args: never[]) => unknown): Failure => {
  const result = outcome(deferred);
  assert.ok(result !== undefined && !result.ok, "expected a failure");
  assert.ok((result.value as Failure).check(type), String(result.value));
  return result.value as Failure;
};

describe("DeferredList", () => {
  it("testDeferredList: a [success, result] pair per Deferred, in list order", () => {
    const [d1, d2, d3] = [new Deferred<string>(), new Deferred<string>(), new Deferred<string>()];
    const result: DeferredListResult<string>[] = [];
    new DeferredList([d1, d2, d3]).addCallbacks((list: DeferredListResult<string>) => result.push(list));
    d1.callback("1");
    d2.addErrback(() => null); // eats the failure the list passes on
    d2.errback(new GenericError("2"));
    d3.callback("3");
    const [list] = result;
    assert.ok(list !== undefined);
    assert.deepEqual(list[0], [true, "1"]);
    assert.equal(list[1]?.[0], false);
    assert.equal((list[1]?.[1] as Failure | undefined)?.getErrorMessage(), "2");
    assert.deepEqual(list[2], [true, "3"]);
  });

  it("testEmptyDeferredList: fires with [] at once, never with fireOnOneCallback", () => {
    assert.deepEqual(outcome(new DeferredList([])), { ok: true, value: [] });
    assert.equal(outcome(new DeferredList([], { fireOnOneCallback: true })), undefined);
  });

  it("testDeferredListFireOnOneError: fails with a FirstError holding the failure and its index", () => {
    const [d1, d2, d3] = [new Deferred<string>(), new Deferred<string>(), new Deferred<string>()];
    const list = new DeferredList([d1, d2, d3], { fireOnOneErrback: true });
    const failures: Failure[] = [];
    list.addErrback((failure: Failure) => failures.push(failure));
    d2.addErrback(() => null);
    d1.callback("1");
    assert.equal(failures.length, 0);
    d2.errback(new GenericError("from def2"));
    assert.equal(failures.length, 1);
    const first = failures[0]?.value as FirstError;
    assert.ok(first instanceof FirstError);
    assert.ok(first.subFailure.check(GenericError));
    assert.equal(first.subFailure.getErrorMessage(), "from def2");
    assert.equal(first.index, 1);
    d3.callback("3");
  });

  it("testDeferredListDontConsumeErrors / ConsumeErrors: later errbacks see the failure, or undefined", () => {
    for (const consumeErrors of [false, true]) {
      const d1 = new Deferred<void>();
      const lists: DeferredListResult<void>[] = [];
      new DeferredList([d1], { consumeErrors }).addCallback((list: DeferredListResult<void>) => lists.push(list));
      const trapped: unknown[] = [];
      d1.addBoth((result: unknown) => {
        trapped.push(result);
        return null;
      });
      d1.errback(new GenericError("Bang"));
      assert.equal(trapped.length, 1);
      if (consumeErrors) assert.equal(trapped[0], undefined);
      else assert.equal((trapped[0] as Failure).getErrorMessage(), "Bang");
      assert.equal((lists[0]?.[0]?.[1] as Failure | undefined)?.getErrorMessage(), "Bang");
    }
  });

  it("testDeferredList(FireOnOneError)WithAlreadyFiredDeferreds: fired Deferreds count at once", () => {
    const bang = () => fail<number>(new GenericError("Bang"));
    const d1 = bang();
    failedWith(new DeferredList([d1, new Deferred<number>()], { fireOnOneErrback: true }), FirstError);
    d1.addErrback(() => null);
    const d2 = bang();
    const result = outcome(new DeferredList([d2, succeed(2)]));
    assert.equal(result?.ok, true);
    d2.addErrback(() => null);
  });

  it("test_cancelDeferredList (and with either flag): cancels every Deferred", () => {
    for (const options of [{}, { fireOnOneCallback: true }, { fireOnOneErrback: true }]) {
      const [one, two] = [new Deferred<void>(), new Deferred<void>()];
      const list = new DeferredList([one, two], options);
      list.cancel();
      failedWith(one, CancelledError);
      failedWith(two, CancelledError);
      if ("fireOnOneErrback" in options) assert.ok((failedWith(list, FirstError).value as FirstError).subFailure.check(CancelledError));
    }
  });

  it("test_cancelDeferredListCallback: it then fires from the Deferreds' outcomes", () => {
    const one = new Deferred<string>(fakeCallbackCanceller);
    const two = new Deferred<string>();
    const list = new DeferredList([one, two]);
    list.cancel();
    failedWith(two, CancelledError);
    const result = outcome(list)?.value as DeferredListResult<string>;
    assert.deepEqual(result[0], [true, "Callback Result"]);
    assert.equal(result[1]?.[0], false);
    assert.ok((result[1]?.[1] as Failure | undefined)?.check(CancelledError));
  });

  it("test_cancelDeferredListWithFireOnOneCallbackAndDeferredCallback: [result, index] of the first success", () => {
    const one = new Deferred<string>(fakeCallbackCanceller);
    const two = new Deferred<string>();
    const list = new DeferredList([one, two], { fireOnOneCallback: true });
    list.cancel();
    failedWith(two, CancelledError);
    assert.deepEqual(outcome(list), { ok: true, value: ["Callback Result", 0] });
  });

  it("test_cancelDeferredListWithFireOnOneErrbackAllDeferredsCallback: all cancellers succeed, so it succeeds", () => {
    const list = new DeferredList([new Deferred<string>(fakeCallbackCanceller), new Deferred<string>(fakeCallbackCanceller)], { fireOnOneErrback: true });
    list.cancel();
    assert.deepEqual(outcome(list), {
      ok: true,
      value: [
        [true, "Callback Result"],
        [true, "Callback Result"],
      ],
    });
  });

  it("test_cancelDeferredListWithOriginalDeferreds: a Deferred added to the caller's array later is not part of it", () => {
    const [one, two, three] = [new Deferred<void>(), new Deferred<void>(), new Deferred<void>()];
    const argumentList = [one, two];
    const list = new DeferredList(argumentList);
    argumentList.push(three);
    list.cancel();
    failedWith(one, CancelledError);
    failedWith(two, CancelledError);
    assert.equal(three.called, false);
  });

  it("test_cancelDeferredListWithException: a canceller that throws is logged, the rest are cancelled", () => {
    const logged = mock.method(console, "error", () => {});
    try {
      const one = new Deferred<void>(() => {
        throw new RangeError("test");
      });
      const two = new Deferred<void>();
      new DeferredList([one, two]).cancel();
      failedWith(two, CancelledError);
      assert.equal(logged.mock.callCount(), 1);
      assert.ok(logged.mock.calls[0]?.arguments[1] instanceof RangeError);
    } finally {
      logged.mock.restore();
    }
  });

  it("test_cancelFiredOnOne(Call|Err)backDeferredList: once fired, cancel() does nothing", () => {
    const [one, two] = [new Deferred<void>(), new Deferred<void>()];
    const list = new DeferredList([one, two], { fireOnOneCallback: true });
    one.callback();
    list.cancel();
    assert.equal(two.called, false);
    const [three, four] = [new Deferred<void>(), new Deferred<void>()];
    const failing = new DeferredList([three, four], { fireOnOneErrback: true });
    three.errback(new GenericError("test"));
    failing.cancel();
    assert.equal(four.called, false);
    failedWith(three, GenericError);
    failedWith(failing, FirstError);
  });
});

describe("gatherResults", () => {
  it("test_gatherResults: the values in order, or a Failure", () => {
    assert.deepEqual(outcome(gatherResults([succeed(1), succeed(2)])), { ok: true, value: [1, 2] });
    const failing = fail<number>(new RangeError("no"));
    const result = outcome(gatherResults([succeed(1), failing]));
    assert.equal(result?.ok, false);
    failing.addErrback(() => 1);
  });

  it("test_gatherResultsWithConsumeErrors: the failure is consumed on its Deferred, and is a FirstError here", () => {
    const bad = fail<number>(new RangeError("oh noes"));
    const gathered = gatherResults([succeed(1), bad], { consumeErrors: true });
    const unconsumed: Failure[] = [];
    bad.addErrback((failure: Failure) => unconsumed.push(failure));
    const first = failedWith(gathered, FirstError).value as FirstError;
    assert.deepEqual(unconsumed, []);
    assert.ok(first.subFailure.value instanceof RangeError);
  });

  it("test_cancelGatherResults: cancels them all; fails with a FirstError, or succeeds if every canceller does", () => {
    const [one, two] = [new Deferred<void>(), new Deferred<void>()];
    const gathered = gatherResults([one, two]);
    gathered.cancel();
    failedWith(one, CancelledError);
    failedWith(two, CancelledError);
    assert.ok((failedWith(gathered, FirstError).value as FirstError).subFailure.check(CancelledError));
    const recovered = gatherResults([new Deferred<string>(fakeCallbackCanceller), new Deferred<string>(fakeCallbackCanceller)]);
    recovered.cancel();
    assert.deepEqual(outcome(recovered), { ok: true, value: ["Callback Result", "Callback Result"] });
  });
});
