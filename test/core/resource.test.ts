// Resources tied to the task that opened them (core/_resource.ts): closed
// when the task ends, whatever the way, even if it never suspended.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { adoptResource, adoptResourceWithCleanup, daemonReturnedAs, type ResourceKeeper, startDaemon } from "../../src/core/_resource.ts";
import { getCurrentTask, type TaskImpl } from "../../src/core/task.ts";
import {
  all,
  allSettled,
  currentTask,
  currentTime,
  deadline,
  ensure,
  Future,
  moveOnAfter,
  type Operation,
  race,
  run,
  scope,
  shield,
  sleep,
  spawn,
  suspend,
  TimeoutError,
  timeout,
} from "../../src/index.ts";
import { runVirtual } from "../../src/testing/index.ts";
import { checkLeaks, rejectsOp } from "../_helpers.ts";

checkLeaks();

describe("adoptResource", () => {
  it("closes the resource of a task that returns without suspending", async () => {
    const closed: string[] = [];
    await run(function* () {
      adoptResource("r", () => closed.push("r"), "test");
    });
    assert.deepEqual(closed, ["r"]);
  });

  it("closes the resource of a task that throws before suspending, and of a cancelled one", async () => {
    const closed: string[] = [];
    await assert.rejects(
      async () =>
        run(function* () {
          adoptResource("failing", () => closed.push("failing"), "test");
          throw new Error("boom");
        }),
      /boom/,
    );
    await runVirtual(function* () {
      const child = yield* spawn(function* () {
        adoptResource("cancelled", () => closed.push("cancelled"), "test");
        yield* suspend();
      });
      yield* sleep(1);
      child.cancel();
      yield* sleep(1);
    });
    assert.deepEqual(closed, ["failing", "cancelled"]);
  });

  it("does not close a released resource", async () => {
    const closed: string[] = [];
    await run(function* () {
      adoptResource("r", () => closed.push("r"), "test").release();
    });
    assert.deepEqual(closed, []);
  });

  it("an operation cleanup runs to its end before the owner finishes", async () => {
    const order: string[] = [];
    await runVirtual(function* () {
      const child = yield* spawn(function* () {
        adoptResourceWithCleanup(
          "r",
          function* () {
            yield* sleep(10);
            order.push("cleaned");
          },
          "test",
        );
      });
      yield* child;
      order.push("owner done");
    });
    assert.deepEqual(order, ["cleaned", "owner done"]);
  });
});

describe("resources opened inside a boundary", () => {
  /** Opens a resource named `name` in the current task and returns its handle; its closes are logged. */
  function* open(name: string, log: string[]): Operation<{ name: string }> {
    return adoptResource(name, () => log.push(`closed ${name}`), "test").returnedAs({ name });
  }

  it("the one timeout, moveOnAfter, deadline and shield return goes to the caller (asyncio's wait_for(open_connection()))", async () => {
    const log: string[] = [];
    await runVirtual(function* () {
      yield* timeout(100, open("timeout", log));
      yield* moveOnAfter(100, open("moveOnAfter", log));
      yield* deadline(currentTime() + 100, open("deadline", log));
      yield* shield(open("shield", log));
      // Handed on through nested boundaries.
      yield* timeout(100, function* () {
        return yield* shield(open("nested", log));
      });
      yield* sleep(1);
      log.push("caller ends");
    });
    assert.deepEqual(log, ["caller ends", "closed nested", "closed shield", "closed deadline", "closed moveOnAfter", "closed timeout"]);
  });

  it("what the operation opened and did not return, ensure() and listeners end with the boundary, as do a scope's", async () => {
    const log: string[] = [];
    await runVirtual(function* () {
      yield* timeout(100, function* () {
        yield* open("used inside", log);
        yield* ensure(() => {
          log.push("ensure ran");
        });
        return "something else";
      });
      log.push("after the timeout");
      yield* scope(open("scope", log));
      log.push("after the scope");
    });
    assert.deepEqual(log, ["ensure ran", "closed used inside", "after the timeout", "closed scope", "after the scope"]);
  });

  it("of all, race and allSettled end with each operation: a caller whose all() failed could not close them", async () => {
    const log: string[] = [];
    await runVirtual(function* () {
      yield* all([open("all", log)]);
      yield* race([open("race", log), suspend()]);
      yield* allSettled([open("allSettled", log)]);
      yield* rejectsOp(
        all([
          open("sibling", log),
          (function* () {
            yield* sleep(10);
            throw new Error("boom");
          })(),
        ]),
        Error,
      );
      log.push("caller ends");
    });
    assert.deepEqual(log, ["closed all", "closed race", "closed allSettled", "closed sibling", "caller ends"]);
  });

  it("is closed when the boundary does not end done (timed out), before the caller sees the error", async () => {
    const log: string[] = [];
    await runVirtual(function* () {
      yield* rejectsOp(
        timeout(10, function* () {
          const handle = yield* open("timed out", log);
          yield* sleep(1000);
          return handle;
        }),
        TimeoutError,
      );
      log.push("timeout thrown");
    });
    assert.deepEqual(log, ["closed timed out", "timeout thrown"]);
  });

  it("released by hand after the hand-over, is forgotten by the caller (no entry left per call)", async () => {
    const log: string[] = [];
    await runVirtual(function* () {
      for (let i = 0; i < 100; i++) {
        const keeper = yield* timeout(100, function* () {
          const kept = adoptResource(`r${i}`, () => log.push(`closed r${i}`), "test");
          return kept.returnedAs(kept);
        });
        keeper.release();
      }
      assert.deepEqual((currentTask() as TaskImpl<unknown>).resourceNames(), []);
    });
    assert.deepEqual(log, []);
  });

  it("a service (daemon) returned by timeout() runs on for the caller; one not returned is stopped as the boundary ends", async () => {
    const log: string[] = [];
    await runVirtual(function* () {
      const caller = currentTask() as TaskImpl<unknown>;
      function* service(name: string): Operation<{ task: TaskImpl<void> }> {
        // The boundary's own task (currentTask() names the task that entered it).
        const task = startDaemon(getCurrentTask() as TaskImpl<unknown>, name, function* () {
          try {
            yield* suspend();
          } finally {
            log.push(`stopped ${name}`);
          }
        });
        return daemonReturnedAs(task, { task });
      }
      const kept = yield* timeout(100, service("kept"));
      yield* sleep(50);
      assert.equal(kept.task.done, false, "the service outlives the timeout it was started in");
      assert.equal(kept.task.parent, caller);
      yield* timeout(100, function* () {
        yield* service("not returned");
      });
      assert.deepEqual(log, ["stopped not returned"], "stopped before timeout() returned");
      yield* rejectsOp(
        timeout(10, function* () {
          yield* service("abandoned");
          yield* sleep(1000);
        }),
        TimeoutError,
      );
      assert.deepEqual(log, ["stopped not returned", "stopped abandoned"], "stopped before the TimeoutError was thrown");
      // A service that ends by itself leaves no stop entry behind.
      for (let i = 0; i < 50; i++) {
        const short = yield* timeout(100, service(`short ${i}`));
        short.task.cancel();
        yield* sleep(1);
      }
      assert.deepEqual(caller.resourceNames(), ["kept"], "only the stop entry of the service still running");
      log.length = 0;
    });
    assert.deepEqual(log, ["stopped kept"]);
  });

  it("a service started for a task whose daemons were cancelled is cancelled in turn once only daemons are left again, not waited for by that task for good", async () => {
    const log: string[] = [];
    await runVirtual(function* () {
      let owner: TaskImpl<unknown> | undefined;
      const cleaning = new Future<void>();
      const task = yield* spawn(function* () {
        owner = getCurrentTask() as TaskImpl<unknown>;
        startParkedDaemon(owner, "first", function* () {
          log.push("first cancelled");
          cleaning.resolve(); // its owner is finishing: a callback would start another service now
          yield* sleep(10); // a cleanup that takes a while, and might need that service
          log.push("first ended");
        });
      });
      yield* cleaning;
      startParkedDaemon(owner as TaskImpl<unknown>, "late", logCancel(log, "late"));
      yield* timeout(1000, task);
      // Started for a task that has finished: cancelled at once (nobody is left to do it later).
      startParkedDaemon(owner as TaskImpl<unknown>, "after", logCancel(log, "after"));
      yield* sleep(1);
    });
    assert.deepEqual(log, ["first cancelled", "first ended", "late cancelled at 10", "after cancelled at 10"]);
  });

  it("a late daemon is not cancelled while an earlier daemon's cleanup (that started it) still runs, when another earlier daemon ends first", async () => {
    const log: string[] = [];
    await runVirtual(function* () {
      let owner: TaskImpl<unknown> | undefined;
      const cleaning = new Future<void>();
      const task = yield* spawn(function* () {
        owner = getCurrentTask() as TaskImpl<unknown>;
        startParkedDaemon(owner, "first", function* () {
          cleaning.resolve();
          yield* sleep(10); // uses the late service for 10 ms
          log.push(`first ended at ${currentTime()}`);
        });
        startParkedDaemon(owner, "second", function* () {
          yield* sleep(1);
          log.push(`second ended at ${currentTime()}`);
        });
      });
      yield* cleaning;
      startParkedDaemon(owner as TaskImpl<unknown>, "late", logCancel(log, "late"));
      yield* timeout(1000, task);
    });
    assert.deepEqual(log, ["second ended at 1", "first ended at 10", "late cancelled at 10"]);
  });

  it("a daemon started by a synchronous destructor (close) after the owner's daemons were cancelled is cancelled, not waited for for good", async () => {
    const log: string[] = [];
    await runVirtual(function* () {
      const task = yield* spawn(function* () {
        const owner = getCurrentTask() as TaskImpl<unknown>;
        startParkedDaemon(owner, "first", logCancel(log, "first"));
        adoptResource("r", () => startParkedDaemon(owner, "late", logCancel(log, "late")), "test");
      });
      try {
        yield* timeout(1000, task);
        log.push("owner done");
      } catch (e) {
        log.push(`owner: ${(e as Error).name}`);
      }
    });
    assert.deepEqual(log, ["first cancelled at 0", "late cancelled at 0", "owner done"]);
  });

  it("a late daemon whose cleanup starts another: each is cancelled once the one before it has ended", async () => {
    const log: string[] = [];
    await runVirtual(function* () {
      let owner: TaskImpl<unknown> | undefined;
      const cleaning = new Future<void>();
      const task = yield* spawn(function* () {
        owner = getCurrentTask() as TaskImpl<unknown>;
        startParkedDaemon(owner, "first", function* () {
          cleaning.resolve();
          yield* sleep(10);
          log.push(`first ended at ${currentTime()}`);
        });
      });
      yield* cleaning;
      startParkedDaemon(owner as TaskImpl<unknown>, "late1", function* () {
        log.push(`late1 cancelled at ${currentTime()}`);
        startParkedDaemon(owner as TaskImpl<unknown>, "late2", logCancel(log, "late2"));
        yield* sleep(5);
        log.push(`late1 ended at ${currentTime()}`);
      });
      yield* timeout(1000, task);
      log.push(`owner done at ${currentTime()}`);
    });
    assert.deepEqual(log, ["first ended at 10", "late1 cancelled at 10", "late1 ended at 15", "late2 cancelled at 15", "owner done at 15"]);
  });
});

describe("the exit stack: a task's daemons and resources end in one reverse order", () => {
  it("a resource opened after a daemon closes before that daemon is cancelled; a daemon started after a resource ends before it closes", async () => {
    const log: string[] = [];
    await runVirtual(function* () {
      yield* spawn(function* () {
        const owner = getCurrentTask() as TaskImpl<unknown>;
        adoptResource("oldest", () => log.push("oldest closed"), "test");
        startParkedDaemon(owner, "service", function* () {
          log.push("service cancelled");
          yield* sleep(5);
          log.push(`service ended at ${currentTime()}`);
        });
        yield* ensure(() => {
          log.push("ensure ran");
        }, "newest");
      });
    });
    assert.deepEqual(log, ["ensure ran", "service cancelled", "service ended at 5", "oldest closed"]);
  });

  it("a daemon whose cleanup waits for a resource opened after it (a server waiting for its own client) ends: the resource closes first", async () => {
    // The shape of a server and its client in one task: the server's close waits for its handler, which
    // waits for the client's EOF. Daemons cancelled before any resource closed, this never ended.
    for (const fails of [false, true]) {
      const log: string[] = [];
      const outcome = runVirtual(function* () {
        const owner = getCurrentTask() as TaskImpl<unknown>;
        const clientClosed = new Future<void>();
        startParkedDaemon(owner, "server", function* () {
          yield* clientClosed;
          log.push("server ended");
        });
        adoptResource("client", () => clientClosed.resolve(), "test");
        if (fails) throw new Error("the test's assertion");
      });
      if (fails) await assert.rejects(outcome, /the test's assertion/);
      else await outcome;
      assert.deepEqual(log, ["server ended"], fails ? "body failed" : "body done");
    }
  });

  it("a close() that starts a daemon ending in its first step does not end the unwind early: a later close()'s failure is kept", async () => {
    // The daemon's end, inside the first close(), used to finish the task before the second close() ran.
    await assert.rejects(
      async () =>
        run(function* () {
          const owner = getCurrentTask() as TaskImpl<unknown>;
          adoptResource(
            "fails",
            () => {
              throw new Error("the later close failed");
            },
            "test",
          );
          adoptResource("starts a quick daemon", () => startDaemon(owner, "quick", function* () {}), "test");
        }),
      /the later close failed/,
    );
  });

  it("daemons next to each other on the stack are cancelled together, oldest first, and all end before what is under them closes", async () => {
    const log: string[] = [];
    await runVirtual(function* () {
      yield* spawn(function* () {
        const owner = getCurrentTask() as TaskImpl<unknown>;
        adoptResource("r", () => log.push(`r closed at ${currentTime()}`), "test");
        for (const [name, ms] of [
          ["a", 3],
          ["b", 1],
        ] as const) {
          startParkedDaemon(owner, name, function* () {
            log.push(`${name} cancelled at ${currentTime()}`);
            yield* sleep(ms);
          });
        }
      });
    });
    assert.deepEqual(log, ["a cancelled at 0", "b cancelled at 0", "r closed at 3"]);
  });

  it("a spawned daemon (spawn's daemon option) is on the stack too; a failed body cancels it at once, and what is above it still closes first", async () => {
    const log: string[] = [];
    await assert.rejects(
      runVirtual(function* () {
        yield* spawn(
          function* () {
            try {
              yield* suspend();
            } finally {
              log.push("heartbeat cancelled");
              yield* sleep(2);
              log.push(`heartbeat ended at ${currentTime()}`);
            }
          },
          { daemon: true },
        );
        yield* sleep(0); // the heartbeat's first step: one cancelled before it never runs its body
        yield* ensure(function* () {
          yield* sleep(1);
          log.push(`ensure ended at ${currentTime()}`);
        });
        throw new Error("boom");
      }),
      /boom/,
    );
    assert.deepEqual(log, ["heartbeat cancelled", "ensure ended at 1", "heartbeat ended at 2"]);
  });
});

/** Starts a service of `owner` that waits until it is cancelled, then runs `cleanup`. */
function startParkedDaemon(owner: TaskImpl<unknown>, name: string, cleanup: () => Operation<void>): void {
  startDaemon(owner, name, function* () {
    try {
      yield* suspend();
    } finally {
      yield* cleanup();
    }
  });
}

/** A cleanup that logs "<name> cancelled at <time>". */
function logCancel(log: string[], name: string): () => Operation<void> {
  return function* () {
    log.push(`${name} cancelled at ${currentTime()}`);
  };
}

describe("the exit stack under load and inside boundaries (review of the exit stack)", () => {
  it("thousands of daemons ending together cost the unwind steps in proportion to their number, not to its square; inside a timeout too", async () => {
    // Each daemon's end ran the unwind again, which copied and searched the whole stack (and a boundary
    // looked through it for what it returns): 40,000 daemons took 29 s to end, against 0.2 s before the exit stack.
    const count = 2000;
    for (const inTimeout of [false, true]) {
      const many = function* (): Operation<void> {
        for (let i = 0; i < count; i++) yield* spawn(() => suspend(), { daemon: true });
        yield* sleep(0);
      };
      const steps = await countSetIterationSteps(() => runVirtual(inTimeout ? () => timeout(1000, many) : many));
      assert.ok(steps < 20 * count, `${steps} steps through sets for ${count} daemons${inTimeout ? " in a timeout" : ""}`);
    }
  });

  it("a thousand resources and daemons in turn on the stack cost the unwind steps in proportion to their number, not to its square", async () => {
    // Each run of the unwind copied the whole stack to find its top: one copy per resource and per daemon here.
    const count = 1000;
    const steps = await countSetIterationSteps(() =>
      runVirtual(function* () {
        for (let i = 0; i < count; i++) {
          adoptResource("resource", () => {}, "test");
          yield* spawn(() => suspend(), { daemon: true });
        }
        yield* sleep(0);
      }),
    );
    assert.ok(steps < 20 * count, `${steps} steps through sets for ${count} resources and ${count} daemons`);
  });

  it("a boundary cancelled while its daemons clean up (it timed out), or failed by one of them, closes the resource it returns: its caller never gets it", async () => {
    // The resource returned went to the caller as soon as the body returned, before the daemons were stopped:
    // the timeout then came, the caller got a TimeoutError and held a connection it never saw until it ended.
    for (const daemonFails of [false, true]) {
      const log: string[] = [];
      await runVirtual(function* () {
        try {
          yield* timeout(10, function* () {
            yield* spawn(
              function* () {
                try {
                  yield* suspend();
                } catch (cancel) {
                  yield* sleep(daemonFails ? 5 : 20);
                  throw daemonFails ? new Error("the service failed in its cleanup") : cancel;
                }
              },
              { daemon: true },
            );
            yield* sleep(0);
            const connection = {};
            return adoptResource("connection", () => log.push(`connection closed at ${currentTime()}`), "test").returnedAs(connection);
          });
          log.push("got the connection");
        } catch (error) {
          log.push(`${(error as Error).name} at ${currentTime()}`);
        }
        yield* sleep(100);
      });
      assert.deepEqual(log, daemonFails ? ["connection closed at 5", "Error at 5"] : ["connection closed at 20", "TimeoutError at 20"]);
    }
  });

  it("a boundary whose daemons end without trouble still hands the resource it returns to its caller, after them", async () => {
    const log: string[] = [];
    await runVirtual(function* () {
      yield* spawn(function* () {
        const connection = yield* timeout(100, function* () {
          yield* spawn(
            function* () {
              try {
                yield* suspend();
              } finally {
                yield* sleep(5);
                log.push(`service ended at ${currentTime()}`);
              }
            },
            { daemon: true },
          );
          yield* sleep(0);
          return adoptResource("connection", () => log.push(`connection closed at ${currentTime()}`), "test").returnedAs({});
        });
        log.push(`got ${typeof connection} at ${currentTime()}`);
        yield* sleep(10);
      });
    });
    assert.deepEqual(log, ["service ended at 5", "got object at 5", "connection closed at 15"]);
  });
});

/** How many values the iterators of every `Set` gave while `body` ran (an exit stack is one). */
async function countSetIterationSteps(body: () => Promise<unknown>): Promise<number> {
  let steps = 0;
  const iterate = Set.prototype[Symbol.iterator];
  Set.prototype[Symbol.iterator] = function countedIterator<T>(this: Set<T>): SetIterator<T> {
    const inner = iterate.call(this) as SetIterator<T>;
    const next = inner.next.bind(inner);
    return Object.assign(inner, {
      next: () => {
        steps++;
        return next();
      },
    });
  };
  try {
    await body();
  } finally {
    Set.prototype[Symbol.iterator] = iterate;
  }
  return steps;
}

describe("the exit stack: what a destructor does to it while it unwinds (review of the exit stack)", () => {
  it("a resource and a daemon a close() registers are unwound next, before the older resources of its run (asyncio's ExitStack pops one at a time)", async () => {
    const log: string[] = [];
    await runVirtual(function* () {
      yield* spawn(function* () {
        const owner = getCurrentTask() as TaskImpl<unknown>;
        adoptResource("older", () => log.push("older closed"), "test");
        adoptResource(
          "newer",
          () => {
            log.push("newer closed");
            owner.ensure({ name: "registered by newer", close: () => log.push("registered by newer closed") });
            startParkedDaemon(owner, "started by newer", logCancel(log, "started by newer"));
          },
          "test",
        );
      });
    });
    assert.deepEqual(log, ["newer closed", "started by newer cancelled at 0", "registered by newer closed", "older closed"]);
  });

  it("a close() that closes and releases an older resource by hand: that one is not closed a second time", async () => {
    const log: string[] = [];
    await runVirtual(function* () {
      yield* spawn(function* () {
        const inner = adoptResource("inner", () => log.push("inner closed"), "test");
        adoptResource(
          "wrapper",
          () => {
            log.push("wrapper closed, inner by hand");
            inner.release();
          },
          "test",
        );
      });
    });
    assert.deepEqual(log, ["wrapper closed, inner by hand"]);
  });
});

describe("exit stack, second review", () => {
  it("a resource released while the unwind runs, found between two daemons, is not waited for as a daemon: the owner ends", async () => {
    // The kept unwind order still holds a released resource; the daemons' run counted it as a daemon to wait
    // for, that never ended: the owner waited for good (a deadlock here), with its oldest resource never closed.
    for (const releasedBy of ["a close()", "a daemon's cleanup"]) {
      const log: string[] = [];
      await runVirtual(function* () {
        yield* spawn(function* () {
          const owner = getCurrentTask() as TaskImpl<unknown>;
          adoptResource("oldest", () => log.push("oldest closed"), "test");
          startParkedDaemon(owner, "d1", logCancel(log, "d1"));
          const inner = adoptResource("inner", () => log.push("inner closed"), "test");
          startParkedDaemon(owner, "d2", logCancel(log, "d2"));
          if (releasedBy === "a close()") {
            adoptResource("wrapper", () => inner.release(), "test");
          } else {
            adoptResource("between", () => log.push("between closed"), "test");
            startParkedDaemon(owner, "d3", function* () {
              yield* sleep(1);
              inner.release();
            });
          }
        });
      });
      const expected = releasedBy === "a close()" ? [] : ["between closed"];
      assert.deepEqual(log, [...expected, `d1 cancelled at ${expected.length}`, `d2 cancelled at ${expected.length}`, "oldest closed"], releasedBy);
    }
  });

  it("a thousand close()s that each register a resource, start a daemon or release what they wrap cost the unwind steps in proportion to their number", async () => {
    // Each close() that changed the stack made the unwind copy it anew, then look through the whole rest of
    // the run again, and pass over the same closed entries again: 2000 of them took millions of steps.
    const count = 1000;
    for (const shape of ["registers a resource", "starts a daemon", "releases what it wraps"]) {
      const steps = await countSetSteps(() =>
        runVirtual(function* () {
          yield* spawn(function* () {
            const owner = getCurrentTask() as TaskImpl<unknown>;
            for (let i = 0; i < count; i++) {
              if (shape === "registers a resource") adoptResource("r", () => owner.ensure({ name: "late", close: () => {} }), "test");
              else if (shape === "starts a daemon") adoptResource("r", () => startDaemon(owner, "late", () => suspend()), "test");
              else {
                const inner = adoptResource("inner", () => {}, "test");
                adoptResource("wrapper", () => inner.release(), "test");
              }
            }
          });
        }),
      );
      assert.ok(steps < 20 * count, `${steps} steps through sets for ${count} close()s that each ${shape}`);
    }
  });

  it("a cleanup operation that closes and releases an older resource by hand: that one is not closed a second time", async () => {
    // A run with a cleanup operation went to the shielded cleanup task as a fixed list, taken off the stack:
    // a release from an earlier cleanup of that list found nothing to forget, and the list closed it again.
    for (const wrapperSuspends of [false, true]) {
      const log: string[] = [];
      await runVirtual(function* () {
        yield* spawn(function* () {
          adoptResource("oldest", () => log.push("oldest closed"), "test");
          const inner = adoptResource("inner", () => log.push("inner closed"), "test");
          adoptResourceWithCleanup(
            "wrapper",
            function* () {
              if (wrapperSuspends) yield* sleep(1);
              log.push("wrapper closed, inner by hand");
              inner.release();
            },
            "test",
          );
        });
      });
      assert.deepEqual(log, ["wrapper closed, inner by hand", "oldest closed"], `the wrapper's cleanup suspends: ${wrapperSuspends}`);
    }
  });
});

/** How many values the iterators of every `Set` gave and how many `has` calls were made while `body` ran (an exit stack is a set). */
async function countSetSteps(body: () => Promise<unknown>): Promise<number> {
  let has = 0;
  const setHas = Set.prototype.has;
  Set.prototype.has = function countedHas<T>(this: Set<T>, value: T): boolean {
    has++;
    return setHas.call(this, value);
  };
  try {
    return (await countSetIterationSteps(body)) + has;
  } finally {
    Set.prototype.has = setHas;
  }
}

describe("exit stack, third review", () => {
  it("a close() that releases what it wraps and registers (or starts) another in its place: that one is closed next, by its owner", async () => {
    // The unwind saw a close() change the stack by the stack's size: one released and one added left it as it
    // was, the next close cut the new entry from the kept order, and the unwind found only it left and handed it
    // over as a boundary's value: to the parent (closed after the parent's body), to nobody for a root task (a
    // TypeError in the scheduler, run() never settled), a daemon as a destructor of the parent (never settled).
    for (const inRoot of [false, true]) {
      for (const adds of ["a resource", "a daemon"]) {
        const log: string[] = [];
        const owned = function* (): Operation<void> {
          const owner = getCurrentTask() as TaskImpl<unknown>;
          adoptResource("oldest", () => log.push("oldest closed"), "test");
          const inner = adoptResource("inner", () => log.push("inner closed"), "test");
          adoptResource(
            "wrapper",
            () => {
              log.push("wrapper closed");
              inner.release();
              if (adds === "a resource") owner.ensure({ name: "replacement", close: () => log.push("replacement closed") });
              else startParkedDaemon(owner, "replacement", logCancel(log, "replacement"));
            },
            "test",
          );
        };
        await runVirtual(function* () {
          if (inRoot) yield* owned();
          else yield* spawn(owned);
          yield* sleep(1);
          log.push("parent body ends");
        });
        const replaced = adds === "a resource" ? "replacement closed" : `replacement cancelled at ${inRoot ? 1 : 0}`;
        const expected = inRoot
          ? ["parent body ends", "wrapper closed", replaced, "oldest closed"]
          : ["wrapper closed", replaced, "oldest closed", "parent body ends"];
        assert.deepEqual(log, expected, `${adds}, ${inRoot ? "in the root task" : "in a child task"}`);
      }
    }
  });

  it("a close() that releases an older resource under the run kept inline: not closed; a cleanup that releases some and then throws: the rest close, the owner fails", async () => {
    const log: string[] = [];
    await runVirtual(function* () {
      yield* spawn(function* () {
        const owner = getCurrentTask() as TaskImpl<unknown>;
        const oldest = adoptResource("oldest", () => log.push("oldest closed"), "test");
        startParkedDaemon(owner, "d", logCancel(log, "d"));
        adoptResource("r1", () => log.push("r1 closed"), "test");
        adoptResource(
          "r2",
          () => {
            log.push("r2 closed, oldest released");
            oldest.release();
          },
          "test",
        );
      });
    });
    assert.deepEqual(log, ["r2 closed, oldest released", "r1 closed", "d cancelled at 0"]);
    log.length = 0;
    await assert.rejects(
      runVirtual(function* () {
        yield* spawn(function* () {
          adoptResource("r0", () => log.push("r0 closed"), "test");
          const r1 = adoptResource("r1", () => log.push("r1 closed"), "test");
          adoptResource("r2", () => log.push("r2 closed"), "test");
          adoptResourceWithCleanup(
            "c3",
            function* () {
              yield* sleep(1);
              r1.release();
              throw new Error("c3 failed after releasing r1");
            },
            "test",
          );
        });
        yield* sleep(10);
      }),
      /c3 failed after releasing r1/,
    );
    assert.deepEqual(log, ["r2 closed", "r0 closed"]);
  });

  it("a resource registered by a daemon's cleanup while the daemons stop is closed once they have ended, before what is under them", async () => {
    for (const cleanup of [false, true]) {
      const log: string[] = [];
      await runVirtual(function* () {
        yield* spawn(function* () {
          const owner = getCurrentTask() as TaskImpl<unknown>;
          adoptResource("r0", () => log.push("r0 closed"), "test");
          startParkedDaemon(owner, "d0", logCancel(log, "d0"));
          adoptResource("r1", () => log.push("r1 closed"), "test");
          startParkedDaemon(owner, "d1", function* () {
            const close = () => log.push(`late closed at ${currentTime()}`);
            const later = function* (): Operation<void> {
              yield* sleep(1);
              close();
            };
            owner.ensure(cleanup ? { name: "late", cleanup: later } : { name: "late", close });
            yield* sleep(2);
          });
        });
      });
      const at = cleanup ? 3 : 2;
      assert.deepEqual(log, [`late closed at ${at}`, "r1 closed", `d0 cancelled at ${at}`, "r0 closed"], `the late one has a cleanup: ${cleanup}`);
    }
  });

  it("a boundary cancelled while a cleanup task of its unwind runs closes what it would have handed over; one not cancelled hands it over", async () => {
    for (const cleanupMs of [5, 20]) {
      const log: string[] = [];
      await runVirtual(function* () {
        try {
          yield* timeout(10, function* () {
            adoptResource("below", () => log.push("below closed"), "test");
            const connection = adoptResource("kept", () => log.push(`kept closed at ${currentTime()}`), "test").returnedAs({});
            adoptResource("mid", () => log.push("mid closed"), "test");
            yield* ensure(function* () {
              yield* sleep(cleanupMs);
            });
            adoptResource("top", () => log.push("top closed"), "test");
            return connection;
          });
          log.push(`got it at ${currentTime()}`);
        } catch (error) {
          log.push(`${(error as Error).name} at ${currentTime()}`);
        }
        yield* sleep(50);
      });
      const end = cleanupMs === 5 ? ["got it at 5", "kept closed at 55"] : ["kept closed at 20", "TimeoutError at 20"];
      assert.deepEqual(log, ["top closed", "mid closed", "below closed", ...end], `cleanup of ${cleanupMs} ms`);
    }
  });

  it("ensureOutermost called while the stack unwinds (from a close(), a cleanup, a daemon's cleanup): the new entry runs last, the rest once", async () => {
    for (const from of ["close", "cleanup", "daemon"]) {
      const log: string[] = [];
      await runVirtual(function* () {
        yield* spawn(function* () {
          const owner = getCurrentTask() as TaskImpl<unknown>;
          const addOutermost = () =>
            owner.ensureOutermost({
              name: "outermost",
              *cleanup() {
                yield* sleep(1);
                log.push("outermost closed");
              },
            });
          adoptResource("r0", () => log.push("r0 closed"), "test");
          startParkedDaemon(owner, "d0", function* () {
            log.push("d0 cancelled");
            if (from === "daemon") addOutermost();
          });
          adoptResource("r1", () => log.push("r1 closed"), "test");
          adoptResourceWithCleanup(
            "r2",
            function* () {
              if (from === "cleanup") yield* sleep(1);
              log.push("r2 closed");
              if (from !== "daemon") addOutermost();
            },
            "test",
          );
          adoptResource("r3", () => log.push("r3 closed"), "test");
        });
      });
      assert.deepEqual(log, ["r3 closed", "r2 closed", "r1 closed", "d0 cancelled", "r0 closed", "outermost closed"], from);
    }
  });

  it("any stack of resources, cleanups and daemons whose closes add, release, throw or add an outermost entry: each closed once, never after its release, before the owner ends", async () => {
    // Found the close() that released one entry and added another (1 run in about 1000 before its fix).
    type Action = "plain" | "cleanup" | "daemon" | "throw" | "outermost" | number;
    type Entry = { kind: "plain" | "cleanup" | "daemon"; suspends: boolean; actions: Action[] };
    const action = fc.oneof(fc.constantFrom<Action>("plain", "cleanup", "daemon", "throw", "outermost"), fc.nat(7));
    const entry = fc.record({
      kind: fc.constantFrom<Entry["kind"]>("plain", "cleanup", "daemon"),
      suspends: fc.boolean(),
      actions: fc.array(action, { maxLength: 3 }),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(entry, { maxLength: 8 }), fc.integer({ min: -1, max: 7 }), fc.constantFrom(0, 1, 2, 1000), async (entries, returned, limit) => {
        const log: string[] = [];
        const closes = new Map<string, number>();
        const released = new Set<string>();
        const keepers = new Map<string, ResourceKeeper>();
        const registered = new Set<string>();
        const running = new Set<string>();
        let threw = false;
        let added = 0;
        const closing = (name: string) => {
          assert.ok(!released.has(name), `${name} closed after its release: ${log.join(" ")}`);
          closes.set(name, (closes.get(name) ?? 0) + 1);
          log.push(name);
        };
        const daemon = (owner: TaskImpl<unknown>, name: string, then: () => Operation<void>) => {
          running.add(name);
          startParkedDaemon(owner, name, function* () {
            closing(name);
            try {
              yield* then();
            } finally {
              running.delete(name);
            }
          });
        };
        function* act(owner: TaskImpl<unknown>, actions: Action[]): Operation<void> {
          for (const a of actions) {
            const name = `added${added++}`;
            const keeper = typeof a === "number" ? keepers.get(`e${a}`) : undefined;
            if (keeper !== undefined && !closes.has(`e${a}`)) {
              released.add(`e${a}`);
              keeper.release();
            } else if (a === "throw") {
              threw = true;
              throw new Error("a close failed");
            } else if (a === "outermost") owner.ensureOutermost({ name, close: () => closing(name) });
            else if (a === "plain") owner.ensure({ name, close: () => closing(name) });
            else if (a === "cleanup") {
              owner.ensure({
                name,
                *cleanup() {
                  yield* sleep(1);
                  closing(name);
                },
              });
            } else if (a === "daemon") daemon(owner, name, function* () {});
            if (a === "plain" || a === "cleanup" || a === "outermost") registered.add(name);
          }
        }
        let outcome = "";
        let handedOver = "";
        await runVirtual(function* () {
          function* body(): Operation<object | null> {
            const owner = getCurrentTask() as TaskImpl<unknown>;
            entries.forEach((e, i) => {
              const name = `e${i}`;
              // What a boundary hands over, and a daemon stopped by the caller of a timeout, do not fail or touch the owner.
              const actions =
                i === returned || (limit !== 0 && e.kind === "daemon")
                  ? e.actions.filter((a) => a !== "throw" && (i !== returned || typeof a === "number"))
                  : e.actions;
              if (e.kind === "plain")
                keepers.set(
                  name,
                  adoptResource(
                    name,
                    () => {
                      closing(name);
                      act(owner, actions)[Symbol.iterator]().next();
                    },
                    "test",
                  ),
                );
              else if (e.kind === "cleanup")
                keepers.set(
                  name,
                  adoptResourceWithCleanup(
                    name,
                    function* () {
                      if (e.suspends) yield* sleep(1);
                      closing(name);
                      yield* act(owner, actions);
                    },
                    "test",
                  ),
                );
              else
                daemon(owner, name, function* () {
                  if (e.suspends) yield* sleep(1);
                  yield* act(owner, actions);
                });
            });
            return keepers.get(`e${returned}`)?.returnedAs({}) ?? null;
          }
          try {
            const value = yield* limit === 0 ? scope(body) : timeout(limit, body);
            if (value !== null && limit !== 0) handedOver = `e${returned}`;
            outcome = "done";
          } catch (error) {
            outcome = (error as Error).name === "TimeoutError" ? "timed out" : "failed";
          }
          log.push("owner ended");
        });
        const ownerEnded = log.indexOf("owner ended");
        for (const [name, count] of closes) {
          assert.equal(count, 1, `${name} closed ${count} times: ${log.join(" ")}`);
          assert.equal(log.indexOf(name) < ownerEnded, name !== handedOver, `${name}: ${log.join(" ")}`);
        }
        for (const name of [...keepers.keys(), ...registered]) assert.ok(released.has(name) || closes.has(name), `${name} never closed: ${log.join(" ")}`);
        assert.deepEqual([...running], [], "daemons left running");
        if (outcome !== "timed out") assert.equal(outcome, threw ? "failed" : "done", log.join(" "));
      }),
      // Seeded, as the project's other property tests: a CI run must not find a new case by chance (60,000 unseeded runs passed).
      { numRuns: 1500, seed: 0x3e11a },
    );
  });
});
