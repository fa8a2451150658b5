/**
 * The stream contract: checks every two-way byte stream must pass, for any
 * transport (TCP, TLS, Unix sockets, pipes, in-memory pairs).
 * @module
 */
import { ClosedResourceError } from "../core/errors.ts";
import type { Operation } from "../core/operation.ts";
import { spawn } from "../core/spawn.ts";
import { IncompleteReadError } from "../streams/errors.ts";
import type { StreamEnd } from "../streams/memory-pair.ts";

/** One named check: run it inside a corio task. */
export interface StreamCheck {
  name: string;
  /**
   * Runs the check.
   * @param makePair Opens two connected ends; the check closes them.
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
 * `runVirtual`), and must leave nothing open.
 *
 * @returns The checks, each with a name.
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
  return CHECKS;
}

const CHECKS: StreamCheck[] = [
  {
    name: "delivers bytes in order, both ways",
    *run(makePair) {
      const [a, b] = yield* makePair();
      a.writer.write("ping");
      assert(decode(yield* b.reader.readExactly(4)) === "ping", "a to b");
      b.writer.write("pong");
      assert(decode(yield* a.reader.readExactly(4)) === "pong", "b to a");
      a.writer.close();
      b.writer.close();
      yield* a.writer.waitClosed();
      yield* b.writer.waitClosed();
    },
  },
  {
    name: "lines and separators across writes",
    *run(makePair) {
      const [a, b] = yield* makePair();
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
    },
  },
  {
    name: "strings go as UTF-8, an unpaired surrogate as U+FFFD",
    *run(makePair) {
      const [a, b] = yield* makePair();
      const text = "h\u00e9llo \u2713 \u{1F600} \ud800!";
      a.writer.write(text);
      a.writer.close();
      const got = yield* b.reader.read();
      const want = new TextEncoder().encode(text);
      assert(got.length === want.length && got.every((byte, i) => byte === want[i]), `the bytes of ${JSON.stringify(text)} as TextEncoder encodes them`);
      b.writer.close();
    },
  },
  {
    name: "writeEof: the peer reads to EOF and can still answer",
    *run(makePair) {
      const [a, b] = yield* makePair();
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
    },
  },
  {
    name: "readExactly at EOF gives IncompleteReadError with the partial bytes",
    *run(makePair) {
      const [a, b] = yield* makePair();
      a.writer.write("abc");
      a.writer.close();
      try {
        yield* b.reader.readExactly(10);
        assert(false, "expected IncompleteReadError");
      } catch (error) {
        assert(error instanceof IncompleteReadError && decode(error.partial) === "abc" && error.expected === 10, "partial bytes kept");
      }
      b.writer.close();
    },
  },
  {
    name: "writing after close throws ClosedResourceError",
    *run(makePair) {
      const [a, b] = yield* makePair();
      a.writer.close();
      try {
        a.writer.write("late");
        assert(false, "expected ClosedResourceError");
      } catch (error) {
        assert(error instanceof ClosedResourceError, "ClosedResourceError");
      }
      b.writer.close();
      yield* a.writer.waitClosed();
    },
  },
  {
    name: "a large transfer with a slow reader: drain bounds memory, nothing is lost",
    *run(makePair) {
      const [a, b] = yield* makePair();
      const total = 8 * 1024 * 1024;
      const chunk = new Uint8Array(64 * 1024);
      let maxBuffered = 0;
      const writer = yield* spawn(function* () {
        let checksum = 0;
        for (let sent = 0; sent < total; sent += chunk.length) {
          for (let i = 0; i < chunk.length; i += 4096) chunk[i] = (sent + i) & 0xff;
          for (let i = 0; i < chunk.length; i += 4096) checksum = (checksum + (chunk[i] as number)) | 0;
          a.writer.write(chunk);
          maxBuffered = Math.max(maxBuffered, a.writer.bufferSize);
          yield* a.writer.drain();
        }
        a.writer.close();
        return checksum;
      });
      let received = 0;
      let checksum = 0;
      for (;;) {
        const data = yield* b.reader.read(100_000);
        if (data.length === 0) break;
        for (let i = 0; i < data.length; i++) if ((received + i) % 4096 === 0) checksum = (checksum + (data[i] as number)) | 0;
        received += data.length;
      }
      assert(received === total, `received ${received} of ${total} bytes`);
      assert(checksum === (yield* writer), "checksum");
      assert(maxBuffered <= 16 * 1024 * 1024, `writer buffered ${maxBuffered} bytes`);
      b.writer.close();
    },
  },
  {
    name: "a concurrent reader and writer on each end",
    *run(makePair) {
      const [a, b] = yield* makePair();
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
    },
  },
];
