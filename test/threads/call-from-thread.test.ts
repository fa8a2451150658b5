// Workers calling the main thread (callFromThread, exposeToThreads), and errors crossing between them.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CancelledError, QueueFull, run, sleep, spawn, suspend, TimeoutError, timeout } from "../../src/index.ts";
import { runVirtual } from "../../src/testing/index.ts";
import { callFromThread, exposeToThreads, type ThreadContext, ThreadPool, transfer } from "../../src/threads/index.ts";
import { checkLeaks, rejectsOp } from "../_helpers.ts";
import { MODULE } from "./_helpers.ts";

checkLeaks();

describe("ThreadPool: callFromThread", () => {
  it("a job calls exposed main-thread functions: values, promises, operations and errors", async () => {
    const removers = [
      exposeToThreads("double", (n: number) => n * 2),
      exposeToThreads("later", async (s: string) => `${s}!`),
      exposeToThreads("slowly", function* (n: number) {
        yield* sleep(5);
        return n + 1;
      }),
      exposeToThreads("broken", () => {
        throw new Error("main-side failure");
      }),
    ];
    try {
      await run(function* () {
        const pool = yield* ThreadPool.start({ size: 1 });
        const results = yield* pool.call(async function (this: ThreadContext) {
          const out: unknown[] = [await this.callFromThread("double", 21), await this.callFromThread("later", "hi"), await this.callFromThread("slowly", 1)];
          try {
            await this.callFromThread("broken");
          } catch (error) {
            out.push((error as Error).message);
          }
          try {
            await this.callFromThread("missing");
          } catch (error) {
            out.push((error as Error).message);
          }
          return out;
        });
        assert.deepEqual(results.slice(0, 4), [42, "hi!", 2, "main-side failure"]);
        assert.match(String(results[4]), /no function named "missing" is exposed/);
        // The module-level callFromThread works in module code too.
        assert.equal(yield* pool.run(MODULE, "askMain", "double", 5), 10);
      });
    } finally {
      for (const remove of removers) remove();
    }
  });

  it("an exposed function's error reaches the worker with its class: corio's where the worker loaded corio, built-in ones always, else its name", async () => {
    class PaymentError extends Error {
      override name = "PaymentError";
      status = 402;
    }
    const removers = [
      exposeToThreads("cancelled", () => {
        throw new CancelledError("stop");
      }),
      exposeToThreads("timedOut", function* () {
        yield* timeout(1, suspend());
      }),
      exposeToThreads("full", () => {
        throw new QueueFull("no room");
      }),
      exposeToThreads("coded", () => {
        throw Object.assign(new RangeError("bad range", { cause: new TypeError("inner") }), { code: "EBAD" });
      }),
      exposeToThreads("custom", () => {
        throw new PaymentError("no money");
      }),
    ];
    try {
      await run(function* () {
        const pool = yield* ThreadPool.start({ size: 1 });
        // The module imports corio: the worker has its classes.
        assert.deepEqual(yield* pool.run(MODULE, "catchFromMain", "cancelled"), {
          instanceOf: "CancelledError",
          name: "CancelledError",
          message: 'Task was cancelled: "stop"',
          code: undefined,
          reason: "stop",
          ms: undefined,
          status: undefined,
          cause: undefined,
        });
        assert.deepEqual(yield* pool.run(MODULE, "catchFromMain", "timedOut"), {
          instanceOf: "TimeoutError",
          name: "TimeoutError",
          message: "Operation timed out after 1 ms",
          code: undefined,
          reason: undefined,
          ms: 1,
          status: undefined,
          // The cancel the TimeoutError replaced, with its class too.
          cause: { instanceOf: "CancelledError", message: "Task was cancelled: TimeoutError: Operation timed out after 1 ms" },
        });
        assert.equal((yield* pool.run<{ instanceOf: string }>(MODULE, "catchFromMain", "full")).instanceOf, "QueueFull");
        assert.deepEqual(yield* pool.run(MODULE, "catchFromMain", "coded"), {
          instanceOf: "RangeError",
          name: "RangeError",
          message: "bad range",
          code: "EBAD",
          reason: undefined,
          ms: undefined,
          status: undefined,
          cause: { instanceOf: "TypeError", message: "inner" },
        });
        assert.deepEqual(yield* pool.run(MODULE, "catchFromMain", "custom"), {
          instanceOf: "Error",
          name: "PaymentError",
          message: "no money",
          code: undefined,
          reason: undefined,
          ms: undefined,
          status: 402,
          cause: undefined,
        });
      });
      await run(function* () {
        // A fresh worker that never loaded corio: the error keeps its name.
        const pool = yield* ThreadPool.start({ size: 1 });
        const seen = yield* pool.call(async function (this: ThreadContext) {
          try {
            await this.callFromThread("cancelled");
          } catch (error) {
            return [error instanceof Error, (error as Error).name, (error as Error).message];
          }
          return ["did not fail"];
        });
        assert.deepEqual(seen, [true, "CancelledError", 'Task was cancelled: "stop"']);
      });
    } finally {
      for (const remove of removers) remove();
    }
  });

  it("a job's error reaches its task with its class: corio's error made in the worker, and a main-thread error the job let through", async () => {
    const remove = exposeToThreads("cancelled", () => {
      throw new CancelledError("stop");
    });
    try {
      await run(function* () {
        const pool = yield* ThreadPool.start({ size: 1 });
        // Made in a worker that never loaded corio: it comes back as what it was.
        const roundTrip = yield* rejectsOp(
          pool.call(async function (this: ThreadContext) {
            await this.callFromThread("cancelled");
          }),
          CancelledError,
        );
        assert.equal((roundTrip as CancelledError).reason, "stop");
        // An Error that only has a corio name is not taken for the class.
        const named = yield* rejectsOp(
          pool.call(() => {
            throw Object.assign(new Error("only a name"), { name: "CancelledError" });
          }),
          Error,
        );
        assert.ok(!(named instanceof CancelledError));
        assert.equal(named.name, "CancelledError");
        // A subclass of a built-in class arrives as that class, with its name.
        const subclass = yield* rejectsOp(
          pool.call(() => {
            class ParseError extends SyntaxError {
              override name = "ParseError";
            }
            throw new ParseError("unexpected token");
          }),
          SyntaxError,
        );
        assert.equal(subclass.name, "ParseError");
        // Made in a worker that loaded corio.
        const made = yield* rejectsOp(pool.run(MODULE, "throwsTimeout"), TimeoutError);
        assert.equal((made as TimeoutError).ms, 5);
        assert.equal(made.message, "too slow in the worker");
        assert.match(made.stack ?? "", /thread-module/);
        yield* rejectsOp(pool.run(MODULE, "rethrowFromMain", "cancelled"), CancelledError);
      });
    } finally {
      remove();
    }
  });

  it("errors whose getters throw cross either way: a field left out, or an Error saying what could not be read", async () => {
    /** An error whose `detail` getter throws, and one whose `name` getter does. */
    const makeErrors = (): Error[] => {
      const lazy = new RangeError("lazy");
      Object.defineProperty(lazy, "detail", {
        enumerable: true,
        get: () => {
          throw new Error("detail unavailable");
        },
      });
      Object.defineProperty(lazy, "code", { enumerable: true, value: "E_LAZY" });
      const nameless = new Error("nameless");
      Object.defineProperty(nameless, "name", {
        get: () => {
          throw new Error("no name");
        },
      });
      return [lazy, nameless];
    };
    const removes = [
      exposeToThreads("lazy", () => {
        throw makeErrors()[0];
      }),
      exposeToThreads("nameless", () => {
        throw makeErrors()[1];
      }),
    ];
    try {
      await run(function* () {
        const pool = yield* ThreadPool.start({ size: 1 });
        // A job's error, thrown in the worker (the other jobs there are not failed with it).
        const bystander = yield* spawn(pool.call(() => new Promise((resolve) => setImmediate(resolve, "bystander"))));
        const lazy = yield* rejectsOp(pool.call(new Function(`throw (${makeErrors.toString()})()[0];`) as () => never), RangeError);
        assert.equal(lazy.message, "lazy");
        assert.equal((lazy as Error & { code?: string }).code, "E_LAZY");
        assert.equal("detail" in lazy, false);
        const nameless = yield* rejectsOp(pool.call(new Function(`throw (${makeErrors.toString()})()[1];`) as () => never), Error);
        assert.match(nameless.message, /cannot be read to send it across threads \(no name\)/);
        assert.equal(yield* bystander, "bystander");
        // An exposed function's error, serialized in the main thread's handler.
        const seen = yield* pool.call(async function (this: ThreadContext) {
          const messages: string[] = [];
          for (const name of ["lazy", "nameless"]) {
            try {
              await this.callFromThread(name);
            } catch (error) {
              messages.push(`${(error as Error).constructor.name} ${(error as Error).message}`);
            }
          }
          return messages;
        });
        assert.equal(seen[0], "RangeError lazy");
        assert.match(seen[1] as string, /^Error .*cannot be read to send it across threads \(no name\)/);
      });
    } finally {
      for (const remove of removes) remove();
    }
  });

  it("transfer() does not apply to a callFromThread's arguments or result: that call fails saying so, the others go through", async () => {
    const removes = [
      exposeToThreads("marked", () => ({ data: transfer(new Uint8Array(2)) })),
      exposeToThreads("markedWhole", () => transfer(new Uint8Array(2))),
      exposeToThreads("same", (value: unknown) => value),
    ];
    try {
      await run(function* () {
        const pool = yield* ThreadPool.start({ size: 1 });
        const seen = yield* pool.call(async function (this: ThreadContext) {
          const attempt = (call: Promise<unknown>): Promise<unknown> =>
            call.then(
              (value) => ({ value }),
              (error: Error) => `${error.name}: ${error.message}`,
            );
          // Sent together: the calls that fail must not take the others with them.
          return await Promise.all([
            attempt(this.callFromThread("marked")),
            attempt(this.callFromThread("same", 1)),
            attempt(this.callFromThread("markedWhole")),
            attempt(this.callFromThread("same", { bytes: this.transfer(new Uint8Array(2)) })),
            attempt(this.callFromThread("same", 2)),
          ]);
        });
        assert.deepEqual(seen, [
          "TypeError: callFromThread: the result cannot be copied to the worker (transfer() does not apply to it, and result.data is one: it is copied, return the value itself)",
          { value: 1 },
          "TypeError: callFromThread: the result cannot be copied to the worker (transfer() does not apply to it, and result is one: it is copied, return the value itself)",
          "TypeError: callFromThread: this.transfer() does not apply to callFromThread's arguments, and args[0].bytes is one: they are copied, pass the value itself",
          { value: 2 },
        ]);
      });
    } finally {
      for (const remove of removes) remove();
    }
  });

  it("on the main thread, callFromThread schedules the function on the loop", async () => {
    await runVirtual(function* () {
      const calls: number[] = [];
      callFromThread((n: number) => calls.push(n), 1);
      assert.deepEqual(calls, []);
      yield* sleep(0);
      assert.deepEqual(calls, [1]);
      assert.throws(() => callFromThread("double" as never), /only workers call/);
    });
  });

  it("exposeToThreads refuses a name in use and bad arguments", () => {
    const remove = exposeToThreads("taken", () => 1);
    try {
      assert.throws(() => exposeToThreads("taken", () => 2), /already exposed/);
      assert.throws(() => exposeToThreads("", () => 2), /non-empty string/);
      assert.throws(() => exposeToThreads("x", 3 as never), /expected a function/);
    } finally {
      remove();
    }
  });
});
