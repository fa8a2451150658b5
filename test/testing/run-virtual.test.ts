import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { callLater, callSoon, currentTime, Future, type Operation, run, shield, sleep, spawn, suspend, timeout, until } from "../../src/index.ts";
import { runVirtual, VirtualClock, VirtualTestError } from "../../src/testing/index.ts";
import { checkLeaks } from "../_helpers.ts";

checkLeaks();

describe("runVirtual", () => {
  it("reports a deadlock with what each task waits on", async () => {
    await assert.rejects(
      runVirtual(function* () {
        const never = new Future<void>();
        yield* spawn(() => never, { name: "stuck" });
        yield* sleep(10);
        yield* never;
      }),
      (error: unknown) => {
        assert.ok(error instanceof VirtualTestError);
        assert.match(
          error.message,
          /^Deadlock: every task is blocked and nothing can wake them:\n {2}test \[running\] waits on a Future to be set\n {4}stuck \[running\] waits on a Future to be set$/,
        );
        return true;
      },
    );
  });

  it("reports a deadlock in a chain of 20,000 tasks that each join their child: the first 1,000 tasks, indented at most 64 levels, long waits cut in the middle (review)", async () => {
    // Described by recursion, the chain overflowed the stack; 3,000 deep, each line naming its child's whole path, the report was 51 MB.
    const depth = 20_000;
    function* chain(level: number, never: Future<void>): Operation<void> {
      if (level === 0) return yield* never;
      yield* yield* spawn(() => chain(level - 1, never), { name: `n${level}` });
    }
    await assert.rejects(
      runVirtual(() => chain(depth, new Future<void>())),
      (error: unknown) => {
        assert.ok(error instanceof VirtualTestError);
        const lines = error.message.split("\n");
        assert.equal(lines[0], "Deadlock: every task is blocked and nothing can wake them:");
        assert.equal(lines[1], `  test [running] waits on task test/n${depth} to finish`);
        assert.equal(lines[2], `    n${depth} [running] waits on task test/n${depth}/n${depth - 1} to finish`);
        assert.match(
          lines[65] as string,
          new RegExp(
            `^ {128}\\(depth 65\\) n${depth - 63} \\[running\\] waits on task test/n20000/n19999/.{40,}….{100,}/n${depth - 63}/n${depth - 64} to finish$`,
          ),
        );
        assert.ok((lines[65] as string).length < 128 + 300);
        assert.equal(lines[1001], `  … ${depth + 1 - 1000} more task(s) not shown`);
        assert.equal(lines.length, 1002);
        return true;
      },
    );
  });

  it("a host callback that came due while the machine was busy past the deadlock check's 100 ms wakes its task: no deadlock", async () => {
    const answer = await runVirtual(function* () {
      const reply = new Future<string>();
      // A host callback (a child's exit, a worker's message) due 120 ms from now...
      setTimeout(() => reply.resolve("answer"), 120);
      // ...and a loaded machine: the host is busy for 250 ms once the loop is idle, so that the check's
      // 100 ms and the callback's 120 ms have both passed when it next looks at its timers.
      setImmediate(() => {
        const until = performance.now() + 250;
        while (performance.now() < until) {
          // busy
        }
      });
      return yield* reply;
    });
    assert.equal(answer, "answer");
  });

  it("rejects with the deadlock when the tasks stay blocked after its cancel (a shield), instead of never settling", async () => {
    await assert.rejects(
      runVirtual(function* () {
        yield* shield(suspend());
      }),
      (error: unknown) => {
        assert.ok(error instanceof VirtualTestError);
        assert.equal(
          error.message,
          [
            "Deadlock: every task is blocked and nothing can wake them:",
            "  test [running] waits on task test/shield to finish",
            "    shield [running] waits on nothing: suspended until cancelled (suspend())",
            "The tasks were cancelled and are still blocked (in a shield, or in a cleanup that waits on something that never comes):",
            "  test [running] waits on task test/shield to finish",
            "    shield [running] waits on nothing: suspended until cancelled (suspend())",
          ].join("\n"),
        );
        return true;
      },
    );
  });

  it("a test that fails and leaves a root that survives its cancel (a shield) fails with its own error first, then the deadlock", async () => {
    const failure = new Error("the test's own failure");
    await assert.rejects(
      runVirtual(function* () {
        void run(
          function* () {
            yield* shield(suspend());
          },
          { name: "leftover" },
        );
        yield* sleep(1);
        throw failure;
      }),
      (error: unknown) => {
        assert.ok(error instanceof VirtualTestError);
        const tree = [
          "  leftover [running] waits on task leftover/shield to finish",
          "    shield [running] waits on nothing: suspended until cancelled (suspend())",
        ];
        assert.equal(
          error.message,
          [
            "The test failed: Error: the test's own failure",
            "Also: deadlock: every task is blocked and nothing can wake them:",
            ...tree,
            "The tasks were cancelled and are still blocked (in a shield, or in a cleanup that waits on something that never comes):",
            ...tree,
            "Also: the test left 1 task(s) running when it ended; they were cancelled:",
            ...tree,
          ].join("\n"),
        );
        assert.equal(error.cause, failure);
        assert.deepEqual(error.errors, []);
        return true;
      },
    );
  });

  it("a test that ends with a CancelledError of its own (it joined a cancelled task) before the deadlock keeps it as its error", async () => {
    await assert.rejects(
      runVirtual(function* () {
        void run(
          function* () {
            yield* shield(suspend());
          },
          { name: "leftover" },
        );
        const other = yield* spawn(suspend);
        other.cancel("cancelled by the test");
        yield* other;
      }),
      (error: unknown) => {
        assert.ok(error instanceof VirtualTestError);
        assert.match(error.message, /^The test failed: CancelledError: .*cancelled by the test.*\nAlso: deadlock: /);
        assert.equal((error.cause as Error).name, "CancelledError");
        return true;
      },
    );
  });

  it("rejects with the deadlock when a cleanup blocks after its cancel", async () => {
    await assert.rejects(
      runVirtual(function* () {
        try {
          yield* suspend();
        } finally {
          yield* new Future<void>();
        }
      }),
      (error: unknown) => {
        assert.ok(error instanceof VirtualTestError);
        assert.match(error.message, /^Deadlock: every task is blocked and nothing can wake them:\n {2}test \[running\] waits on nothing: suspended/);
        assert.match(error.message, /\nThe tasks were cancelled and are still blocked \(.*\):\n {2}test \[running\] waits on a Future to be set$/);
        return true;
      },
    );
  });

  it("on a clock that does not advance by itself, tasks that only wait on its timers are a deadlock once nobody advances it", async () => {
    await assert.rejects(
      runVirtual(
        function* () {
          yield* sleep(10);
        },
        { clock: new VirtualClock({ autoAdvance: false }) },
      ),
      {
        name: "VirtualTestError",
        message:
          "Deadlock: every task is blocked and only the clock can wake them, but it does not advance by itself (autoAdvance: false) and was not advanced for 100 ms of real time; its next timer is due at 10 ms (now 0 ms). Call clock.advance(ms), or use an auto-advancing clock:\n  test [running] waits on a sleep until 10 ms (10 ms from now)",
      },
    );
  });

  it("a clock that does not advance by itself can be advanced from outside while the test waits on it", async () => {
    const clock = new VirtualClock({ autoAdvance: false });
    const test = runVirtual(
      function* () {
        yield* sleep(10);
        return currentTime();
      },
      { clock },
    );
    await new Promise((resolve) => setImmediate(resolve));
    clock.advance(10);
    assert.equal(await test, 10);
  });

  it("a second run on a clock still in use rejects, so the first one's wait on I/O still holds its time still", async () => {
    const clock = new VirtualClock();
    let answer!: () => void;
    const io = new Promise<void>((resolve) => {
      answer = resolve;
    });
    const waitsOnIo = runVirtual(
      function* () {
        yield* timeout(1000, until(io));
        return currentTime();
      },
      { clock },
    );
    await assert.rejects(
      runVirtual(
        function* () {
          yield* sleep(3_600_000);
        },
        { clock },
      ),
      { name: "Error", message: /^Cannot use this VirtualClock in a second loop: another loop still uses it/ },
    );
    answer();
    assert.equal(await waitsOnIo, 0);
  });

  it("runVirtual inside a test on the test's own clock rejects, and the message says what to do instead", async () => {
    const clock = new VirtualClock();
    const message = await runVirtual(
      function* () {
        try {
          yield* until(runVirtual(sleep(1), { clock }));
        } catch (error) {
          return (error as Error).message;
        }
        return "no error";
      },
      { clock },
    );
    assert.equal(
      message,
      "Cannot use this VirtualClock in a second loop: another loop still uses it (it has a task running on it). A VirtualClock drives one loop at a time: give this run() or runVirtual() a VirtualClock of its own, or start the work from a task of the other loop with spawn(), or with run() without loop options (a run() given a clock, and every runVirtual(), makes a new loop)",
    );
  });

  it("fails a test that leaves a timer behind", async () => {
    await assert.rejects(
      runVirtual(function* () {
        callLater(1000, () => {});
      }),
      { name: "VirtualTestError", message: "The test left 1 timer(s) pending (a callLater that was never cancelled?)" },
    );
  });

  it("fails a test that leaves a root task running, and cancels it when the test ends, before time moves on", async () => {
    const log: string[] = [];
    await assert.rejects(
      runVirtual(function* () {
        void run(
          function* () {
            try {
              yield* sleep(86_400_000);
              log.push("woke");
              throw new Error("leftover failed");
            } finally {
              log.push(`cleanup at ${currentTime()}`);
            }
          },
          { name: "leftover" },
        );
        yield* sleep(5);
        return "the body passed";
      }),
      {
        name: "VirtualTestError",
        message:
          "The test left 1 task(s) running when it ended; they were cancelled:\n  leftover [running] waits on a sleep until 86400000 ms (86399995 ms from now)",
      },
    );
    assert.deepEqual(log, ["cleanup at 5"]);
  });

  it("a root task left behind that failed before the test ended is reported, not dropped", async () => {
    const failure = new Error("leftover failed");
    await assert.rejects(
      runVirtual(function* () {
        void run(
          function* () {
            yield* sleep(10);
            throw failure;
          },
          { name: "leftover" },
        );
        yield* sleep(20);
      }),
      (error: unknown) => {
        assert.ok(error instanceof VirtualTestError);
        assert.equal(error.message, "1 error(s) were reported during the test; first, from leftover (task): Error: leftover failed");
        assert.equal(error.cause, failure);
        return true;
      },
    );
  });

  it("fails a test in which an error was reported, and names where it came from", async () => {
    await assert.rejects(
      runVirtual(function* () {
        callLater(1, function broken() {
          throw new Error("oops");
        });
        yield* sleep(2);
      }),
      { name: "VirtualTestError", message: "1 error(s) were reported during the test; first, from callback broken (callback): Error: oops" },
    );
  });

  it("a test that fails and also leaves a timer fails with its own error first, the timer after it", async () => {
    const failure = new Error("expected 3, got 4");
    await assert.rejects(
      runVirtual(function* () {
        const call = callLater(1000, () => {});
        throw failure; // the call.cancel() below is skipped
        // biome-ignore lint/correctness/noUnreachable: what the test was meant to do
        call.cancel();
      }),
      (error: unknown) => {
        assert.ok(error instanceof VirtualTestError);
        assert.equal(
          error.message,
          "The test failed: Error: expected 3, got 4\nAlso: the test left 1 timer(s) pending (a callLater that was never cancelled?)",
        );
        assert.equal(error.cause, failure);
        assert.deepEqual(error.errors, []);
        return true;
      },
    );
  });

  it("a test that fails while errors are reported fails with its own error first; the reported ones are in errors", async () => {
    const failure = new Error("the assertion that failed");
    const noise = [new Error("callback noise 1"), new Error("callback noise 2")];
    await assert.rejects(
      runVirtual(function* () {
        for (const error of noise) {
          callSoon(function noisy() {
            throw error;
          });
        }
        yield* sleep(0);
        throw failure;
      }),
      (error: unknown) => {
        assert.ok(error instanceof VirtualTestError);
        assert.equal(
          error.message,
          "The test failed: Error: the assertion that failed\nAlso: 2 error(s) were reported during the test; first, from callback noisy (callback): Error: callback noise 1",
        );
        assert.equal(error.cause, failure);
        assert.deepEqual(error.errors, noise);
        return true;
      },
    );
  });

  it("a test that passes with two errors reported: the first is the cause, the second in errors", async () => {
    const noise = [new Error("first"), new Error("second")];
    await assert.rejects(
      runVirtual(function* () {
        for (const error of noise) {
          callSoon(() => {
            throw error;
          });
        }
        yield* sleep(0);
      }),
      (error: unknown) => {
        assert.ok(error instanceof VirtualTestError);
        assert.equal(error.cause, noise[0]);
        assert.deepEqual(error.errors, [noise[1]]);
        return true;
      },
    );
  });

  it("passes the test's own error through", async () => {
    const boom = new Error("boom");
    await assert.rejects(
      runVirtual(function* () {
        yield* sleep(1);
        throw boom;
      }),
      (error) => error === boom,
    );
  });
});

describe("VirtualClock and runVirtual arguments", () => {
  it("advance takes a non-negative finite number of ms: a string, NaN, Infinity or a negative number is refused and time stays put", () => {
    const clock = new VirtualClock();
    assert.throws(() => clock.advance("10" as never), { name: "TypeError", message: "Cannot advance the clock: ms must be a number, received string" });
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, -1]) {
      assert.throws(() => clock.advance(bad), {
        name: "RangeError",
        message: `Cannot advance the clock: ms must be a non-negative finite number, received ${bad}`,
      });
    }
    assert.equal(clock.now(), 0);
    clock.advance(2.5);
    assert.equal(clock.now(), 2.5);
  });

  it("the constructor checks start and autoAdvance", () => {
    assert.throws(() => new VirtualClock({ start: Number.NaN }), {
      name: "RangeError",
      message: "Cannot create a VirtualClock: start must be a non-negative finite number of ms, received NaN",
    });
    assert.throws(() => new VirtualClock({ start: -5 }), {
      name: "RangeError",
      message: "Cannot create a VirtualClock: start must be a non-negative finite number of ms, received -5",
    });
    assert.throws(() => new VirtualClock({ start: "5" as never }), {
      name: "TypeError",
      message: "Cannot create a VirtualClock: start must be a number of ms, received string",
    });
    assert.throws(() => new VirtualClock({ autoAdvance: "no" as never }), {
      name: "TypeError",
      message: "Cannot create a VirtualClock: autoAdvance must be a boolean, received string",
    });
    assert.throws(() => new VirtualClock(null as never), {
      name: "TypeError",
      message: "Cannot create a VirtualClock: options must be an object, received null",
    });
    assert.equal(new VirtualClock({ start: 1000 }).now(), 1000);
  });

  it("runVirtual refuses a clock that is not a VirtualClock and an onError that is not a function", async () => {
    await assert.rejects(
      runVirtual(function* () {}, { clock: { now: () => 0, virtual: true } as never }),
      {
        name: "TypeError",
        message: "Cannot run the test: clock must be a VirtualClock, received an object",
      },
    );
    await assert.rejects(
      runVirtual(function* () {}, { onError: "log" as never }),
      {
        name: "TypeError",
        message: "Cannot run the test: onError must be a function, received string",
      },
    );
    for (const [timeLimit, name, shown] of [
      [-1, "RangeError", "-1"],
      [Number.NaN, "RangeError", "NaN"],
      [Number.POSITIVE_INFINITY, "RangeError", "Infinity"],
      ["10", "TypeError", '"10"'],
    ] as const) {
      await assert.rejects(
        runVirtual(function* () {}, { timeLimit: timeLimit as number }),
        {
          name,
          message: `Cannot run the test: timeLimit must be a non-negative finite number of ms, received ${shown}`,
        },
      );
    }
  });
});

describe("runVirtual's timeLimit", () => {
  it("a test blocked beside a task that never stops (a periodic heartbeat) fails at the limit with its tasks, instead of running for good", async () => {
    let beats = 0;
    await assert.rejects(
      runVirtual(
        function* () {
          yield* spawn(
            function* () {
              for (;;) {
                beats++;
                yield; // the end of a round
              }
            },
            { name: "heartbeat", period: 1000, daemon: true },
          );
          yield* spawn(() => new Future<void>(), { name: "waits for a reply that never comes" });
        },
        { timeLimit: 60_000 },
      ),
      (error: unknown) => {
        assert.ok(error instanceof VirtualTestError);
        const [first, ...tree] = (error as Error).message.split("\n");
        assert.equal(first, "Time limit: the test would run past its timeLimit of 60000 ms of virtual time (its next timer is due at 61000 ms); its tasks:");
        assert.deepEqual(tree, [
          "  test [running] waits on its children to finish",
          "    heartbeat [running] waits on a sleep until 61000 ms (1000 ms from now)",
          "    waits for a reply that never comes [running] waits on a Future to be set",
        ]);
        return true;
      },
    );
    assert.equal(beats, 60, "the beats up to the limit ran (at 1000, 2000, ..., 60000 ms)");
  });

  it("a test that ends within the limit passes; a timer due at the limit itself fires; the limit counts from the clock's start", async () => {
    const clock = new VirtualClock({ start: 5000 });
    const ended = await runVirtual(
      function* () {
        yield* sleep(100);
        return currentTime();
      },
      { clock, timeLimit: 100 },
    );
    assert.equal(ended, 5100);
  });

  it("a real deadlock under a limit is still reported as a deadlock, before any time passes", async () => {
    await assert.rejects(
      runVirtual(() => new Future<void>(), { timeLimit: 1000 }),
      /^VirtualTestError: Deadlock: every task is blocked and nothing can wake them:/,
    );
  });
});
