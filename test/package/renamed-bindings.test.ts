// The build's check on rollup's renames (scripts/_renamed-bindings.mjs): a renamed binding
// (`Foo$1`) is reported when its value is a class or a function, whose `.name` would show
// the suffix, and only then.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { renamedFunctions } from "../../scripts/_renamed-bindings.mjs";

describe("the build's check on renamed bindings", () => {
  it("reports renamed declarations and bindings given an anonymous class, function or arrow", () => {
    for (const code of [
      "class K$1 {}",
      "function* sleep$1() {}",
      "function helper$2(a) {}",
      "const Q$1 = class {",
      "const Bar$1 = class extends Baz {",
      "const f$1 = function () {};",
      "const g$1 = function* () {};",
      "const run$1 = x => x;",
      "let a$1 = (a = String()) => a;",
      "const b$2 = async x => 1;",
      "var c$1 = async (x) => 1;",
      // An assignment names the function too (Lock's takeOrQueue, set in a static block).
      "    takeOrQueue$1 = (lock) => {",
    ]) {
      assert.equal(renamedFunctions(code).length, 1, code);
    }
  });

  it("leaves alone what keeps its name or is not a function", () => {
    for (const code of [
      "let Foo$1 = class Foo {",
      "const h$1 = function h() {};",
      "DONE$1 = 3;",
      "const e$1 = new TextEncoder();",
      "const t$1 = (a, b);",
      "if (x$1 == y) {}",
      "x = y$1 => y$1",
      "export { EventSource$1 as E };",
    ]) {
      assert.deepEqual(renamedFunctions(code), [], code);
    }
  });

  it("describes each finding on one line", () => {
    assert.deepEqual(renamedFunctions("class K$1 {}\nconst run$1 = x => x;"), ["class K$1", "run$1 = x => x;…"]);
  });
});
