// Runs the portable smoke suite and prints one line per case, then
// "smoke: N passed, N failed". Plain ES modules and console only, so
// `node --import tsx`, `bun run` and `deno run` all run it as it is.
import { runSmoke } from "./portable-smoke.ts";

const result = await runSmoke((line) => console.log(line));
console.log(`smoke: ${result.passed.length} passed, ${result.failed.length} failed`);
if (result.failed.length > 0) throw new Error(`the smoke suite failed: ${result.failed.map((f) => f.name).join("; ")}`);
