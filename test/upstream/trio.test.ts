// corio against Trio: every program of trio-corpus.json runs on corio
// (_interp.ts, runVirtual) and on Trio 0.22 (trio_interp.py,
// MockClock(autojump_threshold=0), deterministic batches), and their traces
// are compared. The programs follow Trio's test_run (cancel scopes,
// nurseries, shields), test_timeouts, test_sync and test_channel, plus the
// minimal programs of the fixes that Trio differential reviews found. See
// README.md in this folder.
import { join } from "node:path";
import { describe } from "node:test";
import { upstreamSuite } from "./_suite.ts";

describe("corio against Trio", () => {
  upstreamSuite({
    upstream: "trio",
    module: "trio",
    script: join(import.meta.dirname, "trio_interp.py"),
    corpus: join(import.meta.dirname, "trio-corpus.json"),
  });
});
