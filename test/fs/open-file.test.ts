import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import {
  appendFileSync,
  chmodSync,
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, afterEach, before, beforeEach, describe, it } from "node:test";
import fc from "fast-check";
import { type FileStream, openFile } from "../../src/fs/index.ts";
import {
  BrokenResourceError,
  CancelledError,
  ClosedResourceError,
  currentTime,
  Event,
  LimitOverrunError,
  moveOnAfter,
  run,
  sleep,
  spawn,
  suspend,
  TimeoutError,
  timeout,
} from "../../src/index.ts";
import { runVirtual } from "../../src/testing/index.ts";
import { checkLeaks, collectReports, rejectsOp, start, turnsUntil } from "../_helpers.ts";

checkLeaks();

const procFds = existsSync("/proc/self/fd");
let root = "";
let dir = "";
let counter = 0;

before(() => {
  root = mkdtempSync(join(tmpdir(), "corio-fs-test-"));
});
after(() => {
  rmSync(root, { recursive: true, force: true });
});

/** Descriptors of this process open on files under `root` (Linux: /proc/self/fd). */
function openUnderRoot(): string[] {
  if (!procFds) return [];
  const found: string[] = [];
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(root)) found.push(target);
    } catch {}
  }
  return found;
}

beforeEach(() => {
  dir = join(root, `t${++counter}`);
  mkdirSync(dir);
});
afterEach(async () => {
  // A close runs on libuv's thread pool, which a loaded machine can hold up for many turns.
  await turnsUntil(() => openUnderRoot().length === 0);
  assert.deepEqual(openUnderRoot(), [], "the test left files open");
  rmSync(dir, { recursive: true, force: true });
});

const file = (name: string): string => join(dir, name);

/** Whether this process can open `path` for reading (root can, whatever its mode). */
function canRead(path: string): boolean {
  try {
    closeSync(openSync(path, "r"));
    return true;
  } catch {
    return false;
  }
}

const PURPOSES: Record<string, string> = { r: "reading", w: "writing", a: "appending" };
const DENIED_FIXTURE = resolve(import.meta.dirname, "../fixtures/fs-open-denied.ts");

const NOBODY = 65534;

/** Whether uid/gid 65534 may enter the folder (or run the program) `path`, by its mode bits. */
function nobodyCanEnter(path: string): boolean {
  const { uid, gid, mode } = statSync(path);
  return (mode & (uid === NOBODY ? 0o100 : gid === NOBODY ? 0o010 : 0o001)) !== 0;
}

/** The first folder on the way to `path` that uid 65534 cannot enter, if any. */
function blockedForNobody(path: string): string | undefined {
  for (let folder = dirname(path); ; folder = dirname(folder)) {
    if (!nobodyCanEnter(folder)) return folder;
    if (folder === dirname(folder)) return undefined;
  }
}

/**
 * Makes the fixture runnable by uid 65534 wherever the checkout is (a 0700
 * home, a `mktemp -d` folder): bundled with esbuild (which tsx brings) into
 * one plain JavaScript file in a world-readable folder, so the child needs
 * nothing from the checkout or node_modules. Says why not when it cannot be.
 */
function bundleForNobody(fixture: string, folder: string): { script: string } | { skip: string } {
  const node = process.execPath;
  const blocked = blockedForNobody(node) ?? (nobodyCanEnter(node) ? blockedForNobody(folder) : node);
  if (blocked !== undefined) return { skip: `uid ${NOBODY} cannot reach ${blocked}, so it cannot run the check` };
  const require = createRequire(import.meta.url);
  const esbuild = createRequire(require.resolve("tsx/package.json"))("esbuild") as { buildSync(options: Record<string, unknown>): unknown };
  const script = join(folder, "fixture.mjs");
  esbuild.buildSync({ entryPoints: [fixture], outfile: script, bundle: true, platform: "node", format: "esm", target: "node20", logLevel: "silent" });
  chmodSync(folder, 0o755);
  chmodSync(script, 0o644);
  return { script };
}

/** Runs a plain JavaScript file as another user; `skip` when this process may not switch users. */
function runAs(uid: number, script: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string } | { skip: string }> {
  return new Promise((resolveRun, reject) => {
    const options = { uid, gid: uid, cwd: dirname(script), encoding: "utf8" as const };
    execFile(process.execPath, [script, ...args], options, (error, stdout, stderr) => {
      // EPERM: no CAP_SETUID (a rootless container); EINVAL: the uid is not mapped in this user namespace.
      if (error !== null && (error.code === "EPERM" || error.code === "EINVAL")) resolveRun({ skip: `cannot run a child as uid ${uid} (${error.code})` });
      else if (error !== null && typeof error.code !== "number") reject(error);
      else resolveRun({ code: error === null ? 0 : (error.code as number), stdout, stderr });
    });
  });
}

/** Reads every line of a FileStream, with their newlines. */
function* readLines(stream: FileStream) {
  const lines: string[] = [];
  for (let line = yield* stream.readLine(); line !== ""; line = yield* stream.readLine()) lines.push(line);
  return lines;
}

describe("openFile: round trips", () => {
  it("writes with 'w', then reads the same text back with 'r'", async () => {
    await runVirtual(function* () {
      const out = yield* openFile(file("a.txt"), "w");
      assert.equal(out.path, file("a.txt"));
      assert.equal(out.mode, "w");
      out.write("héllo ");
      out.write(new TextEncoder().encode("wörld"));
      out.writeLine("!");
      out.writeLine("second");
      yield* out.close();
      const input = yield* openFile(file("a.txt"), "r");
      assert.equal(input.mode, "r");
      assert.equal(yield* input.read(), "héllo wörld!\nsecond\n");
      assert.equal(yield* input.read(), "");
      assert.ok(input.atEof);
      yield* input.close();
    });
    assert.equal(readFileSync(file("a.txt"), "utf8"), "héllo wörld!\nsecond\n");
  });

  it("'w' truncates an existing file, 'a' appends to it and creates a missing one", async () => {
    writeFileSync(file("t.txt"), "old content\n");
    await runVirtual(function* () {
      const out = yield* openFile(file("t.txt"), "w");
      out.writeLine("new");
      yield* out.close();
      const more = yield* openFile(file("t.txt"), "a");
      more.writeLine("appended");
      yield* more.close();
      const fresh = yield* openFile(file("fresh.txt"), "a");
      fresh.write("x");
      yield* fresh.close();
    });
    assert.equal(readFileSync(file("t.txt"), "utf8"), "new\nappended\n");
    assert.equal(readFileSync(file("fresh.txt"), "utf8"), "x");
  });

  it("round-trips a 5 MiB file through the writer and the reader", async () => {
    const data = new Uint8Array(5 * 1024 * 1024);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7919 + (i >> 13)) & 0xff;
    await runVirtual(function* () {
      const out = yield* openFile(file("big.bin"), "w");
      for (let offset = 0; offset < data.length; offset += 100_000) {
        out.writer.write(data.subarray(offset, offset + 100_000));
        yield* out.drain();
        assert.ok(out.writer.bufferSize <= 65536);
      }
      yield* out.close();
      const input = yield* openFile(file("big.bin"), "r");
      const got = yield* input.reader.read();
      assert.equal(got.length, data.length);
      assert.ok(Buffer.from(got).equals(Buffer.from(data)));
      assert.ok(input.atEof);
      yield* input.close();
    });
    assert.equal(readFileSync(file("big.bin")).length, data.length);
  });

  it("a Node Buffer over 8 KiB written is copied too (a Buffer's slice() is a view)", async () => {
    await runVirtual(function* () {
      const out = yield* openFile(file("buffer.bin"), "w");
      const buffer = Buffer.alloc(10_000, 1);
      out.write(buffer);
      buffer.fill(2);
      yield* out.close();
    });
    assert.ok(readFileSync(file("buffer.bin")).equals(Buffer.alloc(10_000, 1)));
  });

  it("read() gives the rest of a 5 MiB text file whole, after a line or from the start", async () => {
    const text = "ligne é ✓ 😀 0123456789\n".repeat((5 * 1024 * 1024) / 30);
    writeFileSync(file("whole.txt"), `\ufeff${text}`);
    await runVirtual(function* () {
      const first = yield* openFile(file("whole.txt"), "r");
      assert.equal(yield* first.read(), text, "the byte-order mark at the start is dropped");
      assert.equal(yield* first.read(), "");
      yield* first.close();
      const second = yield* openFile(file("whole.txt"), "r", { chunkSize: 1000 });
      const line = yield* second.readLine();
      assert.equal(line, "ligne é ✓ 😀 0123456789\n");
      assert.equal((yield* second.read()).length, text.length - line.length);
      yield* second.close();
    });
  });

  it("reads a 5 MiB file in small reads, in order", async () => {
    const text = "0123456789abcdef\n".repeat((5 * 1024 * 1024) / 17);
    writeFileSync(file("big.txt"), text);
    await runVirtual(function* () {
      const input = yield* openFile(file("big.txt"), "r");
      const parts: string[] = [];
      for (let part = yield* input.read(4096); part !== ""; part = yield* input.read(4096)) parts.push(part);
      assert.equal(parts.join(""), text);
      yield* input.close();
    });
  });

  it("gives back the lines written, however the writes and the reads are chunked (property)", async () => {
    const line = fc.string({ unit: fc.constantFrom("a", "é", "✓", " ", "z", "\r"), maxLength: 30 });
    await fc.assert(
      fc.asyncProperty(
        fc.array(line, { maxLength: 25 }),
        fc.boolean(),
        fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 10 }),
        fc.integer({ min: 1, max: 64 }),
        async (lines, trailing, cuts, chunkSize) => {
          const path = file(`p${++counter}.txt`);
          const text = lines.join("\n") + (trailing && lines.length > 0 ? "\n" : "");
          const bytes = new TextEncoder().encode(text);
          const got = await runVirtual(function* () {
            const out = yield* openFile(path, "w", { highWaterMark: 16 });
            // Write in random cuts, which split lines and UTF-8 characters alike.
            for (let offset = 0, i = 0; offset < bytes.length; i++) {
              const size = cuts[i % cuts.length] as number;
              out.write(bytes.subarray(offset, offset + size));
              offset += size;
              if (i % 3 === 0) yield* out.drain();
            }
            yield* out.close();
            const input = yield* openFile(path, "r", { chunkSize });
            const read = yield* readLines(input);
            yield* input.close();
            return read;
          });
          const expected = text === "" ? [] : text.split(/(?<=\n)/);
          assert.deepEqual(got, expected);
        },
      ),
      { numRuns: 40, seed: 1740 },
    );
  });

  it("writes strings and bytes in any mix and size in order, though the caller reuses its buffer (property)", async () => {
    // Small writes share the queue's buffers and large ones go alone (8 KiB; a string counts 3 bytes per code unit).
    const text = fc.oneof(
      fc.string({ unit: fc.constantFrom("a", "é", "✓", "😀", "\n", "\ud800"), maxLength: 40 }),
      fc.string({ unit: fc.constantFrom("b", "ß", "\udfff"), minLength: 2700, maxLength: 3000 }),
    );
    const bytes = fc.oneof(fc.uint8Array({ minLength: 1, maxLength: 300 }), fc.uint8Array({ minLength: 8000, maxLength: 9000 }));
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(text, text, bytes), { maxLength: 60 }), fc.array(fc.boolean(), { maxLength: 60 }), async (pieces, drains) => {
        const path = file(`w${++counter}.bin`);
        const scratch = new Uint8Array(9000);
        await runVirtual(function* () {
          const out = yield* openFile(path, "w", { highWaterMark: 4096 });
          for (const [i, piece] of pieces.entries()) {
            if (typeof piece === "string") out.write(piece);
            else {
              // Written from a buffer the caller overwrites at once.
              scratch.set(piece);
              out.write(scratch.subarray(0, piece.length));
              scratch.fill(0xee);
            }
            if (drains[i] === true) yield* out.drain();
          }
          yield* out.close();
        });
        const expected = Buffer.concat(pieces.map((piece) => (typeof piece === "string" ? new TextEncoder().encode(piece) : piece)));
        assert.ok(readFileSync(path).equals(expected));
      }),
      { numRuns: 60, endOnFailure: true },
    );
  });

  it("reads any bytes as TextDecoder decodes them whole, however readLine, read(n) and read() take turns (property)", async () => {
    // Bytes that are mostly newlines, ASCII, parts of multi-byte characters and invalid ones; a BOM first at times.
    const byte = fc.oneof(
      fc.constant(0x0a),
      fc.constant(0x61),
      fc.constantFrom(0xc3, 0xa9, 0xe2, 0x9c, 0x93, 0xf0, 0x9f, 0x98, 0x80),
      fc.integer({ min: 0, max: 255 }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.boolean(),
        fc.array(byte, { maxLength: 200 }),
        fc.array(fc.integer({ min: -1, max: 5 }), { minLength: 1, maxLength: 12 }),
        fc.integer({ min: 1, max: 32 }),
        async (bom, body, reads, chunkSize) => {
          const bytes = Uint8Array.from(bom ? [0xef, 0xbb, 0xbf, ...body] : body);
          const path = file(`b${++counter}.txt`);
          writeFileSync(path, bytes);
          const got = await runVirtual(function* () {
            const input = yield* openFile(path, "r", { chunkSize });
            let text = "";
            // 0: a line; n > 0: read(n); -1: read(), the rest of the file.
            for (let i = 0; ; i++) {
              const n = reads[i % reads.length] as number;
              const part = n === 0 ? yield* input.readLine() : yield* input.read(n);
              if (part === "") break;
              text += part;
            }
            yield* input.close();
            return text;
          });
          assert.equal(got, new TextDecoder().decode(bytes));
        },
      ),
      { numRuns: 150, seed: 2412 },
    );
  });

  it("decodes a UTF-8 character split across reads whole", async () => {
    writeFileSync(file("u.txt"), "é✓😀");
    await runVirtual(function* () {
      const input = yield* openFile(file("u.txt"), "r", { chunkSize: 1 });
      let text = "";
      for (let part = yield* input.read(1); part !== ""; part = yield* input.read(1)) text += part;
      assert.equal(text, "é✓😀");
      yield* input.close();
    });
  });
});

describe("FileStream.readLine", () => {
  it("returns each line with its newline, then '' at EOF (with a trailing newline)", async () => {
    writeFileSync(file("l.txt"), "one\n\nthree\n");
    await runVirtual(function* () {
      const input = yield* openFile(file("l.txt"), "r");
      assert.deepEqual(yield* readLines(input), ["one\n", "\n", "three\n"]);
      assert.equal(yield* input.readLine(), "");
      yield* input.close();
    });
  });

  it("returns the last line without a newline when the file has none", async () => {
    writeFileSync(file("l.txt"), "one\ntwo");
    await runVirtual(function* () {
      const input = yield* openFile(file("l.txt"), "r");
      assert.deepEqual(yield* readLines(input), ["one\n", "two"]);
      yield* input.close();
    });
  });

  it("gives '' at once for an empty file", async () => {
    writeFileSync(file("empty.txt"), "");
    await runVirtual(function* () {
      const input = yield* openFile(file("empty.txt"), "r");
      assert.equal(yield* input.readLine(), "");
      assert.ok(input.atEof);
      yield* input.close();
    });
  });

  it("throws LimitOverrunError for a line over the limit, and goes on with the next line", async () => {
    writeFileSync(file("long.txt"), `${"x".repeat(100)}\nshort\n`);
    await runVirtual(function* () {
      const input = yield* openFile(file("long.txt"), "r", { limit: 32, chunkSize: 16 });
      yield* rejectsOp(input.readLine(), LimitOverrunError);
      assert.equal(yield* input.readLine(), "short\n");
      yield* input.close();
    });
  });
});

describe("FileStream.hasData", () => {
  it("is true with bytes buffered, false at EOF with nothing buffered", async () => {
    writeFileSync(file("h.txt"), "a\nb\n");
    await runVirtual(function* () {
      const input = yield* openFile(file("h.txt"), "r");
      assert.equal(input.hasData(), true, "the first chunk is read when the file is opened");
      assert.equal(yield* input.readLine(), "a\n");
      assert.equal(input.hasData(), true);
      assert.equal(yield* input.readLine(), "b\n");
      assert.equal(input.hasData(), false);
      assert.equal(yield* input.readLine(), "");
      assert.equal(input.hasData(), false);
      assert.ok(input.atEof);
      yield* input.close();
    });
  });

  it("is false for an empty file and for a file opened for writing", async () => {
    writeFileSync(file("e.txt"), "");
    await runVirtual(function* () {
      const input = yield* openFile(file("e.txt"), "r");
      assert.equal(input.hasData(), false);
      const out = yield* openFile(file("o.txt"), "w");
      out.write("data");
      assert.equal(out.hasData(), false);
      assert.equal(out.atEof, false);
    });
  });
});

describe("openFile: errors", () => {
  it("a missing path: ENOENT, naming the path and the mode, with Node's error as cause", async () => {
    const path = file("missing.txt");
    await runVirtual(function* () {
      const error = (yield* rejectsOp(openFile(path, "r"), Error)) as Error & { code?: string; path?: string };
      assert.equal(error.message, `Cannot open ${JSON.stringify(path)} for reading (mode "r"): it does not exist (ENOENT)`);
      assert.equal(error.code, "ENOENT");
      assert.equal(error.path, path);
      assert.ok(error.cause instanceof Error);
      assert.equal((error.cause as NodeJS.ErrnoException).code, "ENOENT");
      const missingDir = file("no/such/dir.txt");
      const nested = (yield* rejectsOp(openFile(missingDir, "w"), Error)) as Error & { code?: string };
      assert.equal(nested.message, `Cannot open ${JSON.stringify(missingDir)} for writing (mode "w"): a directory on its path does not exist (ENOENT)`);
    });
  });

  it("a directory: EISDIR at open time, also for reading (which Node allows on Linux)", async () => {
    await runVirtual(function* () {
      for (const mode of ["r", "w", "a"] as const) {
        const error = (yield* rejectsOp(openFile(dir, mode), Error)) as Error & { code?: string };
        assert.equal(error.code, "EISDIR", mode);
        assert.match(error.message, /: it is a directory \(EISDIR\)$/);
        assert.ok(error.message.includes(`(mode "${mode}")`));
      }
    });
  });

  it("no permission: EACCES (checked in a child run as nobody when this process bypasses permissions, as root does)", async (t) => {
    const path = file("secret.txt");
    writeFileSync(path, "secret");
    chmodSync(path, 0o000);
    const expected = (mode: string): string => `Cannot open ${JSON.stringify(path)} for ${PURPOSES[mode]} (mode "${mode}"): permission denied (EACCES)`;
    const shared = mkdtempSync(join(tmpdir(), "corio-fs-nobody-"));
    try {
      if (!canRead(path)) {
        await runVirtual(function* () {
          for (const mode of ["r", "w", "a"] as const) {
            const error = (yield* rejectsOp(openFile(path, mode), Error)) as Error & { code?: string };
            assert.equal(error.code, "EACCES");
            assert.equal(error.message, expected(mode));
          }
        });
        return;
      }
      if (process.getuid?.() !== 0) {
        t.skip("this user bypasses file permissions, and only root can run the check as another user");
        return;
      }
      // The unprivileged child must be able to reach the file (not read it).
      chmodSync(root, 0o755);
      chmodSync(dir, 0o755);
      const blocked = blockedForNobody(path);
      const bundle = blocked !== undefined ? { skip: `uid ${NOBODY} cannot reach ${blocked}, where the file is` } : bundleForNobody(DENIED_FIXTURE, shared);
      const result = "skip" in bundle ? bundle : await runAs(NOBODY, bundle.script, [path]);
      if ("skip" in result) {
        t.skip(result.skip);
        return;
      }
      assert.equal(result.code, 0, result.stderr);
      const lines = result.stdout
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line) as { mode: string; code: string; message: string; cause: boolean });
      assert.equal(lines.length, 3, result.stderr);
      for (const line of lines) {
        assert.equal(line.code, "EACCES");
        assert.equal(line.message, expected(line.mode));
        assert.equal(line.cause, true);
      }
    } finally {
      chmodSync(path, 0o600);
      chmodSync(root, 0o700);
      rmSync(shared, { recursive: true, force: true });
    }
  });

  it("writing to a file opened with 'r' throws a clear error (also through its writer)", async () => {
    writeFileSync(file("r.txt"), "data");
    const path = file("r.txt");
    await runVirtual(function* () {
      const input = yield* openFile(path, "r");
      const expected = `Cannot write to ${JSON.stringify(path)}: it was opened for reading (mode "r"); open it with mode "w" or "a" to write`;
      assert.throws(() => input.write("x"), { message: expected, code: "EBADF" });
      assert.throws(() => input.writeLine("x"), { message: expected });
      assert.throws(() => input.writer.write("x"), { message: expected });
      assert.equal(yield* input.read(), "data");
      yield* input.close();
    });
    assert.equal(readFileSync(path, "utf8"), "data");
  });

  it("reading from a file opened with 'w' or 'a' throws a clear error (also through its reader)", async () => {
    const path = file("w.txt");
    await runVirtual(function* () {
      const out = yield* openFile(path, "a");
      const expected = `Cannot read ${JSON.stringify(path)}: it was opened for appending (mode "a"); open it with mode "r" to read`;
      assert.equal((yield* rejectsOp(out.readLine(), Error)).message, expected);
      const error = yield* rejectsOp(out.read(), Error);
      assert.equal(error.message, expected);
      const viaReader = yield* rejectsOp(out.reader.read(), Error);
      assert.equal(viaReader.message, expected);
      yield* out.close();
    });
  });

  it("rejects bad arguments at once", async () => {
    await runVirtual(function* () {
      const bad = (mode: string) => openFile(file("x"), mode as "r");
      const modeError = yield* rejectsOp(bad("rw"), TypeError);
      assert.equal(modeError.message, `Cannot open ${JSON.stringify(file("x"))}: mode must be "r", "w" or "a", received "rw"`);
      const followError = yield* rejectsOp(openFile(file("x"), "w", { follow: true }), TypeError);
      assert.equal(followError.message, `Cannot open ${JSON.stringify(file("x"))} with mode "w": follow is only for mode "r"`);
      const pollError = yield* rejectsOp(openFile(file("x"), "r", { follow: true, pollInterval: 0 }), RangeError);
      assert.equal(pollError.message, "Cannot open a file: pollInterval must be a positive number, received 0");
      yield* rejectsOp(openFile("", "r"), TypeError);
      // Node rejects a NUL byte with a TypeError (Python's open() with a ValueError): not an OS error.
      for (const mode of ["r", "w", "a"] as const) {
        const nulError = yield* rejectsOp(openFile(`${file("x")}\0.txt`, mode), TypeError);
        assert.match(nulError.message, /^Cannot open ".*\\u0000\.txt": path must not contain a NUL byte/);
      }
      yield* rejectsOp(openFile(file("x"), "r", { chunkSize: 1.5 }), RangeError);
    });
    assert.equal(existsSync(file("x")), false);
    assert.throws(() => start(openFile(file("x"), "r")), { message: /^Cannot open a file: no corio task is running/ });
  });

  const noFull = !existsSync("/dev/full") && "needs /dev/full";

  it("a failing write is thrown by flush() and by close() once; later writes throw it", { skip: noFull }, async () => {
    await runVirtual(function* () {
      const out = yield* openFile("/dev/full", "w");
      out.write("x");
      const error = (yield* rejectsOp(out.flush(), BrokenResourceError)) as BrokenResourceError & { code?: string };
      assert.equal(error.code, "ENOSPC");
      assert.match(error.message, /^Cannot write to "\/dev\/full": ENOSPC/);
      assert.ok(error.cause instanceof Error);
      yield* out.close();
      yield* out.close();
      const again = yield* openFile("/dev/full", "w");
      again.write("y");
      const closeError = (yield* rejectsOp(again.close(), BrokenResourceError)) as BrokenResourceError & { code?: string };
      assert.equal(closeError.code, "ENOSPC");
      yield* again.close();
    });
  });

  it("a failing write with no close() to throw it is reported to the loop", { skip: noFull }, async () => {
    const { reports, onError } = collectReports();
    await runVirtual(
      function* () {
        yield* spawn(
          function* () {
            const out = yield* openFile("/dev/full", "w");
            out.write("lost");
          },
          { name: "writer" },
        );
      },
      { onError },
    );
    assert.equal(reports.length, 1);
    assert.ok(reports[0]?.error instanceof BrokenResourceError);
    assert.equal(reports[0]?.path, "test/writer/file /dev/full");
  });

  // The file's task used to report a failed write as uncaught as soon as it failed, and flush() and
  // close() then returned normally. runVirtual without onError fails the run on any report.

  it("a write that failed while nobody waited is thrown by the next flush() or close(), once, and not reported", { skip: noFull }, async () => {
    await runVirtual(function* () {
      const out = yield* openFile("/dev/full", "w");
      out.write("important data\n");
      // Until the file's task has tried the write, failed, and closed the handle.
      yield* out.writer.waitClosed();
      assert.equal(out.closed, false);
      const error = (yield* rejectsOp(out.flush(), BrokenResourceError)) as BrokenResourceError & { code?: string };
      assert.equal(error.code, "ENOSPC");
      yield* out.flush();
      yield* out.close();

      const again = yield* openFile("/dev/full", "w");
      again.write("more data\n");
      yield* again.writer.waitClosed();
      const closeError = (yield* rejectsOp(again.close(), BrokenResourceError)) as BrokenResourceError & { code?: string };
      assert.equal(closeError.code, "ENOSPC");
      yield* again.close();
    });
  });

  it("after a failed write, later writes throw it, and a close() then does not throw it again", { skip: noFull }, async () => {
    await runVirtual(function* () {
      const out = yield* openFile("/dev/full", "w");
      out.write("x");
      yield* out.writer.waitClosed();
      assert.throws(() => out.write("y"), { name: "BrokenResourceError", code: "ENOSPC" } as object);
      assert.throws(() => out.writeLine("z"), { name: "BrokenResourceError", code: "ENOSPC" } as object);
      yield* out.close();
    });
  });

  it("a drain() that throws the write error: the error is not reported as well", { skip: noFull }, async () => {
    await runVirtual(function* () {
      const out = yield* openFile("/dev/full", "w", { highWaterMark: 1 });
      out.write("abcdef");
      const error = (yield* rejectsOp(out.drain(), BrokenResourceError)) as BrokenResourceError & { code?: string };
      assert.equal(error.code, "ENOSPC");
      const viaWriter = yield* openFile("/dev/full", "w", { highWaterMark: 1 });
      viaWriter.write("abcdef");
      yield* rejectsOp(viaWriter.writer.drain(), BrokenResourceError);
      // Both files close when this task ends, with no close() to throw the error.
    });
  });

  it("with stopOnError, a write error the caller handles does not stop the program", { skip: noFull }, async () => {
    const { reports, onError } = collectReports();
    const steps: string[] = [];
    await run(
      function* () {
        const out = yield* openFile("/dev/full", "w");
        out.write("log line\n");
        yield* out.writer.waitClosed();
        try {
          yield* out.close();
        } catch (error) {
          steps.push(`close threw ${(error as { code?: string }).code}`);
        }
        yield* sleep(1);
        steps.push("went on");
      },
      { stopOnError: true, onError },
    );
    assert.deepEqual(steps, ["close threw ENOSPC", "went on"]);
    assert.deepEqual(reports, []);
  });

  // close() used to take the error for itself as soon as it was called: cancelled while it waited, it
  // threw nothing, and the file's task did not report the error either, so the error was lost.
  it("a write error that a cancelled close() would have thrown is reported, once", { skip: noFull }, async () => {
    const { reports, onError } = collectReports();
    const outcomes: string[] = [];
    await runVirtual(
      function* () {
        const inClose = new Event();
        const closer = yield* spawn(
          function* () {
            const out = yield* openFile("/dev/full", "w");
            out.write("x".repeat(1 << 20));
            inClose.set();
            yield* out.close();
            outcomes.push("close returned");
          },
          { name: "closer" },
        );
        yield* inClose.wait();
        closer.cancel();
        yield* rejectsOp(closer, CancelledError);
      },
      { onError },
    );
    assert.deepEqual(outcomes, []);
    assert.deepEqual(
      reports.map((report) => [report.path, (report.error as { code?: string }).code]),
      [["test/closer/file /dev/full", "ENOSPC"]],
    );
  });

  it("a close() under timeout(0) or moveOnAfter(0): the write error it did not wait for is reported, once", { skip: noFull }, async () => {
    const { reports, onError } = collectReports();
    await runVirtual(
      function* () {
        yield* spawn(
          function* () {
            const out = yield* openFile("/dev/full", "w");
            out.write("x");
            yield* rejectsOp(timeout(0, out.close()), TimeoutError);
          },
          { name: "timeout" },
        );
        yield* spawn(
          function* () {
            const out = yield* openFile("/dev/full", "w");
            out.write("x");
            assert.equal((yield* moveOnAfter(0, out.close())).cancelled, true);
          },
          { name: "moveOnAfter" },
        );
      },
      { onError },
    );
    assert.deepEqual(reports.map((report) => [report.path, (report.error as { code?: string }).code]).sort(), [
      ["test/moveOnAfter/file /dev/full", "ENOSPC"],
      ["test/timeout/file /dev/full", "ENOSPC"],
    ]);
  });

  it("a close() cancelled as the handle closes: the error is thrown or reported, exactly once", { skip: noFull }, async () => {
    const { reports, onError } = collectReports();
    const outcomes: string[] = [];
    await runVirtual(
      function* () {
        const out = yield* openFile("/dev/full", "w");
        out.write("x");
        const closer = yield* spawn(function* () {
          try {
            yield* out.close();
            outcomes.push("close returned");
          } catch (error) {
            outcomes.push(`close threw ${(error as { code?: string }).code ?? (error as Error).name}`);
            if (error instanceof CancelledError) throw error;
          }
        });
        // Wakes as the handle closes, before the closer resumes: the file's task has left the error to it.
        yield* out.writer.waitClosed();
        closer.cancel();
        try {
          yield* closer;
        } catch (error) {
          assert.ok(error instanceof CancelledError);
        }
      },
      { onError },
    );
    const thrown = outcomes.filter((outcome) => outcome === "close threw ENOSPC").length;
    assert.equal(thrown + reports.length, 1, `outcomes ${outcomes.join(", ")}; ${reports.length} reports`);
  });

  it("of two close() calls, one cancelled: the other throws the write error, and it is not reported", { skip: noFull }, async () => {
    const { reports, onError } = collectReports();
    await runVirtual(
      function* () {
        const out = yield* openFile("/dev/full", "w");
        out.write("x".repeat(1 << 20));
        const closer = (waiting: Event) =>
          spawn(function* () {
            waiting.set();
            try {
              yield* out.close();
              return "returned";
            } catch (error) {
              if (error instanceof CancelledError) throw error;
              return `threw ${(error as { code?: string }).code}`;
            }
          });
        const firstWaits = new Event();
        const secondWaits = new Event();
        const first = yield* closer(firstWaits);
        const second = yield* closer(secondWaits);
        yield* firstWaits.wait();
        yield* secondWaits.wait();
        first.cancel();
        yield* rejectsOp(first, CancelledError);
        assert.equal(yield* second, "threw ENOSPC");
        yield* out.close();
      },
      { onError },
    );
    assert.deepEqual(reports, []);
  });

  it("using: a write error is reported once, unless a close() threw it; a cancelled close() does not hide it", { skip: noFull }, async () => {
    const { reports, onError } = collectReports();
    await runVirtual(
      function* () {
        yield* spawn(
          function* () {
            using out = yield* openFile("/dev/full", "w");
            out.write("x");
          },
          { name: "disposed" },
        );
        yield* spawn(
          function* () {
            using out = yield* openFile("/dev/full", "w");
            out.write("x");
            yield* rejectsOp(out.close(), BrokenResourceError);
          },
          { name: "closed" },
        );
        yield* spawn(
          function* () {
            using out = yield* openFile("/dev/full", "w");
            out.write("x");
            yield* rejectsOp(timeout(0, out.close()), TimeoutError);
          },
          { name: "cancelled" },
        );
      },
      { onError },
    );
    assert.deepEqual(reports.map((report) => [report.path, (report.error as { code?: string }).code]).sort(), [
      ["test/cancelled/file /dev/full", "ENOSPC"],
      ["test/disposed/file /dev/full", "ENOSPC"],
    ]);
  });

  it("a FIFO whose reader left (EPIPE): the next flush() throws it", { skip: process.platform === "win32" && "needs mkfifo" }, async () => {
    const fifo = file("fifo");
    execFileSync("mkfifo", [fifo]);
    // A reader of our own, so the open for writing does not block; it leaves before the write.
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    await runVirtual(function* () {
      const out = yield* openFile(fifo, "w");
      closeSync(reader);
      out.write("nobody reads this\n");
      yield* out.writer.waitClosed();
      const error = (yield* rejectsOp(out.flush(), BrokenResourceError)) as BrokenResourceError & { code?: string };
      assert.equal(error.code, "EPIPE");
      yield* out.close();
    });
  });
});

describe("FileStream.close", () => {
  it("flushes queued writes, is idempotent, and later writes throw ClosedResourceError", async () => {
    const path = file("c.txt");
    await runVirtual(function* () {
      const out = yield* openFile(path, "w", { highWaterMark: 8 });
      for (let i = 0; i < 1000; i++) out.writeLine(`line ${i}`);
      assert.ok(out.writer.bufferSize > 8);
      yield* out.close();
      assert.equal(out.closed, true);
      assert.equal(out.writer.bufferSize, 0);
      yield* out.close();
      out[Symbol.dispose]();
      assert.throws(
        () => out.write("late"),
        (error: unknown) => {
          assert.ok(error instanceof ClosedResourceError);
          assert.equal(error.message, `Cannot write to ${JSON.stringify(path)}: the file is closed`);
          return true;
        },
      );
      assert.throws(() => out.writer.write("late"), ClosedResourceError);
    });
    const text = readFileSync(path, "utf8");
    assert.equal(text.split("\n").length, 1001);
    assert.ok(text.endsWith("line 999\n"));
  });

  it("closes a file being read: a waiting reader sees the end, later reads give '' after the buffered bytes", async () => {
    writeFileSync(file("r.txt"), "first\nsecond\n");
    await runVirtual(function* () {
      const input = yield* openFile(file("r.txt"), "r", { follow: true });
      assert.equal(yield* input.readLine(), "first\n");
      yield* input.close();
      yield* input.close();
      assert.equal(input.closed, true);
      assert.equal(yield* input.readLine(), "second\n");
      assert.equal(yield* input.readLine(), "");
    });
  });

  it("follow: a file truncated under the reader (copytruncate rotation) is read on from its start, as tail -f does", async () => {
    const path = file("rotated.log");
    writeFileSync(path, "a1\na2\na3\n");
    await runVirtual(function* () {
      const log = yield* openFile(path, "r", { follow: true, pollInterval: 10 });
      for (const line of ["a1\n", "a2\n", "a3\n"]) assert.equal(yield* log.readLine(), line);
      truncateSync(path, 0);
      appendFileSync(path, "b1\n");
      assert.equal(yield* timeout(1000, log.readLine()), "b1\n");
      appendFileSync(path, "b2\nb3, longer than everything before it\n");
      assert.equal(yield* timeout(1000, log.readLine()), "b2\n");
      assert.equal(yield* timeout(1000, log.readLine()), "b3, longer than everything before it\n");
      yield* log.close();
    });
  });

  it("can be called from another task while a read waits", async () => {
    writeFileSync(file("f.txt"), "");
    await runVirtual(function* () {
      const input = yield* openFile(file("f.txt"), "r", { follow: true, pollInterval: 50 });
      const reader = yield* spawn(() => input.readLine());
      yield* sleep(1000);
      assert.equal(reader.done, false);
      yield* input.close();
      assert.equal(yield* reader, "");
    });
  });

  it("writer.abort() drops what is queued and closes the file", async () => {
    const path = file("aborted.txt");
    await runVirtual(function* () {
      const out = yield* openFile(path, "w");
      out.write("kept");
      yield* out.flush();
      out.write("dropped");
      out.writer.abort();
      yield* out.writer.waitClosed();
      assert.equal(out.writer.bufferSize, 0);
      yield* out.close();
    });
    assert.equal(readFileSync(path, "utf8"), "kept");
  });

  it("[Symbol.dispose] starts closing without waiting; the owner still finishes after the flush", async () => {
    const path = file("d.txt");
    await runVirtual(function* () {
      yield* spawn(function* () {
        const out = yield* openFile(path, "w");
        out.write("disposed");
        out[Symbol.dispose]();
        assert.equal(out.closed, true);
      });
    });
    assert.equal(readFileSync(path, "utf8"), "disposed");
  });
});

describe("the owner task", () => {
  it("ending writes what is queued and closes the file before it finishes", async () => {
    const path = file("o.txt");
    await runVirtual(function* () {
      let kept: FileStream | undefined;
      const writer = yield* spawn(function* () {
        const out = yield* openFile(path, "w");
        kept = out;
        for (let i = 0; i < 100; i++) out.writeLine(`${i}`);
        // No close, and no suspension: the file task must still run its cleanup.
      });
      yield* writer;
      assert.equal(kept?.closed, true);
      assert.equal(openUnderRoot().length, 0);
      assert.equal(readFileSync(path, "utf8").split("\n").length, 101);
    });
  });

  it("ending closes a file being read, and a file being followed", async () => {
    writeFileSync(file("r.txt"), "data\n");
    await runVirtual(function* () {
      let followed: FileStream | undefined;
      const owner = yield* spawn(function* () {
        yield* openFile(file("r.txt"), "r");
        followed = yield* openFile(file("r.txt"), "r", { follow: true });
        yield* followed.readLine();
        if (procFds) assert.equal(openUnderRoot().length, 2);
      });
      yield* owner;
      assert.equal(openUnderRoot().length, 0);
      assert.equal(followed?.closed, true);
      assert.equal(yield* followed!.readLine(), "");
    });
  });

  it("cancelled while a followed read waits: the file is closed", async () => {
    writeFileSync(file("c.txt"), "");
    await runVirtual(function* () {
      const owner = yield* spawn(function* () {
        const input = yield* openFile(file("c.txt"), "r", { follow: true });
        yield* input.readLine();
      });
      yield* sleep(2000);
      owner.cancel("stop");
      yield* rejectsOp(owner, CancelledError);
      assert.equal(openUnderRoot().length, 0);
    });
  });

  it("returning at once (in plain run) still closes the file", async () => {
    const path = file("quick.txt");
    await run(function* () {
      const out = yield* openFile(path, "w");
      out.write("quick");
    });
    assert.equal(readFileSync(path, "utf8"), "quick");
  });

  it("cancelled while the open waits (a FIFO with no writer): the late handle is closed", {
    skip: process.platform === "win32" && "needs mkfifo",
  }, async () => {
    const fifo = file("fifo");
    try {
      execFileSync("mkfifo", [fifo]);
    } catch {
      return;
    }
    await runVirtual(function* () {
      const opener = yield* spawn(function* () {
        yield* openFile(fifo, "r");
        yield* suspend();
      });
      // The open blocks in Node's thread pool until a writer comes.
      yield* spawn(function* () {
        yield* sleep(0);
        opener.cancel("give up");
      });
      yield* rejectsOp(opener, CancelledError);
    });
    // Now let the abandoned open finish: it must be closed, not leaked.
    const writer = openSync(fifo, "w");
    closeSync(writer);
    await turnsUntil(() => openUnderRoot().length === 0 && !process.getActiveResourcesInfo().some((name) => name === "FSReqPromise" || name === "CloseReq"));
    assert.deepEqual(openUnderRoot(), []);
  });
});

describe("follow mode", () => {
  it("sees data appended after the end, line by line, polling on the loop's clock", async () => {
    const path = file("log.txt");
    writeFileSync(path, "start\n");
    await runVirtual(function* () {
      const log = yield* openFile(path, "r", { follow: true, pollInterval: 100 });
      assert.equal(yield* log.readLine(), "start\n");
      yield* spawn(function* () {
        const out = yield* openFile(path, "a");
        for (const word of ["alpha", "beta"]) {
          yield* sleep(1000);
          out.write(`${word.slice(0, 2)}`);
          yield* out.flush();
          yield* sleep(300);
          out.writeLine(word.slice(2));
          yield* out.flush();
        }
        yield* out.close();
      });
      const t0 = currentTime();
      assert.equal(yield* log.readLine(), "alpha\n");
      assert.ok(currentTime() - t0 >= 1300);
      assert.equal(yield* log.readLine(), "beta\n");
      assert.equal(log.atEof, false);
      yield* log.close();
    });
  });

  it("waits at the end of an empty file until data comes (real clock)", async () => {
    const path = file("tail.txt");
    writeFileSync(path, "");
    const lines = await run(function* () {
      const log = yield* openFile(path, "r", { follow: true, pollInterval: 5 });
      yield* spawn(function* () {
        yield* sleep(20);
        appendFileSync(path, "late line\n");
      });
      const line = yield* log.readLine();
      yield* log.close();
      return line;
    });
    assert.equal(lines, "late line\n");
  });
});

describe("backpressure", () => {
  it("the reader's buffer stays bounded while nobody reads", async () => {
    writeFileSync(file("b.bin"), new Uint8Array(100_000));
    await runVirtual(function* () {
      const input = yield* openFile(file("b.bin"), "r", { limit: 100, chunkSize: 64 });
      yield* sleep(10);
      assert.ok(input.reader.buffered > 0);
      assert.ok(input.reader.buffered <= 2 * 100 + 64, `buffered ${input.reader.buffered}`);
      const all = yield* input.reader.read();
      assert.equal(all.length, 100_000);
      yield* input.close();
    });
  });

  it("drain() waits until the queued bytes fall to highWaterMark", async () => {
    const path = file("d.bin");
    await runVirtual(function* () {
      const out = yield* openFile(path, "w", { highWaterMark: 1000 });
      out.write(new Uint8Array(50_000));
      assert.equal(out.writer.bufferSize, 50_000);
      yield* out.drain();
      assert.ok(out.writer.bufferSize <= 1000);
      yield* out.flush();
      assert.equal(out.writer.bufferSize, 0);
      assert.equal(readFileSync(path).length, 50_000);
      yield* out.close();
    });
  });
});
