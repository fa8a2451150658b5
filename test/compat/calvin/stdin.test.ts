import assert from "node:assert/strict";
import { spawn as spawnProcess } from "node:child_process";
import { resolve } from "node:path";
import { describe, it } from "node:test";
import { checkLeaks } from "../../_helpers.ts";

checkLeaks();

const FIXTURE = resolve(import.meta.dirname, "_stdin-actor.ts");

/** Runs the fixture with `input` written to its stdin in `chunks` (each after the previous output), and gives its stdout and exit code. */
function runActor(mode: string, chunks: string[], end: boolean): Promise<{ out: string; code: number | null }> {
  const child = spawnProcess(process.execPath, ["--import", "tsx", FIXTURE, mode], { stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    out += chunk;
  });
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    err += chunk;
  });
  const write = (data: string): Promise<void> =>
    new Promise((resolveWrite, reject) => child.stdin.write(data, (error) => (error ? reject(error) : resolveWrite())));
  return new Promise((resolveRun, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`the actor did not exit; stdout: ${out}; stderr: ${err}`));
    }, 20_000);
    child.once("exit", (code) => {
      clearTimeout(timer);
      child.stdin.destroy();
      resolveRun({ out, code });
    });
    void (async () => {
      for (const chunk of chunks) {
        await write(chunk);
        await new Promise((r) => setTimeout(r, 30));
      }
      if (end) child.stdin.end();
    })().catch(reject);
  });
}

describe("StdInFileDescriptor", () => {
  it("wakes the actor for each chunk of a pipe; the actor reads whole lines until endOfFile()", async () => {
    const { out, code } = await runActor("lines", ["one\ntw", "o\n", "three\nno newline"], true);
    assert.equal(code, 0);
    assert.equal(out, "got: one\ngot: two\ngot: three\ngot: no newline\neof true\n");
  });

  it("close() stops reading, and the process exits with stdin still open", async () => {
    const { out, code } = await runActor("close", ["first\nsecond\n"], false);
    assert.equal(code, 0);
    assert.equal(out, "got: first\nclosed\n");
  });
});
