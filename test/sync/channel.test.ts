import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Broadcast, Channel, ChannelClosedError, sleep, spawn } from "../../src/index.ts";
import { runVirtual, waitAllTasksBlocked } from "../../src/testing/index.ts";
import { checkLeaks } from "../_helpers.ts";

checkLeaks();

describe("Channel", () => {
  it("many producers and consumers: each message delivered exactly once, in order per producer", async () => {
    await runVirtual(function* () {
      const channel = new Channel<string>({ capacity: 2 });
      const got: string[] = [];
      const consumers = [];
      for (let c = 0; c < 3; c++) {
        consumers.push(
          yield* spawn(function* () {
            for (let m = yield* channel.next(); !m.done; m = yield* channel.next()) {
              got.push(m.value);
              yield* sleep(1);
            }
          }),
        );
      }
      const producers = [];
      for (const p of ["a", "b"]) {
        producers.push(
          yield* spawn(function* () {
            for (let i = 0; i < 5; i++) yield* channel.send(`${p}${i}`);
          }),
        );
      }
      for (const producer of producers) yield* producer;
      channel.close("producers done");
      for (const consumer of consumers) yield* consumer;
      assert.deepEqual([...got].sort(), ["a0", "a1", "a2", "a3", "a4", "b0", "b1", "b2", "b3", "b4"]);
      assert.deepEqual(
        got.filter((m) => m.startsWith("a")),
        ["a0", "a1", "a2", "a3", "a4"],
      );
    });
  });

  it("close(reason): sends fail at once, receivers drain, then get ChannelClosedError with the reason", async () => {
    await runVirtual(function* () {
      const channel = new Channel<number>();
      yield* channel.send(1);
      channel.close("bye");
      assert.throws(
        () => channel.trySend(2),
        (error: unknown) => error instanceof ChannelClosedError && error.reason === "bye",
      );
      try {
        yield* channel.send(2);
      } catch (error) {
        assert.ok(error instanceof ChannelClosedError);
        assert.equal(error.message, 'Cannot send on the channel: it is closed (reason: "bye")');
      }
      assert.equal(yield* channel.receive(), 1);
      assert.deepEqual(channel.tryReceive(), { state: "closed", reason: "bye" });
      try {
        yield* channel.receive();
      } catch (error) {
        assert.ok(error instanceof ChannelClosedError);
      }
    });
  });

  it("next(): buffered messages without waiting (a blocked sender gets the freed slot), then done with the close reason", async () => {
    await runVirtual(function* () {
      const channel = new Channel<number>({ capacity: 1 });
      yield* channel.send(1);
      const sender = yield* spawn(function* () {
        yield* channel.send(2);
        channel.close("bye");
      });
      yield* waitAllTasksBlocked();
      assert.deepEqual(yield* channel.next(), { done: false, value: 1 });
      yield* sender;
      assert.deepEqual(yield* channel.next(), { done: false, value: 2 });
      assert.deepEqual(yield* channel.next(), { done: true, value: "bye" });
      assert.deepEqual(yield* channel.next(), { done: true, value: "bye" });
    });
  });

  it("a waiting receiver is woken by close()", async () => {
    await runVirtual(function* () {
      const channel = new Channel<number>();
      const receiver = yield* spawn(() => channel.next());
      yield* waitAllTasksBlocked();
      channel.close("done");
      assert.deepEqual(yield* receiver, { done: true, value: "done" });
    });
  });

  it("close() wakes a waiting receive() and a blocked send() with ChannelClosedError; a cancelled sender's message is not sent", async () => {
    await runVirtual(function* () {
      const channel = new Channel<number>({ capacity: 1 });
      const empty = new Channel<number>();
      const outcome = (error: unknown): string => (error instanceof ChannelClosedError ? `closed: ${String(error.reason)}` : `other: ${String(error)}`);
      const receiver = yield* spawn(function* () {
        try {
          return `received ${yield* empty.receive()}`;
        } catch (error) {
          return outcome(error);
        }
      });
      yield* channel.send(1);
      const cancelledSender = yield* spawn(() => channel.send(2));
      const sender = yield* spawn(function* () {
        try {
          yield* channel.send(3);
          return "sent";
        } catch (error) {
          return outcome(error);
        }
      });
      yield* waitAllTasksBlocked();
      cancelledSender.cancel();
      yield* waitAllTasksBlocked();
      empty.close("no more");
      channel.close("full");
      assert.equal(yield* receiver, "closed: no more");
      assert.equal(yield* sender, "closed: full");
      assert.equal(cancelledSender.cancelled, true);
      // Only the message sent before the close is there.
      assert.equal(yield* channel.receive(), 1);
      assert.deepEqual(channel.tryReceive(), { state: "closed", reason: "full" });
      // A send with room in the buffer fails the same way once closed.
      let late = "sent";
      try {
        yield* channel.send(4);
      } catch (error) {
        late = outcome(error);
      }
      assert.equal(late, "closed: full");
    });
  });

  it("a receiver cancelled after it was handed a message passes it to the next receiver", async () => {
    await runVirtual(function* () {
      const channel = new Channel<string>();
      const first = yield* spawn(() => channel.receive());
      const second = yield* spawn(() => channel.receive());
      yield* waitAllTasksBlocked();
      // The send hands "m" to the first receiver, which is cancelled before it runs.
      channel.trySend("m");
      first.cancel();
      assert.equal(yield* second, "m");
      assert.equal(first.cancelled, true);
    });
  });
});

describe("Channel closed while a message is handed to a receiver that has not run yet", () => {
  it("next() and tryReceive() do not report the end: the message comes back if that receiver is cancelled", async () => {
    await runVirtual(function* () {
      const channel = new Channel<string>({ capacity: 4 });
      const first = yield* spawn(() => channel.receive());
      yield* waitAllTasksBlocked();
      channel.trySend("m"); // handed to first, which has not run yet
      channel.close("end");
      assert.deepEqual(channel.tryReceive(), { state: "empty" }, "not closed: m may come back");
      // second asks before first runs; then first is cancelled before it runs, and gives m back.
      const second = yield* spawn(() => channel.next(), { priority: 1 });
      yield* spawn(
        function* () {
          first.cancel();
        },
        { priority: 2 },
      );
      assert.deepEqual(yield* second, { done: false, value: "m" });
      assert.equal(first.cancelled, true);
      assert.deepEqual(channel.tryReceive(), { state: "closed", reason: "end" });
      assert.deepEqual(yield* channel.next(), { done: true, value: "end" });
    });
  });

  it("next() gives the end once that receiver has run and taken the message", async () => {
    await runVirtual(function* () {
      const channel = new Channel<string>({ capacity: 4 });
      const first = yield* spawn(() => channel.receive());
      yield* waitAllTasksBlocked();
      channel.trySend("m");
      channel.close("end");
      const second = yield* spawn(() => channel.next(), { priority: 1 });
      assert.equal(yield* first, "m");
      assert.deepEqual(yield* second, { done: true, value: "end" });
      assert.deepEqual(channel.tryReceive(), { state: "closed", reason: "end" });
    });
  });
});

describe("Channel and Broadcast capacity", () => {
  it("a bad channel capacity is named in the error; 0 and Infinity are unbounded", () => {
    assert.throws(() => new Channel({ capacity: -1 }), {
      name: "RangeError",
      message: "Cannot create a channel: capacity must be a non-negative safe integer or Infinity (0 and Infinity mean unbounded), received -1",
    });
    assert.throws(() => new Channel({ capacity: 1.5 }), /^RangeError: Cannot create a channel: capacity must be/);
    for (const capacity of [0, Number.POSITIVE_INFINITY]) {
      const channel = new Channel<number>({ capacity });
      for (let i = 0; i < 100; i++) assert.equal(channel.trySend(i), true);
    }
  });

  it("subscribe({ capacity: 0 }) throws: a subscriber's buffer is bounded", () => {
    const broadcast = new Broadcast<number>();
    for (const capacity of [0, -1, 1.5, Number.POSITIVE_INFINITY, 2 ** 53 + 2]) {
      assert.throws(() => broadcast.subscribe({ capacity }), {
        name: "RangeError",
        message: `Cannot subscribe to the broadcast: capacity must be a positive safe integer (a subscriber's buffer is bounded), received ${String(capacity)}`,
      });
    }
    assert.equal(broadcast.subscribers, 0);
    // The smallest buffer holds the latest message.
    const latest = broadcast.subscribe({ capacity: 1 });
    for (let i = 0; i < 5; i++) broadcast.publish(i);
    assert.deepEqual(latest.tryReceive(), { state: "ok", value: 4 });
    assert.equal(latest.dropped, 4);
    latest.close();
  });

  it("subscribe() refuses an overflow policy it does not know (a JavaScript caller's typo)", () => {
    const broadcast = new Broadcast<number>();
    for (const [overflow, shown] of [
      ["drop-newest", '"drop-newest"'],
      [42, "42"],
    ] as const) {
      assert.throws(() => broadcast.subscribe({ overflow: overflow as never }), {
        name: "TypeError",
        message: `Cannot subscribe to the broadcast: overflow must be "drop-oldest" or "error", received ${shown}`,
      });
    }
    assert.equal(broadcast.subscribers, 0);
  });
});

describe("Broadcast", () => {
  it("every subscriber sees every message published after it subscribed", async () => {
    await runVirtual(function* () {
      const updates = new Broadcast<number>();
      const early = updates.subscribe();
      updates.publish(1);
      const late = updates.subscribe();
      updates.publish(2);
      assert.equal(updates.subscribers, 2);
      assert.deepEqual([yield* early.receive(), yield* early.receive()], [1, 2]);
      assert.equal(yield* late.receive(), 2);
      updates.close();
      assert.deepEqual(yield* early.next(), { done: true, value: undefined });
    });
  });

  it("a slow subscriber drops its oldest messages instead of holding up the publisher", async () => {
    await runVirtual(function* () {
      const updates = new Broadcast<number>();
      const slow = updates.subscribe({ capacity: 3 });
      const strict = updates.subscribe({ capacity: 3, overflow: "error" });
      for (let i = 1; i <= 5; i++) updates.publish(i);
      assert.equal(slow.dropped, 2);
      assert.deepEqual([yield* slow.receive(), yield* slow.receive(), yield* slow.receive()], [3, 4, 5]);
      assert.equal(updates.subscribers, 1, "the strict subscriber was closed");
      assert.deepEqual([yield* strict.receive(), yield* strict.receive(), yield* strict.receive()], [1, 2, 3]);
      try {
        yield* strict.receive();
      } catch (error) {
        assert.ok(error instanceof ChannelClosedError);
      }
    });
  });

  it("drop-oldest over capacity (a cancelled receiver gave a message back) keeps the newest and counts every loss", async () => {
    await runVirtual(function* () {
      const updates = new Broadcast<string>();
      const subscription = updates.subscribe({ capacity: 1 });
      const receiver = yield* spawn(() => subscription.receive());
      yield* waitAllTasksBlocked();
      updates.publish("m1"); // handed to the receiver
      updates.publish("m2"); // buffered: the buffer is full
      receiver.cancel(); // before it runs: m1 comes back, ahead of m2 (2 messages, capacity 1)
      yield* sleep(0);
      assert.equal(receiver.cancelled, true);
      assert.equal(subscription.dropped, 0, "nothing lost yet");
      updates.publish("m3");
      const got: string[] = [];
      for (let r = subscription.tryReceive(); r.state === "ok"; r = subscription.tryReceive()) got.push(r.value);
      assert.deepEqual(got, ["m3"], "the newest is kept");
      assert.equal(subscription.dropped, 2, "m1 and m2 were dropped, and counted");
      updates.close();
    });
  });

  it("fans out to 1,000 subscribers", async () => {
    await runVirtual(function* () {
      const updates = new Broadcast<number>();
      let total = 0;
      const tasks = [];
      for (let i = 0; i < 1000; i++) {
        const subscription = updates.subscribe();
        tasks.push(
          yield* spawn(function* () {
            for (let m = yield* subscription.next(); !m.done; m = yield* subscription.next()) total += m.value;
          }),
        );
      }
      for (let i = 1; i <= 10; i++) updates.publish(i);
      updates.close();
      for (const task of tasks) yield* task;
      assert.equal(total, 55_000);
    });
  });
});
