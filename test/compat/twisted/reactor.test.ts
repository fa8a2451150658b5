import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  AlreadyCalled,
  AlreadyCancelled,
  createReactor,
  Deferred,
  deferToThread,
  LoopingCall,
  ReactorNotRestartable,
  ReactorNotRunning,
} from "../../../src/compat/twisted/index.ts";
import { VirtualClock } from "../../../src/testing/index.ts";
import { checkLeaks } from "../../_helpers.ts";
import { steppedReactor } from "./_reactor.ts";

checkLeaks();

const virtualReactor = (onError?: (error: unknown) => void) => createReactor({ clock: new VirtualClock(), ...(onError !== undefined && { onError }) });

describe("reactor (Twisted tutorial programs)", () => {
  it("the countdown: callWhenRunning, callLater, stop", async () => {
    // Peticolas, part 3: prints 5... 4... 3... 2... 1... then stops.
    const reactor = virtualReactor();
    const out: string[] = ["Start"];
    let counter = 5;
    const count = (): void => {
      if (counter === 0) reactor.stop();
      else {
        out.push(`${counter} ...`);
        counter--;
        reactor.callLater(0.1, count);
      }
    };
    reactor.callWhenRunning(count);
    await reactor.run();
    out.push("Stop!");
    assert.deepEqual(out, ["Start", "5 ...", "4 ...", "3 ...", "2 ...", "1 ...", "Stop!"]);
    assert.ok(Math.abs(reactor.seconds() - 0.5) < 1e-9);
  });

  it("three independent counters share one reactor", async () => {
    const reactor = virtualReactor();
    const out: string[] = [];
    let running = 3;
    for (const [name, interval] of [
      ["a", 1],
      ["b", 2],
      ["c", 3],
    ] as const) {
      let n = 2;
      const tick = (): void => {
        out.push(`${name}${n}@${reactor.seconds()}`);
        if (--n === 0) {
          if (--running === 0) reactor.stop();
        } else reactor.callLater(interval, tick);
      };
      reactor.callLater(interval, tick);
    }
    await reactor.run();
    // b2 and a1 are both due at 2 s: b was set first (at 0 s), so it runs first.
    assert.deepEqual(out, ["a2@1", "b2@2", "a1@2", "c2@3", "b1@4", "c1@6"]);
  });

  it("an exception in a callback is reported and the reactor keeps running", async () => {
    const errors: unknown[] = [];
    const reactor = virtualReactor((error) => errors.push(error));
    const out: string[] = [];
    reactor.callLater(1, () => {
      throw new Error("callback failed");
    });
    reactor.callLater(2, () => {
      out.push("still running");
      reactor.stop();
    });
    await reactor.run();
    assert.deepEqual(out, ["still running"]);
    assert.equal((errors[0] as Error).message, "callback failed");
  });

  it("stop() when not running and run() twice raise Twisted's errors", async () => {
    const reactor = virtualReactor();
    assert.throws(() => reactor.stop(), ReactorNotRunning);
    reactor.callWhenRunning(() => reactor.stop());
    await reactor.run();
    await assert.rejects(reactor.run(), ReactorNotRestartable);
  });
});

describe("IDelayedCall", () => {
  it("getTime, active, cancel, reset and delay follow Twisted, errors included", async () => {
    const reactor = virtualReactor();
    const fired: number[] = [];
    const a = reactor.callLater(1, () => fired.push(reactor.seconds()));
    const b = reactor.callLater(1, () => fired.push(-1));
    assert.equal(a.getTime(), 1);
    a.delay(2); // due at 3
    assert.equal(a.getTime(), 3);
    b.cancel();
    assert.throws(() => b.cancel(), AlreadyCancelled);
    assert.equal(b.active(), false);
    reactor.callLater(2, () => a.reset(4)); // at 2: now due at 6
    reactor.callLater(10, () => reactor.stop());
    await reactor.run();
    assert.deepEqual(fired, [6]);
    assert.equal(a.active(), false);
    assert.throws(() => a.cancel(), AlreadyCalled);
  });

  it("a call is due when a clock stepped by its delay gets there, whatever the floats (callLater(0.1) at 2.7 s)", async () => {
    // Twisted's Clock adds the same float to the due time and to the clock; in ms, (2.7 + 0.1) * 1000 was 2800.0000000000005.
    const m = steppedReactor();
    await m.advance(2.7);
    const fired: number[] = [];
    for (const delay of [0.1, 0.2, 0.3, 0.7]) m.reactor.callLater(delay, () => fired.push(delay));
    await m.advance(0.1);
    await m.advance(0.1);
    await m.advance(0.1);
    await m.advance(0.4);
    assert.deepEqual(fired, [0.1, 0.2, 0.3, 0.7]);
    await m.stop();
  });
});

describe("LoopingCall", () => {
  it("calls at start and every interval, skipping missed ticks, and fires its Deferred on stop", async () => {
    const reactor = virtualReactor();
    const times: number[] = [];
    const loop = new LoopingCall(() => {
      times.push(reactor.seconds());
      if (times.length === 2) {
        // A slow call: wait 2.5 s before the next one (the ticks at 2 and 3 are missed).
        const d = new Deferred<void>();
        reactor.callLater(2.5, () => d.callback());
        return d;
      }
      if (times.length === 4) loop.stop();
      return undefined;
    });
    loop.clock = reactor;
    reactor.callWhenRunning(() => {
      loop.start(1).addCallback((stopped: LoopingCall) => {
        assert.equal(stopped, loop);
        reactor.stop();
      });
    });
    await reactor.run();
    assert.deepEqual(times, [0, 1, 4, 5]);
  });

  it("stop() during a call fires the Deferred when the call ends, with its error if it fails (Twisted's testFailAndStop)", async () => {
    class TestException extends Error {}
    const reactor = virtualReactor();
    const log: string[] = [];
    // Stops itself, then fails: the failure is the outcome.
    const failAndStop = new LoopingCall(() => {
      failAndStop.stop();
      throw new TestException("bar");
    });
    failAndStop.clock = reactor;
    // Its call's Deferred is pending when stop() comes, and fails later.
    let pending: Deferred<void> | undefined;
    const slow = new LoopingCall(() => {
      pending = new Deferred<void>();
      return pending;
    });
    slow.clock = reactor;
    reactor.callWhenRunning(() => {
      failAndStop.start(0.1).addCallbacks(
        () => log.push("failAndStop: callback"),
        (failure) => log.push(`failAndStop: errback ${failure.check(TestException) ? "TestException" : "?"}`),
      );
      slow.start(1).addCallbacks(
        () => log.push(`slow: callback at ${reactor.seconds()}`),
        (failure) => log.push(`slow: errback ${failure.getErrorMessage()} at ${reactor.seconds()}`),
      );
      reactor.callLater(0.5, () => {
        log.push("slow: stop() at 0.5");
        slow.stop();
      });
      reactor.callLater(0.7, () => pending?.errback(new Error("boom")));
      reactor.callLater(2, () => reactor.stop());
    });
    await reactor.run();
    assert.deepEqual(log, ["failAndStop: errback TestException", "slow: stop() at 0.5", "slow: errback boom at 0.7"]);
  });

  it("a failing call stops the loop and errbacks", async () => {
    const reactor = virtualReactor();
    const loop = new LoopingCall(() => {
      if (reactor.seconds() >= 2) throw new Error("tick failed");
    });
    loop.clock = reactor;
    let message = "";
    reactor.callWhenRunning(() => {
      loop.start(1, false).addErrback((failure) => {
        message = failure.getErrorMessage();
        reactor.stop();
      });
    });
    await reactor.run();
    assert.equal(message, "tick failed");
    assert.equal(loop.running, false);
  });
});

describe("LoopingCall on a stepped clock (Twisted's test_task.py, on task.Clock)", () => {
  const ticks = (m: ReturnType<typeof steppedReactor>, interval: number, now = true, start = 0) => {
    const times: number[] = [];
    const loop = new LoopingCall(() => times.push(Math.round((m.reactor.seconds() - start) * 1e6) / 1e6));
    loop.clock = m.reactor;
    const stopped = loop.start(interval, now);
    return { loop, times, stopped };
  };

  it("testBasicFunction and testDelayedStart: pump [0.05, 0.1, 0.1] at 0.1 makes 3 calls, 2 when not started now", async () => {
    for (const [now, count] of [
      [true, 3],
      [false, 2],
    ] as const) {
      const m = steppedReactor();
      const { loop, times, stopped } = ticks(m, 0.1, now);
      await m.pump([0.05, 0.1, 0.1]);
      assert.equal(times.length, count);
      loop.stop();
      assert.equal(await stopped.toPromise(), loop);
      await m.stop();
    }
  });

  it("test_reactorTimeSkips: ticks missed while the clock jumps are skipped", async () => {
    const m = steppedReactor();
    const { loop, times } = ticks(m, 0.5);
    await m.advance(2);
    await m.advance(1);
    await m.advance(0);
    assert.deepEqual(times, [0, 2, 3]);
    loop.stop();
    await m.stop();
  });

  it("a clock stepped by the interval, or a divisor of it, makes every call, over many steps", async () => {
    // In floats start + k * interval drifts above the clock's own sum (0.1 * 3 > 0.1 + 0.1 + 0.1 in ms): ticks were skipped.
    for (const [interval, step, steps, start] of [
      [0.1, 0.1, 100, 0],
      [0.1, 0.05, 200, 0],
      [0.3, 0.1, 300, 0],
      [0.01, 0.01, 1000, 0],
      [1.1, 0.1, 110, 0],
      [0.001, 0.001, 1000, 100_000], // a clock that has run for a day: the floats are coarser there
    ] as const) {
      const m = steppedReactor(start);
      const { loop, times } = ticks(m, interval, true, start);
      for (let i = 0; i < steps; i++) await m.advance(step);
      const calls = Math.round((step * steps) / interval) + 1;
      assert.deepEqual(
        times,
        Array.from({ length: calls }, (_, k) => Math.round(k * interval * 1e6) / 1e6),
        `interval ${interval}, stepped by ${step}`,
      );
      loop.stop();
      await m.stop();
    }
  });
});

describe("LoopingCall.reset and LoopingCall.withCount (Twisted's test_task.py, on task.Clock)", () => {
  /** Runs `body` with a reactor on a stepped clock, and stops it after. */
  async function withClock(body: (m: ReturnType<typeof steppedReactor>) => Promise<void>): Promise<void> {
    const m = steppedReactor();
    try {
      await body(m);
    } finally {
      await m.stop();
    }
  }
  const seconds = (m: ReturnType<typeof steppedReactor>): number => Math.round(m.reactor.seconds() * 1e6) / 1e6;

  it("test_reset: reset() skips the next call and starts the schedule again from now", async () => {
    await withClock(async (m) => {
      const ran: number[] = [];
      const loop = new LoopingCall(() => ran.push(seconds(m)));
      loop.clock = m.reactor;
      loop.start(2, false);
      await m.advance(1);
      loop.reset();
      await m.advance(1);
      assert.deepEqual(ran, []);
      await m.advance(1);
      assert.deepEqual(ran, [3]);
      loop.stop();
    });
  });

  it("reset() during a call, or while the Deferred a call returned is pending, does nothing (as Twisted 22.4); not running, it throws", async () => {
    await withClock(async (m) => {
      const log: unknown[] = [];
      const pending = new Deferred<void>();
      const loop = new LoopingCall(() => {
        log.push(seconds(m));
        if (log.length === 1) return pending;
        if (log.length === 3) {
          loop.reset();
          log.push("reset during call");
        }
        return undefined;
      });
      loop.clock = m.reactor;
      loop.start(2);
      await m.advance(1);
      loop.reset();
      log.push("reset while pending");
      await m.advance(2);
      pending.callback();
      await m.pump([1, 1, 1, 1]);
      loop.reset();
      log.push(["reset", seconds(m)]);
      await m.pump([1.5, 0.5]);
      assert.deepEqual(log, [0, "reset while pending", 4, "reset during call", 6, ["reset", 7], 9]);
      loop.stop();
      assert.throws(() => loop.reset(), { message: "Cannot reset the LoopingCall: it is not running" });
    });
  });

  it("test_reactorTimeCountSkips: withCount passes the number of intervals since the last call, skipped ones included", async () => {
    await withClock(async (m) => {
      const times: [number, number][] = [];
      const loop = LoopingCall.withCount((count: number) => times.push([seconds(m), count]));
      loop.clock = m.reactor;
      loop.start(0.5);
      assert.deepEqual(times, [[0, 1]]);
      await m.advance(0.51);
      assert.deepEqual(times, [
        [0, 1],
        [0.51, 1],
      ]);
      await m.advance(1.51);
      await m.advance(0);
      assert.deepEqual(times, [
        [0, 1],
        [0.51, 1],
        [2.02, 3],
      ]);
      loop.stop();
    });
  });

  it("test_countLengthyIntervalCounts: only whole intervals from the start count, not the time since the last call", async () => {
    await withClock(async (m) => {
      const times: [number, number][] = [];
      const loop = LoopingCall.withCount((count: number) => times.push([seconds(m), count]));
      loop.clock = m.reactor;
      loop.start(0.5);
      await m.pump([0.51, 0.875, 0.125]);
      assert.deepEqual(times, [
        [0, 1],
        [0.51, 1],
        [1.385, 1],
        [1.51, 1],
      ]);
      loop.stop();
    });
  });

  it("test_withCountFloatingPointBoundary: an interval of 0.1 stepped ten times counts 10 in all, never 0", async () => {
    await withClock(async (m) => {
      const counts: number[] = [];
      const loop = LoopingCall.withCount((count: number) => counts.push(count));
      loop.clock = m.reactor;
      loop.start(1 / 10, false);
      // Twisted then advances by the float epsilon by which ten steps of 0.1 fall short of 1; the microsecond schedule needs none.
      for (let i = 0; i < 10; i++) await m.advance(1 / 10);
      assert.equal(
        counts.reduce((a, b) => a + b, 0),
        10,
      );
      assert.ok(!counts.includes(0));
      loop.stop();
    });
  });

  it("test_withCountIntervalZero / test_withCountIntervalZeroDelay: with an interval of 0 the count is always 1", async () => {
    await withClock(async (m) => {
      const counts: number[] = [];
      const loop = LoopingCall.withCount((count: number) => {
        counts.push(count);
        if (counts.length > 4) loop.stop();
      });
      loop.clock = m.reactor;
      const stopped = loop.start(0, false);
      await m.advance(0);
      assert.equal(await stopped.toPromise(), loop);
      assert.deepEqual(counts, [1, 1, 1, 1, 1]);
    });
    await withClock(async (m) => {
      const d = new Deferred<void>();
      const counts: number[] = [];
      const loop = LoopingCall.withCount((count: number) => {
        counts.push(count);
        if (counts.length === 2) return d;
        if (counts.length > 4) loop.stop();
        return undefined;
      });
      loop.clock = m.reactor;
      loop.start(0, false);
      await m.advance(0);
      assert.deepEqual(counts, [1, 1]);
      await m.advance(2);
      assert.deepEqual(counts, [1, 1]);
      d.callback();
      await m.advance(0);
      assert.deepEqual(counts, [1, 1, 1, 1, 1]);
    });
  });

  it("test_withCountIntervalZeroDelayThenNonZeroInterval: calls at interval 0 count as the last call when the interval changes", async () => {
    await withClock(async (m) => {
      const d = new Deferred<void>();
      const counts: number[] = [];
      const loop = LoopingCall.withCount((count: number) => {
        counts.push(count);
        return counts.length === 2 ? d : undefined;
      });
      loop.clock = m.reactor;
      loop.start(0, false);
      await m.advance(10);
      assert.deepEqual(counts, [1, 1]);
      loop.interval = 2;
      d.callback();
      await m.advance(7);
      assert.deepEqual(counts, [1, 1, 3]);
      await m.advance(2);
      assert.deepEqual(counts, [1, 1, 3, 1]);
      await m.advance(4);
      assert.deepEqual(counts, [1, 1, 3, 1, 2]);
      loop.stop();
    });
  });

  it("test_deferredWithCount: a call whose Deferred outlasts intervals is not repeated, and the next count includes them", async () => {
    await withClock(async (m) => {
      const d = new Deferred<void>();
      const counts: number[] = [];
      const loop = LoopingCall.withCount((count: number) => {
        counts.push(count);
        return counts.length === 1 ? d : undefined;
      });
      loop.clock = m.reactor;
      loop.start(0.2, false);
      assert.deepEqual(counts, []);
      await m.pump([0.2, 0.4]);
      assert.equal(counts.length, 1);
      d.callback();
      await m.pump([0.2]);
      assert.deepEqual(counts, [1, 3]);
      loop.stop();
    });
  });

  it("withCount and reset together, in the order Twisted 22.4 gives (reset counts from the new start; a reset in a call does nothing)", async () => {
    await withClock(async (m) => {
      const log: unknown[] = [];
      const loop = LoopingCall.withCount((count: number) => {
        log.push([seconds(m), count]);
        if (log.length === 6) {
          loop.reset();
          log.push("reset during call");
        }
      });
      loop.clock = m.reactor;
      loop.start(1);
      await m.pump([1, 3.5]);
      loop.reset();
      log.push(["reset", seconds(m)]);
      await m.pump([0.5, 0.5, 2.2, 0.3, 1, 0.9]);
      assert.deepEqual(log, [[0, 1], [1, 1], [4.5, 3], ["reset", 4.5], [5.5, 1], [7.7, 2], "reset during call", [9, 1], [9.9, 1]]);
      loop.stop();
    });
  });
});

describe("deferToThread from the reactor's own callbacks", () => {
  it("works from callWhenRunning, callLater and a LoopingCall (no task runs there): the job belongs to the reactor", async () => {
    const reactor = createReactor();
    const log: string[] = [];
    const done = (what: string) => (value: number) => {
      log.push(`${what} ${value}`);
      if (log.length === 3) reactor.stop();
    };
    const loop = new LoopingCall(() => {
      loop.stop();
      deferToThread((n: number) => n * 3, 7).addCallback(done("LoopingCall"));
    });
    loop.clock = reactor;
    reactor.callWhenRunning(() => {
      deferToThread((n: number) => n * 2, 21).addCallback(done("callWhenRunning"));
      reactor.callLater(0, () => deferToThread((n: number) => n + 1, 1).addCallback(done("callLater")));
      loop.start(1);
    });
    await reactor.run();
    assert.deepEqual(log.sort(), ["LoopingCall 21", "callLater 2", "callWhenRunning 42"]);
  });

  it("outside a task and any running reactor, it still says so", () => {
    assert.throws(() => deferToThread(() => 1), { message: /^Cannot defer to a thread: no corio task is running/ });
  });
});
