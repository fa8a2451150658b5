import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DelayedCall, UDPServer } from "../../../src/compat/calvin/index.ts";
import { currentTime, Future, run, sleep, spawn, timeout } from "../../../src/index.ts";
import { openDatagram } from "../../../src/net/index.ts";
import { runVirtual } from "../../../src/testing/index.ts";
import { checkLeaks, collectReports } from "../../_helpers.ts";
import { reported } from "./_actor.ts";

checkLeaks();

describe("DelayedCall", () => {
  it("calls the function with its arguments after the delay in seconds, once", async () => {
    await runVirtual(function* () {
      const calls: [string, number][] = [];
      const call = new DelayedCall(1.5, (a: string, b: number) => calls.push([a, b]), "x", 2);
      assert.equal(call.delay, 1.5);
      assert.equal(call.nextcall(), 1.5);
      yield* sleep(1499);
      assert.equal(calls.length, 0);
      assert.ok(call.active());
      yield* sleep(1);
      assert.deepEqual(calls, [["x", 2]]);
      assert.equal(call.active(), false);
      assert.equal(call.nextcall(), null);
      yield* sleep(5000);
      assert.equal(calls.length, 1);
    });
  });

  it("cancel() stops a pending call, and is silent when repeated or after the call ran", async () => {
    await runVirtual(function* () {
      let fired = 0;
      const call = new DelayedCall(1, () => fired++);
      call.cancel();
      call.cancel();
      assert.equal(call.active(), false);
      yield* sleep(2000);
      assert.equal(fired, 0);
      const ran = new DelayedCall(0, () => fired++);
      yield* sleep(1);
      ran.cancel();
      assert.equal(fired, 1);
    });
  });

  it("reset() moves a pending call instead of arming a second one (the original ran it twice)", async () => {
    await runVirtual(function* () {
      const times: number[] = [];
      let now = 0;
      const call = new DelayedCall(1, () => times.push(now));
      yield* sleep(500);
      now = 500;
      call.reset(2); // now due at 2.5 s
      assert.equal(call.nextcall(), 2.5);
      assert.equal(call.delay, 2);
      for (now = 1000; now <= 4000; now += 500) yield* sleep(500);
      assert.deepEqual(times, [2500]);
    });
  });

  it("reset() after the call ran, or was cancelled, arms it again (with its last delay if none is given)", async () => {
    await runVirtual(function* () {
      let fired = 0;
      const call = new DelayedCall(1, () => fired++);
      yield* sleep(1000);
      assert.equal(fired, 1);
      call.reset();
      assert.ok(call.active());
      yield* sleep(1000);
      assert.equal(fired, 2);
      call.cancel();
      call.reset(0.25);
      yield* sleep(250);
      assert.equal(fired, 3);
    });
  });

  it("active() is false while the function runs (the scheduler's check)", async () => {
    await runVirtual(function* () {
      const seen: boolean[] = [];
      const call: DelayedCall = new DelayedCall(0, () => seen.push(call.active()));
      yield* sleep(1);
      assert.deepEqual(seen, [false]);
    });
  });

  it("an error in the function is reported and the loop goes on", async () => {
    const { reports, onError } = collectReports();
    let later = false;
    await runVirtual(
      function* () {
        new DelayedCall(1, () => {
          throw new Error("actor failed");
        });
        new DelayedCall(2, () => {
          later = true;
        });
        yield* sleep(3000);
      },
      { onError },
    );
    assert.equal(later, true);
    assert.equal(reports.length, 1);
    assert.equal(reported(reports).message, "actor failed");
  });

  it("belongs to the task that created it: a pending call is cancelled when that task ends", async () => {
    await runVirtual(function* () {
      let fired = false;
      const child = yield* spawn(function* () {
        const call = new DelayedCall(10, () => {
          fired = true;
        });
        yield* sleep(1000);
        return call;
      });
      const call = yield* child;
      assert.equal(call.active(), false);
      yield* sleep(20_000);
      assert.equal(fired, false);
      // Re-armed from another task, it belongs to that one now.
      call.reset(1);
      yield* sleep(1000);
      assert.equal(fired, true);
    });
  });

  it("re-armed by another task just after its owner ended, it stays armed", async () => {
    await runVirtual(function* () {
      let fired = false;
      const child = yield* spawn(function* () {
        return new DelayedCall(10, () => {
          fired = true;
        });
      });
      const call = yield* child;
      // The old owner's done callback may still be queued: it must not cancel the re-armed call.
      call.reset(1);
      yield* sleep(2000);
      assert.equal(fired, true);
    });
  });

  it("made in another DelayedCall's function, it belongs to that one's owner: a scheduler re-arms itself, and ends with its task", async () => {
    const { reports, onError } = collectReports();
    const steps: number[] = [];
    await runVirtual(
      function* () {
        const actor = yield* spawn(function* () {
          // Calvin's scheduler: `self._scheduled.cancel(); self._scheduled = DelayedCall(delay, what)` from inside `what`.
          let scheduled: DelayedCall | null = null;
          const step = (): void => {
            steps.push(currentTime());
            scheduled?.cancel();
            scheduled = new DelayedCall(0.1, step);
          };
          scheduled = new DelayedCall(0, step);
          yield* sleep(350);
        });
        yield* actor;
        yield* sleep(1000);
      },
      { onError },
    );
    assert.deepEqual(reports, []);
    assert.deepEqual(steps, [0, 100, 200, 300]);
  });

  it("made in a trigger, it belongs to the owner of the object whose trigger it is", async () => {
    const { reports, onError } = collectReports();
    let fired = 0;
    await run(
      function* () {
        const triggered = new Future<void>();
        const server = new UDPServer(() => {
          new DelayedCall(0, () => {
            fired++;
            triggered.resolve();
          });
        });
        server.start("127.0.0.1", 0);
        const { port } = yield* server.ready();
        const client = yield* openDatagram({ connect: { host: "127.0.0.1", port } });
        yield* client.send("wake up");
        yield* timeout(5000, triggered);
        client.close();
        server.stop();
      },
      { onError },
    );
    assert.deepEqual(reports, []);
    assert.equal(fired, 1);
  });

  it("checks its arguments and needs a corio task", async () => {
    assert.throws(() => new DelayedCall(1, () => {}), { message: /^Cannot create a DelayedCall: no corio task is running/ });
    await run(function* () {
      assert.throws(() => new DelayedCall(-1, () => {}), {
        name: "RangeError",
        message: "Cannot create a DelayedCall: delay must be a finite non-negative number of seconds, received -1",
      });
      assert.throws(() => new DelayedCall(1, "f" as never), { name: "TypeError" });
      const call = new DelayedCall(1, () => {});
      assert.throws(() => call.reset(Number.NaN), { name: "RangeError", message: /^Cannot reset a DelayedCall/ });
      call.cancel();
    });
  });
});
