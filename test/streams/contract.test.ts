import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BrokenResourceError, ClosedResourceError, createMemoryStreamPair, spawn } from "../../src/index.ts";
import { checkStream, runVirtual, waitAllTasksBlocked } from "../../src/testing/index.ts";
import { checkLeaks } from "../_helpers.ts";

checkLeaks();

describe("stream contract over an in-memory pair", () => {
  for (const check of checkStream()) {
    it(check.name, async () => {
      await runVirtual(() =>
        check.run(function* () {
          return createMemoryStreamPair({ highWaterMark: 256 * 1024 });
        }),
      );
    });
  }
});

describe("StreamWriter over an in-memory pair", () => {
  it("drain() waits while the peer is not reading, and memory stays bounded", async () => {
    await runVirtual(function* () {
      const [a, b] = createMemoryStreamPair({ limit: 1024, highWaterMark: 4096 });
      const writer = yield* spawn(function* () {
        for (let i = 0; i < 100; i++) {
          a.writer.write(new Uint8Array(1024));
          yield* a.writer.drain();
        }
      });
      yield* waitAllTasksBlocked();
      assert.equal(writer.done, false, "the writer waits: nobody reads");
      // At most: the high-water mark plus one write in the pipe, and twice the limit plus one chunk in the reader.
      assert.ok(a.writer.bufferSize + b.reader.buffered <= 4096 + 1024 + 3 * 1024, `queued ${a.writer.bufferSize} + ${b.reader.buffered}`);
      let total = 0;
      while (total < 100 * 1024) total += (yield* b.reader.read(4096)).length;
      yield* writer;
    });
  });

  it("a Node Buffer written is copied too (a Buffer's slice() is a view of it)", async () => {
    await runVirtual(function* () {
      const [a, b] = createMemoryStreamPair();
      const buffer = Buffer.from("hello");
      a.writer.write(buffer);
      buffer.write("XXXXX");
      assert.equal(new TextDecoder().decode(yield* b.reader.readExactly(5)), "hello");
      a.writer.close();
      b.writer.close();
    });
  });

  it("write of anything but a string or a Uint8Array is a TypeError, and nothing is sent", async () => {
    await runVirtual(function* () {
      const [a, b] = createMemoryStreamPair();
      for (const bad of [42, null, { length: 1 }, [1, 2]]) {
        assert.throws(() => a.writer.write(bad as never), {
          name: "TypeError",
          message: /^Cannot write: data must be a string or a Uint8Array, received (number|null|object)$/,
        });
      }
      a.writer.write("");
      a.writer.write(new Uint8Array(0));
      a.writer.write("ok");
      a.writer.close();
      assert.equal(new TextDecoder().decode(yield* b.reader.read()), "ok");
    });
  });

  it("write after close throws ClosedResourceError at once, naming the rule", async () => {
    await runVirtual(function* () {
      const [a] = createMemoryStreamPair();
      a.writer.close();
      assert.throws(
        () => a.writer.write("x"),
        (error: unknown) => error instanceof ClosedResourceError && error.message === "Cannot write: the stream writer is closed",
      );
    });
  });

  it("abort() on one end resets both ways: the other end's writer breaks (its queued bytes lost), the aborting end reads what it had, then EOF", async () => {
    await runVirtual(function* () {
      const [a, b] = createMemoryStreamPair({ limit: 4, highWaterMark: 4 });
      b.writer.writeLines(["0123", "4567", "89ab", "cdef"]); // a's reader pauses past 8 bytes: the last waits in the pipe
      b.writer.close();
      assert.equal(b.writer.bufferSize, 4);
      a.writer.abort();
      assert.equal(new TextDecoder().decode(yield* a.reader.read(100)), "0123456789ab", "what a had buffered is still read");
      assert.equal((yield* a.reader.read(100)).length, 0, "then EOF");
      assert.equal(b.writer.bufferSize, 0);
      let closed: unknown;
      try {
        yield* b.writer.waitClosed();
      } catch (error) {
        closed = error;
      }
      assert.ok(closed instanceof BrokenResourceError && /other end aborted/.test(closed.message), `b's waitClosed: ${String(closed)}`);
      const [c, d] = createMemoryStreamPair();
      c.writer.abort();
      assert.throws(() => d.writer.write("late"), BrokenResourceError, "a write from the other end after the reset");
    });
  });

  it("abort() while a drain() waits: that drain throws ClosedResourceError, as the bytes it waited for were dropped (Trio's send_all)", async () => {
    await runVirtual(function* () {
      const [a] = createMemoryStreamPair({ limit: 16, highWaterMark: 16 }); // nobody reads the other end
      a.writer.write(new Uint8Array(100));
      a.writer.write(new Uint8Array(100)); // waits in the pipe: drain() waits
      const draining = yield* spawn(function* () {
        try {
          yield* a.writer.drain();
          return "returned";
        } catch (error) {
          return error;
        }
      });
      yield* waitAllTasksBlocked();
      a.writer.abort();
      const ended = yield* draining;
      assert.ok(ended instanceof ClosedResourceError && /aborted/.test(ended.message), `the drain: ${String(ended)}`);
      assert.equal(a.writer.bufferSize, 0);
    });
  });
});
