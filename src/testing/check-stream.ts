/**
 * The stream contract: checks every two-way byte stream must pass, for any
 * transport (TCP, TLS, Unix sockets, pipes, in-memory pairs).
 * @module
 */
import { BrokenResourceError, ClosedResourceError, isCancellation } from "../core/errors.ts";
import type { Operation } from "../core/operation.ts";
import { spawn } from "../core/spawn.ts";
import type { Task } from "../core/task.ts";
import { IncompleteReadError } from "../streams/errors.ts";
import type { StreamEnd } from "../streams/memory-pair.ts";
import { waitAllTasksBlocked } from "./wait-all-tasks-blocked.ts";

/** One named check: run it inside a corio task. */
export interface StreamCheck {
  name: string;
  /**
   * Runs the check.
   * @param makePair Opens two connected ends; each check calls it once. The
   * check closes them; if it fails (or is cancelled), it aborts both.
   */
  run(makePair: () => Operation<[StreamEnd, StreamEnd]>): Operation<void>;
}

const decode = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`Stream contract violated: ${message}`);
}

/**
 * The stream contract (Trio's `check_two_way_stream`, for corio): a list of
 * checks to run against a factory of connected stream pairs. Register them
 * with your test runner; each must run inside a corio task (for example in
 * `runVirtual`), calls the factory once, and closes what it opened: if a
 * check fails, it aborts both ends before it throws.
 *
 * Besides ordered delivery, lines, UTF-8, half-close and the errors of a
 * closed or ended stream, the checks cover: a read blocked on one end ends
 * when the other end closes (EOF) or aborts (EOF or `BrokenResourceError`,
 * never data), and a `drain()` blocked there ends too (with
 * `BrokenResourceError`); a cancelled read loses nothing; `close()` may be called
 * twice; a second read waiting on the same end at once throws; a large
 * transfer to a reader that only reads once the writer is blocked keeps
 * the writer's queue, each time `drain()` returns, under 2 MiB (a transport
 * whose high-water mark is above that fails it) and loses nothing; an echo
 * and a transfer both ways at once, in chunks of varied sizes.
 *
 * @returns The checks, each with a name: a new array at each call (the checks in it are frozen).
 * @example
 * ```ts
 * import { createMemoryStreamPair } from "corio";
 * import { checkStream, runVirtual } from "corio/testing";
 * for (const check of checkStream()) {
 *   await runVirtual(() => check.run(function* () { return createMemoryStreamPair(); }));
 * }
 * ```
 */
export function checkStream(): StreamCheck[] {
  return [...CHECKS];
}

/**
 * A check of `body` on a pair from `makePair`. A failed check (an assertion,
 * a cancel) aborts both ends, so that a socket pair is not left open behind
 * the failure; a passed one has closed them itself.
 */
function check(name: string, body: (a: StreamEnd, b: StreamEnd) => Operation<void>): StreamCheck {
  return Object.freeze({
    name,
    *run(makePair: () => Operation<[StreamEnd, StreamEnd]>): Operation<void> {
      const [a, b] = yield* makePair();
      let passed = false;
      try {
        yield* body(a, b);
        passed = true;
      } finally {
        if (!passed) {
          for (const end of [a, b]) {
            try {
              end.writer.abort();
            } catch {
              // The check's own failure is the one to see.
            }
          }
        }
      }
    },
  });
}

/** Waits for `task`, which was cancelled: its `CancelledError` is expected. */
function* joinCancelled(task: Task<unknown>, what: string): Operation<void> {
  try {
    yield* task;
  } catch (error) {
    if (isCancellation(error)) return;
    throw error;
  }
  assert(false, `${what} returned after it was cancelled`);
}

/** Closes both ends and waits until each has closed. */
function* closeBoth(a: StreamEnd, b: StreamEnd): Operation<void> {
  a.writer.close();
  b.writer.close();
  yield* a.writer.waitClosed();
  yield* b.writer.waitClosed();
}

/** Deterministic pseudo-random numbers (xorshift32) from `seed`, for chunk sizes and data. */
function random(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

/** The most a writer may hold queued when `drain()` returns in the large-transfer check. */
const DRAIN_BOUND = 2 * 1024 * 1024;

const CHECKS: readonly StreamCheck[] = Object.freeze([
  check("delivers bytes in order, both ways", function* (a, b) {
    a.writer.write("ping");
    assert(decode(yield* b.reader.readExactly(4)) === "ping", "a to b");
    b.writer.write("pong");
    assert(decode(yield* a.reader.readExactly(4)) === "pong", "b to a");
    yield* closeBoth(a, b);
  }),
  check("lines and separators across writes", function* (a, b) {
    a.writer.write("first li");
    a.writer.write("ne\nsecond line\nthi");
    a.writer.write("rd\r");
    a.writer.write("\nlast");
    a.writer.close();
    assert(decode(yield* b.reader.readLine()) === "first line\n", "first line");
    assert(decode(yield* b.reader.readLine()) === "second line\n", "second line");
    assert(decode(yield* b.reader.readUntil("\r\n")) === "third\r\n", "CRLF separator");
    assert(decode(yield* b.reader.readLine()) === "last", "a last line without separator at EOF");
    assert((yield* b.reader.readLine()).length === 0 && b.reader.atEof, "empty at EOF");
    b.writer.close();
  }),
  check("strings go as UTF-8, an unpaired surrogate as U+FFFD", function* (a, b) {
    const text = "h\u00e9llo \u2713 \u{1F600} \ud800!";
    a.writer.write(text);
    a.writer.close();
    const got = yield* b.reader.read();
    const want = new TextEncoder().encode(text);
    assert(got.length === want.length && got.every((byte, i) => byte === want[i]), `the bytes of ${JSON.stringify(text)} as TextEncoder encodes them`);
    b.writer.close();
  }),
  check("writeEof: the peer reads to EOF and can still answer", function* (a, b) {
    if (!a.writer.canWriteEof) {
      a.writer.close();
      b.writer.close();
      return;
    }
    a.writer.write("request");
    a.writer.writeEof();
    assert(decode(yield* b.reader.read()) === "request", "read to EOF");
    b.writer.write("response");
    b.writer.close();
    assert(decode(yield* a.reader.read()) === "response", "half-closed end still reads");
    yield* a.writer.waitClosed();
  }),
  check("readExactly at EOF gives IncompleteReadError with the partial bytes", function* (a, b) {
    a.writer.write("abc");
    a.writer.close();
    try {
      yield* b.reader.readExactly(10);
      assert(false, "expected IncompleteReadError");
    } catch (error) {
      assert(error instanceof IncompleteReadError && decode(error.partial) === "abc" && error.expected === 10, "partial bytes kept");
    }
    b.writer.close();
  }),
  check("writing after close throws ClosedResourceError", function* (a, b) {
    a.writer.close();
    try {
      a.writer.write("late");
      assert(false, "expected ClosedResourceError");
    } catch (error) {
      assert(error instanceof ClosedResourceError, "ClosedResourceError");
    }
    b.writer.close();
    yield* a.writer.waitClosed();
  }),
  check("close() twice is one close, and waitClosed() returns each time", function* (a, b) {
    a.writer.close();
    a.writer.close();
    b.writer.close();
    b.writer.close();
    yield* a.writer.waitClosed();
    yield* a.writer.waitClosed();
    yield* b.writer.waitClosed();
    assert(a.writer.isClosing && b.writer.isClosing, "both ends closing");
  }),
  check("a read blocked on one end ends with EOF when the other end closes", function* (a, b) {
    const reader = yield* spawn(() => b.reader.read(4096));
    yield* waitAllTasksBlocked();
    assert(!reader.done, "the read waits while nothing was sent");
    a.writer.close();
    assert((yield* reader).length === 0, "the blocked read returns EOF (empty), not data");
    yield* closeBoth(a, b);
  }),
  check("a read blocked on one end ends when the other end aborts: with EOF or BrokenResourceError, never data", function* (a, b) {
    const reader = yield* spawn(function* () {
      try {
        return (yield* b.reader.read(4096)).length === 0 ? "EOF" : "data";
      } catch (error) {
        if (error instanceof BrokenResourceError) return "BrokenResourceError";
        throw error;
      }
    });
    yield* waitAllTasksBlocked();
    a.writer.abort();
    const ended = yield* reader;
    assert(ended !== "data", "the blocked read ended with data after an abort");
    b.writer.abort();
  }),
  check("a drain blocked on one end ends when the other end aborts, with BrokenResourceError", function* (a, b) {
    const writer = yield* spawn(function* () {
      const chunk = new Uint8Array(64 * 1024);
      try {
        // b never reads: the writes fill what the transport and the peer can hold, then drain() waits.
        for (let i = 0; i < 4096; i++) {
          a.writer.write(chunk);
          yield* a.writer.drain();
        }
        return "wrote 256 MiB that nobody read";
      } catch (error) {
        if (error instanceof BrokenResourceError) return "BrokenResourceError";
        throw error;
      }
    });
    yield* waitAllTasksBlocked();
    assert(!writer.done, "the writer waits in drain() while the other end does not read");
    b.writer.abort();
    const ended = yield* writer;
    assert(ended === "BrokenResourceError", `the blocked drain after the other end aborted: ${ended}`);
    a.writer.abort();
  }),
  check("a cancelled read loses nothing: the next read gets every byte", function* (a, b) {
    const line = yield* spawn(() => b.reader.readLine());
    a.writer.write("par");
    yield* waitAllTasksBlocked();
    line.cancel("the check cancels the read");
    yield* joinCancelled(line, "readLine");
    a.writer.write("tial line\n");
    assert(decode(yield* b.reader.readLine()) === "partial line\n", "a readLine after a cancelled one gets the whole line");
    const exactly = yield* spawn(() => b.reader.readExactly(8));
    a.writer.write("1234");
    yield* waitAllTasksBlocked();
    exactly.cancel("the check cancels the read");
    yield* joinCancelled(exactly, "readExactly");
    a.writer.write("5678");
    assert(decode(yield* b.reader.readExactly(8)) === "12345678", "a readExactly after a cancelled one gets every byte");
    yield* closeBoth(a, b);
  }),
  check("a second read on one end while a read waits there throws at once, naming the rule", function* (a, b) {
    const first = yield* spawn(() => b.reader.read(4096));
    yield* waitAllTasksBlocked();
    let refused: unknown;
    try {
      yield* b.reader.read(4096);
    } catch (error) {
      refused = error;
    }
    assert(refused instanceof Error && /another task is already waiting/.test(refused.message), `a second waiting read: ${String(refused)}`);
    a.writer.write("x");
    assert(decode(yield* first) === "x", "the first read still gets the bytes");
    yield* closeBoth(a, b);
  }),
  check("a large transfer to a slow reader: drain() keeps the queue bounded, nothing is lost", function* (a, b) {
    const total = 16 * 1024 * 1024;
    const chunk = new Uint8Array(64 * 1024);
    let maxQueued = 0;
    const writer = yield* spawn(function* () {
      let checksum = 0;
      for (let sent = 0; sent < total; sent += chunk.length) {
        for (let i = 0; i < chunk.length; i += 4096) chunk[i] = (sent + i) & 0xff;
        for (let i = 0; i < chunk.length; i += 4096) checksum = (checksum + (chunk[i] as number)) | 0;
        a.writer.write(chunk);
        yield* a.writer.drain();
        // What drain() promises: the writer's queue is back at its high-water mark when it returns.
        maxQueued = Math.max(maxQueued, a.writer.bufferSize);
      }
      a.writer.close();
      return checksum;
    });
    let received = 0;
    let checksum = 0;
    for (;;) {
      // Slow: it reads only once the writer is blocked, so drain() is what stops the writer.
      yield* waitAllTasksBlocked();
      const data = yield* b.reader.read(16 * 1024);
      if (data.length === 0) break;
      for (let i = 0; i < data.length; i++) if ((received + i) % 4096 === 0) checksum = (checksum + (data[i] as number)) | 0;
      received += data.length;
    }
    assert(received === total, `received ${received} of ${total} bytes`);
    assert(checksum === (yield* writer), "checksum");
    assert(
      maxQueued <= DRAIN_BOUND,
      `after drain() returned, the writer still had ${maxQueued} bytes queued (over ${DRAIN_BOUND}): drain() does not wait for the reader`,
    );
    b.writer.close();
  }),
  check("a concurrent reader and writer on each end", function* (a, b) {
    const echo = yield* spawn(function* () {
      for (;;) {
        const line = yield* b.reader.readLine();
        if (line.length === 0) break;
        b.writer.write(line);
        yield* b.writer.drain();
      }
      b.writer.close();
    });
    for (let i = 0; i < 100; i++) {
      a.writer.write(`line ${i}\n`);
      yield* a.writer.drain();
      assert(decode(yield* a.reader.readLine()) === `line ${i}\n`, `echo of line ${i}`);
    }
    a.writer.close();
    yield* echo;
    assert((yield* a.reader.read()).length === 0, "EOF after the echo closed");
  }),
  check("both ends send 1 MiB at once, in chunks of varied sizes, and each receives the other's whole", function* (a, b) {
    const size = 1024 * 1024;
    const data = (seed: number): Uint8Array => {
      const next = random(seed);
      const bytes = new Uint8Array(size);
      for (let i = 0; i < size; i++) bytes[i] = next() & 0xff;
      return bytes;
    };
    const send = (end: StreamEnd, bytes: Uint8Array, seed: number) =>
      spawn(function* () {
        const next = random(seed);
        for (let at = 0; at < bytes.length; ) {
          const n = 1 + (next() % 16384);
          end.writer.write(bytes.subarray(at, at + n));
          yield* end.writer.drain();
          at += n;
        }
      });
    const receive = (end: StreamEnd, want: Uint8Array, seed: number, what: string) =>
      spawn(function* () {
        const next = random(seed);
        let got = 0;
        while (got < want.length) {
          const chunk = yield* end.reader.read(1 + (next() % 16384));
          assert(chunk.length > 0, `${what}: EOF after ${got} of ${want.length} bytes`);
          for (let i = 0; i < chunk.length; i++) assert(chunk[i] === want[got + i], `${what}: byte ${got + i} differs`);
          got += chunk.length;
        }
      });
    const aToB = data(1);
    const bToA = data(2);
    const tasks = [yield* send(a, aToB, 3), yield* send(b, bToA, 4), yield* receive(b, aToB, 5, "a to b"), yield* receive(a, bToA, 6, "b to a")];
    for (const task of tasks) yield* task;
    yield* closeBoth(a, b);
  }),
]);
