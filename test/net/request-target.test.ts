import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { parseRequestTarget, parseWithUrlParser, type RequestTarget } from "../../src/net/_request-target.ts";

/** What a handler sees: the path, and the query's parameters in order (or the reason for a 400). */
function seen(target: RequestTarget | string): string | { path: string; query: [string, string][] } {
  if (typeof target === "string") return target;
  const query = typeof target.query === "string" ? new URLSearchParams(target.query) : target.query;
  return { path: target.path, query: [...query] };
}

// The characters that matter to the URL parser, `decodeURIComponent` and the dot segments.
const TRICKY = [..."/?#%.\\[]:@!$&'()*+,;= \t\"<>`{}|^~_-aZ09", "%2f", "%2F", "%00", "%zz", "%C3%A9", "é", "..", "./", "/..", "//", "\u{1F600}", "\r", "\n"];
const anyTarget = fc
  .tuple(fc.constantFrom("/", "/", "/", "", "*", "http://example.com/"), fc.array(fc.constantFrom(...TRICKY), { maxLength: 14 }))
  .map(([start, parts]) => start + parts.join(""));
// Mostly the characters of the shortcut, so that most targets take it (about 60%).
const PLAIN = [..."abcXYZ019/-._~!$&'()*+,;=:@?\""];
const mostlyPlain = fc
  .array(fc.oneof({ arbitrary: fc.constantFrom(...PLAIN), weight: 12 }, { arbitrary: fc.constantFrom(...TRICKY), weight: 1 }), { maxLength: 30 })
  .map((parts) => `/${parts.join("")}`);
const target = fc.oneof(anyTarget, mostlyPlain);

describe("request target", () => {
  it("the shortcut for plain targets gives what the URL parser gives, for any target", () => {
    fc.assert(
      fc.property(target, (url) => {
        assert.deepEqual(seen(parseRequestTarget(url)), seen(parseWithUrlParser(url)), url);
      }),
      { numRuns: 40_000, seed: 0x7a26e7 },
    );
  });

  it("takes the shortcut for plain paths and queries, and leaves the query unparsed until it is read", () => {
    for (const url of ["/", "/users/42", "/a/b.c/d_e~f;g=h:i@j", "/search?q=a+b&page=2", "/x?", "//twice"]) {
      const target = parseRequestTarget(url);
      assert.ok(typeof target !== "string" && typeof target.query === "string", url);
    }
    for (const url of ["/a%20b", "/a/../b", "/.well-known/x", "/a\\b", "/a?b#c", "/[x]", "/é", "*"]) {
      const target = parseRequestTarget(url);
      assert.ok(typeof target === "string" || target.query instanceof URLSearchParams, url);
    }
  });

  it("decodes, resolves dot segments and refuses what cannot be a path", () => {
    assert.deepEqual(seen(parseRequestTarget("/static/..%2f..%2fetc?x=1")), { path: "/etc", query: [["x", "1"]] });
    assert.deepEqual(seen(parseRequestTarget("/a/./b/../c%20d")), { path: "/a/c d", query: [] });
    assert.match(parseRequestTarget("/%ZZ") as string, /^Cannot parse the request target/);
    assert.match(parseRequestTarget("/a%00") as string, /NUL/);
    assert.match(parseRequestTarget("/[::1]") as string, /'\[' and '\]'/);
  });
});
