import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { each, Future, moveOnAfter, type Operation, run, StreamReader, sleep, spawn, TimeoutError, timeout, until } from "../../src/index.ts";
import { createMemoryStreamPair } from "../../src/streams/index.ts";
import { runVirtual } from "../../src/testing/index.ts";
import { checkLeaks, rejectsOp } from "../_helpers.ts";

checkLeaks();

const encode = (text: string): Uint8Array => new TextEncoder().encode(text);
const decode = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

// spawn, yield* task, yield* future, the time limits, readLine and drain are written as
// objects that are their own iterator instead of generators: they must behave as the
// generators did (lazy until run, run once, named in the messages of mistakes).
describe("the step operations of core, time and streams", () => {
  it("spawn does nothing until run, and spawns once", async () => {
    const seen = await runVirtual(function* () {
      let runs = 0;
      const op = spawn(function* () {
        runs++;
      });
      yield* sleep(1);
      const before = runs;
      const task = yield* op;
      yield* task;
      // Run again once finished: a TypeError, nothing spawned.
      const again = (yield* rejectsOp(op, TypeError)).message;
      return { before, runs, again };
    });
    assert.deepEqual(seen, {
      before: 0,
      runs: 1,
      again: "Cannot run spawn(…) twice: this operation object has already run (each runs once); call spawn(…) again for another",
    });
  });

  it("timeout checks its argument and starts its clock when run, not when made", async () => {
    await runVirtual(function* () {
      const bad = timeout(-1, sleep(1));
      const limit = timeout(10, sleep(5));
      yield* sleep(20); // a limit counted from its creation would have expired
      yield* limit;
      try {
        yield* bad;
        assert.fail("a negative timeout was accepted");
      } catch (error) {
        assert.ok(error instanceof RangeError);
        assert.match(String(error), /Cannot set a timeout: ms must be a non-negative number, received -1/);
      }
      try {
        yield* timeout(5, sleep(50));
        assert.fail("the timeout did not fire");
      } catch (error) {
        assert.ok(error instanceof TimeoutError);
      }
      assert.deepEqual(yield* moveOnAfter(5, sleep(50)), { value: undefined, cancelled: true });
    });
  });

  it("a settled Future gives its value, or throws its error, to every yield*", async () => {
    const ok = new Future<number>();
    ok.resolve(3);
    const failed = new Future<number>();
    failed.reject(new Error("no"));
    const seen = await run(function* () {
      const values = [yield* ok, yield* ok];
      const errors: string[] = [];
      for (let i = 0; i < 2; i++) {
        try {
          yield* failed;
        } catch (error) {
          errors.push((error as Error).message);
        }
      }
      return { values, errors };
    });
    assert.deepEqual(seen, { values: [3, 3], errors: ["no", "no"] });
  });

  it("readLine reads nothing until run, returns a buffered line at once, and waits for one that is not", async () => {
    const lines = await runVirtual(function* () {
      const reader = new StreamReader();
      const first = reader.readLine();
      reader.feed(encode("one\ntwo\n"));
      assert.equal(reader.buffered, 8);
      const out = [decode(yield* first), decode(yield* reader.readLine())];
      const third = yield* spawn(reader.readLine());
      yield* sleep(1);
      reader.feed(encode("thr"));
      reader.feed(encode("ee\n"));
      out.push(decode(yield* third));
      return out;
    });
    assert.deepEqual(lines, ["one\n", "two\n", "three\n"]);
  });

  it("drain does nothing until run, and waits only while the transport is over its mark", async () => {
    await runVirtual(function* () {
      // The reader takes 10 bytes and stops (over its limit); the next 10 wait in the pipe, over the mark.
      const [left, right] = createMemoryStreamPair({ limit: 4, highWaterMark: 4 });
      const drain = left.writer.drain();
      left.writer.write("0123456789");
      left.writer.write("abcdefghij");
      const drained = yield* spawn(drain);
      yield* sleep(1);
      assert.equal(drained.done, false);
      assert.equal(decode(yield* right.reader.readExactly(20)), "0123456789abcdefghij");
      yield* drained;
      yield* left.writer.drain(); // under the mark: done at once
      left.writer.close();
      right.writer.close();
    });
  });

  it("run again once finished, each throws a TypeError naming it", async () => {
    await runVirtual(function* () {
      const [left, right] = createMemoryStreamPair();
      const reader = new StreamReader();
      reader.feed(encode("one\ntwo\n"));
      async function* numbers() {
        yield 1;
        yield 2;
      }
      const items = yield* each(numbers());
      const cases: [Operation<unknown>, string][] = [
        [until(Promise.resolve(1)), "until"],
        [reader.readLine(), "streamReader.readLine"],
        [left.writer.drain(), "streamWriter.drain"],
        [items.next(), "each.next"],
      ];
      for (const [op, label] of cases) {
        yield* op;
        const error = yield* rejectsOp(op, TypeError);
        assert.equal(error.message, `Cannot run ${label}(…) twice: this operation object has already run (each runs once); call ${label}(…) again for another`);
      }
      assert.equal(decode(yield* reader.readLine()), "two\n", "the second run read nothing");
      assert.deepEqual(yield* items.next(), { done: false, value: 2 }, "nor took an item");
      left.writer.close();
      right.writer.close();
    });
  });

  it("each is named in the error of an await", async () => {
    const reader = new StreamReader();
    const cases: [PromiseLike<unknown>, string][] = [
      [spawn(sleep(1)) as unknown as PromiseLike<unknown>, "spawn"],
      [timeout(1, sleep(1)) as unknown as PromiseLike<unknown>, "timeout"],
      [moveOnAfter(1, sleep(1)) as unknown as PromiseLike<unknown>, "moveOnAfter"],
      [reader.readLine() as unknown as PromiseLike<unknown>, "streamReader.readLine"],
    ];
    for (const [op, label] of cases) {
      await assert.rejects(async () => await op, new RegExp(`Cannot await ${label.replace(".", "\\.")}\\(…\\)`));
    }
  });
});
