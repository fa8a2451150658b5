import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createMemoryStreamPair, type Operation, StreamReader } from "../../src/index.ts";
import { checkStream, runVirtual, type StreamCheck } from "../../src/testing/index.ts";
import { checkLeaks } from "../_helpers.ts";

checkLeaks();

const named = (prefix: string): StreamCheck => {
  const found = checkStream().find((check) => check.name.startsWith(prefix));
  assert.ok(found, `no check named ${prefix}...`);
  return found;
};

describe("checkStream", () => {
  it("the large transfer fails a writer whose drain() never waits", async () => {
    await assert.rejects(
      runVirtual(() =>
        named("a large transfer").run(function* () {
          const [a, b] = createMemoryStreamPair();
          // A broken transport: its drain returns at once, however much is queued.
          a.writer.drain = function* (): Operation<void> {};
          return [a, b];
        }),
      ),
      {
        name: "Error",
        message:
          /^Stream contract violated: after drain\(\) returned, the writer still had \d+ bytes queued \(over 2097152\): drain\(\) does not wait for the reader$/,
      },
    );
  });

  it("a check that fails aborts both ends of its pair", async () => {
    const [a, b] = createMemoryStreamPair();
    // b reads what a never wrote: the first check's assertion fails.
    const wrong = new StreamReader();
    wrong.feed(new TextEncoder().encode("pong"));
    await assert.rejects(
      runVirtual(() =>
        named("delivers bytes in order").run(function* () {
          return [a, { reader: wrong, writer: b.writer }];
        }),
      ),
      { name: "Error", message: "Stream contract violated: a to b" },
    );
    assert.equal(a.writer.isClosing, true);
    assert.equal(b.writer.isClosing, true);
  });

  it("gives a new list at each call, of frozen checks: a caller that empties or changes its list changes nobody else's", () => {
    const mine = checkStream();
    const count = mine.length;
    mine.length = 0;
    assert.equal(checkStream().length, count);
    const first = checkStream()[0] as StreamCheck;
    assert.throws(() => {
      (first as { name: string }).name = "renamed";
    }, TypeError);
    assert.notEqual(checkStream()[0]?.name, "renamed");
  });
});
