import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { resolve } from "node:path";
import { describe, it } from "node:test";
import { checkLeaks } from "../_helpers.ts";

checkLeaks();

/** Runs a fixture program under tsx; `onLine` sees its stdout lines as they come. */
async function runFixture(name: string, onLine: (line: string, child: ReturnType<typeof spawn>) => void = () => {}) {
  const root = resolve(import.meta.dirname, "../..");
  const child = spawn(process.execPath, ["--import", "tsx", resolve(root, "test/fixtures", name)], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
    for (const line of chunk.split("\n")) if (line !== "") onLine(line, child);
  });
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  const [code, signal] = (await once(child, "exit")) as [number | null, string | null];
  return { code, signal, stdout, stderr };
}

describe("main", () => {
  it("turns SIGINT into cancellation, runs the cleanup, and exits 130", async () => {
    const result = await runFixture("main-sigint.ts", (line, child) => {
      if (line === "ready") child.kill("SIGINT");
    });
    assert.equal(result.code, 130, result.stderr);
    assert.deepEqual(result.stdout.trim().split("\n"), ["ready", "cleanup done", "main returned"]);
  });

  it("prints an uncaught error with the path of the task it came from and exits 1", async () => {
    const result = await runFixture("main-error.ts");
    assert.equal(result.code, 1);
    assert.match(result.stderr, /corio: uncaught error in task main\/worker: Error: worker exploded/);
  });

  it("with stopOnError, a failing callback stops the program with exit code 1", async () => {
    const result = await runFixture("main-stop-on-error.ts");
    assert.equal(result.code, 1);
    assert.match(result.stderr, /corio: Error in callback badCallback: Error: callback failed/);
    assert.equal(result.stdout.trim(), "stopped and cleaned up");
  });
});
