import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { createMemoryStreamPair, IncompleteReadError, LimitOverrunError, type Operation, StreamReader, spawn } from "../../src/index.ts";
import { runVirtual, waitAllTasksBlocked } from "../../src/testing/index.ts";
import { checkLeaks } from "../_helpers.ts";

checkLeaks();

const enc = (text: string): Uint8Array => new TextEncoder().encode(text);
const dec = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

function readerOf(chunks: string[], eof = true, limit?: number): StreamReader {
  const reader = new StreamReader(limit === undefined ? {} : { limit });
  for (const chunk of chunks) reader.feed(enc(chunk));
  if (eof) reader.feedEof();
  return reader;
}

describe("StreamReader", () => {
  it("read(n) returns what is buffered without suspending; read() reads to EOF", async () => {
    await runVirtual(function* () {
      const reader = readerOf(["hello ", "world"]);
      assert.equal(reader.read(3)[Symbol.iterator]().next().done, true, "buffered data is returned without suspending");
      assert.equal(dec(yield* reader.read(100)), "lo world");
      assert.equal((yield* reader.read(5)).length, 0);
      assert.equal(reader.atEof, true);
      assert.equal(dec(yield* readerOf(["a", "b", "c"]).read()), "abc");
      assert.equal((yield* readerOf(["x"]).read(0)).length, 0);
    });
  });

  it("waits for data, and a cancelled read loses nothing", async () => {
    await runVirtual(function* () {
      const reader = new StreamReader();
      const cancelled = yield* spawn(() => reader.readExactly(4));
      yield* waitAllTasksBlocked();
      reader.feed(enc("ab"));
      cancelled.cancel();
      try {
        yield* cancelled;
      } catch {}
      const waiting = yield* spawn(() => reader.readExactly(4));
      yield* waitAllTasksBlocked();
      reader.feed(enc("cd"));
      assert.equal(dec(yield* waiting), "abcd");
    });
  });

  it("readExactly at EOF throws IncompleteReadError with the partial bytes, consumed", async () => {
    await runVirtual(function* () {
      const reader = readerOf(["abc"]);
      try {
        yield* reader.readExactly(5);
        assert.fail("expected IncompleteReadError");
      } catch (error) {
        assert.ok(error instanceof IncompleteReadError);
        assert.equal(dec(error.partial), "abc");
        assert.equal(error.expected, 5);
        assert.equal(error.message, "Cannot read 5 bytes: the stream ended after 3 bytes");
      }
      assert.equal(reader.atEof, true);
    });
  });

  it("readUntil finds separators split across chunks, of any length", async () => {
    await runVirtual(function* () {
      const reader = readerOf(["one\r", "\ntwo", "EN", "Dthree"]);
      assert.equal(dec(yield* reader.readUntil("\r\n")), "one\r\n");
      assert.equal(dec(yield* reader.readUntil("END")), "twoEND");
      try {
        yield* reader.readUntil("END");
      } catch (error) {
        assert.ok(error instanceof IncompleteReadError);
        assert.equal(dec(error.partial), "three");
        assert.equal(error.expected, undefined);
      }
    });
  });

  it("readLine returns a last line without separator at EOF, then empty arrays", async () => {
    await runVirtual(function* () {
      const reader = readerOf(["a\nb"]);
      assert.equal(dec(yield* reader.readLine()), "a\n");
      assert.equal(dec(yield* reader.readLine()), "b");
      assert.equal((yield* reader.readLine()).length, 0);
      assert.equal((yield* reader.readLine()).length, 0);
    });
  });

  it("readUntil over the limit throws LimitOverrunError and consumes nothing", async () => {
    await runVirtual(function* () {
      const found = readerOf(["0123456789\nrest"], true, 5);
      try {
        yield* found.readUntil("\n");
      } catch (error) {
        assert.ok(error instanceof LimitOverrunError);
        assert.equal(error.consumed, 10);
        assert.equal(error.message, "Cannot read until the separator: it was found after 10 bytes, over the limit of 5");
      }
      assert.equal(found.buffered, 15, "nothing consumed");
      const notFound = readerOf(["0123456789"], false, 5);
      try {
        yield* notFound.readUntil("\n");
      } catch (error) {
        assert.ok(error instanceof LimitOverrunError);
        assert.equal(error.message, "Cannot read until the separator: not found within the limit of 5 bytes");
      }
      assert.equal(notFound.buffered, 10);
    });
  });

  it("readLine over the limit discards the line (through its separator, or the whole buffer) and throws", async () => {
    await runVirtual(function* () {
      const reader = readerOf(["0123456789\nok\n"], true, 5);
      try {
        yield* reader.readLine();
        assert.fail("expected LimitOverrunError");
      } catch (error) {
        assert.ok(error instanceof LimitOverrunError);
      }
      assert.equal(dec(yield* reader.readLine()), "ok\n", "the next line is intact");
      const noSeparator = readerOf(["0123456789"], false, 5);
      try {
        yield* noSeparator.readLine();
      } catch (error) {
        assert.ok(error instanceof LimitOverrunError);
      }
      assert.equal(noSeparator.buffered, 0, "the whole buffer was discarded");
    });
  });

  it("a slow-loris sender that never finishes a line: the reader fails at the limit instead of buffering more", async () => {
    await runVirtual(function* () {
      const reader = new StreamReader({ limit: 1024 });
      const line = yield* spawn(function* () {
        try {
          yield* reader.readLine();
          return "line";
        } catch (error) {
          return (error as Error).name;
        }
      });
      for (let i = 0; i < 2000 && !line.done; i++) {
        reader.feed(enc("x"));
        yield* waitAllTasksBlocked();
      }
      assert.equal(yield* line, "LimitOverrunError");
      assert.ok(reader.buffered <= 1025, `buffered ${reader.buffered}`);
    });
  });

  it("setException makes waiting and later reads throw; feed after EOF is refused", async () => {
    await runVirtual(function* () {
      const reader = new StreamReader();
      const waiting = yield* spawn(function* () {
        try {
          return yield* reader.read(10);
        } catch (error) {
          return error;
        }
      });
      yield* waitAllTasksBlocked();
      const failure = new Error("peer reset");
      reader.setException(failure);
      assert.equal(yield* waiting, failure);
      const ended = readerOf([]);
      assert.throws(() => ended.feed(enc("x")), { message: "Cannot feed the StreamReader: EOF was already fed" });
      assert.throws(() => new StreamReader({ limit: 0 }), RangeError);
    });
  });

  it("property: any chunking of the input gives the same lines and the same limit errors", async () => {
    const line = fc.stringMatching(/^[a-z ]{0,12}$/);
    await fc.assert(
      fc.asyncProperty(
        fc.array(line, { maxLength: 12 }),
        fc.boolean(),
        fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 20 }),
        fc.integer({ min: 3, max: 16 }),
        async (lines, trailing, cuts, limit) => {
          const text = lines.join("\n") + (trailing ? "\n" : "");
          const bytes = enc(text);
          const readAll = (chunked: boolean) =>
            runVirtual(function* () {
              const reader = new StreamReader({ limit });
              const out: string[] = [];
              const consumer = yield* spawn(function* () {
                for (;;) {
                  try {
                    const got = yield* reader.readLine();
                    if (got.length === 0) return;
                    out.push(dec(got));
                  } catch (error) {
                    out.push(`<${(error as Error).name}>`);
                  }
                }
              });
              if (chunked) {
                let at = 0;
                for (let i = 0; at < bytes.length; i++) {
                  const size = cuts[i % cuts.length] as number;
                  reader.feed(bytes.subarray(at, at + size));
                  at += size;
                  yield* waitAllTasksBlocked();
                }
              } else reader.feed(bytes);
              reader.feedEof();
              yield* consumer;
              return out;
            });
          const whole = await readAll(false);
          const pieces = await readAll(true);
          // Over-long lines raise where the limit is crossed, which depends on chunking only in how much
          // is discarded at once; the lines that fit must be identical, in order.
          assert.deepEqual(
            pieces.filter((l) => !l.startsWith("<")),
            whole.filter((l) => !l.startsWith("<")),
          );
          assert.equal(
            pieces.some((l) => l.startsWith("<")),
            whole.some((l) => l.startsWith("<")),
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  it("property: readExactly over any chunking gives the same bytes", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 200 }),
        fc.array(fc.integer({ min: 1, max: 30 }), { minLength: 1, maxLength: 10 }),
        fc.integer({ min: 1, max: 50 }),
        async (data, cuts, size) => {
          const result = await runVirtual(function* () {
            const reader = new StreamReader();
            const out: number[] = [];
            const consumer = yield* spawn(function* () {
              for (;;) {
                try {
                  out.push(...(yield* reader.readExactly(size)));
                } catch (error) {
                  if (error instanceof IncompleteReadError) out.push(...error.partial);
                  return;
                }
              }
            });
            let at = 0;
            for (let i = 0; at < data.length; i++) {
              const cut = cuts[i % cuts.length] as number;
              reader.feed(data.subarray(at, at + cut));
              at += cut;
              yield* waitAllTasksBlocked();
            }
            reader.feedEof();
            yield* consumer;
            return out;
          });
          assert.deepEqual(result, [...data]);
        },
      ),
      { numRuns: 300 },
    );
  });
});

/** Runs `read` in a task and returns what it gave, failing (instead of hanging) if it is still waiting once every task is blocked. */
function* readNow<T>(read: () => Operation<T>): Operation<T> {
  const task = yield* spawn(read);
  yield* waitAllTasksBlocked();
  if (!task.done) {
    task.cancel();
    try {
      yield* task;
    } catch {}
    assert.fail("the read is still waiting, though every byte was written");
  }
  return yield* task;
}

describe("StreamReader over a paused transport that delivers as it resumes (the memory pair)", () => {
  // The reader pauses its transport above 2 * limit bytes; what is written meanwhile waits in the pipe,
  // and the pipe hands it over synchronously when the reader resumes it, before the reader waits.

  it("readExactly past the pause threshold gets the bytes queued in the pipe", async () => {
    await runVirtual(function* () {
      const [a, b] = createMemoryStreamPair({ limit: 4 });
      a.writer.write("0123456789"); // delivered: 10 > 8 bytes buffered, the pipe is paused
      a.writer.write("abcdefghij"); // queued in the pipe
      assert.equal(b.reader.buffered, 10);
      assert.equal(dec(yield* readNow(() => b.reader.readExactly(20))), "0123456789abcdefghij");
    });
  });

  it("read() to EOF gets the bytes and the EOF queued in the pipe", async () => {
    await runVirtual(function* () {
      const [a, b] = createMemoryStreamPair({ limit: 4 });
      a.writer.write("0123456789");
      a.writer.write("abcdefghij");
      a.writer.close();
      assert.equal(dec(yield* readNow(() => b.reader.read())), "0123456789abcdefghij");
    });
  });

  it("readUntil and readLine with a separator longer than the limit get the separator queued in the pipe", async () => {
    await runVirtual(function* () {
      for (const read of ["readUntil", "readLine"] as const) {
        const [a, b] = createMemoryStreamPair({ limit: 1 });
        a.writer.write("abc"); // 3 > 2 bytes buffered: paused
        a.writer.write("d");
        assert.equal(dec(yield* readNow(() => b.reader[read]("abcd"))), "abcd", read);
      }
    });
  });
});
