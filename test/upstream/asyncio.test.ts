// corio against CPython asyncio: every program of asyncio-corpus.json runs on
// corio (_interp.ts, runVirtual) and on CPython 3.11's asyncio
// (asyncio_interp.py, a virtual-time loop), and their traces are compared.
// The programs follow CPython's test_taskgroups, test_timeouts, test_tasks
// (wait, as_completed, gather, shield), test_waitfor, test_locks and
// test_queues, plus the minimal programs of the fixes that asyncio
// differential reviews found. See README.md in this folder.
import { join } from "node:path";
import { describe } from "node:test";
import { upstreamSuite } from "./_suite.ts";

describe("corio against CPython asyncio", () => {
  upstreamSuite({
    upstream: "asyncio",
    module: "asyncio",
    script: join(import.meta.dirname, "asyncio_interp.py"),
    corpus: join(import.meta.dirname, "asyncio-corpus.json"),
  });
});
