import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  createMemoryStreamPair,
  IncompleteReadError,
  isCancellation,
  LimitOverrunError,
  type Operation,
  StreamReader,
  spawn,
  type Task,
  TimeoutError,
  timeout,
} from "../../src/index.ts";
import { readMessages } from "../../src/net/index.ts";
import { runVirtual, waitAllTasksBlocked } from "../../src/testing/index.ts";
import { checkLeaks, rejectsOp } from "../_helpers.ts";

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

  it("read() to EOF: a read cancelled or failed midway puts back every byte it had taken, in order", async () => {
    await runVirtual(function* () {
      const reader = new StreamReader();
      const cancelled = yield* spawn(() => reader.read());
      for (const chunk of ["ab", "cd"]) {
        yield* waitAllTasksBlocked();
        reader.feed(enc(chunk));
      }
      yield* waitAllTasksBlocked();
      cancelled.cancel();
      try {
        yield* cancelled;
      } catch {}
      assert.equal(reader.buffered, 4);
      reader.feed(enc("ef"));
      reader.feedEof();
      assert.equal(dec(yield* reader.read()), "abcdef");

      const failing = new StreamReader();
      // Caught in the task: a task that fails would fail this one too.
      const failed = yield* spawn(() => rejectsOp(failing.read(), Error));
      for (const chunk of ["gh", "ij"]) {
        yield* waitAllTasksBlocked();
        failing.feed(enc(chunk));
      }
      yield* waitAllTasksBlocked();
      failing.feed(enc("k"));
      failing.setException(new Error("reset"));
      assert.equal((yield* failed).message, "reset");
      // The bytes that came before the error are still there for plain reads, then the error.
      assert.equal(dec(yield* failing.readExactly(5)), "ghijk");
      assert.equal((yield* rejectsOp(failing.read(1), Error)).message, "reset");
    });
  });

  it("read() to EOF over a transport that delivers as it resumes: the bytes and the end it delivers are not waited for", async () => {
    await runVirtual(function* () {
      // The in-memory pair pauses its reader at twice the limit and feeds it again, at once, when a read resumes it.
      const [a, b] = createMemoryStreamPair({ limit: 1024 });
      a.writer.write(new Uint8Array(10_000).fill(1));
      a.writer.write(new Uint8Array(100).fill(2));
      a.writer.close();
      const got = yield* timeout(1000, b.reader.read());
      assert.equal(got.length, 10_100);
      assert.equal(got[9_999], 1);
      assert.equal(got[10_000], 2);
      b.writer.close();
    });
  });

  it("read() to EOF gives every byte once, in order, however the chunks arrive", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 12 }), fc.array(fc.boolean(), { maxLength: 12 }), async (chunks, waits) => {
        await runVirtual(function* () {
          const reader = new StreamReader({ limit: 8 });
          const reading = yield* spawn(() => reader.read());
          // Some chunks come while the read waits, others together in one turn.
          for (const [i, chunk] of chunks.entries()) {
            if (waits[i] === true) yield* waitAllTasksBlocked();
            reader.feed(chunk);
          }
          reader.feedEof();
          assert.deepEqual(
            [...(yield* reading)],
            chunks.flatMap((chunk) => [...chunk]),
          );
          assert.equal(reader.atEof, true);
        });
      }),
      { numRuns: 300 },
    );
  });

  it("readMessages keeps a copy of a Buffer delimiter: changing the caller's bytes later changes nothing", async () => {
    await runVirtual(function* () {
      const reader = new StreamReader();
      const delimiter = Buffer.from("\n");
      const messages = readMessages(reader, { mode: "line", delimiter });
      delimiter[0] = 0x7c; // "|"
      reader.feed(new TextEncoder().encode("a|b\nc"));
      reader.feedEof();
      const got: unknown[] = [];
      for (let next = yield* messages.next(); next.done !== true; next = yield* messages.next()) got.push(next.value);
      assert.deepEqual(got, ["a|b", "c"]);
    });
  });

  it("lines() and readMessages: a next() cancelled while it waits loses nothing, and each message arrives once", async () => {
    await runVirtual(function* () {
      const reader = new StreamReader();
      const lines = reader.lines();
      reader.feed(enc("par"));
      yield* rejectsOp(timeout(10, lines.next()), TimeoutError);
      reader.feed(enc("tial\nnext\nlast"));
      assert.deepEqual(yield* lines.next(), { done: false, value: "partial" });
      assert.deepEqual(yield* lines.next(), { done: false, value: "next" });
      yield* rejectsOp(timeout(10, lines.next()), TimeoutError); // the last line has no separator yet
      reader.feedEof();
      assert.deepEqual(yield* lines.next(), { done: false, value: "last" });
      assert.deepEqual(yield* lines.next(), { done: true, value: undefined });

      const chunks = new StreamReader();
      const messages = readMessages(chunks, { mode: "raw", maxLength: 4 });
      chunks.feed(enc("abcdef"));
      assert.deepEqual(
        [yield* messages.next(), yield* messages.next()].map((m) => (m.done ? "end" : dec(m.value as Uint8Array))),
        ["abcd", "ef"],
      );
      yield* rejectsOp(timeout(10, messages.next()), TimeoutError);
      chunks.feed(enc("g"));
      chunks.feedEof();
      assert.deepEqual(
        [yield* messages.next(), yield* messages.next()].map((m) => (m.done ? "end" : dec(m.value as Uint8Array))),
        ["g", "end"],
      );
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

  it("a line read that waits, while another read takes bytes, still stops at the first separator (readLine, readUntil, lines())", async () => {
    type Read = (reader: StreamReader) => Operation<string>;
    const reads: [string, Read][] = [
      [
        "readLine",
        function* (reader) {
          return dec(yield* reader.readLine());
        },
      ],
      [
        "readUntil",
        function* (reader) {
          return dec(yield* reader.readUntil("\n"));
        },
      ],
      [
        "lines().next()",
        function* (reader) {
          const line = yield* reader.lines().next();
          return line.done ? "(done)" : `${line.value}\n`;
        },
      ],
    ];
    for (const [name, read] of reads) {
      const got = await runVirtual(function* () {
        // The other read takes its bytes after the data woke the line read, before its turn...
        const woken = new StreamReader();
        woken.feed(enc("abcde"));
        const first = yield* spawn(() => read(woken));
        yield* waitAllTasksBlocked(); // it has scanned "abcde"
        woken.feed(enc("\nXYZ\n"));
        const taken = dec(yield* woken.readExactly(3));
        // ...or while it waits.
        const waiting = new StreamReader();
        waiting.feed(enc("abcde"));
        const second = yield* spawn(() => read(waiting));
        yield* waitAllTasksBlocked();
        const takenWhileWaiting = dec(yield* waiting.readExactly(3));
        waiting.feed(enc("\nXYZ\n"));
        return [taken, yield* first, dec(yield* woken.read(100)), takenWhileWaiting, yield* second, dec(yield* waiting.read(100))];
      });
      assert.deepEqual(got, ["abc", "de\n", "XYZ\n", "abc", "de\n", "XYZ\n"], name);
    }
  });

  it("a read that takes a whole chunk as fed returns that chunk, not a copy or a new view", async () => {
    await runVirtual(function* () {
      const reader = new StreamReader();
      const line = enc("one line\n");
      // Waits on an empty buffer, then gets the chunk fed meanwhile.
      const waiting = yield* spawn(() => reader.readLine());
      yield* waitAllTasksBlocked();
      reader.feed(line);
      assert.equal(yield* waiting, line);
      const chunk = enc("bytes");
      reader.feed(chunk);
      assert.equal(yield* reader.read(100), chunk);
      // Part of a chunk is a view of it; two chunks are joined into the reader's own buffer.
      reader.feed(enc("a\nb"));
      assert.equal(dec(yield* reader.readLine()), "a\n");
      reader.feed(enc("\n"));
      assert.equal(dec(yield* reader.readLine()), "b\n");
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

  it("read(n) refuses an n that is neither an integer nor Infinity, and loses nothing; a negative one reads until EOF (asyncio)", async () => {
    await runVirtual(function* () {
      const reader = readerOf(["hello\nabc"]);
      for (const n of [1.5, Number.NaN, Number.NEGATIVE_INFINITY]) {
        const error = yield* rejectsOp(reader.read(n), RangeError);
        assert.match(error.message, /^Cannot read n bytes: n must be an integer/);
      }
      assert.equal(reader.buffered, 9);
      assert.equal(dec(yield* reader.read(Number.POSITIVE_INFINITY)), "hello\nabc", "Infinity: whatever is buffered");
      assert.equal((yield* reader.read(-2)).length, 0);
    });
  });

  it("lines() and line framing keep a U+FEFF that begins a line, the first one too", async () => {
    const text = "\uFEFFfirst\n\uFEFFsecond\n";
    const got = await runVirtual(function* () {
      const out: string[][] = [];
      for (const read of [(reader: StreamReader) => reader.lines(), (reader: StreamReader) => readMessages(reader, { mode: "line", delimiter: "\n" })]) {
        const reader = new StreamReader();
        reader.feed(enc(text));
        reader.feedEof();
        const lines: string[] = [];
        const iterator = read(reader);
        for (let next = yield* iterator.next(); !next.done; next = yield* iterator.next()) lines.push(next.value as string);
        out.push(lines);
      }
      return out;
    });
    assert.deepEqual(got, [
      ["\uFEFFfirst", "\uFEFFsecond"],
      ["\uFEFFfirst", "\uFEFFsecond"],
    ]);
  });

  it("property: lines() decodes each line's bytes without the separator, for any bytes and separators that are not UTF-8 too", async () => {
    const separators = [
      enc("\n"),
      enc("\r\n"),
      enc("\u2192"),
      enc("\u{1F600}"),
      new Uint8Array([0xff]),
      new Uint8Array([0x80]),
      new Uint8Array([0xef, 0xbb, 0xbf]),
    ];
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...separators),
        fc.array(fc.uint8Array({ maxLength: 8 }), { maxLength: 6 }),
        fc.uint8Array({ maxLength: 4 }),
        async (sep, lines, last) => {
          const contains = (bytes: Uint8Array): boolean => {
            for (let at = 0; at + sep.length <= bytes.length; at++) if (sep.every((byte, i) => bytes[at + i] === byte)) return true;
            return false;
          };
          // A line holding its separator is several lines: keep the inputs whose lines are what was meant.
          fc.pre(lines.every((line) => !contains(line) && !contains(Uint8Array.of(...line, ...sep).subarray(0, line.length + sep.length - 1))));
          fc.pre(!contains(last) && lines.length + last.length > 0);
          const input = Uint8Array.from([...lines.flatMap((line) => [...line, ...sep]), ...last]);
          const got = await runVirtual(function* () {
            const reader = new StreamReader();
            reader.feed(input);
            reader.feedEof();
            const out: string[] = [];
            const iterator = reader.lines(sep);
            for (let next = yield* iterator.next(); !next.done; next = yield* iterator.next()) out.push(next.value);
            return out;
          });
          // Each line alone, U+FEFF kept (no byte-order mark dropped).
          const want = [...lines, ...(last.length > 0 ? [last] : [])].map((bytes) => new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes));
          assert.deepEqual(got, want);
        },
      ),
      { numRuns: 300 },
    );
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
              // Lines are decoded only at the end: each is a view of the reader's buffer (no copy),
              // which the chunks fed after it must not overwrite.
              const out: (Uint8Array | string)[] = [];
              const consumer = yield* spawn(function* () {
                for (;;) {
                  try {
                    const got = yield* reader.readLine();
                    if (got.length === 0) return;
                    out.push(got);
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
              return out.map((line) => (typeof line === "string" ? line : dec(line)));
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
      { numRuns: 300, seed: 9300 },
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
      { numRuns: 300, seed: 9300 },
    );
  });
});

describe("StreamReader: reads cancelled between any two chunks", () => {
  it("property: no byte is lost or repeated (readUntil and readLine with separators of 1 to 3 bytes split anywhere, readExactly, read)", async () => {
    // A small alphabet, so that separators and their prefixes are frequent.
    const small = (bytes: Uint8Array): Uint8Array => bytes.map((byte) => byte % 4);
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ maxLength: 6 }).map(small), { maxLength: 12 }),
        fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }),
        fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 40 }),
        fc.uint8Array({ minLength: 1, maxLength: 3 }).map(small),
        async (chunks, cancelBefore, kinds, separator) => {
          const got = await runVirtual(function* () {
            const reader = new StreamReader();
            const out: number[] = [];
            let reads = 0;
            /** One read of the next kind: its bytes, or `null` for none (EOF, or an empty read). */
            const readOnce = function* (): Operation<Uint8Array | null> {
              const kind = kinds[reads++ % kinds.length];
              try {
                if (kind === 0) return yield* reader.readUntil(separator);
                if (kind === 2) return yield* reader.readExactly(3);
                // At EOF, readLine and read give an empty array.
                const bytes = kind === 1 ? yield* reader.readLine(separator) : yield* reader.read(2);
                return bytes.length === 0 ? null : bytes;
              } catch (error) {
                if (error instanceof IncompleteReadError) return error.partial.length === 0 ? null : error.partial;
                throw error;
              }
            };
            let current: Task<Uint8Array | null> | null = null;
            const consumer = yield* spawn(function* () {
              for (;;) {
                const read: Task<Uint8Array | null> = yield* spawn(readOnce);
                current = read;
                let bytes: Uint8Array | null;
                try {
                  bytes = yield* read;
                } catch (error) {
                  if (isCancellation(error)) continue;
                  throw error;
                }
                if (bytes !== null) out.push(...bytes);
                else if (reader.atEof) return;
              }
            });
            for (const [i, chunk] of chunks.entries()) {
              yield* waitAllTasksBlocked(); // the read waits, having scanned what came so far
              if (cancelBefore[i] === true) (current as Task<unknown> | null)?.cancel();
              yield* waitAllTasksBlocked();
              reader.feed(chunk);
            }
            yield* waitAllTasksBlocked();
            reader.feedEof();
            yield* consumer;
            return out;
          });
          assert.deepEqual(
            got,
            chunks.flatMap((chunk) => [...chunk]),
          );
        },
      ),
      { numRuns: 300, seed: 4242 },
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

  it("an over-long line whose end is queued in the pipe with EOF: the next line survives", async () => {
    await runVirtual(function* () {
      const [a, b] = createMemoryStreamPair({ limit: 3 });
      a.writer.write("xxxxxxx"); // 7 > 6: paused
      yield* rejectsOp(b.reader.readLine(), LimitOverrunError);
      a.writer.write("xxxxxxx"); // the line goes on: paused again
      a.writer.write("x\nok\n"); // queued, with the EOF
      a.writer.close();
      assert.equal(dec(yield* readNow(() => b.reader.readLine())), "ok\n");
      assert.equal((yield* readNow(() => b.reader.readLine())).length, 0);
    });
  });
});

describe("StreamReader: a line over the limit is dropped through its separator, for every kind of read", () => {
  function* overrun(reader: StreamReader, separator?: string): Operation<void> {
    yield* rejectsOp(separator === undefined ? reader.readLine() : reader.readLine(separator), LimitOverrunError);
  }

  it("the tail that arrives after the error is not returned by read, readExactly, readUntil or readLine", async () => {
    await runVirtual(function* () {
      const reads: [string, (reader: StreamReader) => Operation<Uint8Array>][] = [
        ["read", (reader) => reader.read(100)],
        ["readExactly", (reader) => reader.readExactly(4)],
        ["readUntil", (reader) => reader.readUntil("t")],
        ["readLine", (reader) => reader.readLine()],
      ];
      for (const [name, read] of reads) {
        const reader = readerOf(["0123456"], false, 4);
        yield* overrun(reader);
        reader.feed(enc("78"));
        reader.feed(enc("9\nnext"));
        reader.feedEof();
        assert.equal(dec(yield* read(reader)), "next", name);
      }
    });
  });

  it("a read waiting after the error is not woken by the tail, only by what follows the separator", async () => {
    await runVirtual(function* () {
      const reader = readerOf(["0123456"], false, 4);
      yield* overrun(reader);
      const waiting = yield* spawn(() => reader.read(100));
      reader.feed(enc("789"));
      yield* waitAllTasksBlocked();
      assert.equal(waiting.done, false, "the tail of the line is not data");
      assert.equal(reader.buffered, 0);
      reader.feed(enc("\nok"));
      assert.equal(dec(yield* waiting), "ok");
    });
  });

  it("a stream that ends before the separator: the next read sees EOF", async () => {
    await runVirtual(function* () {
      const reader = readerOf(["0123456"], false, 4);
      yield* overrun(reader);
      reader.feed(enc("789"));
      reader.feedEof();
      assert.equal((yield* reader.read()).length, 0);
      assert.equal(reader.atEof, true);
    });
  });

  it("a separator of several bytes split between the error and what follows", async () => {
    await runVirtual(function* () {
      const reader = readerOf(["0123456\r"], false, 4);
      yield* overrun(reader, "\r\n");
      reader.feed(enc("\nok\r\n"));
      reader.feedEof();
      assert.equal(dec(yield* reader.readLine("\r\n")), "ok\r\n");
      // Split over three chunks after the error.
      const three = readerOf(["0123456"], false, 4);
      yield* overrun(three, "<->");
      three.feed(enc("89<"));
      three.feed(enc("-"));
      three.feed(enc(">ok<->"));
      assert.equal(dec(yield* three.readLine("<->")), "ok<->");
    });
  });

  it("a last line without separator, over the limit by less than a separator, is an error too", async () => {
    await runVirtual(function* () {
      // readUntil cannot tell the line is too long until EOF: its last byte might begin "\r\n".
      const reader = readerOf(["0123", "4"], true, 4);
      const error = yield* rejectsOp(reader.readLine("\r\n"), LimitOverrunError);
      assert.equal(error.message, "Cannot read a line: it ended at EOF after 5 bytes, over the limit of 4");
      assert.equal(reader.atEof, true);
      assert.equal(dec(yield* readerOf(["0123"], true, 4).readLine("\r\n")), "0123", "at the limit it is a line");
    });
  });

  it("property: over any chunking, readLine gives the short lines and one error per long line, and no read returns a dropped line's bytes", async () => {
    type After = "line" | "read" | "readExactly" | "readUntil";
    type Event = { kind: "line"; text: string } | { kind: "error" } | { kind: "after"; how: After; n: number; text: string | null };
    const latin1 = new TextDecoder("latin1");
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("\n", "\r\n", "<->"),
        fc.array(fc.array(fc.constantFrom("a", "b", "\n", "\r", "<", "-", ">"), { maxLength: 20 }), { maxLength: 12 }),
        fc.boolean(),
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.tuple(fc.integer({ min: 1, max: 9 }), fc.boolean()), { minLength: 1, maxLength: 20 }),
        fc.array(fc.tuple(fc.constantFrom<After>("line", "read", "readExactly", "readUntil"), fc.integer({ min: 1, max: 12 })), { minLength: 1, maxLength: 5 }),
        fc.constantFrom("fed", "memory pair"),
        async (sep, pieces, trailing, limit, cuts, afterError, transport) => {
          const text = pieces.map((chars) => chars.join("")).join(sep) + (trailing ? sep : "");
          const bytes = enc(text);
          const events = await runVirtual(function* () {
            const [a, b] = createMemoryStreamPair({ limit, highWaterMark: 4 });
            const reader = transport === "fed" ? new StreamReader({ limit }) : b.reader;
            const events: Event[] = [];
            const consumer = yield* spawn(function* () {
              for (let k = 0; ; ) {
                try {
                  const got = yield* reader.readLine(sep);
                  if (got.length === 0) return events;
                  events.push({ kind: "line", text: latin1.decode(got) });
                } catch (error) {
                  if (!(error instanceof LimitOverrunError)) throw error;
                  events.push({ kind: "error" });
                  const [how, n] = afterError[k++ % afterError.length] as [After, number];
                  let got: Uint8Array | null = null;
                  try {
                    if (how === "read") got = yield* reader.read(n);
                    else if (how === "readExactly") got = yield* reader.readExactly(n);
                    else if (how === "readUntil") got = yield* reader.readUntil(sep);
                    else continue;
                  } catch (error) {
                    if (error instanceof IncompleteReadError) got = error.partial;
                    else if (!(error instanceof LimitOverrunError && how === "readUntil")) throw error;
                  }
                  events.push({ kind: "after", how, n, text: got === null ? null : latin1.decode(got) });
                }
              }
            });
            let at = 0;
            for (let i = 0; at < bytes.length; i++) {
              const [size, settle] = cuts[i % cuts.length] as [number, boolean];
              const chunk = bytes.subarray(at, at + size);
              at += size;
              if (transport === "fed") reader.feed(chunk);
              else {
                a.writer.write(chunk);
                if (settle) yield* a.writer.drain();
              }
              if (settle) yield* waitAllTasksBlocked();
            }
            if (transport === "fed") reader.feedEof();
            a.writer.close();
            b.writer.close();
            return yield* consumer;
          });
          // The model: the text cut at each separator, from wherever the reads left off.
          const lineAt = (pos: number): { length: number; end: number } => {
            const found = text.indexOf(sep, pos);
            return found >= 0 ? { length: found - pos, end: found + sep.length } : { length: text.length - pos, end: text.length };
          };
          let pos = 0;
          for (const event of events) {
            const line = lineAt(pos);
            if (event.kind === "line") {
              assert.ok(line.length <= limit, `a line of ${line.length} bytes was returned, over the limit of ${limit}`);
              assert.equal(event.text, text.slice(pos, line.end));
              pos = line.end;
            } else if (event.kind === "error") {
              assert.ok(line.length > limit, `a line of ${line.length} bytes raised LimitOverrunError, limit ${limit}`);
              pos = line.end;
            } else {
              // The first read after an error starts right after the dropped line's separator.
              if (event.how === "readExactly") assert.equal(event.text, text.slice(pos, pos + event.n));
              else if (event.how === "readUntil") {
                const overrun = text.includes(sep, pos) ? line.length > limit : line.length + 1 - sep.length > limit;
                assert.equal(event.text, overrun ? null : text.slice(pos, line.end));
              } else assert.equal(event.text, text.slice(pos, pos + (event.text?.length ?? 0)));
              pos += event.text?.length ?? 0;
            }
          }
          assert.equal(pos, text.length, "every byte was read or dropped as part of a long line");
        },
      ),
      { numRuns: 400, seed: 0x5eed11 },
    );
  });
});
