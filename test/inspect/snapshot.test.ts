import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Scope } from "../../src/core/_scope.ts";
import { Event, Future, Lock, type Operation, Queue, StreamReader, sleep, spawn, suspend } from "../../src/index.ts";
import { renderTaskTree } from "../../src/inspect/format.ts";
import { formatTaskTable, formatTaskTree, snapshotTasks, type TaskSnapshot } from "../../src/inspect/index.ts";
import { runVirtual, waitAllTasksBlocked } from "../../src/testing/index.ts";
import { checkLeaks } from "../_helpers.ts";

checkLeaks();

/**
 * A chain of `depth` nested tasks named `n` below the caller, each waiting on `stop`, or with `joined`
 * on its child (whose description names the child's path), the last one on `stop`.
 */
function* nestedChain(depth: number, stop: Future<void>, joined = false): Operation<void> {
  if (depth === 0) return yield* stop;
  const child = yield* spawn(() => nestedChain(depth - 1, stop, joined), { name: "n" });
  yield* joined ? child : stop;
}

/** A snapshot of a running task named `name` (its path too) for the formatters, waiting on its `children`; `fields` change the rest. */
function snapshotOf(name: string, children: TaskSnapshot[], fields: Partial<TaskSnapshot> = {}): TaskSnapshot {
  return {
    id: 1,
    name,
    path: name,
    state: "running",
    priority: 10,
    ageMs: 5,
    daemon: false,
    waitKind: "children",
    waitingOn: "its children",
    resources: [],
    children,
    ...fields,
  };
}

describe("snapshotTasks", () => {
  it("says what each task waits on in words: a lock, a queue get, a read, an event, a child", async () => {
    await runVirtual(
      function* () {
        const lock = new Lock();
        const queue = new Queue<number>();
        const reader = new StreamReader();
        const event = new Event();
        yield* lock.acquire();
        const child = yield* spawn(() => sleep(50), { name: "child" });
        const tasks = [
          yield* spawn(() => lock.acquire(), { name: "locker" }),
          yield* spawn(() => queue.get(), { name: "getter" }),
          yield* spawn(() => reader.read(1), { name: "reader" }),
          yield* spawn(() => event.wait(), { name: "eventWaiter" }),
          yield* spawn(() => child, { name: "joiner" }),
        ];
        yield* waitAllTasksBlocked();
        const waits = Object.fromEntries((snapshotTasks().roots[0]?.children ?? []).map((task) => [task.name, task.waitingOn]));
        assert.deepEqual(waits, {
          child: "a sleep until 50 ms (50 ms from now)",
          locker: "a lock held by another task (acquire)",
          getter: "an item from an empty queue (get)",
          reader: "data to read from its stream (a read)",
          eventWaiter: "an event to be set (wait)",
          joiner: "task app/child to finish",
        });
        for (const task of tasks) task.cancel();
        lock.release();
      },
      { name: "app" },
    );
  });

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
          { name: "sleeper", state: "running", priority: 5, ageMs: 100, waitKind: "sleep", waitingOn: "a sleep until 1500 ms (1400 ms from now)" },
        );
        assert.equal(w?.daemon, true);
        assert.equal(w?.waitKind, "suspend");
        assert.equal(w?.children[0]?.waitKind, "future");
        assert.equal(w?.children[0]?.path, "app/worker/waiter");

        assert.equal(
          formatTaskTree(tree),
          [
            "app [running] p10 100ms waits on nothing: it is running now",
            "├─ sleeper [running] p5 100ms waits on a sleep until 1500 ms (1400 ms from now)",
            "└─ worker [running] p10 100ms daemon waits on nothing: suspended until cancelled (suspend())",
            "   └─ waiter [running] p10 100ms waits on a Future to be set",
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

  it("with maxTasks, describes the first tasks depth-first and counts the others (H1)", async () => {
    await runVirtual(
      function* () {
        const stop = new Future<void>();
        const a = yield* spawn(
          function* () {
            yield* spawn(() => stop, { name: "a1" });
            yield* spawn(() => stop, { name: "a2" });
            yield* stop;
          },
          { name: "a" },
        );
        for (let i = 0; i < 3; i++) yield* spawn(() => stop, { name: `b${i}` });
        yield* waitAllTasksBlocked();
        const tree = snapshotTasks(undefined, { maxTasks: 3 });
        assert.equal(tree.count, 7);
        assert.equal(tree.shown, 3);
        assert.deepEqual(
          tree.roots[0]?.children.map((task) => [task.name, task.children.map((child) => child.name)]),
          [["a", ["a1"]]],
        );
        assert.equal(formatTaskTree(tree).split("\n").at(-1), "… 4 more tasks not shown");
        assert.equal(formatTaskTable(tree).split("\n").length, 5, "a header, 3 rows and the count of the others");
        assert.equal(snapshotTasks(a, { maxTasks: 0 }).count, 3);
        assert.equal(snapshotTasks().shown, 7);
        assert.throws(() => snapshotTasks(undefined, { maxTasks: -1 }), /maxTasks must be a number from 0, received -1/);
        stop.resolve();
      },
      { name: "app" },
    );
  });

  it("formatTaskTable renders a tree of 200,000 tasks (M9)", () => {
    const task = (id: number, children: TaskSnapshot[] = []): TaskSnapshot => ({
      id,
      name: `t${id}`,
      path: id === 0 ? "t0" : `t0/t${id}`,
      state: "running",
      priority: 10,
      ageMs: 5,
      daemon: false,
      waitKind: "future",
      waitingOn: "a Future to be set",
      resources: [],
      children,
    });
    const children = Array.from({ length: 200_000 }, (_, index) => task(index + 1));
    const table = formatTaskTable({ time: 0, count: 200_001, shown: 200_001, roots: [task(0, children)] });
    const lines = table.split("\n");
    assert.equal(lines.length, 200_002);
    assert.match(lines.at(-1) ?? "", /^200000\s+running\s+10\s+5ms\s+future\s+t0\/t200000$/);
  });

  it("cuts long paths, names and lines between characters, never inside a surrogate pair (review)", () => {
    const lone = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
    const task = (name: string, children: TaskSnapshot[] = []): TaskSnapshot =>
      snapshotOf(name, children, { waitKind: "future", waitingOn: name, resources: [name] });
    // 600 emoji are 1200 UTF-16 units: the path's last 999 would start with the second half of a pair.
    for (const name of ["😀".repeat(600), `a${"😀".repeat(600)}`]) {
      const table = formatTaskTable({ time: 0, count: 1, shown: 1, roots: [task(name)] });
      assert.doesNotMatch(table, lone);
      assert.match(table.split("\n")[1] ?? "", /future {2}…😀+$/u);
      for (const maxLineChars of [100, 101, 1000, 1001]) {
        const { text } = renderTaskTree({ time: 0, count: 2, shown: 2, roots: [task(name, [task(name)])] }, { maxLines: 10, maxChars: 10_000, maxLineChars });
        assert.doesNotMatch(text, lone, `maxLineChars ${maxLineChars}`);
        for (const line of text.split("\n")) assert.ok(line.length <= maxLineChars && line.length >= maxLineChars - 1, `${line.length}`);
      }
    }
  });

  it("escapes control characters in names: a name cannot forge a line or send a terminal escape (L7)", async () => {
    await runVirtual(
      function* () {
        const forged = yield* spawn(suspend, { name: "GET /x\n├─ admin [running] p10 0ms waits on nothing" });
        const ansi = yield* spawn(suspend, { name: "peer \x1b[2J\u202eevil\t1" });
        yield* waitAllTasksBlocked();
        const tree = formatTaskTree(snapshotTasks()).split("\n");
        assert.equal(tree.length, 3);
        assert.match(tree[1] ?? "", /^├─ GET \/x\\n├─ admin \[running\] p10 0ms waits on nothing \[running\]/);
        assert.match(tree[2] ?? "", /^└─ peer \\u001b\[2J\\u202eevil\\t1 \[running\]/);
        const table = formatTaskTable(snapshotTasks()).split("\n");
        assert.equal(table.length, 4);
        assert.match(table[3] ?? "", /app\/peer \\u001b\[2J\\u202eevil\\t1$/);
        forged.cancel();
        ansi.cancel();
      },
      { name: "app" },
    );
  });

  it("ages carry into the next unit: never 1000ms, 60.0s, 1m60s or 59m60s (L8)", () => {
    const ages = [0, 999.4, 999.6, 1049, 59_940, 59_960, 60_000, 119_700, 3_599_499, 3_599_999, 7_530_000];
    const tree = {
      time: 0,
      count: ages.length,
      shown: ages.length,
      roots: ages.map((ageMs, id) => ({
        id,
        name: "t",
        path: "t",
        state: "running" as const,
        priority: 10,
        ageMs,
        daemon: false,
        waitKind: "sleep",
        waitingOn: "x",
        resources: [],
        children: [],
      })),
    };
    const shown = formatTaskTable(tree)
      .split("\n")
      .slice(1)
      .map((row) => row.split(/\s+/)[3]);
    assert.deepEqual(shown, ["0ms", "999ms", "1.0s", "1.0s", "59.9s", "1m0s", "1m0s", "2m0s", "59m59s", "1h0m", "2h5m"]);
  });

  for (const joined of [false, true]) {
    it(`a chain of nested tasks${joined ? " that each join their child" : ""} costs a path step per task, not one per ancestor (L9)`, async () => {
      const depth = 300;
      await runVirtual(
        function* () {
          const stop = new Future<void>();
          yield* spawn(() => nestedChain(depth, stop, joined), { name: "chain" });
          yield* waitAllTasksBlocked();
          // Count the steps of the path getter (each climbs one level): d²/2 of them made a deep chain slow.
          const getter = Object.getOwnPropertyDescriptor(Scope.prototype, "path")?.get as () => string;
          let steps = 0;
          Object.defineProperty(Scope.prototype, "path", {
            configurable: true,
            get(this: Scope) {
              steps++;
              return getter.call(this);
            },
          });
          let tree: ReturnType<typeof snapshotTasks>;
          try {
            tree = snapshotTasks();
          } finally {
            Object.defineProperty(Scope.prototype, "path", { configurable: true, get: getter });
          }
          assert.ok(steps < depth, `${steps} steps of the path getter for ${depth + 2} tasks`);
          let deepest = tree.roots[0];
          while (deepest !== undefined && deepest.children.length > 0) deepest = deepest.children[0];
          assert.equal(deepest?.path, `app/chain${"/n".repeat(depth)}`);
          if (joined) {
            let task = tree.roots[0]?.children[0];
            for (let level = 0; level < depth; level++, task = task?.children[0]) assert.equal(task?.waitingOn, `task ${task?.children[0]?.path} to finish`);
          }
          stop.resolve();
        },
        { name: "app" },
      );
    });
  }

  it("snapshotTasks, formatTaskTree and formatTaskTable take a chain of 20,000 nested tasks (review)", async () => {
    // Walked by recursion, a chain 4,000 to 8,000 deep overflowed the stack (RangeError); the core runs such chains.
    const depth = 20_000;
    await runVirtual(
      function* () {
        const stop = new Future<void>();
        const chain = yield* spawn(() => nestedChain(depth, stop), { name: "chain" });
        yield* waitAllTasksBlocked();
        try {
          const tree = snapshotTasks();
          assert.deepEqual([tree.count, tree.shown], [depth + 2, depth + 2]);
          let deepest = tree.roots[0];
          for (let level = 0; level < depth + 1; level++) deepest = deepest?.children[0];
          assert.equal(deepest?.path, `app/chain${"/n".repeat(depth)}`);
          assert.equal(snapshotTasks(undefined, { maxTasks: 5000 }).shown, 5000);
          // Indented in full, the tree would need 600 million characters: indentation stops at 64 levels.
          const lines = formatTaskTree(tree).split("\n");
          assert.equal(lines.length, depth + 2);
          const rest = " n [running] p10 0ms waits on a Future to be set";
          assert.equal(lines[64], `${" ".repeat(189)}└─${rest}`);
          assert.equal(lines[65], `${" ".repeat(192)}└─ (depth 65)${rest}`);
          assert.equal(lines.at(-1), `${" ".repeat(192)}└─ (depth 20001)${rest}`);
          // A path is shown by its end, 1000 characters at most.
          const rows = formatTaskTable(tree).split("\n");
          assert.equal(rows.length, depth + 3);
          assert.ok((rows.at(-1) ?? "").endsWith(`  …n${"/n".repeat(499)}`), rows.at(-1)?.slice(-40));
        } finally {
          stop.resolve();
        }
        yield* chain;
      },
      { name: "app" },
    );
  });

  it("past 64 levels, tasks share one column and say their depth; the guides above stay (review)", () => {
    const task = (name: string, children: TaskSnapshot[] = []): TaskSnapshot => snapshotOf(name, children);
    // A chain of 66 levels whose task at level 65 has two children, and a sibling at level 1.
    let deep = task("d65", [task("a66"), task("b66")]);
    for (let level = 64; level >= 1; level--) deep = task(`d${level}`, [deep]);
    const lines = formatTaskTree({ time: 0, count: 69, shown: 69, roots: [task("root", [deep, task("sibling")])] }).split("\n");
    const rest = " [running] p10 5ms waits on its children";
    assert.equal(lines[1], `├─ d1${rest}`);
    assert.equal(lines[64], `│  ${"   ".repeat(62)}└─ d64${rest}`);
    assert.equal(lines[65], `│  ${"   ".repeat(62)}   └─ (depth 65) d65${rest}`);
    assert.equal(lines[66], `│  ${"   ".repeat(62)}   ├─ (depth 66) a66${rest}`);
    assert.equal(lines[67], `│  ${"   ".repeat(62)}   └─ (depth 66) b66${rest}`);
    assert.equal(lines[68], `└─ sibling${rest}`);
    assert.equal(lines.length, 69);
  });

  it("a task given to snapshotTasks after its end waits on nothing, of kind finished (L9)", async () => {
    await runVirtual(function* () {
      const task = yield* spawn(function* () {}, { name: "quick" });
      yield* task;
      const [snapshot] = snapshotTasks(task).roots;
      assert.deepEqual([snapshot?.state, snapshot?.waitKind, snapshot?.waitingOn], ["done", "finished", ""]);
    });
  });
});
