import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { describe, it } from "node:test";
import {
  Broadcast,
  CancelledError,
  Channel,
  each,
  forEach,
  isCancellation,
  type Operation,
  type OperationIterator,
  Queue,
  run,
  StreamReader,
  sleep,
  spawn,
  timeout,
  until,
} from "../../src/index.ts";
import { readMessages } from "../../src/net/index.ts";
import { runVirtual, waitAllTasksBlocked } from "../../src/testing/index.ts";
import { checkLeaks, collectReports, promiseWithResolvers, rejectsOp } from "../_helpers.ts";

checkLeaks();

/**
 * An async iterator driven by hand: `push` resolves the read in flight (or queues), `last()` is the
 * latest read's promise, and it records `return()`.
 */
function manualIterator<T>(): AsyncIterableIterator<T> & { push(value: T): void; last(): Promise<IteratorResult<T>>; reads: number; returned: number } {
  const queued: T[] = [];
  let waiting: ((result: IteratorResult<T>) => void) | null = null;
  let latest: Promise<IteratorResult<T>> = Promise.resolve({ done: true, value: undefined });
  const it = {
    reads: 0,
    returned: 0,
    last: () => latest,
    push(value: T) {
      if (waiting !== null) {
        const resolve = waiting;
        waiting = null;
        resolve({ done: false, value });
      } else queued.push(value);
    },
    next(): Promise<IteratorResult<T>> {
      it.reads++;
      if (queued.length > 0) latest = Promise.resolve({ done: false, value: queued.shift() as T });
      else
        latest = new Promise((resolve) => {
          waiting = resolve;
        });
      return latest;
    },
    async return(): Promise<IteratorResult<T>> {
      it.returned++;
      return { done: true, value: undefined };
    },
    [Symbol.asyncIterator]() {
      return it;
    },
  };
  return it;
}

function* collect<T>(source: OperationIterator<T> | AsyncIterable<T> | ReadableStream<T>): Operation<T[]> {
  const out: T[] = [];
  yield* forEach(source as AsyncIterable<T>, function* (item) {
    out.push(item);
  });
  return out;
}

describe("each and forEach", () => {
  it("iterate an async generator with the pull loop, and give its return value", async () => {
    await runVirtual(function* () {
      async function* gen() {
        yield 1;
        yield 2;
        return "end";
      }
      const it = yield* each(gen());
      const seen: number[] = [];
      let r = yield* it.next();
      for (; !r.done; r = yield* it.next()) seen.push(r.value);
      assert.deepEqual(seen, [1, 2]);
      assert.equal(r.value, "end");
      assert.deepEqual(yield* it.next(), { done: true, value: "end" }, "stays done");
      assert.equal(yield* forEach(gen(), function* () {}), "end");
    });
  });

  it("leaving early with return() runs the generator's finally before going on", async () => {
    await runVirtual(function* () {
      const log: string[] = [];
      async function* gen() {
        try {
          for (let i = 0; ; i++) yield i;
        } finally {
          await new Promise((resolve) => setImmediate(resolve));
          log.push("generator finally");
        }
      }
      const it = yield* each(gen());
      for (let r = yield* it.next(); !r.done; r = yield* it.next()) if (r.value === 2) break;
      yield* it.return();
      log.push("after return");
      yield* it.return(); // idempotent
      assert.deepEqual(log, ["generator finally", "after return"]);
      assert.deepEqual(yield* it.next(), { done: true, value: undefined });
    });
  });

  it("an iterator left without return() is released when its task ends", async () => {
    await runVirtual(function* () {
      const source = manualIterator<number>();
      source.push(1);
      yield* spawn(function* () {
        const it = yield* each(source);
        assert.equal((yield* it.next()).value, 1);
      });
      yield* sleep(1);
      assert.equal(source.returned, 1);
    });
  });

  it("cancelling a next() loses nothing: the read in flight gives the next item", async () => {
    await runVirtual(function* () {
      const source = manualIterator<string>();
      const it = yield* each(source);
      // (A timeout cannot fire here: a wait on a promise holds the virtual clock still.)
      const reader = yield* spawn(() => it.next());
      yield* waitAllTasksBlocked();
      reader.cancel();
      yield* waitAllTasksBlocked();
      assert.equal(reader.cancelled, true);
      source.push("late");
      assert.deepEqual(yield* it.next(), { done: false, value: "late" });
      assert.equal(source.reads, 1, "one read, not two");
      yield* it.return();
      assert.equal(source.returned, 1);
    });
  });

  it("an item that arrives in the turn its wait is cancelled goes to the next next()", async () => {
    await runVirtual(function* () {
      const source = manualIterator<string>();
      const it = yield* each(source);
      const reader = yield* spawn(() => it.next());
      yield* waitAllTasksBlocked();
      // Runs after each's own callback on the same promise: the reader is woken with "x", not yet run.
      void source.last().then(() => reader.cancel());
      source.push("x");
      yield* rejectsOp(reader, CancelledError);
      assert.deepEqual(yield* it.next(), { done: false, value: "x" });
      assert.equal(source.reads, 1, "one read, not two");
    });
  });

  it("tasks waiting on one source get an item each, in the order they asked, with one read at a time", async () => {
    await runVirtual(function* () {
      const source = manualIterator<string>();
      const it = yield* each(source);
      const first = yield* spawn(() => it.next());
      const second = yield* spawn(() => it.next());
      yield* waitAllTasksBlocked();
      assert.equal(source.reads, 1, "the second waits its turn");
      source.push("a");
      source.push("b");
      assert.deepEqual(yield* first, { done: false, value: "a" });
      assert.deepEqual(yield* second, { done: false, value: "b" });
      assert.equal(source.reads, 2);
    });
  });

  it("an item whose task is cancelled before it runs goes to the task waiting behind it", async () => {
    await runVirtual(function* () {
      const source = manualIterator<string>();
      const it = yield* each(source);
      const first = yield* spawn(() => it.next());
      const second = yield* spawn(() => it.next());
      yield* waitAllTasksBlocked();
      void source.last().then(() => first.cancel());
      source.push("x");
      yield* rejectsOp(first, CancelledError);
      assert.deepEqual(yield* second, { done: false, value: "x" });
      assert.equal(source.reads, 1, "one read, not two");
    });
  });

  it("a wait returned (not resumed) after its item came keeps the item, and the clock's busy count", async () => {
    await runVirtual(function* () {
      const source = manualIterator<number>();
      const it = yield* each(source);
      // What a hand-written combinator may do: run `yield* it.next()` in a generator, then return it.
      const abandoning = {
        [Symbol.iterator](): Iterator<unknown, unknown, unknown> {
          const inner = (function* () {
            return yield* it.next();
          })();
          let started = false;
          return {
            next: () => {
              if (started) {
                inner.return(undefined as never);
                return { done: true, value: "abandoned" };
              }
              started = true;
              return inner.next();
            },
          };
        },
      };
      yield* spawn(function* () {
        source.push(1);
      });
      assert.equal(yield* abandoning as Operation<string>, "abandoned");
      assert.deepEqual(yield* it.next(), { done: false, value: 1 }, "the item was kept");
      // A busy count off by one would hold the virtual clock still for ever: this sleep would not end.
      yield* sleep(5);
    });
  });

  it("a generator around next() closed from another task leaves its task to wake, and the item to the next next()", async () => {
    await runVirtual(function* () {
      const source = manualIterator<string>();
      const it = yield* each(source);
      const inner = (function* (): Generator<unknown, IteratorResult<string>, unknown> {
        return yield* it.next();
      })();
      const task = yield* spawn(() => inner as unknown as Operation<IteratorResult<string>>);
      yield* waitAllTasksBlocked();
      inner.return({ done: true, value: undefined });
      source.push("a");
      assert.equal(yield* task, undefined, "the closed generator gives undefined to the task");
      assert.deepEqual(yield* it.next(), { done: false, value: "a" }, "the item is not lost");
      assert.equal(source.reads, 1);
    });
  });

  it("a Web stream whose failed read cannot release its lock gives that error to the task, not a hang", async () => {
    await runVirtual(function* () {
      const source = {
        getReader: () => ({
          read: () => Promise.reject(new Error("read failed")),
          cancel: () => Promise.resolve(),
          releaseLock: () => {
            throw new TypeError("releaseLock threw");
          },
        }),
      };
      const it = yield* each(source as unknown as ReadableStream<number>);
      const error = yield* rejectsOp(it.next(), TypeError);
      assert.equal(error.message, "releaseLock threw");
    });
  });

  it("an async iterator whose next() gives no iterator result fails with a TypeError naming it", async () => {
    await runVirtual(function* () {
      const source = {
        next: () => Promise.resolve(42 as unknown as IteratorResult<number>),
        [Symbol.asyncIterator]() {
          return source;
        },
      };
      const error = yield* rejectsOp(collect(source), TypeError);
      assert.equal(error.message, "Cannot iterate with each: the async iterator's next() gave number, not an iterator result ({ done, value })");
    });
  });

  it("cancelled while a read is in flight, it calls return() without waiting behind the read", async () => {
    await runVirtual(function* () {
      const log: string[] = [];
      async function* stuck() {
        try {
          yield await new Promise<number>(() => {}); // never settles
        } finally {
          log.push("never reached");
        }
      }
      const task = yield* spawn(() => forEach(stuck(), function* () {}));
      yield* waitAllTasksBlocked();
      task.cancel();
      yield* waitAllTasksBlocked();
      assert.equal(task.cancelled, true);
      assert.deepEqual(log, []);
    });
  });

  it("a Node Readable is destroyed when the loop is cancelled, and read with backpressure", async () => {
    await runVirtual(function* () {
      let reads = 0;
      const stream = new Readable({
        objectMode: true,
        highWaterMark: 2,
        read() {
          reads++;
          if (reads <= 3) this.push(reads);
        },
      });
      const seen: number[] = [];
      const task = yield* spawn(() =>
        forEach(stream, function* (n: number) {
          seen.push(n);
          yield* sleep(100); // a slow consumer
        }),
      );
      yield* sleep(150);
      assert.deepEqual(seen, [1, 2]);
      assert.ok(reads <= 4, `the stream was read ahead only up to its highWaterMark (${reads} reads)`);
      assert.equal(stream.destroyed, false);
      task.cancel();
      yield* sleep(1);
      assert.equal(stream.destroyed, true);
    });
  });

  it("a Node Readable that ends is not destroyed by the release; its chunks are bytes", async () => {
    await runVirtual(function* () {
      const stream = Readable.from([Buffer.from("ab"), Buffer.from("c")], { objectMode: false });
      const chunks = yield* collect<Uint8Array>(stream);
      assert.equal(Buffer.concat(chunks).toString(), "abc");
    });
  });

  it("a Web ReadableStream is cancelled (with its lock released) when the loop stops early", async () => {
    await runVirtual(function* () {
      let cancelled: unknown = "no";
      let pulls = 0;
      const stream = new ReadableStream<number>(
        {
          pull(controller) {
            pulls++;
            controller.enqueue(pulls);
          },
          cancel(reason) {
            cancelled = reason;
          },
        },
        { highWaterMark: 1 },
      );
      const it = yield* each(stream);
      assert.deepEqual(yield* it.next(), { done: false, value: 1 });
      yield* it.return();
      assert.equal(cancelled, "the iteration was stopped");
      assert.equal(stream.locked, false, "the reader's lock is released after the cancel");
      assert.ok(pulls <= 3);

      const finite = new ReadableStream<string>({
        start(controller) {
          controller.enqueue("x");
          controller.enqueue("y");
          controller.close();
        },
      });
      assert.deepEqual(yield* collect<string>(finite), ["x", "y"]);
      assert.equal(finite.locked, false, "the reader's lock is released at the end");
    });
  });

  it("a Web ReadableStream waiting for data is cancelled with the task (with its lock released)", async () => {
    await runVirtual(function* () {
      const { promise, resolve } = promiseWithResolvers<unknown>();
      const stream = new ReadableStream<number>({ cancel: (reason) => resolve(reason) });
      const task = yield* spawn(() => forEach(stream, function* () {}));
      yield* waitAllTasksBlocked();
      task.cancel();
      assert.equal(yield* until(promise), "the iteration was stopped");
      yield* rejectsOp(task, CancelledError);
      assert.equal(stream.locked, false, "the reader's lock is released after the cancel");
    });
  });

  it("a Web ReadableStream keeps the read a cancelled next() left, and an error ends it with the lock released", async () => {
    await runVirtual(function* () {
      let control: ReadableStreamDefaultController<string> | undefined;
      const stream = new ReadableStream<string>({
        start(controller) {
          control = controller;
        },
      });
      const it = yield* each(stream);
      const reader = yield* spawn(() => it.next());
      yield* waitAllTasksBlocked();
      reader.cancel();
      yield* rejectsOp(reader, CancelledError);
      control?.enqueue("kept");
      control?.enqueue("second");
      assert.deepEqual(yield* it.next(), { done: false, value: "kept" });
      assert.deepEqual(yield* it.next(), { done: false, value: "second" });
      // Runs once this task waits on its read.
      yield* spawn(function* () {
        control?.error(new RangeError("the peer went away"));
      });
      const error = yield* rejectsOp(it.next(), RangeError);
      assert.equal(error.message, "the peer went away");
      assert.equal(stream.locked, false, "the lock is released");
      assert.deepEqual(yield* it.next(), { done: true, value: undefined }, "the iteration is over");
    });
  });

  it("iterates Queue, Channel, Subscription, reader.lines() and framed messages the same way", async () => {
    await runVirtual(function* () {
      const queue = new Queue<number>();
      for (const n of [1, 2]) queue.putNowait(n);
      queue.shutdown();
      assert.deepEqual(yield* collect(queue), [1, 2]);

      const channel = new Channel<string>();
      yield* spawn(function* () {
        yield* channel.send("a");
        yield* sleep(5);
        yield* channel.send("b");
        channel.close("bye");
      });
      const got: string[] = [];
      const reason = yield* forEach(channel, function* (m) {
        got.push(m);
      });
      assert.deepEqual([got, reason], [["a", "b"], "bye"]);

      const news = new Broadcast<number>();
      const sub = news.subscribe();
      news.publish(7);
      news.close();
      assert.deepEqual(yield* collect<number>(sub as OperationIterator<number>), [7]);

      const reader = new StreamReader();
      reader.feed(new TextEncoder().encode("l1\r\nl2\r\nrest"));
      reader.feedEof();
      assert.deepEqual(yield* collect(reader.lines("\r\n")), ["l1", "l2", "rest"]);

      const framed = new StreamReader();
      framed.feed(new TextEncoder().encode("x|y|"));
      framed.feedEof();
      assert.deepEqual(yield* collect(readMessages(framed, { mode: "line", delimiter: "|" })), ["x", "y"]);
    });
  });

  it("accepts a hand-written corio iterator, and calls its return() on release", async () => {
    await runVirtual(function* () {
      let closed = 0;
      let n = 0;
      const source: OperationIterator<number> & { return(): Operation<void> } = {
        *next() {
          yield* sleep(1);
          return { done: false, value: ++n };
        },
        *return() {
          yield* sleep(1);
          closed++;
        },
      };
      const it = yield* each(source);
      assert.equal((yield* it.next()).value, 1);
      yield* it.return();
      assert.equal(closed, 1);
    });
  });

  it("a hand-written iterator's next() sees what its wait throws: a cancel runs its finally, an error it catches becomes its item", async () => {
    await runVirtual(function* () {
      const log: string[] = [];
      let calls = 0;
      const source: OperationIterator<string> = {
        *next() {
          const call = ++calls;
          try {
            // The first call is cancelled while it waits; the second fails and answers for itself.
            if (call === 2) yield* until(Promise.reject(new Error("flaky")));
            else yield* sleep(10);
            return { done: false, value: `item ${call}` };
          } catch (error) {
            if (isCancellation(error)) throw error;
            return { done: false, value: `recovered from ${(error as Error).message}` };
          } finally {
            log.push(`next ${call} ended`);
          }
        },
      };
      const it = yield* each(source);
      const waiting = yield* spawn(() => it.next());
      yield* sleep(1);
      waiting.cancel();
      yield* rejectsOp(waiting, CancelledError);
      assert.deepEqual(log, ["next 1 ended"]);
      assert.deepEqual(yield* it.next(), { done: false, value: "recovered from flaky" });
      assert.deepEqual(yield* it.next(), { done: false, value: "item 3" });
      yield* it.return();
    });
  });

  it("an error from the body releases the source and propagates", async () => {
    await runVirtual(function* () {
      const source = manualIterator<number>();
      source.push(1);
      const boom = new Error("boom");
      try {
        yield* forEach(source, function* () {
          throw boom;
        });
        assert.fail("should throw");
      } catch (error) {
        assert.equal(error, boom);
      }
      assert.equal(source.returned, 1);
    });
  });

  it("an error from the body wins over one from releasing the source, which is reported, not dropped", async () => {
    const { reports, onError } = collectReports();
    await runVirtual(
      function* () {
        async function* gen() {
          try {
            yield 1;
            yield 2;
          } finally {
            // biome-ignore lint/correctness/noUnsafeFinally: the cleanup failure under test
            throw new Error("cleanup failed");
          }
        }
        const failing = new ReadableStream<number>({
          pull(controller) {
            controller.enqueue(1);
          },
          cancel() {
            throw new Error("cancel failed");
          },
        });
        for (const source of [gen(), failing]) {
          const error = yield* rejectsOp(
            forEach(source, function* () {
              throw new Error("body failed");
            }),
            Error,
          );
          assert.equal(error.message, "body failed", "as for await: the body's error");
        }
        assert.equal(failing.locked, false, "the lock is released even though the cancel failed");
      },
      { onError, name: "main" },
    );
    assert.deepEqual(
      reports.map((r) => [r.kind, r.path, (r.error as Error).message, ((r.error as Error).cause as Error).message]),
      [
        ["callback", "main", "forEach could not release its source while it threw another error (the one thrown: Error: body failed)", "cleanup failed"],
        ["callback", "main", "forEach could not release its source while it threw another error (the one thrown: Error: body failed)", "cancel failed"],
      ],
    );
  });

  it("an error from releasing the source wins over a cancellation", async () => {
    await runVirtual(function* () {
      async function* gen() {
        try {
          yield 1;
          yield 2;
        } finally {
          // biome-ignore lint/correctness/noUnsafeFinally: the cleanup failure under test
          throw new Error("cleanup failed");
        }
      }
      const error = yield* rejectsOp(
        timeout(1, () => forEach(gen(), () => sleep(10))),
        Error,
      );
      assert.equal(error.message, "cleanup failed");
    });
  });

  it("rejects what is not a source with a TypeError naming what is accepted", async () => {
    await runVirtual(function* () {
      for (const bad of [42, null, [1, 2], sleep(1), { next: () => Promise.resolve({ done: true }) }]) {
        try {
          const it = yield* each(bad as never);
          yield* it.next();
          assert.fail(`accepted ${String(bad)}`);
        } catch (error) {
          assert.ok(error instanceof TypeError, String(error));
          assert.match(error.message, /async iterable|must return an operation/);
        }
      }
      try {
        yield* forEach(new Queue(), 3 as never);
        assert.fail("accepted a bad body");
      } catch (error) {
        assert.ok(error instanceof TypeError);
      }
    });
  });
});

describe("for await over corio sources (plain async code)", () => {
  it("Channel, Queue, Subscription, lines and framed messages are async iterable", async () => {
    const channel = new Channel<number>();
    channel.trySend(1);
    channel.trySend(2);
    channel.close();
    const got: number[] = [];
    for await (const n of channel) got.push(n);
    assert.deepEqual(got, [1, 2]);

    const queue = new Queue<string>();
    queue.putNowait("q");
    queue.shutdown();
    const items: string[] = [];
    for await (const item of queue) items.push(item);
    assert.deepEqual(items, ["q"]);

    const reader = new StreamReader();
    reader.feed(new TextEncoder().encode("a\nb\n"));
    reader.feedEof();
    const lines: string[] = [];
    for await (const line of reader.lines()) lines.push(line);
    assert.deepEqual(lines, ["a", "b"]);

    const framed = new StreamReader();
    framed.feed(new TextEncoder().encode("abc"));
    framed.feedEof();
    const chunks: unknown[] = [];
    for await (const chunk of readMessages(framed, { mode: "raw", maxLength: 2 })) chunks.push(new TextDecoder().decode(chunk as Uint8Array));
    assert.deepEqual(chunks, ["ab", "c"]);
  });

  it("a message sent from a task reaches a for-await loop; breaking out leaves the channel open", async () => {
    const channel = new Channel<string>();
    const producer = run(function* () {
      yield* channel.send("hello");
      yield* channel.send("again");
    });
    for await (const message of channel) {
      assert.equal(message, "hello");
      break;
    }
    await producer;
    assert.equal(channel.closed, false);
    assert.equal(channel.tryReceive().state, "ok", "the second message is still there");
  });

  it("return() while a next() waits cancels that wait, which resolves done, and loses no item", async () => {
    const channel = new Channel<number>();
    const iterator = channel[Symbol.asyncIterator]();
    const pending = iterator.next();
    await new Promise((resolve) => setImmediate(resolve));
    await iterator.return?.();
    assert.deepEqual(await pending, { done: true, value: undefined });
    assert.deepEqual(await iterator.next(), { done: true, value: undefined });
    channel.trySend(5);
    assert.deepEqual(channel.tryReceive(), { state: "ok", value: 5 });
  });

  it("an error in the source rejects the for-await loop", async () => {
    const reader = new StreamReader({ limit: 4 });
    reader.feed(new TextEncoder().encode("toolongline\nok\n"));
    reader.feedEof();
    const iterator = reader.lines()[Symbol.asyncIterator]();
    await assert.rejects(iterator.next(), { name: "LimitOverrunError" });
    assert.deepEqual(await iterator.next(), { done: false, value: "ok" });
  });
});
