// What the build checks in rollup's output (scripts/build.mjs): the bindings
// rollup renamed (`Foo$1`) whose value is a class or a function, so whose
// `.name` and stack frames would show the suffix. Its own file so that
// test/package/renamed-bindings.test.ts can check it.

/** A binding rollup renamed (`Foo$1`) declared or assigned: `class Foo$1`, `function* bar$2`, `baz$1 =`. */
const RENAMED_BINDING = /\b(class|function\*?)\s+([\w$]*\$\d+)\b|([\w$]*\$\d+)\s*=(?![=>])\s*/g;

/**
 * The renamed bindings in `code` whose value is a class or a function, so whose `.name` (and
 * stack frames) would show the `$n`: a declaration (`class Foo$1`, `function bar$1`), or a
 * binding declared or assigned an anonymous class, a function expression or an arrow
 * (`const baz$1 = class {`, `qux$1 = (a = f()) => …`, `quux$1 = x => …`). A binding given a
 * named class or function keeps that name (`let Foo$1 = class Foo`).
 */
export function renamedFunctions(code) {
  const found = [];
  for (const match of code.matchAll(RENAMED_BINDING)) {
    if (match[2] !== undefined) {
      found.push(`${match[1]} ${match[2]}`);
      continue;
    }
    const value = code.slice(match.index + match[0].length);
    const anonymous =
      /^(?:class\s*(?:extends\b|\{)|(?:async\s+)?function\s*\*?\s*\(|async\s*(?:\(|[\w$]+\s*=>)|[\w$]+\s*=>)/.test(value) ||
      (value.startsWith("(") && isArrowAfterParens(value));
    if (anonymous) found.push(`${match[3]} = ${value.slice(0, 30).split("\n")[0]}…`);
  }
  return found;
}

/** Whether `text`, which starts with `(`, is an arrow function's parameter list: `=>` follows its closing parenthesis. */
function isArrowAfterParens(text) {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (char === "(") depth++;
    else if (char === ")" && --depth === 0) return /^\s*=>/.test(text.slice(i + 1));
  }
  return false;
}
