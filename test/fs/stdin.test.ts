import assert from "node:assert/strict";
import { type ChildProcessWithoutNullStreams, spawn as spawnProcess } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { resolve } from "node:path";
import { describe, it } from "node:test";
import { stdin } from "../../src/fs/index.ts";
import { checkLeaks } from "../_helpers.ts";

checkLeaks();

const FIXTURE = resolve(import.meta.dirname, "../fixtures/fs-stdin-echo.ts");

interface Child {
  process: ChildProcessWithoutNullStreams;
  /** Everything written to stdout so far. */
  out(): string;
  /** Resolves with the exit code (rejects if the child is still running after `ms` real ms: then it is killed). */
  exited(ms?: number): Promise<number | null>;
  /** Resolves once stdout contains `text`. */
  printed(text: string): Promise<void>;
}

/** Starts the fixture in `mode` with its stdin (a pipe unless `input`, a descriptor, is given), stdout and stderr on pipes. */
function startFixture(mode: string, input?: number): Child {
  const child = spawnProcess(process.execPath, ["--import", "tsx", FIXTURE, mode], {
    stdio: [input ?? "pipe", "pipe", "pipe"],
  }) as ChildProcessWithoutNullStreams;
  let out = "";
  let err = "";
  const watchers: (() => void)[] = [];
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    out += chunk;
    for (const watcher of [...watchers]) watcher();
  });
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    err += chunk;
  });
  const exit = new Promise<number | null>((resolveExit) => child.once("exit", (code) => resolveExit(code)));
  return {
    process: child,
    out: () => out,
    exited(ms = 20_000) {
      let timer: NodeJS.Timeout | undefined;
      const limit = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          child.kill("SIGKILL");
          reject(new Error(`the child did not exit within ${ms} ms; stdout: ${out}; stderr: ${err}`));
        }, ms);
      });
      return Promise.race([exit, limit]).finally(() => clearTimeout(timer));
    },
    printed(text) {
      return new Promise((resolveWatch) => {
        const check = (): void => {
          if (!out.includes(text)) return;
          watchers.splice(watchers.indexOf(check), 1);
          resolveWatch();
        };
        watchers.push(check);
        check();
      });
    },
  };
}

/** Writes `data` to the child's stdin and waits until it was handed to the OS. */
function send(child: Child, data: string | Uint8Array): Promise<void> {
  return new Promise((resolveWrite, reject) => child.process.stdin.write(data, (error) => (error ? reject(error) : resolveWrite())));
}

describe("stdin()", () => {
  it("reads the lines a parent process writes into a pipe, and sees EOF when it ends", async () => {
    const child = startFixture("lines");
    await send(child, "one\ntw");
    await send(child, "o\n");
    await child.printed("echo: two\n");
    await send(child, "three\nno newline at the end");
    child.process.stdin.end();
    assert.equal(await child.exited(), 0);
    assert.equal(child.out(), "echo: one\necho: two\necho: three\necho: no newline at the endend\n");
  });

  it("does not keep the process alive once the task reading it has ended, even if stdin stays open", async () => {
    const child = startFixture("first");
    await send(child, "hello\nunread\n");
    assert.equal(await child.exited(), 0);
    assert.equal(child.out(), "first: hello\n");
    child.process.stdin.destroy();
  });

  it("does not keep the process alive when the task that called it returns without ever suspending", async () => {
    const child = startFixture("return");
    await send(child, "never read\n");
    assert.equal(await child.exited(), 0);
    assert.equal(child.out(), "returned\n");
    child.process.stdin.destroy();
  });

  it("applies backpressure with a small limit and loses no byte", async () => {
    const child = startFixture("bytes");
    const block = new Uint8Array(64 * 1024).fill(120);
    for (let i = 0; i < 32; i++) await send(child, block);
    child.process.stdin.end();
    assert.equal(await child.exited(), 0);
    assert.equal(child.out(), `bytes: ${32 * 64 * 1024}\n`);
  });

  it("is one reader per process; a later call cannot change its limit", async () => {
    const child = startFixture("same");
    child.process.stdin.end();
    assert.equal(await child.exited(), 0);
    assert.equal(child.out(), "true Cannot read stdin: its reader was created with limit 4096, received 10\n");
  });

  it("sees EOF at once when other code read stdin to its end before the first call (Node emits 'end' only once)", async () => {
    const child = startFixture("after-end");
    await send(child, "read by Node\n");
    child.process.stdin.end();
    assert.equal(await child.exited(), 0);
    assert.equal(child.out(), 'node: read by Node\ncorio: "" true\n');
  });

  it("sees EOF when process.stdin is destroyed while a read waits, though stdin stays open", async () => {
    const child = startFixture("destroyed");
    await send(child, "one\n");
    assert.equal(await child.exited(), 0);
    assert.equal(child.out(), 'first: one\nthen: ""\n');
    child.process.stdin.destroy();
  });

  it("a directory as stdin: the read throws EISDIR, as cat and Python do (Node gives an empty stream)", async () => {
    const fd = openSync(import.meta.dirname, "r");
    try {
      const child = startFixture("read-error", fd);
      assert.equal(await child.exited(), 0);
      assert.equal(child.out(), "BrokenResourceError EISDIR\n");
    } finally {
      closeSync(fd);
    }
  });

  it("needs a corio task", () => {
    assert.throws(() => stdin(), { message: /^Cannot read stdin: no corio task is running/ });
  });
});
