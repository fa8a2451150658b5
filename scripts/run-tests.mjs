// Runs every test file under test/ with Node's built-in runner (on Node 20,
// `--test` takes no globs, so the files are listed here). Extra arguments are
// passed through, e.g. `npm run test:unit -- --test-name-pattern=Lock`.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

function collect(dir) {
  const files = [];
  for (const entry of readdirSync(dir).sort()) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) files.push(...collect(path));
    else if (entry.endsWith(".test.ts")) files.push(path);
  }
  return files;
}

// A test that waits on the network with a virtual clock (which holds still while I/O is
// pending) would wait forever if what it waits for never came: fail it instead.
const TEST_TIMEOUT = "--test-timeout=300000";

const filter = process.argv.slice(2).filter((arg) => !arg.startsWith("--"));
const flags = process.argv.slice(2).filter((arg) => arg.startsWith("--"));
const files = collect("test").filter((file) => filter.length === 0 || filter.some((f) => file.includes(f)));
const result = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-reporter=spec", TEST_TIMEOUT, ...flags, ...files], { stdio: "inherit" });
process.exit(result.status ?? 1);
