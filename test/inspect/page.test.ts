// The live inspector (createInspector): whatever a client does, it must not fail or stall the program.
import assert from "node:assert/strict";
import { get, type IncomingMessage } from "node:http";
import { describe, it } from "node:test";
import { Future, type Operation, sleep, spawn, suspend, timeout, until } from "../../src/index.ts";
import { createInspector, snapshotTasks, type TaskSnapshot } from "../../src/inspect/index.ts";
import { serveHttp } from "../../src/net/index.ts";
import { runVirtual, waitAllTasksBlocked } from "../../src/testing/index.ts";
import { checkLeaks, collectReports } from "../_helpers.ts";

checkLeaks();

interface Frame {
  time: number;
  count: number;
  shown: number;
  text: string;
  note?: string;
  roots?: unknown;
}

/** Opens `url` as an event stream and resolves with the data of its first `tree` event; `close()` ends the connection. */
function firstTreeEvent(url: string): { frame: Promise<Frame>; close(): void } {
  let response: IncomingMessage | undefined;
  const request = get(url, { agent: false });
  const frame = new Promise<Frame>((resolve, reject) => {
    request.on("error", reject);
    request.on("response", (answer) => {
      response = answer;
      answer.setEncoding("utf8");
      let buffered = "";
      answer.on("data", (chunk: string) => {
        buffered += chunk;
        const match = /(?:^|\n)event: tree\ndata: (.*)\n\n/.exec(buffered);
        if (match !== null) resolve(JSON.parse(match[1] as string) as Frame);
      });
      answer.on("end", () => reject(new Error(`the stream ended before a tree event: ${JSON.stringify(buffered.slice(0, 200))}`)));
    });
  });
  return {
    frame,
    close() {
      response?.destroy();
      request.destroy();
    },
  };
}

describe("createInspector", () => {
  it("serves a program of thousands of tasks: a bounded frame, the rest counted, the program unharmed (H1)", async () => {
    const { reports, onError } = collectReports();
    const tasks = 5000;
    const result = await runVirtual(
      function* () {
        const stop = new Future<void>();
        // Long names: sent whole, as before, these made a frame of several MiB, over the stream's 1 MiB limit.
        for (let i = 0; i < tasks; i++) yield* spawn(() => stop, { name: `connection ${i} ${"x".repeat(80)}` });
        // A tick on every turn of the loop: the first one after the page connects sends the tree.
        const inspector = yield* createInspector({ intervalMs: 0 });
        const server = yield* serveHttp(function* (request, response) {
          if (request.path.startsWith("/inspect")) yield* inspector.handle(request, response);
        });
        const client = firstTreeEvent(`${server.url}/inspect/events`);
        try {
          const frame = yield* until(client.frame);
          // Every task counted: the 5000, and the test's, the feed, the server and its request's.
          assert.ok(frame.count > tasks, `count: ${frame.count}`);
          assert.equal(frame.shown, 1000);
          assert.equal(frame.roots, undefined, "the page reads the text only");
          const lines = frame.text.split("\n");
          assert.equal(lines.length, 1001);
          assert.equal(lines.at(-1), `… ${frame.count - 1000} more tasks not shown`);
        } finally {
          client.close();
        }
        server.close();
        yield* server.waitClosed();
        stop.resolve();
        return "the program went on";
      },
      { onError },
    );
    assert.equal(result, "the program went on");
    assert.deepEqual(reports, []);
  });

  it("cuts the text to fit one event, whatever the task names hold (H1)", async () => {
    const { reports, onError } = collectReports();
    await runVirtual(
      function* () {
        // 300 tasks of 5,000-character names: under maxTasks, but together far over one event's limit.
        const idle = [];
        for (let i = 0; i < 300; i++) idle.push(yield* spawn(suspend, { name: `${i} ${"\u{1F600}".repeat(2500)}` }));
        const inspector = yield* createInspector({ maxTasks: 10_000 });
        const server = yield* serveHttp(function* (request, response) {
          if (request.path.startsWith("/inspect")) yield* inspector.handle(request, response);
        });
        const client = firstTreeEvent(`${server.url}/inspect/events`);
        try {
          // A page gets a snapshot as soon as it connects (the next tick is 500 ms away, and the
          // virtual clock holds still while the test waits on the client).
          const frame = yield* until(client.frame);
          assert.ok(frame.count > 300, `count: ${frame.count}`);
          assert.ok(frame.shown > 0 && frame.shown < 300, `shown: ${frame.shown}`);
          assert.equal(frame.note, "the tree is cut short to fit one event");
          const lines = frame.text.split("\n");
          // Each line is cut (one name must not crowd out the tree), ending in an ellipsis.
          assert.ok(lines.slice(1, -1).every((line) => line.length <= 1000 && line.endsWith("…")));
          assert.equal(lines.at(-1), `… ${frame.count - frame.shown} more tasks not shown`);
        } finally {
          client.close();
        }
        server.close();
        yield* server.waitClosed();
        for (const task of idle) task.cancel();
      },
      { onError },
    );
    assert.deepEqual(reports, []);
  });

  it("a chain of 9,000 nested tasks (maxTasks 10,000) gets a frame (review)", async () => {
    // The feed's walk recursed: it overflowed the stack on every frame, and reported that once.
    let failed!: (error: unknown) => void;
    const reported = new Promise<never>((_, reject) => (failed = reject));
    const frame = await runVirtual(
      function* () {
        const stop = new Future<void>();
        function* nest(level: number): Operation<void> {
          if (level > 0) yield* spawn(() => nest(level - 1), { name: "n" });
          yield* stop;
        }
        const chain = yield* spawn(() => nest(9_000), { name: "chain" });
        // The whole chain first: it grows one level per step.
        yield* waitAllTasksBlocked();
        const inspector = yield* createInspector({ maxTasks: 10_000 });
        const server = yield* serveHttp(function* (request, response) {
          yield* inspector.handle(request, response);
        });
        const client = firstTreeEvent(`${server.url}/inspect/events`);
        try {
          // A frame, or the feed's report: whichever comes first, nothing waits on a timer.
          return yield* until(Promise.race([client.frame, reported]));
        } finally {
          client.close();
          server.close();
          yield* server.waitClosed();
          stop.resolve();
          yield* chain;
        }
      },
      { onError: (error, context) => failed(new Error(`${context.kind} ${context.path}: ${String(error)}`)) },
    );
    assert.ok(frame.count > 9_001, `count: ${frame.count}`);
    assert.equal(frame.note, "the tree is cut short to fit one event");
    // Past 64 levels the lines share one column: the deep tasks' names are on the page, not only guides.
    assert.match(frame.text, /\n│ {191}└─ \(depth 100\) n \[running\]/);
  });

  it("an inspector created inside timeout(), as services are, keeps its feed: a page connecting later gets a frame (review)", async () => {
    // The feed was a daemon of the boundary's own task: it ended with the boundary, and pages got nothing.
    const feeds = (): TaskSnapshot[] => {
      const found: TaskSnapshot[] = [];
      const stack = snapshotTasks().roots.slice();
      for (let task = stack.pop(); task !== undefined; task = stack.pop()) {
        if (task.name === "inspector feed") found.push(task);
        stack.push(...task.children);
      }
      return found;
    };
    const { reports, onError } = collectReports();
    await runVirtual(
      function* () {
        // Not returned by the boundary: stopped with it, as a server would be.
        yield* timeout(1000, function* () {
          yield* createInspector({ intervalMs: 10 });
          return "something else";
        });
        assert.equal(feeds().length, 0);
        const inspector = yield* timeout(1000, createInspector({ intervalMs: 10 }));
        // Past the boundary's deadline too.
        yield* sleep(2000);
        assert.deepEqual(
          feeds().map((feed) => feed.path),
          ["app/inspector feed"],
        );
        const server = yield* serveHttp(function* (request, response) {
          yield* inspector.handle(request, response);
        });
        const client = firstTreeEvent(`${server.url}/inspect/events`);
        try {
          const frame = yield* until(client.frame);
          assert.ok(frame.count > 0);
        } finally {
          client.close();
        }
        server.close();
        yield* server.waitClosed();
      },
      { name: "app", onError },
    );
    assert.deepEqual(reports, []);
  });
});
