// A runtime-neutral smoke suite of corio's portable API (`corio` and
// `corio/testing`): no node:test, no node:assert, nothing from Node, so it
// runs as it is on Node, Bun and Deno, and bundled in a browser page.
// `scripts/test-runtimes.mjs` runs it everywhere (through smoke-main.ts, and
// through browser-entry.ts in Chromium).
import {
  all,
  asyncCache,
  CancelledError,
  Channel,
  Condition,
  createContext,
  currentTime,
  Event,
  Future,
  forEach,
  isCancellation,
  Lock,
  limitGather,
  moveOnAfter,
  type Operation,
  Queue,
  race,
  retry,
  run,
  Semaphore,
  StreamReader,
  scope,
  sleep,
  spawn,
  suspend,
  TimeoutError,
  timeout,
  until,
} from "../../src/index.ts";
import { runVirtual, VirtualTestError, waitAllTasksBlocked } from "../../src/testing/index.ts";

function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`check failed: ${message}`);
}

function same(actual: unknown, expected: unknown, what: string): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`check failed: ${what}: expected ${e}, got ${a}`);
}

const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Each case is one small program; `runSmoke` runs them one after the other. */
const CASES: [name: string, body: () => Promise<void>][] = [
  [
    "spawn, join and cancel, with cleanup that suspends",
    async () => {
      const log: string[] = [];
      const result = await run(function* () {
        const child = yield* spawn(function* () {
          yield* sleep(5);
          return 21;
        });
        const sleeper = yield* spawn(function* () {
          try {
            yield* suspend();
          } finally {
            yield* sleep(1);
            log.push("cleaned up");
          }
        });
        const value = yield* child;
        sleeper.cancel("not needed");
        try {
          yield* sleeper;
        } catch (error) {
          check(error instanceof CancelledError && isCancellation(error), "joining a cancelled task throws CancelledError");
        }
        check(sleeper.state === "cancelled", `state is cancelled, not ${sleeper.state}`);
        return value * 2;
      });
      same(result, 42, "the result");
      same(log, ["cleaned up"], "the finally block ran");
    },
  ],
  [
    "timeouts on the virtual clock: timeout, moveOnAfter, all, race",
    async () => {
      const out = await runVirtual(function* () {
        let timedOut = false;
        try {
          yield* timeout(100, sleep(3_600_000));
        } catch (error) {
          timedOut = error instanceof TimeoutError;
        }
        const moved = yield* moveOnAfter(50, sleep(1000));
        const kept = yield* moveOnAfter(50, function* () {
          yield* sleep(10);
          return "in time";
        });
        const both = yield* all([
          function* () {
            yield* sleep(20);
            return "a";
          },
          function* () {
            yield* sleep(10);
            return "b";
          },
        ]);
        const first = yield* race([sleep(30), until(Promise.resolve("promise"))]);
        return { timedOut, moved: moved.cancelled, kept: kept.value, both, first, now: currentTime() };
      });
      same(out, { timedOut: true, moved: true, kept: "in time", both: ["a", "b"], first: "promise", now: 180 }, "the outcome");
    },
  ],
  [
    "a virtual-clock deadlock is reported, not hung",
    async () => {
      let error: unknown;
      try {
        await runVirtual(function* () {
          yield* new Future<void>();
        });
      } catch (e) {
        error = e;
      }
      check(error instanceof VirtualTestError, `runVirtual reports the deadlock (${String(error)})`);
    },
  ],
  [
    "Queue: bounded put/get and join",
    async () => {
      await runVirtual(function* () {
        const queue = new Queue<number>({ maxsize: 2 });
        const got: number[] = [];
        yield* spawn(
          function* () {
            for (;;) {
              got.push(yield* queue.get());
              yield* sleep(1);
              queue.taskDone();
            }
          },
          { daemon: true },
        );
        for (let i = 0; i < 5; i++) yield* queue.put(i);
        yield* queue.join();
        same(got, [0, 1, 2, 3, 4], "the items, in order");
      });
    },
  ],
  [
    "Lock, Semaphore, Event and Condition",
    async () => {
      await runVirtual(function* () {
        const lock = new Lock();
        let inside = 0;
        let most = 0;
        yield* all(
          [1, 2, 3].map(() =>
            lock.withLock(function* () {
              most = Math.max(most, ++inside);
              yield* sleep(1);
              inside--;
            }),
          ),
        );
        same(most, 1, "one holder of the lock at a time");

        const semaphore = new Semaphore(2);
        inside = 0;
        most = 0;
        yield* all(
          [1, 2, 3, 4, 5].map(
            () =>
              function* () {
                yield* semaphore.acquire();
                try {
                  most = Math.max(most, ++inside);
                  yield* sleep(1);
                  inside--;
                } finally {
                  semaphore.release();
                }
              },
          ),
        );
        same(most, 2, "two semaphore holders at most");

        const event = new Event();
        const before = currentTime();
        const waiter = yield* spawn(function* () {
          yield* event.wait();
          return currentTime() - before;
        });
        yield* sleep(7);
        event.set();
        same(yield* waiter, 7, "the event woke its waiter when set");

        const condition = new Condition();
        let ready = false;
        const consumer = yield* spawn(function* () {
          yield* condition.acquire();
          try {
            while (!ready) yield* condition.wait();
            return "notified";
          } finally {
            condition.release();
          }
        });
        yield* waitAllTasksBlocked();
        yield* condition.acquire();
        ready = true;
        condition.notifyAll();
        condition.release();
        same(yield* consumer, "notified", "the condition's waiter");
      });
    },
  ],
  [
    "Channel with forEach, and each over an async iterable",
    async () => {
      await runVirtual(function* () {
        const channel = new Channel<string>({ capacity: 1 });
        yield* spawn(function* () {
          for (const word of ["x", "y", "z"]) yield* channel.send(word);
          channel.close();
        });
        const got: string[] = [];
        yield* forEach(channel, function* (word) {
          got.push(word);
        });
        same(got, ["x", "y", "z"], "the channel's messages");

        let released = false;
        async function* numbers() {
          try {
            for (let i = 1; ; i++) yield i;
          } finally {
            released = true;
          }
        }
        let total = 0;
        try {
          yield* forEach(numbers(), function* (n) {
            total += n;
            if (n === 4) throw new Error("enough");
          });
        } catch (error) {
          check(error instanceof Error && error.message === "enough", "the body's error comes out");
        }
        same(total, 10, "the sum of 1..4");
        check(released, "the async iterator was released (its finally ran)");
      });
    },
  ],
  [
    "StreamReader fed by hand: readLine, readExactly, EOF",
    async () => {
      await runVirtual(function* () {
        const reader = new StreamReader();
        yield* spawn(function* () {
          reader.feed(bytes("hello\nwor"));
          yield* sleep(5);
          reader.feed(bytes("ld\nabc"));
          reader.feedEof();
        });
        same(text(yield* reader.readLine()), "hello\n", "the first line");
        same(text(yield* reader.readLine()), "world\n", "the line split across chunks");
        same(text(yield* reader.readExactly(3)), "abc", "three bytes");
        same(text(yield* reader.read()), "", "EOF");
        check(reader.atEof, "at EOF");
      });
    },
  ],
  [
    "limitGather, asyncCache and retry",
    async () => {
      await runVirtual(function* () {
        let running = 0;
        let most = 0;
        const results = yield* limitGather(
          [5, 3, 1, 2, 4].map(
            (s) =>
              function* () {
                most = Math.max(most, ++running);
                yield* sleep(s * 10);
                running--;
                return s;
              },
          ),
          2,
        );
        same(results, [5, 3, 1, 2, 4], "results in input order");
        same(most, 2, "at most two at once");

        let loads = 0;
        const load = asyncCache(function* (key: string) {
          loads++;
          yield* sleep(10);
          return key.toUpperCase();
        });
        const [a, b] = yield* all([load("k"), load("k")]);
        same([a, b, yield* load("k"), loads], ["K", "K", "K", 1], "one load for concurrent and later calls");

        let calls = 0;
        const value = yield* retry(
          function* () {
            if (++calls < 3) throw new Error("flaky");
            return "ok";
          },
          { attempts: 5, backoff: { initial: 100, jitter: false } },
        );
        same([value, calls], ["ok", 3], "retried until it succeeded");
      });
    },
  ],
  [
    "createContext: inherited by children, restored after with",
    async () => {
      const user = createContext<string>("user", "anonymous");
      const seen = await runVirtual(function* () {
        const outside = user.get();
        const inner = yield* user.with("ada", function* () {
          const child = yield* spawn(function* () {
            yield* sleep(1);
            return user.get();
          });
          return yield* child;
        });
        return [outside, inner, user.get()];
      });
      same(seen, ["anonymous", "ada", "anonymous"], "the context values");
    },
  ],
  [
    "scope: a failing child cancels its siblings, and the error comes out",
    async () => {
      const log: string[] = [];
      let error: unknown;
      try {
        await runVirtual(function* () {
          yield* scope(function* () {
            yield* spawn(function* () {
              try {
                yield* sleep(1000);
              } finally {
                log.push("sibling cancelled");
              }
            });
            yield* spawn(function* () {
              yield* sleep(1);
              throw new Error("boom");
            });
          });
        });
      } catch (e) {
        error = e;
      }
      check(
        error instanceof Error && /boom/.test(String(error) + String((error as { errors?: unknown[] }).errors ?? "")),
        `the error comes out (${String(error)})`,
      );
      same(log, ["sibling cancelled"], "the sibling was cancelled");
    },
  ],
  [
    "real time: sleep and timeout on the host's timers",
    async () => {
      const started = Date.now();
      const outcome = await run(function* (): Operation<string> {
        yield* sleep(20);
        try {
          yield* timeout(20, suspend());
          return "not timed out";
        } catch (error) {
          return error instanceof TimeoutError ? "timed out" : String(error);
        }
      });
      const elapsed = Date.now() - started;
      same(outcome, "timed out", "the real timeout");
      check(elapsed >= 35 && elapsed < 5000, `about 40 ms of real time passed (${elapsed} ms)`);
    },
  ],
];

export interface SmokeResult {
  passed: string[];
  failed: { name: string; error: string }[];
}

/** Runs every case; never throws (failures are in the result). */
export async function runSmoke(log: (line: string) => void = () => {}): Promise<SmokeResult> {
  const result: SmokeResult = { passed: [], failed: [] };
  for (const [name, body] of CASES) {
    try {
      await body();
      result.passed.push(name);
      log(`ok   ${name}`);
    } catch (error) {
      const message = error instanceof Error ? (error.stack ?? `${error.name}: ${error.message}`) : String(error);
      result.failed.push({ name, error: message });
      log(`FAIL ${name}\n     ${message.split("\n").join("\n     ")}`);
    }
  }
  return result;
}
