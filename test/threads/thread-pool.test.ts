// ThreadPool: running jobs and their results, limits and closing, and the default pool (toThread, callInThread).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it, mock } from "node:test";
import { pathToFileURL } from "node:url";
import { MessagePort, threadId as mainThreadId, type TransferListItem, Worker } from "node:worker_threads";
import {
  all,
  ClosedResourceError,
  Future,
  type Operation,
  QueueFull,
  race,
  run,
  StreamReader,
  sleep,
  spawn,
  suspend,
  type Task,
  timeout,
  until,
} from "../../src/index.ts";
import { runVirtual, waitAllTasksBlocked } from "../../src/testing/index.ts";
import { callInThread, type ThreadContext, ThreadPool, toThread, transfer, WorkerCrashedError } from "../../src/threads/index.ts";
import { checkLeaks, collectReports, rejectsOp } from "../_helpers.ts";
import { counter, MODULE, spin, started, threadId, waitForRelease } from "./_helpers.ts";

checkLeaks();

describe("ThreadPool: results and errors", () => {
  it("a pool started inside timeout() is the caller's when timeout returns it", async () => {
    await run(function* () {
      const pool = yield* timeout(5000, ThreadPool.start({ size: 1 }));
      assert.equal(pool.closed, false);
      assert.equal(yield* pool.call((a: number) => a + 1, 1), 2);
    });
  });

  it("runs a function in a worker and gives its result", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 2 });
      assert.equal(yield* pool.call((a: number, b: number) => a * b, 6, 7), 42);
      assert.deepEqual(yield* pool.call((o: { xs: number[] }) => ({ sum: o.xs.reduce((a, b) => a + b, 0) }), { xs: [1, 2, 3] }), { sum: 6 });
      assert.equal(yield* pool.call(async (n: number) => n + 1, 1), 2);
      assert.notEqual(yield* pool.call(threadId), mainThreadId);
    });
  });

  it("gives results in order for many concurrent jobs, on at most `size` workers", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 2 });
      const results = yield* all(Array.from({ length: 500 }, (_, i) => pool.call((n: number) => n * 2, i)));
      assert.deepEqual(
        results,
        Array.from({ length: 500 }, (_, i) => i * 2),
      );
      assert.ok(pool.threads <= 2);
      assert.equal(pool.completed, 500);
    });
  });

  it("a worker with jobs queued behind a long one sends that one's result before it goes on", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 1 });
      const gate = counter();
      // Longer than the worker's slice (4 ms): its result goes out before the next job starts.
      const long = (ms: number): string => {
        const end = performance.now() + ms;
        while (performance.now() < end);
        return "long done";
      };
      // Runs behind it on the same worker, and ends only once the main thread has that result.
      const next = (shared: Int32Array): string => {
        const end = performance.now() + 10_000;
        while (performance.now() < end) if (Atomics.load(shared, 0) === 1) return "saw the result";
        return "the long job's result never came back while this one ran";
      };
      const first = yield* spawn(function* () {
        const result = yield* pool.call(long, 20);
        Atomics.store(gate, 0, 1);
        return result;
      });
      const second = yield* spawn(pool.call(next, gate));
      assert.equal(yield* first, "long done");
      assert.equal(yield* second, "saw the result");
    });
  });

  it("passes each job exactly its arguments, whatever their number, also when a batch arrives while the worker works through an earlier one", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 1 });
      const gate = counter();
      // Says it started, waits until the second batch has been sent, then works past the worker's
      // slice (4 ms): the rest of its own batch waits in the worker's backlog when the second arrives.
      const first = (shared: Int32Array): string => {
        Atomics.add(shared, 1, 1);
        Atomics.notify(shared, 1);
        while (Atomics.load(shared, 0) === 0);
        const end = performance.now() + 6;
        while (performance.now() < end);
        return "first";
      };
      const argsOf = (...xs: unknown[]): unknown[] => xs;
      // Numbers that are also record tags (0–4) must not be read as records.
      const lists: unknown[][] = [[], ["a"], [1, { b: 2 }], [1, 2, 3], [4, 4, 4, 4, 4, 4], [0, 3, 2, 1], [null, undefined, 3, [4], "5"]];
      const batchA = yield* spawn(all([pool.call(first, gate), ...lists.map((xs) => pool.call(argsOf, ...xs))]));
      yield* started(gate);
      const batchB = yield* spawn(all([...lists.map((xs) => pool.call(argsOf, ...xs)), pool.run<number>(MODULE, "add", 2, 3)]));
      // A turn later the second batch has been posted (at the end of the turn it was sent in).
      yield* until(new Promise((resolve) => setImmediate(resolve)));
      Atomics.store(gate, 0, 1);
      assert.deepEqual(yield* batchA, ["first", ...lists]);
      assert.deepEqual(yield* batchB, [...lists, 5]);
    });
  });

  it("a job whose arguments cannot be copied fails alone; the jobs sent with it get exactly their arguments", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 1 });
      const argsOf = (...xs: unknown[]): unknown[] => xs;
      const results = yield* all([
        pool.call(argsOf),
        pool.call(argsOf, 1, 2, 3),
        rejectsOp(
          pool.call(argsOf, 1, () => 1, 3),
          TypeError,
        ),
        pool.call(argsOf, "x"),
        pool.run<number>(MODULE, "add", 4, 5),
        pool.call(argsOf, 1, 2),
      ]);
      assert.deepEqual(results.slice(0, 2), [[], [1, 2, 3]]);
      assert.match((results[2] as Error).message, /cannot be copied/);
      assert.deepEqual(results.slice(3), [["x"], 9, [1, 2]]);
    });
  });

  it("a job whose arguments cannot be copied frees its place: the jobs queued behind it for a full worker still run", async () => {
    await run(function* () {
      // One job in flight per worker: the second job waits in the queue until the first one's place is free.
      const pool = yield* ThreadPool.start({ size: 1, jobsPerWorker: 1 });
      const [failed, next] = yield* all([
        rejectsOp(
          pool.call(echo, () => 1),
          TypeError,
        ),
        pool.call(echo, 42),
      ]);
      assert.match(failed.message, /cannot be copied/);
      assert.equal(next, 42);
    });
  });

  it("what a job posts on the worker's parentPort is its own: never taken for a result, and nothing the pool reads", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 1 });
      const post = (message: unknown, value: string): string => {
        require("node:worker_threads").parentPort.postMessage(message);
        return value;
      };
      // Jobs in flight on one worker, with messages shaped like results, and like records of results and errors.
      const results = yield* all([
        pool.call(() => new Promise((resolve) => setImmediate(resolve, "A"))),
        pool.call(post, { progress: 50 }, "B"),
        pool.call(post, [1, 2, 3], "C"),
        pool.call(post, [0, 1, 1, "stray"], "D"),
        pool.call(post, 7, "E"),
      ]);
      assert.deepEqual(results, ["A", "B", "C", "D", "E"]);
      for (let i = 0; i < 3; i++) assert.equal(yield* pool.call((n: number) => n, i), i);
    });
  });

  it("a job that throws gives the task its error, with the class, the code and the worker's stack", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 1 });
      const error = yield* rejectsOp(
        pool.call(function failing() {
          throw new RangeError("out of range");
        }),
        RangeError,
      );
      assert.equal(error.message, "out of range");
      assert.match(error.stack ?? "", /failing/);
      const coded = yield* rejectsOp(pool.run(MODULE, "throwsWithCode"), Error);
      assert.equal((coded as Error & { code?: string }).code, "ENOTHING");
      assert.match(coded.stack ?? "", /thread-module/);
      // A thrown value that is not an Error arrives as it was.
      try {
        yield* pool.call(() => {
          throw "plain";
        });
        assert.fail("should throw");
      } catch (thrown) {
        assert.equal(thrown, "plain");
      }
      // The pool still serves.
      assert.equal(yield* pool.call(() => "ok"), "ok");
    });
  });

  it("an AggregateError arrives with its errors, a DOMException with its name and code", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 1 });
      const aggregate = yield* rejectsOp(
        pool.call(() => {
          throw new AggregateError([new TypeError("first"), "second", new AggregateError([new RangeError("inner")], "nested")], "all failed");
        }),
        AggregateError,
      );
      assert.equal(aggregate.message, "all failed");
      const [first, second, nested] = (aggregate as AggregateError).errors;
      assert.ok(first instanceof TypeError && first.message === "first");
      assert.equal(second, "second");
      assert.ok(nested instanceof AggregateError);
      assert.ok(nested.errors[0] instanceof RangeError && nested.errors[0].message === "inner");
      const many = yield* rejectsOp(
        pool.call(() => {
          throw new AggregateError(Array.from({ length: 1000 }, (_, i) => new Error(String(i))));
        }),
        AggregateError,
      );
      assert.equal((many as AggregateError).errors.length, 100);
      // One that lists itself 30 times: written out at every mention it would take for ever (30^8 records).
      const selfListing = yield* rejectsOp(
        pool.call(() => {
          const errors: unknown[] = [];
          const aggregate = new AggregateError(errors, "self-listing");
          for (let i = 0; i < 30; i++) errors.push(aggregate);
          Object.defineProperty(aggregate, "errors", { value: errors });
          throw aggregate;
        }),
        AggregateError,
      );
      assert.equal(selfListing.message, "self-listing");
      let records = 0;
      const count = (error: unknown): void => {
        records++;
        if (error instanceof AggregateError) for (const inner of error.errors) count(inner);
      };
      count(selfListing);
      assert.ok(records <= 400, `${records} errors sent`); // 200, and one "left out" per AggregateError at most
      const dom = yield* rejectsOp(
        pool.call(() => {
          throw new DOMException("stopped", "AbortError");
        }),
        DOMException,
      );
      assert.equal(dom.name, "AbortError");
      assert.equal(dom.message, "stopped");
      assert.equal((dom as DOMException).code, 20);
    });
  });

  it("arguments or results that cannot be copied fail that job only", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 1 });
      const bad = yield* rejectsOp(
        pool.call(
          (f: unknown) => typeof f,
          () => 1,
        ),
        TypeError,
      );
      assert.match(bad.message, /cannot be copied/);
      const badResult = yield* rejectsOp(
        pool.call(() => () => 1),
        TypeError,
      );
      assert.match(badResult.message, /cannot be copied/);
      assert.equal(yield* pool.call(() => 5), 5);
    });
  });

  it("a module that failed to load is imported again by the next job on that worker", async () => {
    const dir = mkdtempSync(join(tmpdir(), "corio-threads-"));
    const url = pathToFileURL(join(dir, "late.mjs"));
    try {
      await run(function* () {
        const pool = yield* ThreadPool.start({ size: 1 });
        const first = yield* pool.call(threadId);
        yield* rejectsOp(pool.run(url, "late"), Error);
        writeFileSync(url, "export function late() { return 'here now'; }\n");
        assert.equal(yield* pool.run(url, "late"), "here now");
        assert.equal(yield* pool.call(threadId), first);
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("runs exported functions of a module, and says clearly when the export is missing", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 1 });
      assert.equal(yield* pool.run<number>(MODULE, "add", 2, 3), 5);
      const missing = yield* rejectsOp(pool.run(MODULE, "nothing"), TypeError);
      assert.match(missing.message, /exports no function of that name/);
    });
  });

  it("transfers moved buffers instead of copying them, both ways", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 1 });
      const bytes = new Uint8Array(1 << 16).fill(3);
      const back = yield* pool.call(function (this: ThreadContext, data: Uint8Array) {
        for (let i = 0; i < data.length; i++) data[i] = (data[i] as number) + 1;
        return this.transfer(data);
      }, transfer(bytes));
      assert.equal(bytes.byteLength, 0, "moved, so detached here");
      assert.equal(back.length, 1 << 16);
      assert.equal(back[100], 4);
      assert.throws(() => transfer(42), /Cannot transfer number/);
    });
  });

  it("a view that is only part of its buffer is copied, and the copy moved: the bytes around it stay (a StreamReader's line)", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 1 });
      const reader = new StreamReader();
      reader.feed(new TextEncoder().encode("first\nsec"));
      reader.feed(new TextEncoder().encode("ond\nthird\n")); // joined in a buffer of the reader's own
      const line = yield* reader.readLine(); // a view of that buffer
      const decode = (data: Uint8Array): string => new TextDecoder().decode(data);
      assert.equal(yield* pool.call(decode, transfer(line)), "first\n");
      assert.equal(new TextDecoder().decode(yield* reader.readLine()), "second\n", "the reader's buffer was not moved");
      assert.equal(new TextDecoder().decode(line), "first\n", "the line is still readable here");
      const floats = new Float64Array([1, 2, 3, 4]);
      assert.deepEqual(yield* pool.call((part: Float64Array) => [part.constructor.name, ...part], transfer(floats.subarray(1, 3))), ["Float64Array", 2, 3]);
      const view = new DataView(new ArrayBuffer(8), 4, 2);
      view.setUint16(0, 513);
      assert.equal(yield* pool.call((data: DataView) => data.getUint16(0), transfer(view)), 513);
      assert.equal(floats.length + view.byteLength, 6, "neither buffer detached");
      // A whole buffer still moves.
      const whole = new Uint8Array(4);
      yield* pool.call((data: Uint8Array) => data.length, transfer(whole));
      assert.equal(whole.byteLength, 0);
      // In the worker, this.transfer() of a part leaves the worker's buffer whole too.
      const part = yield* pool.call(function (this: ThreadContext) {
        (globalThis as { kept?: Uint8Array }).kept = new Uint8Array([1, 2, 3, 4]);
        return this.transfer((globalThis as unknown as { kept: Uint8Array }).kept.subarray(1, 3));
      });
      assert.deepEqual([...part], [2, 3]);
      assert.equal(yield* pool.call(() => (globalThis as unknown as { kept: Uint8Array }).kept.byteLength), 4);
    });
  });

  it("a buffer moved already fails its own job with a clear error, not the jobs sent with it (Node drops such a message silently)", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 1 });
      const length = (data: Uint8Array): number => data.length;
      const moved = new Uint8Array(8);
      structuredClone(moved, { transfer: [moved.buffer] });
      const early = yield* rejectsOp(pool.call(length, transfer(moved)), TypeError);
      assert.match(early.message, /^Cannot run in a thread: an ArrayBuffer given to transfer\(\) is detached/);
      // The same buffer given to two jobs of one batch: the first takes it, the second fails, the rest run.
      const shared = new Uint8Array(16);
      const results = yield* all([
        pool.call(length, transfer(shared)),
        function* () {
          return yield* rejectsOp(pool.call(length, transfer(shared)), TypeError);
        },
        pool.call((n: number) => n + 1, 1),
      ]);
      assert.equal(results[0], 16);
      assert.match((results[1] as TypeError).message, /is detached/);
      assert.equal(results[2], 2);
      // A result the job moved away before returning it.
      const back = yield* all([
        function* () {
          return yield* rejectsOp(
            pool.call(function (this: ThreadContext) {
              const bytes = new Uint8Array(4);
              structuredClone(bytes, { transfer: [bytes.buffer] });
              return this.transfer(bytes);
            }),
            TypeError,
          );
        },
        pool.call(() => "sent with it"),
      ]);
      assert.match((back[0] as TypeError).message, /^Cannot return the job's result: an ArrayBuffer given to this\.transfer\(\) is detached/);
      assert.equal(back[1], "sent with it");
    });
  });

  it("a result that cannot be copied does not stop a MessagePort result sent with it from moving", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 1 });
      const results = yield* all([
        pool.call(function (this: ThreadContext) {
          const { port1 } = new MessageChannel();
          return this.transfer(port1);
        }),
        function* () {
          return yield* rejectsOp(
            pool.call(() => () => 1),
            TypeError,
          );
        },
      ]);
      assert.ok(results[0] instanceof MessagePort);
      (results[0] as MessagePort).close();
      assert.match((results[1] as Error).message, /cannot be copied/);
    });
  });

  it("runs functions with named functions and classes inside (tsx wraps them in __name calls)", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 1 });
      const names = yield* pool.call(() => {
        class Inner {}
        function helper(): string {
          return "helper";
        }
        const arrow = (): number => 1;
        return [Inner.name, helper(), helper.name, arrow.name];
      });
      assert.deepEqual(names, ["Inner", "helper", "helper", "arrow"]);
    });
  });

  it("compiles shorthand methods and says clearly what cannot be sent", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 1 });
      const methods = {
        triple(n: number) {
          return n * 3;
        },
      };
      assert.equal(yield* pool.call(methods.triple, 3), 9);
      const native = yield* rejectsOp(pool.call(Math.max as never), TypeError);
      assert.match(native.message, /only functions written in JavaScript/);
      const bound = yield* rejectsOp(pool.call(methods.triple.bind(null) as never), TypeError);
      assert.equal(
        bound.message,
        "Cannot run a bound function (bound triple) in a thread: it has no source to send; pass the function itself, and what you bound as arguments",
      );
      assert.match((yield* rejectsOp(pool.call(5 as never), TypeError)).message, /expected a function, received number/);
      assert.match((yield* rejectsOp(pool.run(MODULE, 5 as never), TypeError)).message, /exportName must be a string/);
    });
  });
});

describe("ThreadPool: transfer() inside an argument or a result", () => {
  // transfer() marks a whole argument (this.transfer() a whole result). A marker deeper in was cloned as the
  // wrapper object before: the job got { value, list } where it expected the buffer, without a word.
  const NESTED = /^Cannot run in a thread: transfer\(\) marks a whole argument only, and (\S+) is one inside an argument/;
  const argsOf = (...xs: unknown[]): unknown[] => xs;

  it("in an object: its job fails with a TypeError saying where, and the buffer stays whole here", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 1 });
      const bytes = new Uint8Array([1, 2, 3]);
      const error = yield* rejectsOp(pool.call(argsOf, 1, { data: transfer(bytes) }), TypeError);
      assert.match(error.message, NESTED);
      assert.equal(NESTED.exec(error.message)?.[1], "args[1].data");
      assert.match(error.message, /transfer\(\{ data: bytes \}, \[bytes\.buffer\]\)/, "says what to do instead");
      assert.equal((error.cause as Error).name, "DataCloneError");
      assert.deepEqual([...bytes], [1, 2, 3], "nothing was moved");
      // What the error suggests works: the whole argument marked, its buffer listed.
      const whole = new Uint8Array([4, 5]);
      assert.deepEqual(yield* pool.call((arg: { data: Uint8Array }) => [...arg.data], transfer({ data: whole }, [whole.buffer])), [4, 5]);
      assert.equal(whole.byteLength, 0);
    });
  });

  it("in an array, several in one job, beside a whole-argument transfer(): the job fails and nothing moves", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 1 });
      const [a, b, top] = [new Uint8Array(4), new Uint8Array(8), new Uint8Array(16)];
      const inArray = yield* rejectsOp(pool.call(argsOf, [transfer(a), transfer(b)]), TypeError);
      assert.equal(NESTED.exec(inArray.message)?.[1], "args[0][0]");
      const several = yield* rejectsOp(pool.call(argsOf, transfer(top), { list: [1, { deep: transfer(a) }] }, new Map([["k", transfer(b)]])), TypeError);
      assert.equal(NESTED.exec(several.message)?.[1], "args[1].list[1].deep");
      const inMap = yield* rejectsOp(pool.call(argsOf, new Map([["k", transfer(b)]])), TypeError);
      assert.equal(NESTED.exec(inMap.message)?.[1], 'args[0].get("k")');
      assert.deepEqual([a.byteLength, b.byteLength, top.byteLength], [4, 8, 16], "none was moved, not even the whole argument's");
      // run() takes the same arguments.
      const viaRun = yield* rejectsOp(pool.run(MODULE, "add", 1, { n: transfer(a) }), TypeError);
      assert.equal(NESTED.exec(viaRun.message)?.[1], "args[1].n");
    });
  });

  it("in a batch with other jobs: only that job fails, the others get exactly their arguments (transfers too)", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 1 });
      const moved = new Uint8Array([7, 8, 9]);
      const kept = new Uint8Array(2);
      const results = yield* all([
        pool.call(argsOf, 1, 2),
        pool.call((bytes: Uint8Array) => [...bytes], transfer(moved)),
        function* () {
          return yield* rejectsOp(pool.call(argsOf, { data: transfer(kept) }), TypeError);
        },
        pool.call(argsOf, "x"),
        pool.run<number>(MODULE, "add", 4, 5),
        function* () {
          return yield* rejectsOp(pool.call(argsOf, [transfer(kept)]), TypeError);
        },
        pool.call(argsOf, 3),
      ]);
      assert.deepEqual(results[0], [1, 2]);
      assert.deepEqual(results[1], [7, 8, 9]);
      assert.equal(moved.byteLength, 0, "the good transfer still moved");
      assert.equal(NESTED.exec((results[2] as Error).message)?.[1], "args[0].data");
      assert.deepEqual(results.slice(3, 5), [["x"], 9]);
      assert.equal(NESTED.exec((results[5] as Error).message)?.[1], "args[0][0]");
      assert.deepEqual(results[6], [3]);
      assert.equal(kept.byteLength, 2);
    });
  });

  it("leaves nothing counted or queued: the jobs behind it run, also one alone and one sent bare", async () => {
    await run(function* () {
      // One job per worker: a job behind the failed one waits for its place.
      const pool = yield* ThreadPool.start({ size: 1, jobsPerWorker: 1 });
      const bytes = new Uint8Array(4);
      const [failed, next] = yield* all([rejectsOp(pool.call(echo, { data: transfer(bytes) }), TypeError), pool.call(echo, 42)]);
      assert.match(failed.message, NESTED);
      assert.equal(next, 42);
      // After a job of one argument of the same function, the next goes as its argument alone (bare).
      assert.equal(yield* pool.call(echo, 1), 1);
      yield* rejectsOp(pool.call(echo, { data: transfer(bytes) }), TypeError);
      assert.equal(yield* pool.call(echo, 2), 2);
      assert.equal(yield* pool.call(echo, 3), 3);
      assert.deepEqual([pool.queued, pool.running, pool.threads], [0, 0, 1]);
      assert.equal(bytes.byteLength, 4);
    });
  });

  it("a worker returning this.transfer() inside its result: that job fails saying where, the results sent with it arrive", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 1 });
      const nested = function (this: ThreadContext, how: string): unknown {
        const bytes = new Uint8Array([1, 2]);
        if (how === "object") return { x: this.transfer(bytes) };
        if (how === "array") return [1, this.transfer(bytes)];
        return this.transfer(bytes);
      };
      const results = yield* all([
        pool.call(nested, "whole"),
        function* () {
          return yield* rejectsOp(pool.call(nested, "object"), TypeError);
        },
        pool.call(argsOf, "sent with it"),
        function* () {
          return yield* rejectsOp(pool.call(nested, "array"), TypeError);
        },
        pool.call(nested, "whole"),
      ]);
      assert.deepEqual([...(results[0] as Uint8Array)], [1, 2]);
      assert.match(
        (results[1] as Error).message,
        /^Cannot return the job's result: this\.transfer\(\) marks the whole result only, and result\.x is one inside it .*this\.transfer\(\{ data: bytes \}, \[bytes\.buffer\]\)/,
      );
      assert.deepEqual(results[2], ["sent with it"]);
      assert.match((results[3] as Error).message, /and result\[1\] is one inside it/);
      assert.deepEqual([...(results[4] as Uint8Array)], [1, 2]);
      assert.deepEqual([pool.queued, pool.running], [0, 0]);
    });
  });

  it("a job of a module returning corio's transfer() (the main thread's) fails saying to use this.transfer()", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 1 });
      const error = yield* rejectsOp(pool.run(MODULE, "returnsTransfer"), TypeError);
      assert.match(
        error.message,
        /^Cannot return the job's result: the result is a transfer\(\) marker of the main thread's kind; a job moves its result with this\.transfer\(value\)/,
      );
    });
  });
});

describe("ThreadPool: a worker that runs dry takes jobs another has not begun", () => {
  /** Counts its runs in `runs[index]` and spins for `ms`. */
  const job = (index: number, ms: number, runs: Int32Array): number => {
    Atomics.add(runs, index, 1);
    const end = performance.now() + ms;
    while (performance.now() < end);
    return index;
  };

  /** A pool of two workers, one of them busy with a long job that spins until `gate[0]` is set. */
  function* withLongJob(): Operation<{ pool: ThreadPool; gate: Int32Array; long: Task<string> }> {
    const pool = yield* ThreadPool.start({ size: 2 });
    const gate = counter();
    const long = yield* spawn(pool.call(spin, gate, false));
    yield* started(gate);
    return { pool, gate, long };
  }

  it("jobs queued behind a long one run on the worker that ran dry, each once", async () => {
    await run(function* () {
      const { pool, gate, long } = yield* withLongJob();
      const runs = new Int32Array(new SharedArrayBuffer(4 * 20));
      try {
        // Shared out between the busy worker and a second one; those on the busy worker wait behind the long job.
        const quick = Array.from({ length: 20 }, (_, i) => pool.call(job, i, 0, runs));
        // Without the move this waits until the long job ends, which is never (the test times out instead).
        const results = yield* timeout(10_000, all(quick));
        assert.deepEqual(
          results,
          Array.from({ length: 20 }, (_, i) => i),
        );
        assert.equal(Atomics.load(gate, 0), 0, "the long job still runs");
      } finally {
        Atomics.store(gate, 0, 1);
      }
      assert.equal(yield* long, "released");
      assert.deepEqual([...runs], Array(20).fill(1), "every job ran exactly once");
      assert.equal(pool.completed, 21);
    });
  });

  it("jobs that transfer buffers go only to a worker with at most one in flight: a long job holds up one of them at most", async () => {
    await run(function* () {
      const { pool, gate, long } = yield* withLongJob();
      const buffers = Array.from({ length: 6 }, (_, i) => new Uint8Array(1024).fill(i));
      const echo = (data: Uint8Array) => [require("node:worker_threads").threadId as number, data.length, data[0] as number];
      const allButOne = new Future<void>();
      let finished = 0;
      const tasks: Task<number[]>[] = [];
      for (const bytes of buffers) {
        tasks.push(
          yield* spawn(function* () {
            const result = yield* pool.call(echo, transfer(bytes));
            if (++finished === buffers.length - 1) allButOne.resolve();
            return result;
          }),
        );
      }
      try {
        // Their buffers could not follow a job taken back: with many sent behind the long job, those would wait for it (never, here).
        yield* timeout(10_000, allButOne);
        assert.equal(Atomics.load(gate, 0), 0, "the long job still runs");
      } finally {
        Atomics.store(gate, 0, 1);
      }
      assert.equal(yield* long, "released");
      const results: number[][] = [];
      for (const task of tasks) results.push(yield* task);
      const perThread = new Map<number, number>();
      for (const [thread] of results) perThread.set(thread as number, (perThread.get(thread as number) ?? 0) + 1);
      assert.ok(Math.min(...perThread.values()) <= 1 || perThread.size === 1, "at most one waited behind the long job");
      assert.deepEqual(
        results.map(([, length, value]) => [length, value]),
        buffers.map((_, i) => [1024, i]),
        "each buffer arrived whole",
      );
      assert.ok(
        buffers.every((bytes) => bytes.byteLength === 0),
        "each buffer moved",
      );
    });
  });

  it("jobs without transfers go past one that waits for a worker with at most one in flight, but not to the worker kept for it", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 2 });
      const gate = counter();
      const runs = counter();
      // Two jobs in flight on each worker (async: they keep their worker free to run others).
      const long = yield* spawn(all(Array.from({ length: 4 }, () => pool.call(waitForRelease, gate, runs))));
      yield* started(gate, 4);
      const echo = (data: Uint8Array) => [require("node:worker_threads").threadId as number, data.length];
      const transferring = yield* spawn(pool.call(echo, transfer(new Uint8Array(1024))));
      // Let its task run (a bare yield goes to the back of the ready queue).
      for (let turn = 0; turn < 10 && pool.queued === 0; turn++) yield;
      assert.equal(pool.queued, 1, "the job that transfers waits");
      try {
        // Before, these waited behind the job that transfers, until a worker drained (never, here).
        const quick = yield* timeout(10_000, all(Array.from({ length: 8 }, () => pool.call(threadId))));
        assert.equal(new Set(quick).size, 1, "all on the worker not kept for the waiting job");
        assert.equal(Atomics.load(gate, 0), 0, "the long jobs still run");
      } finally {
        Atomics.store(gate, 0, 1);
        Atomics.notify(gate, 0);
      }
      assert.deepEqual(yield* long, Array(4).fill("released"));
      assert.equal((yield* transferring)[1], 1024);
    });
  });

  /**
   * Holds every batch the pool posts to the first worker it starts, so that to the pool it is still
   * starting up; `release` restores `postMessage` and, unless told not to, posts what was held.
   */
  function holdFirstWorker(): { worker: () => Worker; held: unknown[]; release: (post?: boolean) => void } {
    const post = MessagePort.prototype.postMessage;
    const on = Worker.prototype.on;
    let starting: MessagePort | undefined;
    let first: Worker | undefined;
    const held: [unknown, readonly TransferListItem[] | undefined][] = [];
    // The first worker the pool starts is the first one sent a batch: find it as it gets its listeners.
    const workers = mock.method(Worker.prototype, "on", function (this: Worker, event: string, listener: (...args: unknown[]) => void) {
      if (event === "error") first ??= this;
      return on.call(this, event, listener);
    });
    // The pool's batches (arrays) go on a channel of its own to each worker (the abort port carries numbers).
    const postMessage = mock.method(
      MessagePort.prototype,
      "postMessage",
      function (this: MessagePort, value: unknown, transfers?: readonly TransferListItem[]) {
        if (Array.isArray(value)) starting ??= this;
        if (this === starting) held.push([value, transfers]);
        else post.call(this, value, transfers as never);
      },
    );
    return {
      worker: () => first as Worker,
      held,
      release: (repost = true) => {
        workers.mock.restore();
        postMessage.mock.restore();
        if (repost) for (const [value, transfers] of held) post.call(starting, value, transfers as never);
      },
    };
  }

  /** Counts its runs in `counts[index]`; returns the thread it ran on. */
  const ranOn = (index: number, counts: Int32Array): number => {
    Atomics.add(counts, index, 1);
    return require("node:worker_threads").threadId;
  };

  it("jobs sent to a worker still starting up run on one that is up and ran dry", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 2 });
      const hold = holdFirstWorker();
      const runs = new Int32Array(new SharedArrayBuffer(4 * 20));
      let threads: number[];
      try {
        // Shared out between the two workers. Without the move, the held worker's jobs wait until
        // it starts, which is never here (the test times out instead). The last job moved is
        // alone: it must go to the worker that is up, not back to the held one (that loops).
        threads = yield* timeout(10_000, all(Array.from({ length: 20 }, (_, i) => pool.call(ranOn, i, runs))));
      } finally {
        hold.release();
      }
      assert.ok(hold.held.length > 0, "the held worker was sent jobs");
      const up = threads[0] as number;
      assert.notEqual(up, hold.worker().threadId);
      assert.deepEqual(threads, Array(20).fill(up));
      // The held worker gets its batch late and skips every job in it: each ran once.
      yield* pool.close();
      assert.deepEqual([...runs], Array(20).fill(1));
      assert.equal(pool.completed, 20);
    });
  });

  it("a worker that dies before it began any job fails its jobs, even after others took some of them back", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 2 });
      const hold = holdFirstWorker();
      const runs = new Int32Array(new SharedArrayBuffer(4 * 20));
      const gate = counter();
      try {
        // The worker that is up takes back every job sent to the held one (as above).
        yield* timeout(10_000, all(Array.from({ length: 20 }, (_, i) => pool.call(ranOn, i, runs))));
        // Now the worker that is up is busy, and the next job goes to the held one, which dies.
        const busy = yield* spawn(pool.call(spin, gate, false));
        yield* started(gate);
        const last = yield* spawn(rejectsOp(pool.call(ranOn, 0, runs), WorkerCrashedError));
        // One step for that task: its job is on the held worker now.
        yield;
        yield* until(hold.worker().terminate());
        // It never began a job: its job fails instead of going to the next worker (one that
        // cannot start would pass it on forever), though the pool's take-backs wrote to its slot.
        // Node gives exit code 1 to a terminated worker, but 0 when its thread had not finished
        // starting (a loaded machine), so the code is not part of what is checked.
        assert.match((yield* last).message, /died: it exited with code \d+/);
        Atomics.store(gate, 0, 1);
        assert.equal(yield* busy, "released");
      } finally {
        Atomics.store(gate, 0, 1);
        hold.release(false);
      }
      assert.deepEqual([...runs], Array(20).fill(1));
    });
  });

  it("with uneven jobs on three workers, every job runs exactly once and its result reaches its own caller", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 3 });
      const runs = new Int32Array(new SharedArrayBuffer(4 * 300));
      // Mostly short jobs and some of 3 ms, so that workers run dry while others hold jobs.
      const durations = Array.from({ length: 300 }, (_, i) => ((i * 7919) % 13 === 0 ? 3 : (i % 5) * 0.1));
      for (let round = 0; round < 3; round++) {
        runs.fill(0);
        const results = yield* all(durations.map((ms, i) => pool.call(job, i, ms, runs)));
        assert.deepEqual(
          results,
          durations.map((_, i) => i),
        );
        assert.deepEqual([...runs], Array(300).fill(1));
      }
      assert.equal(pool.completed, 900);
    });
  });
});

function echo(value: unknown): unknown {
  return value;
}
function negate(n: number): number {
  return -n;
}
async function later(value: unknown, hops: number): Promise<unknown> {
  for (let i = 0; i < hops; i++) await null;
  return value;
}
function pairOf(a: unknown, b: unknown): unknown[] {
  return [a, b];
}
/** A result the structured clone refuses: a function. */
function closureOf(value: unknown): () => unknown {
  return () => value;
}
function none(): string {
  return "none";
}
function lengthOf(bytes: Uint8Array): number {
  return bytes.length;
}

/** A small seeded generator (mulberry32): the same jobs on every run. */
function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("ThreadPool: a message of one job, or of one result, goes without its record", () => {
  // A job of one argument, of the function sent just before it, goes as the argument alone; a result goes
  // alone when no older job is still open on its worker. Both sides then know which job it is: these
  // mixes make every wrong guess (an id off by one, an async job still running, a record that did not go) show.
  for (const size of [1, 2]) {
    it(`on ${size} worker(s), every result reaches its own caller through mixes of jobs, async ones finishing out of order, cancels, failures and results that cannot be copied`, async () => {
      const random = seeded(size * 7919);
      const values = [0, 1, -2.5, "text", "", null, undefined, true, { a: [1, 2] }, [3, 4], [], new Uint8Array([5, 6])];
      const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
      await run(function* () {
        const pool = yield* ThreadPool.start({ size });
        let checked = 0;
        for (let round = 0; round < 80; round++) {
          const jobs: Array<{ op: () => Operation<unknown>; expected: unknown; fails?: boolean; cancel?: boolean }> = [];
          // Up to 8 jobs: runs of calls of one function go in one record each way (see RUN_FUNCTION and DONE in _protocol.ts).
          for (let count = 1 + Math.floor(random() * 8); count > 0; count--) {
            const value = pick(values);
            const kind = pick(["same", "same", "same", "negate", "later", "later", "run", "pair", "none", "transfer", "uncloneable", "badResult", "cancel"]);
            const hops = Math.floor(random() * 4);
            if (kind === "same") jobs.push({ op: () => pool.call(echo, value), expected: value });
            else if (kind === "negate") jobs.push({ op: () => pool.call(negate, round), expected: -round });
            else if (kind === "later") jobs.push({ op: () => pool.call(later, value, hops), expected: value });
            else if (kind === "run") jobs.push({ op: () => pool.run(MODULE, "add", round, 1), expected: round + 1 });
            else if (kind === "pair") jobs.push({ op: () => pool.call(pairOf, value, round), expected: [value, round] });
            else if (kind === "none") jobs.push({ op: () => pool.call(none), expected: "none" });
            else if (kind === "transfer") jobs.push({ op: () => pool.call(lengthOf, transfer(new Uint8Array(round))), expected: round });
            else if (kind === "uncloneable") jobs.push({ op: () => pool.call(echo, () => round), expected: undefined, fails: true });
            else if (kind === "badResult") jobs.push({ op: () => pool.call(closureOf, value), expected: undefined, fails: true });
            else jobs.push({ op: () => pool.call(later, value, hops + 1), expected: value, cancel: true });
          }
          // Sent together (one batch, results of several jobs at once), or one at a time (each message alone).
          const together = random() < 0.5;
          const tasks: Array<{ task: Task<{ value?: unknown; error?: unknown }>; ended: Future<void> }> = [];
          for (const job of jobs) {
            const submitted = new Future<void>();
            const ended = new Future<void>();
            const task = yield* spawn(function* () {
              submitted.resolve();
              try {
                return { value: yield* job.op() };
              } catch (error) {
                if (job.cancel === true) throw error;
                return { error };
              } finally {
                ended.resolve();
              }
            });
            tasks.push({ task, ended });
            if (!together || job.cancel === true) yield* submitted;
            if (job.cancel === true) task.cancel();
            else if (!together) yield* ended;
          }
          for (const [i, { task, ended }] of tasks.entries()) {
            yield* ended;
            const job = jobs[i] as (typeof jobs)[number];
            const where = `round ${round}, job ${i} of ${jobs.length} (${together ? "together" : "one at a time"})`;
            if (task.state === "cancelled") {
              assert.equal(job.cancel, true, where);
              continue;
            }
            const { value, error } = task.result();
            if (job.fails === true) assert.match(String(error), /cannot be copied/, where);
            else {
              assert.equal(error, undefined, `${where}: ${String(error)}`);
              assert.deepEqual(value, job.expected, where);
            }
            checked++;
          }
        }
        // Most jobs were checked (a few were cancelled).
        assert.ok(checked > 150, `checked ${checked}`);
      });
    });
  }
});

describe("ThreadPool: limits and closing", () => {
  it("maxQueue: one job too many throws QueueFull", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 1, jobsPerWorker: 1, maxQueue: 1 });
      const gate = counter();
      const first = yield* spawn(() => pool.call(spin, gate, false));
      yield* started(gate);
      const second = yield* spawn(() => pool.call(() => 2));
      yield* sleep(1);
      const error = yield* rejectsOp(
        pool.call(() => 3),
        QueueFull,
      );
      assert.match(error.message, /maxQueue 1/);
      Atomics.store(gate, 0, 1);
      assert.equal(yield* first, "released");
      assert.equal(yield* second, 2);
    });
  });

  it("maxQueue: 0 runs a job a worker takes at once and refuses one that would wait (as piscina)", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 1, jobsPerWorker: 1, maxQueue: 0 });
      const gate = counter();
      const first = yield* spawn(() => pool.call(spin, gate, false));
      yield* started(gate);
      const error = yield* rejectsOp(
        pool.call(() => 2),
        QueueFull,
      );
      assert.match(error.message, /maxQueue 0/);
      assert.equal(pool.queued, 0);
      Atomics.store(gate, 0, 1);
      assert.equal(yield* first, "released");
      assert.equal(yield* pool.call(() => 3), 3);
    });
  });

  it("maxQueue counts the jobs sent ahead to a busy worker, and so do queued and running", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 1, maxQueue: 2 });
      const gate = counter();
      const long = yield* spawn(pool.call(spin, gate, false));
      yield* started(gate);
      const calls: Task<string>[] = [];
      for (let i = 0; i < 5; i++) {
        calls.push(
          yield* spawn(function* () {
            try {
              return yield* pool.call((n: number) => `ran ${n}`, i);
            } catch (error) {
              if (error instanceof QueueFull) return "refused";
              throw error;
            }
          }),
        );
      }
      yield* waitAllTasksBlocked();
      assert.equal(pool.queued, 2);
      assert.equal(pool.running, 1);
      Atomics.store(gate, 0, 1);
      assert.equal(yield* long, "released");
      const outcomes: string[] = [];
      for (const call of calls) outcomes.push(yield* call);
      assert.deepEqual(outcomes, ["ran 0", "ran 1", "refused", "refused", "refused"]);
      assert.equal(pool.queued, 0);
    });
  });

  it("close() fails queued jobs with ClosedResourceError, stops the workers, and refuses new jobs", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 1, jobsPerWorker: 1 });
      const gate = counter();
      const running = yield* spawn(() => rejectsOp(pool.call(spin, gate, false), ClosedResourceError));
      yield* started(gate);
      const queued = yield* spawn(() =>
        rejectsOp(
          pool.call(() => 2),
          ClosedResourceError,
        ),
      );
      yield* sleep(1);
      yield* pool.close();
      assert.equal(pool.threads, 0);
      yield* queued;
      yield* running;
      yield* rejectsOp(
        pool.call(() => 1),
        ClosedResourceError,
      );
    });
  });

  it("the pool closes with its owner task, which ends only after the workers exited", async () => {
    let pool: ThreadPool | undefined;
    await run(function* () {
      pool = yield* ThreadPool.start({ size: 2 });
      yield* all([pool.call(() => 1), pool.call(() => 2)]);
    });
    assert.equal(pool?.threads, 0);
    assert.equal(pool?.closed, true);
  });

  it("a pool started by a task that returns at once is still closed", async () => {
    let pool: ThreadPool | undefined;
    await run(function* () {
      pool = yield* ThreadPool.start({ size: 1 });
    });
    assert.equal(pool?.closed, true);
  });

  it("an idle worker stops after idleTimeout", async () => {
    mock.timers.enable({ apis: ["setTimeout", "Date"] });
    try {
      await run(function* () {
        const pool = yield* ThreadPool.start({ size: 1, idleTimeout: 1000 });
        const before = yield* pool.call(threadId);
        mock.timers.tick(999);
        assert.equal(yield* pool.call(threadId), before, "not idle long enough yet");
        mock.timers.tick(1000);
        // The idle worker is stopping: the next job starts a new one.
        assert.notEqual(yield* pool.call(threadId), before);
        assert.equal(pool.threads, 1);
      });
    } finally {
      mock.timers.reset();
    }
  });

  it("idleTimeout and abortGrace beyond 2^31-1 ms (or Infinity) are not cut to 1 ms", async () => {
    // Node turns a longer setTimeout delay into 1 ms, and warns.
    const warnings: string[] = [];
    const onWarning = (warning: Error): void => {
      warnings.push(warning.name);
    };
    process.on("warning", onWarning);
    try {
      for (const long of [2 ** 32, Infinity]) {
        await run(function* () {
          const pool = yield* ThreadPool.start({ size: 1, idleTimeout: long, abortGrace: long });
          // Idle after this job: the idle timer is armed.
          const before = yield* pool.call(threadId);
          const gate = counter();
          const job = yield* spawn(() => pool.call(spin, gate, true));
          yield* started(gate);
          // The grace timer is armed.
          job.cancel();
          assert.equal(yield* pool.call(threadId), before, "the worker was kept");
          // Warnings are emitted on the next tick.
          yield* until(new Promise((resolve) => setImmediate(resolve)));
        });
      }
      assert.deepEqual(warnings, []);
    } finally {
      process.off("warning", onWarning);
    }
  });

  it("rejects bad options", async () => {
    await run(function* () {
      yield* rejectsOp(ThreadPool.start({ size: 0 }), RangeError);
      yield* rejectsOp(ThreadPool.start({ size: Infinity }), RangeError);
      yield* rejectsOp(ThreadPool.start({ jobsPerWorker: 1.5 }), RangeError);
      yield* rejectsOp(ThreadPool.start({ idleTimeout: -1 }), RangeError);
      // Node would refuse it only when a job starts the first worker.
      yield* rejectsOp(ThreadPool.start({ name: 123 as unknown as string }), TypeError);
    });
  });

  it("a call no worker can start for throws Node's error and leaves nothing queued", async () => {
    await run(function* () {
      // A stack larger than any address space: the system gives no thread (as when it has none left, EAGAIN).
      const pool = yield* ThreadPool.start({ size: 1, maxQueue: 1, resourceLimits: { stackSizeMb: 1e12 } });
      for (let i = 0; i < 3; i++) {
        const error = yield* rejectsOp(
          pool.call(() => 1),
          Error,
        );
        assert.equal((error as NodeJS.ErrnoException).code, "ERR_WORKER_INIT_FAILED");
        assert.equal(pool.queued, 0);
      }
      assert.equal(pool.threads, 0);
    });
  });

  /** Makes `new Worker` throw, as when the system has no thread left, until `restore`; `count` is how many it refused. */
  function refuseWorkers(): { restore: () => void; count: () => number } {
    const on = Worker.prototype.on;
    let refused = 0;
    // Node's Worker constructor listens to its own 'newListener' before it starts the thread (setupPortReferencing).
    const spy = mock.method(Worker.prototype, "on", function (this: Worker, event: string, listener: (...args: unknown[]) => void) {
      if (event !== "newListener") return on.call(this, event, listener);
      refused++;
      throw Object.assign(new Error("Worker initialization failure: EAGAIN"), { code: "ERR_WORKER_INIT_FAILED" });
    });
    return { restore: () => spy.mock.restore(), count: () => refused };
  }

  /** Says it started like `spin`, and calls process.exit(3) when the test releases `gate[0]`. */
  const exitWhenReleased = (gate: Int32Array): void => {
    Atomics.add(gate, 1, 1);
    Atomics.notify(gate, 1);
    Atomics.wait(gate, 0, 0);
    process.exit(3);
  };

  it("when its worker died and no new one can start, the jobs queued fail with Node's error, not the process", async () => {
    await run(function* () {
      const pool = yield* ThreadPool.start({ size: 1, jobsPerWorker: 1 });
      const gate = counter();
      const dying = yield* spawn(() => rejectsOp(pool.call(exitWhenReleased, gate), WorkerCrashedError));
      yield* started(gate);
      const queued = yield* spawn(() =>
        rejectsOp(
          pool.call(() => 1),
          Error,
        ),
      );
      yield* waitAllTasksBlocked();
      assert.equal(pool.queued, 1);
      const refusing = refuseWorkers();
      try {
        Atomics.store(gate, 0, 1);
        Atomics.notify(gate, 0);
        yield* dying;
        assert.equal(((yield* queued) as NodeJS.ErrnoException).code, "ERR_WORKER_INIT_FAILED");
        assert.equal(refusing.count(), 1);
        assert.equal(pool.queued, 0);
      } finally {
        refusing.restore();
      }
      assert.equal(yield* pool.call(() => "alive"), "alive");
    });
  });

  /**
   * A pool of two whose first worker holds a long job while the second cannot start: the job queued
   * behind it runs once the retry, a second later, starts the second worker (threads can be had again).
   * With `lagMs`, Date.now() runs that far behind from the refusal on.
   */
  function* retryStartsTheSecondWorker(lagMs: number): Operation<void> {
    const pool = yield* ThreadPool.start({ size: 2, jobsPerWorker: 1 });
    const gate = counter();
    const long = yield* spawn(pool.call(spin, gate, false));
    yield* started(gate);
    const refusing = refuseWorkers();
    let waiting: Task<number>;
    try {
      waiting = yield* spawn(pool.call((n: number) => n + 1, 1));
      yield* waitAllTasksBlocked();
      assert.equal(refusing.count(), 1);
      assert.equal(pool.queued, 1);
      assert.equal(pool.threads, 1);
    } finally {
      refusing.restore();
    }
    const now = Date.now;
    const lagging = lagMs > 0 ? mock.method(Date, "now", () => now() - lagMs) : undefined;
    try {
      assert.equal(yield* timeout(10_000, waiting), 2);
      assert.equal(pool.threads, 2);
    } finally {
      lagging?.mock.restore();
      Atomics.store(gate, 0, 1);
    }
    assert.equal(yield* long, "released");
  }

  it("while a worker cannot start, the jobs wait for those that run, and the pool tries again a second later", async () => {
    await run(() => retryStartsTheSecondWorker(0));
  });

  it("the retry a second later starts the worker even if the wall clock has not reached that second when its timer fires", async () => {
    // Node times a setTimeout from the loop's cached time, which lags behind Date.now() in a busy turn:
    // here Date.now() lags by 200 ms instead, so the timer fires before the retry time it set is reached.
    await run(() => retryStartsTheSecondWorker(200));
  });

  it("rejects resourceLimits with which Node would abort the whole process rather than fail the worker", async () => {
    await run(function* () {
      // Node 22 and 24 abort while the worker loads its snapshot; every Node aborts on a stack this small.
      for (const limits of [{ maxOldGenerationSizeMb: 1 }, { maxOldGenerationSizeMb: 0 }, { stackSizeMb: 0.1 }]) {
        const error = yield* rejectsOp(ThreadPool.start({ resourceLimits: limits }), RangeError);
        assert.match(error.message, /resourceLimits\.\w+ must be a number >= [\d.]+ \(with less, Node aborts the whole process/);
      }
      yield* rejectsOp(ThreadPool.start({ resourceLimits: { maxYoungGenerationSizeMb: Number.NaN } }), RangeError);
      yield* rejectsOp(ThreadPool.start({ resourceLimits: "small" as never }), TypeError);
      // The smallest accepted values start the pool; what they cannot run fails as a crash of the worker.
      const pool = yield* ThreadPool.start({ size: 1, resourceLimits: { maxOldGenerationSizeMb: 16, stackSizeMb: 0.5 } });
      assert.equal(yield* pool.call(() => "ran"), "ran");
    });
  });

  it("says to use ThreadPool.start when plain JavaScript constructs one with new (as piscina's users would)", () => {
    const Constructor = ThreadPool as unknown as new (options: object) => ThreadPool;
    assert.throws(() => new Constructor({ size: 2 }), {
      name: "TypeError",
      message: /^Cannot create a ThreadPool with new: use yield\* ThreadPool\.start\(options\)/,
    });
  });
});

describe("toThread and callInThread (the default pool)", () => {
  for (const another of [false, true]) {
    it(`toThread in the cleanup of a root's daemon runs: the default pool started then lives until that cleanup ends${another ? ", though another daemon of the root ends first" : ""} (review, stop 40)`, async () => {
      let out: unknown = "not run";
      await run(function* () {
        yield* spawn(
          function* () {
            try {
              yield* suspend();
            } finally {
              // A last flush on the way out: the root's default pool starts here, a daemon of the root
              // after the root's daemons were cancelled (it was cancelled at once, or the root hung).
              try {
                out = yield* toThread((n: number) => n * 2, 21);
              } catch (error) {
                out = error;
              }
            }
          },
          { daemon: true },
        );
        // Another service of the root, which ends at once when cancelled (while the job above runs).
        if (another) yield* spawn(suspend, { daemon: true });
        yield* sleep(1);
      });
      assert.equal(out, 42);
    });
  }

  it("toThread runs on the default pool of the root task, which closes with it", async () => {
    const first = await run(function* () {
      return yield* toThread((n: number) => n + 1, 1);
    });
    const second = await run(function* () {
      return yield* all([toThread(() => "a"), toThread(() => "b")]);
    });
    assert.equal(first, 2);
    assert.deepEqual(second, ["a", "b"]);
  });

  it("callInThread runs without being awaited; its caller ends after it; errors are reported, not thrown", async () => {
    const { reports, onError } = collectReports();
    const seen = counter();
    await runVirtual(
      function* () {
        void callInThread((c: Int32Array) => Atomics.add(c, 0, 1), seen);
        void callInThread(function broken() {
          throw new Error("in the thread");
        });
      },
      { onError },
    );
    assert.equal(Atomics.load(seen, 0), 1);
    assert.equal(reports.length, 1);
    assert.match(String(reports[0]?.error), /in the thread/);
    assert.match(reports[0]?.path ?? "", /callInThread broken/);
  });

  it("on the virtual clock, time stands still while a thread works", async () => {
    await runVirtual(function* () {
      const winner = yield* race([
        toThread(() => {
          const end = Date.now() + 30;
          while (Date.now() < end);
          return "thread";
        }),
        function* () {
          yield* sleep(1);
          return "timer";
        },
      ]);
      assert.equal(winner, "thread");
      yield* waitAllTasksBlocked();
    });
  });
});
