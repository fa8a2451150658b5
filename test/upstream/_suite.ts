// The shared body of asyncio.test.ts and trio.test.ts: one Python process
// runs a whole corpus before the tests, then one `it` per program compares
// corio's trace with it.
import assert from "node:assert/strict";
import { before, it } from "node:test";
import { checkLeaks, missingTool } from "../_helpers.ts";
import { missingPython, normalise, type Program, readCorpus, runProgram, runUpstream, sideBySide } from "./_interp.ts";

export interface UpstreamSuite {
  /** The name in messages: `asyncio`, `trio`. */
  upstream: string;
  /** The Python module the interpreter needs (checked before anything runs). */
  module: string;
  script: string;
  corpus: string;
}

/**
 * Declares one test per program. A `same` program must give corio the
 * upstream's trace; a `differs` program must give corio its pinned trace
 * (the documented difference, `why`), and the upstream must still differ
 * (else the program is to be marked `same`).
 */
export function upstreamSuite({ upstream, module, script, corpus }: UpstreamSuite): void {
  checkLeaks();
  const missing = missingPython(module);
  const skip = missing === false ? false : missingTool(missing);
  const programs: Program[] = readCorpus(corpus);
  let traces: string[][] = [];
  before(async () => {
    if (skip === false) traces = await runUpstream(script, programs);
  });
  for (const [i, program] of programs.entries()) {
    it(`${program.name} (${program.expect}; ${program.from})`, { skip }, async () => {
      const theirs = normalise(traces[i]!);
      const ours = normalise(await runProgram(program));
      if (program.expect === "same") {
        assert.deepEqual(ours, theirs, `corio's trace is not ${upstream}'s:\n${sideBySide(upstream, theirs, ours)}`);
        return;
      }
      assert.ok(program.why !== undefined && program.corio !== undefined, "a differs program needs `why` and its pinned `corio` trace");
      assert.deepEqual(ours, program.corio, `corio's trace changed from the pinned one (${program.why}):\n${sideBySide("pinned", program.corio, ours)}`);
      assert.notDeepEqual(theirs, ours, `${upstream} now gives corio's trace: mark the program "same"`);
    });
  }
}
