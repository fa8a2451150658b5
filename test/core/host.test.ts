import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { hostDecodeUtf8 } from "../../src/core/_host.ts";
import { checkLeaks } from "../_helpers.ts";

checkLeaks();

describe("hostDecodeUtf8", () => {
  // Deno has no global Buffer: corio decodes with TextDecoder there.
  const onNodeOrBun = !("Deno" in globalThis);

  it("exists on Node and Bun", { skip: !onNodeOrBun }, () => {
    assert.equal(typeof hostDecodeUtf8, "function");
  });

  it("gives the text of a TextDecoder that keeps U+FEFF, for any bytes and any range (property)", { skip: hostDecodeUtf8 === undefined }, () => {
    const decode = hostDecodeUtf8 as (bytes: Uint8Array, start: number, end: number) => string;
    // Bytes that are mostly parts of multi-byte characters, a BOM's, and invalid ones.
    const byte = fc.oneof(
      fc.constantFrom(0x0a, 0x61, 0xef, 0xbb, 0xbf, 0xc3, 0xa9, 0xe2, 0x9c, 0x93, 0xf0, 0x9f, 0x98, 0x80, 0xed, 0xa0),
      fc.integer({ min: 0, max: 255 }),
    );
    const reference = new TextDecoder("utf-8", { ignoreBOM: true });
    fc.assert(
      fc.property(fc.array(byte, { maxLength: 40 }), fc.nat(), fc.nat(), (list, a, b) => {
        const bytes = Uint8Array.from(list);
        const start = bytes.length === 0 ? 0 : a % (bytes.length + 1);
        const end = start + (bytes.length === 0 ? 0 : b % (bytes.length - start + 1));
        assert.equal(decode(bytes, start, end), reference.decode(bytes.subarray(start, end)));
      }),
      { numRuns: 5000, seed: 1212 },
    );
  });
});
