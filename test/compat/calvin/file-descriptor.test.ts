import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { GenericFileDescriptor } from "../../../src/compat/calvin/index.ts";
import { CancelledError, ClosedResourceError, currentTask, Future, run, shield, sleep, spawn, until } from "../../../src/index.ts";
import { checkLeaks, collectReports } from "../../_helpers.ts";
import { reported, TestActor } from "./_actor.ts";

checkLeaks();

let dir = "";
before(() => {
  dir = mkdtempSync(join(tmpdir(), "corio-calvin-fd-"));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("GenericFileDescriptor, mode w", () => {
  it("write() and writeLine() queue without blocking; close() writes them and closes the file", async () => {
    const path = join(dir, "out.txt");
    await run(function* () {
      const fd = new GenericFileDescriptor("actor-1", () => {}, path, "w");
      fd.write("a,");
      fd.write(new TextEncoder().encode("b"));
      fd.writeLine("");
      fd.writeLine("second line ✓");
      assert.equal(fd.hasData(), false);
      assert.equal(fd.endOfFile(), false);
      fd.close();
      fd.close();
      assert.throws(() => fd.write("late"), ClosedResourceError);
    });
    assert.equal(readFileSync(path, "utf8"), "a,b\nsecond line ✓\n");
  });

  it("writes what was queued when its owner ends, even before the file was open", async () => {
    const path = join(dir, "owner-ends.txt");
    await run(function* () {
      const fd = new GenericFileDescriptor(null, () => {}, path, "w");
      fd.writeLine("kept");
    });
    assert.equal(readFileSync(path, "utf8"), "kept\n");
  });

  it("made inside a shield by a cancelled task, it belongs to the shield's work: it keeps writing until the shield returns", async () => {
    const path = join(dir, "in-shield.txt");
    await assert.rejects(
      async () =>
        run(function* () {
          currentTask().cancel();
          yield* shield(function* () {
            const fd = new GenericFileDescriptor(null, () => {}, path, "w");
            fd.writeLine("in shield");
            yield* sleep(30);
            fd.writeLine("after sleep");
            fd.close();
          });
        }),
      CancelledError,
    );
    assert.equal(readFileSync(path, "utf8"), "in shield\nafter sleep\n");
  });

  it("appends with mode a, and accepts Python's b flag", async () => {
    const path = join(dir, "append.txt");
    writeFileSync(path, "first\n");
    await run(function* () {
      const fd = new GenericFileDescriptor(null, () => {}, path, "ab");
      fd.writeLine("second");
      yield* sleep(10);
      fd.writeLine("third");
      fd.close();
    });
    assert.equal(readFileSync(path, "utf8"), "first\nsecond\nthird\n");
  });

  it("reading a file opened for writing throws EBADF", async () => {
    await run(function* () {
      const fd = new GenericFileDescriptor(null, () => {}, join(dir, "w-only.txt"), "w");
      assert.throws(() => fd.read(), { code: "EBADF" });
      assert.throws(() => fd.readLine(), { code: "EBADF" });
      fd.close();
    });
  });
});

describe("GenericFileDescriptor, mode r", () => {
  it("the trigger wakes the actor, which drains hasData()/readLine() until endOfFile()", async () => {
    const path = join(dir, "lines.txt");
    writeFileSync(path, "one\ntwo\n\nfour");
    const actor = new TestActor();
    const lines = await run(function* () {
      const fd = new GenericFileDescriptor("reader", actor.trigger, path, "r");
      const lines: string[] = [];
      yield* actor.until(() => {
        while (fd.hasData()) {
          const line = fd.readLine();
          if (line === undefined) break;
          lines.push(line);
        }
        return fd.endOfFile();
      });
      assert.equal(fd.hasData(), false);
      assert.equal(fd.read(), "");
      assert.equal(fd.readLine(), undefined);
      fd.close();
      return lines;
    });
    assert.deepEqual(lines, ["one", "two", "", "four"]);
    assert.ok(actor.triggers.length >= 1);
    assert.ok(actor.triggers.every((who) => who === "reader"));
  });

  it("read() takes everything buffered; an empty file is at its end at once", async () => {
    const path = join(dir, "all.txt");
    const empty = join(dir, "empty.txt");
    writeFileSync(path, "x".repeat(1000));
    writeFileSync(empty, "");
    const actor = new TestActor();
    await run(function* () {
      const fd = new GenericFileDescriptor(1, actor.trigger, path, "r");
      let got = "";
      yield* actor.until(() => {
        got += fd.read();
        return fd.endOfFile();
      });
      assert.equal(got.length, 1000);
      const none = new GenericFileDescriptor(2, actor.trigger, empty, "r");
      yield* actor.until(() => none.endOfFile());
      assert.equal(none.hasData(), false);
      fd.close();
      none.close();
    });
  });

  it("a large file is read in chunks as the actor takes them, a line longer than the buffer in pieces", async () => {
    const path = join(dir, "large.txt");
    const long = "y".repeat(200_000);
    const exact = "z".repeat(2 * 65536); // ends where a piece does: its "\n" is not an empty line
    const lines = Array.from({ length: 20_000 }, (_, i) => `line ${i}`);
    writeFileSync(path, `${lines.join("\n")}\n${long}\n${exact}\nend`);
    const actor = new TestActor();
    await run(function* () {
      const fd = new GenericFileDescriptor(null, actor.trigger, path, "r");
      const got: string[] = [];
      yield* actor.until(() => {
        for (let line = fd.readLine(); line !== undefined; line = fd.readLine()) got.push(line);
        return fd.endOfFile();
      }, 20_000);
      assert.equal(got[19_999], "line 19999");
      const rest = got.slice(20_000);
      assert.ok(rest.every((piece) => piece.length <= 65536));
      assert.equal(rest.at(-1), "end");
      assert.equal(rest.slice(0, -1).join(""), long + exact);
      assert.ok(!rest.includes(""));
      fd.close();
    });
  });

  it("holds at most 64 Ki unread characters while the actor reads nothing, then gives every byte once, in order", async () => {
    const path = join(dir, "32mb.txt");
    // Fixed-width numbered records and no "\n": a lost, repeated or reordered chunk changes the text.
    const records = Array.from({ length: 4 * 1024 * 1024 }, (_, i) => i.toString(36).padStart(7, "0")).join(",");
    writeFileSync(path, records);
    const actor = new TestActor();
    await run(function* () {
      const fd = new GenericFileDescriptor(null, actor.trigger, path, "r");
      // The first read's wake-up (the file's open and first read run on libuv's thread pool, which a
      // loaded machine can hold up for more turns than the loop below); the actor reads nothing.
      yield* actor.until(() => fd.bufferedLength > 0, 60_000);
      let most = fd.bufferedLength;
      // The actor is busy: 500 turns of Node's event loop, file reads completing meanwhile.
      for (let turn = 0; turn < 500; turn++) {
        yield* until(new Promise<void>((resolve) => setImmediate(resolve)));
        most = Math.max(most, fd.bufferedLength);
      }
      assert.ok(most > 0, "something was read");
      assert.ok(most <= 65536, `at most 64 Ki characters wait unread, saw ${most}`);
      const chunks: string[] = [];
      yield* actor.until(() => {
        chunks.push(fd.read());
        assert.ok(fd.bufferedLength <= 65536);
        return fd.endOfFile();
      }, 60_000);
      assert.ok(chunks.join("") === records, "every byte arrives once, in order");
      fd.close();
    });
  });

  it("decodes UTF-8 characters whole", async () => {
    const path = join(dir, "utf8.txt");
    writeFileSync(path, "é".repeat(100_000));
    const actor = new TestActor();
    await run(function* () {
      const fd = new GenericFileDescriptor(null, actor.trigger, path, "r");
      let got = "";
      yield* actor.until(() => {
        got += fd.read();
        return fd.endOfFile();
      });
      assert.equal(got, "é".repeat(100_000));
      fd.close();
    });
  });

  it("takes a trigger object with trigger() or schedule(), as a scheduler", async () => {
    const path = join(dir, "object.txt");
    writeFileSync(path, "data\n");
    const scheduled: unknown[] = [];
    await run(function* () {
      const a = new GenericFileDescriptor("a", { trigger: (actor: string) => scheduled.push(`trigger ${actor}`) }, path, "r");
      const b = new GenericFileDescriptor("b", { schedule: (actor: string) => scheduled.push(`schedule ${actor}`) }, path, "r");
      while (!a.endOfFile() || !b.endOfFile()) {
        yield* sleep(5);
        a.read();
        b.read();
      }
      a.close();
      b.close();
      assert.throws(() => new GenericFileDescriptor(null, {} as never, path, "r"), {
        name: "TypeError",
        message:
          "Cannot create a GenericFileDescriptor: trigger must be a function or an object with a trigger(actor) or schedule(actor) method, received object",
      });
    });
    assert.ok(scheduled.includes("trigger a") && scheduled.includes("schedule b"));
  });

  it("calls the trigger from the loop, never inside a method, and reports what it throws", async () => {
    const path = join(dir, "throws.txt");
    writeFileSync(path, "a\n");
    const { reports, onError } = collectReports();
    let inside = false;
    await run(
      function* () {
        const fd = new GenericFileDescriptor(
          null,
          () => {
            assert.equal(inside, false);
            throw new Error("actor broke");
          },
          path,
          "r",
        );
        while (!fd.endOfFile()) {
          inside = true;
          fd.read();
          inside = false;
          yield* sleep(5);
        }
        fd.close();
      },
      { onError },
    );
    assert.ok(reports.length >= 1);
    assert.equal(reported(reports).message, "actor broke");
    assert.equal(reports[0]?.path, "callback trigger");
  });

  it("throws the open errors at once, as Python's open() did", async () => {
    mkdirSync(join(dir, "a-dir"), { recursive: true });
    await run(function* () {
      assert.throws(() => new GenericFileDescriptor(null, () => {}, join(dir, "missing.txt"), "r"), {
        code: "ENOENT",
        message: `Cannot open ${JSON.stringify(join(dir, "missing.txt"))} for reading (mode "r"): it does not exist (ENOENT)`,
      });
      assert.throws(() => new GenericFileDescriptor(null, () => {}, join(dir, "a-dir"), "r"), { code: "EISDIR" });
      assert.throws(() => new GenericFileDescriptor(null, () => {}, join(dir, "a-dir"), "w"), { code: "EISDIR" });
      assert.throws(() => new GenericFileDescriptor(null, () => {}, join(dir, "no-such-dir", "x.txt"), "w"), {
        code: "ENOENT",
        message: /a directory on its path does not exist/,
      });
      assert.throws(() => new GenericFileDescriptor(null, () => {}, join(dir, "x.txt"), "r+"), { name: "TypeError" });
      const readOnly = join(dir, "read-only.txt");
      writeFileSync(readOnly, "x");
      const fd = new GenericFileDescriptor(null, () => {}, readOnly, "r");
      assert.throws(() => fd.write("x"), { code: "EBADF" });
      fd.close();
    });
    assert.throws(() => new GenericFileDescriptor(null, () => {}, join(dir, "x.txt"), "w"), {
      message: /^Cannot create a GenericFileDescriptor: no corio task is running/,
    });
  });

  it("a write error is reported once the file is closed (nobody would see it otherwise)", async () => {
    const full = "/dev/full"; // every write fails with ENOSPC
    if (!existsSync(full)) return;
    const { reports, onError } = collectReports();
    const wasReported = new Future<void>();
    await run(
      function* () {
        const fd = new GenericFileDescriptor(null, () => {}, full, "w");
        fd.write("x");
        yield* sleep(20);
        fd.close();
        yield* wasReported;
      },
      {
        onError: (error, context) => {
          onError(error, context);
          wasReported.resolve();
        },
      },
    );
    assert.equal(reports.length, 1);
    assert.equal(reported(reports).code, "ENOSPC");
  });

  it("after a write error, the error is reported and the next write throws", async () => {
    const full = "/dev/full";
    if (!existsSync(full)) return;
    const { reports, onError } = collectReports();
    const wasReported = new Future<void>();
    await run(
      function* () {
        const fd = new GenericFileDescriptor(null, () => {}, full, "w");
        fd.write("x");
        yield* wasReported;
        assert.throws(() => fd.write("more"), {
          name: "BrokenResourceError",
          message: 'Cannot write to "/dev/full": an earlier write failed and the file was closed',
        });
        fd.close();
      },
      {
        onError: (error, context) => {
          onError(error, context);
          wasReported.resolve();
        },
      },
    );
    assert.equal(reports.length, 1);
    assert.equal(reported(reports).code, "ENOSPC");
  });

  it("closes when the task that created it ends", async () => {
    const path = join(dir, "owned.txt");
    // Large enough that the owner surely ends before all of it was read, however loaded the machine.
    const size = 16 * 1024 * 1024;
    writeFileSync(path, "z\n".repeat(size / 2));
    await run(function* () {
      const child = yield* spawn(function* () {
        const dataCame = new Future<void>();
        const fd = new GenericFileDescriptor(null, () => dataCame.resolve(), path, "r");
        yield* dataCame;
        return fd;
      });
      const fd = yield* child;
      // The file was closed with its owner: what was buffered is still there, no more comes.
      const got = fd.read().length;
      yield* sleep(20);
      assert.ok(got > 0 && got < size, `read ${got} bytes`);
      assert.equal(fd.read(), "");
      assert.equal(fd.endOfFile(), false);
    });
  });
});
