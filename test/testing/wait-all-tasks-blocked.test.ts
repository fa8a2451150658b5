import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { callLater, currentTime, every, Future, sleep, spawn, until } from "../../src/index.ts";
import { openConnection, startServer } from "../../src/net/index.ts";
import type { StreamReader } from "../../src/streams/index.ts";
import { runVirtual, VirtualClock, waitAllTasksBlocked } from "../../src/testing/index.ts";

describe("waitAllTasksBlocked", () => {
  it("returns once every other task is suspended, before time moves", async () => {
    await runVirtual(function* () {
      const log: string[] = [];
      for (const name of ["a", "b"]) {
        yield* spawn(function* () {
          log.push(`${name} step 1`);
          yield* sleep(0);
          log.push(`${name} step 2`);
          yield* sleep(100);
        });
      }
      yield* waitAllTasksBlocked();
      assert.deepEqual(log, ["a step 1", "b step 1", "a step 2", "b step 2"]);
    });
  });

  it("after a manual advance, the timers that came due fire first (Trio's test_wait_all_tasks_blocked_with_timeouts)", async () => {
    const clock = new VirtualClock({ autoAdvance: false });
    const record = await runVirtual(
      function* () {
        const record: string[] = [];
        const sleeper = yield* spawn(function* () {
          record.push("start");
          yield* sleep(5);
          record.push("finished");
        });
        yield* waitAllTasksBlocked();
        assert.deepEqual(record, ["start"]);
        clock.advance(10);
        yield* waitAllTasksBlocked();
        assert.deepEqual(record, ["start", "finished"]);
        yield* sleeper;
        return record;
      },
      { clock },
    );
    assert.deepEqual(record, ["start", "finished"]);
  });

  it("wakes every waiter together, and before a periodic task's next tick moves time", async () => {
    const log = await runVirtual(function* () {
      const log: string[] = [];
      const beats = yield* every(100, function* () {
        log.push(`beat at ${currentTime()}`);
      });
      const other = yield* spawn(function* () {
        yield* waitAllTasksBlocked();
        log.push("other waiter");
      });
      yield* waitAllTasksBlocked();
      log.push(`main waiter at ${currentTime()}`);
      yield* other;
      beats.cancel();
      return log;
    });
    assert.deepEqual(log, ["main waiter at 0", "other waiter"]);
  });

  it("a callLater due now fires, and the task it wakes runs, before the waiters wake", async () => {
    const woke = await runVirtual(function* () {
      const gate = new Future<void>();
      let woke = false;
      yield* spawn(function* () {
        yield* gate;
        woke = true;
      });
      callLater(0, () => gate.resolve());
      yield* waitAllTasksBlocked();
      return woke;
    });
    assert.equal(woke, true);
  });
});

describe("waitAllTasksBlocked lets in what the host already holds (Trio wakes the waiters after an I/O poll that finds nothing)", () => {
  it("a task awaiting a promise that is already settled runs first", async () => {
    const log = await runVirtual(function* () {
      const log: string[] = [];
      yield* spawn(function* () {
        yield* until(Promise.resolve());
        log.push("woken");
      });
      yield* waitAllTasksBlocked();
      log.push("all blocked");
      return log;
    });
    assert.deepEqual(log, ["woken", "all blocked"]);
  });

  it("bytes a peer has sent over loopback reach the task blocked reading them first", async () => {
    const received = await runVirtual(function* () {
      const serverReader = new Future<StreamReader>();
      const done = new Future<void>();
      const server = yield* startServer(function* (reader) {
        serverReader.resolve(reader);
        yield* done;
      });
      const client = yield* openConnection({ port: server.address.port });
      const reader = yield* serverReader;
      let received = "";
      const readerTask = yield* spawn(function* () {
        received = new TextDecoder().decode(yield* reader.read(10));
      });
      yield* waitAllTasksBlocked();
      client.writer.write("x");
      yield* client.writer.drain();
      yield* waitAllTasksBlocked();
      const seen = received;
      yield* readerTask;
      client.writer.close();
      done.resolve();
      server.close();
      yield* server.waitClosed();
      return seen;
    });
    assert.equal(received, "x");
  });
});
