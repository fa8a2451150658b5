// Ported from Twisted's test_task.py (DeferLaterTests), on a clock stepped by hand.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CancelledError, Deferred, deferLater, type Failure } from "../../../src/compat/twisted/index.ts";
import { checkLeaks } from "../../_helpers.ts";
import { outcome, steppedReactor } from "./_reactor.ts";

checkLeaks();

describe("deferLater", () => {
  it("test_callback: fires after the delay with what the function returns, given the arguments", async () => {
    const m = steppedReactor();
    const calls: unknown[] = [];
    const flag = {};
    const d = deferLater(
      m.reactor,
      3,
      (foo: string, bar: string) => {
        calls.push([foo, bar]);
        return flag;
      },
      "foo",
      "bar",
    );
    await m.advance(2);
    assert.deepEqual(calls, []);
    assert.equal(d.called, false);
    await m.advance(1);
    assert.deepEqual(calls, [["foo", "bar"]]);
    assert.equal(outcome(d)?.[1], flag);
    await m.stop();
  });

  it("test_errback: fails with what the function throws; a Deferred it returns is waited on", async () => {
    class TestException extends Error {}
    const m = steppedReactor();
    const failing = deferLater(m.reactor, 1, () => {
      throw new TestException();
    });
    const inner = new Deferred<string>();
    const chained = deferLater(m.reactor, 1, () => inner);
    await m.advance(1);
    assert.ok((outcome(failing)?.[1] as Failure | undefined)?.check(TestException));
    assert.equal(chained.called, true);
    assert.equal(chained.paused, 1); // waiting on inner
    inner.callback("inner");
    assert.deepEqual(outcome(chained), ["result", "inner"]);
    await m.stop();
  });

  it("test_cancel: cancelling it stops the call and fails it with CancelledError", async () => {
    const m = steppedReactor();
    const called: unknown[] = [];
    const d = deferLater(m.reactor, 1, (value: null) => called.push(value), null);
    d.cancel();
    assert.ok((outcome(d)?.[1] as Failure | undefined)?.check(CancelledError));
    await m.advance(2);
    assert.deepEqual(called, []);
    await m.stop();
  });

  it("test_noCallback: without a function it fires with undefined", async () => {
    const m = steppedReactor();
    const d = deferLater(m.reactor, 2);
    assert.equal(d.called, false);
    await m.advance(2);
    assert.deepEqual(outcome(d), ["result", undefined]);
    await m.stop();
  });
});
