import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { callLater, callSoon, callWhenRunning, currentTime, Event, run, sleep, spawn, suspend } from "../../src/index.ts";
import { runVirtual, VirtualClock } from "../../src/testing/index.ts";
import { checkLeaks, collectReports } from "../_helpers.ts";

checkLeaks();

describe("callLater / DelayedCall", () => {
  it("a callLater(0) made by a firing call runs in the next pass, after the tasks made ready: on the virtual clock as on the real one", async () => {
    function* poller() {
      const request = new Event();
      const done = new Event();
      let answered = false;
      let polls = 0;
      yield* spawn(function* () {
        yield* request.wait();
        answered = true;
      });
      const poll = (): void => {
        polls++;
        request.set();
        if (answered || polls >= 1000) done.set();
        else callLater(0, poll);
      };
      callLater(0, poll);
      yield* done.wait();
      return polls;
    }
    assert.equal(await run(poller), 2);
    // The same moment is due again at once on a virtual clock: the chain starved the task it polled for.
    assert.equal(await runVirtual(poller), 2);
  });

  it("calls the function with its arguments after the delay", async () => {
    const calls: [number, string][] = [];
    await runVirtual(function* () {
      const call = callLater(100, (n: number, s: string) => calls.push([n, s]), 1, "a");
      assert.equal(call.active, true);
      assert.equal(call.time, 100);
      yield* sleep(99);
      assert.deepEqual(calls, []);
      yield* sleep(1);
      assert.deepEqual(calls, [[1, "a"]]);
      assert.equal(call.active, false);
    });
  });

  it("cancel() stops it and says whether it was still pending", async () => {
    let fired = false;
    await runVirtual(function* () {
      const call = callLater(10, () => {
        fired = true;
      });
      assert.equal(call.cancel(), true);
      assert.equal(call.cancel(), false);
      assert.equal(call.active, false);
      yield* sleep(20);
    });
    assert.equal(fired, false);
  });

  it("reset() moves a pending call (it does not fire twice) and re-arms a fired one", async () => {
    const times: number[] = [];
    await runVirtual(function* () {
      const call = callLater(10, () => times.push(currentTime()));
      yield* sleep(5);
      call.reset(20); // now due at 25, once
      yield* sleep(30);
      assert.deepEqual(times, [25]);
      call.reset(10); // fired: armed again
      yield* sleep(20);
      assert.deepEqual(times, [25, 45]);
    });
  });

  it("delay() pushes a pending call later and refuses an inactive one", async () => {
    const times: number[] = [];
    await runVirtual(function* () {
      const call = callLater(10, () => times.push(currentTime()));
      call.delay(15);
      assert.equal(call.time, 25);
      yield* sleep(30);
      assert.deepEqual(times, [25]);
      assert.throws(() => call.delay(5), { message: "Cannot delay a delayed call: it has already run or been cancelled; use reset() to arm it again" });
    });
  });

  it("calls with equal deadlines run in the order they were set", async () => {
    const order: number[] = [];
    await runVirtual(function* () {
      for (const i of [1, 2, 3]) callLater(50, () => order.push(i));
      yield* sleep(50);
    });
    assert.deepEqual(order, [1, 2, 3]);
  });

  it("an error in a callback is reported and the loop goes on", async () => {
    const { reports, onError } = collectReports();
    const log: string[] = [];
    await runVirtual(
      function* () {
        callLater(10, function failing() {
          throw new Error("callback failed");
        });
        callLater(20, () => log.push("later callback ran"));
        yield* sleep(30);
        log.push("task ran on");
      },
      { onError },
    );
    assert.deepEqual(log, ["later callback ran", "task ran on"]);
    assert.equal(reports.length, 1);
    assert.equal(reports[0]?.kind, "callback");
    assert.equal(reports[0]?.path, "callback failing");
  });

  it("with stopOnError, a callback error stops the loop: every root task is cancelled", async () => {
    const errors: unknown[] = [];
    const log: string[] = [];
    const task = run(
      function* () {
        try {
          callLater(10, () => {
            throw new Error("fatal");
          });
          yield* suspend();
        } finally {
          log.push("cleaned up");
        }
      },
      { clock: new VirtualClock(), stopOnError: true, onError: (error) => errors.push(error) },
    );
    await assert.rejects(async () => await task, { name: "CancelledError" });
    assert.deepEqual(log, ["cleaned up"]);
    assert.equal((errors[0] as Error).message, "fatal");
  });

  it("rejects a bad delay or a non-function", async () => {
    await runVirtual(function* () {
      assert.throws(() => callLater(-1, () => {}), { name: "RangeError", message: "Cannot call later: ms must be a finite non-negative number, received -1" });
      assert.throws(() => callLater(1, 5 as never), { name: "TypeError", message: "Cannot call later: expected a function, received number" });
    });
  });
});

describe("callSoon / callWhenRunning", () => {
  it("callSoon runs callbacks in FIFO order, interleaved with ready tasks", async () => {
    const order: string[] = [];
    await runVirtual(function* () {
      callSoon(() => order.push("cb1"));
      yield* spawn(function* () {
        order.push("task");
      });
      callSoon((x: string) => order.push(x), "cb2");
      yield* sleep(0);
    });
    assert.deepEqual(order, ["cb1", "task", "cb2"]);
  });

  it("callWhenRunning runs at once inside a running loop", async () => {
    const order: string[] = [];
    await runVirtual(function* () {
      callWhenRunning(() => order.push("now"));
      order.push("after");
    });
    assert.deepEqual(order, ["now", "after"]);
  });
});
