import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Future, sleep, spawn, suspend } from "../../src/index.ts";
import { formatTaskTable, formatTaskTree, snapshotTasks } from "../../src/inspect/index.ts";
import { runVirtual, waitAllTasksBlocked } from "../../src/testing/index.ts";
import { checkLeaks } from "../_helpers.ts";

checkLeaks();

describe("snapshotTasks", () => {
  it("shows the tree with what each task waits on", async () => {
    await runVirtual(
      function* () {
        const gate = new Future<void>();
        const sleeper = yield* spawn(() => sleep(1500), { name: "sleeper", priority: 5 });
        const worker = yield* spawn(
          function* () {
            yield* spawn(() => gate, { name: "waiter" });
            yield* suspend();
          },
          { name: "worker", daemon: true },
        );
        yield* sleep(100);
        yield* waitAllTasksBlocked();
        const tree = snapshotTasks();
        assert.equal(tree.time, 100);
        assert.equal(tree.count, 4);
        const [root] = tree.roots;
        assert.equal(root?.name, "app");
        assert.equal(root?.waitKind, "running");
        const [s, w] = root?.children ?? [];
        assert.deepEqual(
          { name: s?.name, state: s?.state, priority: s?.priority, ageMs: s?.ageMs, waitKind: s?.waitKind, waitingOn: s?.waitingOn },
          { name: "sleeper", state: "running", priority: 5, ageMs: 100, waitKind: "sleep", waitingOn: "sleep until 1500 ms" },
        );
        assert.equal(w?.daemon, true);
        assert.equal(w?.waitKind, "suspend");
        assert.equal(w?.children[0]?.waitKind, "future");
        assert.equal(w?.children[0]?.path, "app/worker/waiter");

        assert.equal(
          formatTaskTree(tree),
          [
            "app [running] p10 100ms waits on running",
            "├─ sleeper [running] p5 100ms waits on sleep until 1500 ms",
            "└─ worker [running] p10 100ms daemon waits on suspend",
            "   └─ waiter [running] p10 100ms waits on future",
          ].join("\n"),
        );
        const table = formatTaskTable(tree).split("\n");
        assert.equal(table.length, 5);
        assert.match(table[0] ?? "", /^ID\s+STATE\s+PRIO\s+AGE\s+WAIT\s+PATH$/);
        assert.match(table[4] ?? "", /running\s+10\s+100ms\s+future\s+app\/worker\/waiter$/);
        sleeper.cancel();
        worker.cancel();
        gate.resolve();
      },
      { name: "app" },
    );
  });
});
