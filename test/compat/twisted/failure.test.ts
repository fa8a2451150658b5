import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Failure, fail } from "../../../src/compat/twisted/index.ts";
import { checkLeaks } from "../../_helpers.ts";

checkLeaks();

describe("Failure", () => {
  it("trap() returns the matching type", () => {
    const failure = new Failure(new RangeError("too big"));
    assert.equal(failure.trap(TypeError, RangeError), RangeError);
  });

  it("trap() without a match re-raises the original error, not the Failure (Twisted's test_trapRaisesWrappedException, Python 3)", () => {
    const error = new RangeError("too big");
    const failure = new Failure(error);
    assert.throws(
      () => failure.trap(TypeError),
      (thrown: unknown) => thrown === error,
    );
    // In an errback, the chain goes on with the same error.
    let seen: unknown;
    fail(error)
      .addErrback((f: Failure) => f.trap(TypeError))
      .addErrback((f: Failure) => {
        seen = f.value;
        return null;
      });
    assert.equal(seen, error);
  });
});
