// Trio's test_channel.py (trio/tests/test_channel.py, Trio 0.22), case by case, then what corio adds.
// Trio's `await x.aclose()` is `x.close()` here (closing is not a wait), and its `with x:` is `using`.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  allSettled,
  BrokenResourceError,
  CancelledError,
  ClosedResourceError,
  EndOfChannel,
  forEach,
  type MemoryReceiveChannel,
  type MemorySendChannel,
  moveOnAfter,
  type Operation,
  openMemoryChannel,
  race,
  run,
  scope,
  sleep,
  spawn,
  type Task,
  WouldBlock,
} from "../../src/index.ts";
import { runVirtual, waitAllTasksBlocked } from "../../src/testing/index.ts";
import { checkLeaks, rejectsOp, resultAndCancelInOneTurn } from "../_helpers.ts";
import { countFifoUnshifts } from "./_fifo-unshifts.ts";

checkLeaks();

/** Receives until the end (Trio's `async for value in receive_channel`). */
function* drain<T>(receiveSide: MemoryReceiveChannel<T>): Operation<T[]> {
  const got: T[] = [];
  for (let r = yield* receiveSide.next(); !r.done; r = yield* receiveSide.next()) got.push(r.value);
  return got;
}

describe("openMemoryChannel (Trio's test_channel.py)", () => {
  it("test_channel: bad sizes, the buffer, WouldBlock, closing each side", async () => {
    assert.throws(() => openMemoryChannel(1.5), RangeError);
    assert.throws(() => openMemoryChannel(-1), /maxBufferSize must be a non-negative safe integer or Infinity/);
    assert.throws(() => openMemoryChannel(Number.NaN), RangeError);
    assert.throws(() => openMemoryChannel("2" as unknown as number), TypeError);
    await runVirtual(function* () {
      const [s, r] = openMemoryChannel<number | string | null>(2);
      assert.match(String(s), /^MemorySendChannel\(open, 0\/2 buffered/);
      assert.match(String(r), /^MemoryReceiveChannel\(open/);

      s.sendNowait(1);
      yield* s.send(2);
      assert.throws(() => s.sendNowait(null), WouldBlock);

      assert.equal(yield* r.receive(), 1);
      assert.equal(r.receiveNowait(), 2);
      assert.throws(() => r.receiveNowait(), WouldBlock);

      s.sendNowait("last");
      s.close();
      yield* rejectsOp(s.send("too late"), ClosedResourceError);
      assert.throws(() => s.sendNowait("too late"), ClosedResourceError);
      assert.throws(() => s.clone(), ClosedResourceError);
      s.close();
      assert.ok(s.closed);

      assert.equal(r.receiveNowait(), "last");
      yield* rejectsOp(r.receive(), EndOfChannel);
      r.close();
      yield* rejectsOp(r.receive(), ClosedResourceError);
      assert.throws(() => r.receiveNowait(), ClosedResourceError);
      r.close();
    });
  });

  it("test_553: a receive cancelled by a time limit leaves no waiter behind", async () => {
    await runVirtual(function* () {
      const [s, r] = openMemoryChannel<string>(1);
      const limited = yield* moveOnAfter(10, r.receive());
      assert.equal(limited.cancelled, true);
      assert.equal(r.statistics().tasksWaitingReceive, 0);
      yield* s.send("Test for PR #553");
      assert.equal(r.receiveNowait(), "Test for PR #553");
    });
  });

  it("test_channel_multiple_producers: each producer closes its clone; the consumer ends after the last", async () => {
    await runVirtual(function* () {
      const [sendChannel, receiveChannel] = openMemoryChannel<number>(0);
      const got = yield* scope(function* () {
        for (let i = 0; i < 10; i++) {
          const mine = sendChannel.clone();
          yield* spawn(function* () {
            using _ = mine;
            for (let j = 3 * i; j < 3 * (i + 1); j++) yield* mine.send(j);
          });
        }
        sendChannel.close();
        return yield* drain(receiveChannel);
      });
      assert.deepEqual(
        got.sort((a, b) => a - b),
        Array.from({ length: 30 }, (_, i) => i),
      );
    });
  });

  it("test_channel_multiple_consumers: every consumer gets messages, each message once", async () => {
    await runVirtual(function* () {
      const successfulReceivers = new Set<number>();
      const received: number[] = [];
      yield* scope(function* () {
        const [sendChannel, receiveChannel] = openMemoryChannel<number>(1);
        using _ = sendChannel;
        for (let i = 0; i < 5; i++) {
          yield* spawn(function* () {
            yield* forEach(receiveChannel, function* (value) {
              successfulReceivers.add(i);
              received.push(value);
            });
          });
        }
        yield* waitAllTasksBlocked();
        for (let i = 0; i < 10; i++) yield* sendChannel.send(i);
      });
      assert.deepEqual([...successfulReceivers].sort(), [0, 1, 2, 3, 4]);
      assert.equal(received.length, 10);
      assert.deepEqual(new Set(received), new Set(Array.from({ length: 10 }, (_, i) => i)));
    });
  });

  for (const how of ["close()", "using (dispose)"] as const) {
    const closeSide = (side: MemorySendChannel<unknown> | MemoryReceiveChannel<unknown>): void => {
      if (how === "close()") side.close();
      else side[Symbol.dispose]();
    };
    it(`test_close_basics / test_close_sync, by ${how}: what each kind of close does to waiters and later calls`, async () => {
      await runVirtual(function* () {
        // Closing the send side: a waiting send gets ClosedResourceError...
        let [s, r] = openMemoryChannel<null>(0);
        yield* scope(function* () {
          const sender = s;
          yield* spawn(() => rejectsOp(sender.send(null), ClosedResourceError));
          yield* waitAllTasksBlocked();
          closeSide(s);
        });
        // ...and it lasts,
        assert.throws(() => s.sendNowait(null), ClosedResourceError);
        yield* rejectsOp(s.send(null), ClosedResourceError);
        // and receives get EndOfChannel.
        assert.throws(() => r.receiveNowait(), EndOfChannel);
        yield* rejectsOp(r.receive(), EndOfChannel);

        // Closing the receive side: a waiting send gets BrokenResourceError, and so do later ones.
        [s, r] = openMemoryChannel<null>(0);
        yield* scope(function* () {
          const sender = s;
          yield* spawn(() => rejectsOp(sender.send(null), BrokenResourceError));
          yield* waitAllTasksBlocked();
          closeSide(r);
        });
        assert.throws(() => s.sendNowait(null), BrokenResourceError);
        yield* rejectsOp(s.send(null), BrokenResourceError);

        // Closing the receive side: a waiting receive gets ClosedResourceError, and so do later ones.
        [s, r] = openMemoryChannel<null>(0);
        yield* scope(function* () {
          const receiver = r;
          yield* spawn(() => rejectsOp(receiver.receive(), ClosedResourceError));
          yield* waitAllTasksBlocked();
          closeSide(r);
        });
        assert.throws(() => r.receiveNowait(), ClosedResourceError);
        yield* rejectsOp(r.receive(), ClosedResourceError);
      });
    });
  }

  it("test_receive_channel_clone_and_close: the channel is received from until the last receive side closes", () => {
    const [s, r] = openMemoryChannel<null>(10);
    const r2 = r.clone();
    const r3 = r.clone();
    s.sendNowait(null);
    r.close();
    {
      using _ = r2;
    }
    assert.throws(() => r.clone(), ClosedResourceError);
    assert.throws(() => r2.clone(), ClosedResourceError);
    // r3 is still open.
    s.sendNowait(null);
    r3.close();
    assert.throws(() => s.sendNowait(null), BrokenResourceError);
    assert.equal(s.statistics().currentBufferUsed, 0, "the buffer goes with the last receive side");
  });

  it("test_close_multiple_send_handles: closing one send side wakes only the senders that use it", async () => {
    await runVirtual(function* () {
      const [s1, r] = openMemoryChannel<string>(0);
      const s2 = s1.clone();
      yield* scope(function* () {
        yield* spawn(() => rejectsOp(s1.send("nope"), ClosedResourceError));
        yield* spawn(() => s2.send("ok"));
        yield* waitAllTasksBlocked();
        s1.close();
        assert.equal(yield* r.receive(), "ok");
      });
    });
  });

  it("test_close_multiple_receive_handles: closing one receive side wakes only the receivers that use it", async () => {
    await runVirtual(function* () {
      const [s, r1] = openMemoryChannel<string>(0);
      const r2 = r1.clone();
      yield* scope(function* () {
        yield* spawn(() => rejectsOp(r1.receive(), ClosedResourceError));
        yield* spawn(function* () {
          assert.equal(yield* r2.receive(), "ok");
        });
        yield* waitAllTasksBlocked();
        r1.close();
        yield* s.send("ok");
      });
    });
  });

  it("test_inf_capacity: sends never wait", async () => {
    await runVirtual(function* () {
      const [s, r] = openMemoryChannel<number>(Number.POSITIVE_INFINITY);
      {
        using _ = s;
        for (let i = 0; i < 10; i++) s.sendNowait(i);
      }
      assert.deepEqual(yield* drain(r), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    });
  });

  it("test_statistics: counts shared by every side, waiters gone once cancelled", async () => {
    await runVirtual(function* () {
      const [s, r] = openMemoryChannel<null>(2);
      assert.deepEqual(s.statistics(), r.statistics());
      assert.deepEqual(s.statistics(), {
        currentBufferUsed: 0,
        maxBufferSize: 2,
        openSendChannels: 1,
        openReceiveChannels: 1,
        tasksWaitingSend: 0,
        tasksWaitingReceive: 0,
      });
      s.sendNowait(null);
      assert.equal(s.statistics().currentBufferUsed, 1);

      const s2 = s.clone();
      assert.equal(s.statistics().openSendChannels, 2);
      s.close();
      assert.equal(s2.statistics().openSendChannels, 1);

      const r2 = r.clone();
      assert.equal(s2.statistics().openReceiveChannels, 2);
      r2.close();
      assert.equal(s2.statistics().openReceiveChannels, 1);

      yield* moveOnAfter(
        1,
        scope(function* () {
          s2.sendNowait(null); // fill up the buffer
          assert.equal(s.statistics().currentBufferUsed, 2);
          yield* spawn(() => s2.send(null));
          yield* spawn(() => s2.send(null));
          yield* waitAllTasksBlocked();
          assert.equal(s.statistics().tasksWaitingSend, 2);
          yield* sleep(10);
        }),
      );
      assert.equal(s.statistics().tasksWaitingSend, 0);

      // Empty out the buffer again.
      for (;;) {
        try {
          r.receiveNowait();
        } catch (error) {
          assert.ok(error instanceof WouldBlock);
          break;
        }
      }
      yield* moveOnAfter(
        1,
        scope(function* () {
          yield* spawn(() => r.receive());
          yield* waitAllTasksBlocked();
          assert.equal(s.statistics().tasksWaitingReceive, 1);
          yield* sleep(10);
        }),
      );
      assert.equal(s.statistics().tasksWaitingReceive, 0);
    });
  });

  it("test_channel_fairness: a waiting receiver owns what is sent; a waiting sender owns the room a receive makes", async () => {
    await runVirtual(function* () {
      // With nobody waiting, a task can take back what it just sent.
      let [s, r] = openMemoryChannel<number | null>(1);
      s.sendNowait(1);
      assert.equal(r.receiveNowait(), 1);
      s.sendNowait(2);
      assert.equal(r.receiveNowait(), 2);

      // A receiver waiting gets the message, though the sender runs first.
      let result: number | null = null;
      const receiver = r;
      yield* scope(function* () {
        yield* spawn(function* () {
          result = yield* receiver.receive();
        });
        yield* waitAllTasksBlocked();
        s.sendNowait(2);
        assert.throws(() => receiver.receiveNowait(), WouldBlock);
      });
      assert.equal(result, 2);

      // A sender waiting takes the room a receive frees: the next send has to wait.
      [s, r] = openMemoryChannel<number | null>(1);
      s.sendNowait(1);
      assert.throws(() => s.sendNowait(null), WouldBlock);
      const sender = s;
      const receiveSide = r;
      yield* scope(function* () {
        yield* spawn(() => sender.send(2));
        yield* waitAllTasksBlocked();
        assert.equal(receiveSide.receiveNowait(), 1);
        assert.throws(() => sender.sendNowait(3), WouldBlock);
        assert.equal(yield* receiveSide.receive(), 2);
      });
    });
  });

  it("test_unbuffered: with no buffer, a send waits for a receiver and a receive for a sender", async () => {
    await runVirtual(function* () {
      const [s, r] = openMemoryChannel<number>(0);
      assert.throws(() => r.receiveNowait(), WouldBlock);
      assert.throws(() => s.sendNowait(1), WouldBlock);
      const sender = yield* spawn(() => s.send(1));
      yield* waitAllTasksBlocked();
      assert.equal(s.statistics().tasksWaitingSend, 1, "the send waits for a receiver");
      assert.equal(yield* r.receive(), 1);
      yield* sender;
      assert.throws(() => r.receiveNowait(), WouldBlock);

      // And the other way: a receive waits for a sender, which hands the message over without waiting.
      const receiver = yield* spawn(() => r.receive());
      yield* waitAllTasksBlocked();
      s.sendNowait(7);
      assert.equal(yield* receiver, 7);
    });
  });
});

describe("openMemoryChannel: what corio adds", () => {
  it("a receiver handed a message and cancelled before it ran throws the cancel; the message goes to the next receiver (decided case 10)", async () => {
    await runVirtual(function* () {
      const [s, r] = openMemoryChannel<string>(0);
      const first = yield* spawn(() => r.receive());
      const second = yield* spawn(() => r.receive());
      yield* waitAllTasksBlocked();
      s.sendNowait("m"); // handed to the first receiver...
      first.cancel(); // ...cancelled before it ran
      yield* rejectsOp(first, CancelledError);
      assert.equal(yield* second, "m");
      assert.equal(r.statistics().currentBufferUsed, 0);
    });
  });

  it("messages given back by cancelled receivers go into the buffer in the order they were sent, ahead of later ones", async () => {
    await runVirtual(function* () {
      const [s, r] = openMemoryChannel<string>(1);
      const receivers = [];
      for (let i = 0; i < 3; i++) receivers.push(yield* spawn(() => r.receive()));
      yield* waitAllTasksBlocked();
      for (const message of ["a", "b", "c"]) s.sendNowait(message); // one to each receiver
      s.sendNowait("d"); // nobody waits: into the buffer
      for (const i of [1, 0, 2]) (receivers[i] as Task<string>).cancel();
      for (const receiver of receivers) yield* rejectsOp(receiver, CancelledError);
      assert.equal(r.statistics().currentBufferUsed, 4, "the buffer holds more than its size until drained");
      s.close();
      assert.deepEqual(yield* drain(r), ["a", "b", "c", "d"]);
    });
  });

  it("many receivers cancelled after a burst of sends give their messages back at a constant cost each, in send order", async () => {
    const n = 2000;
    for (const cancelOrder of ["oldest first", "newest first"]) {
      await runVirtual(function* () {
        const [s, r] = openMemoryChannel<number>(1);
        const receivers: Task<number>[] = [];
        for (let i = 0; i < n; i++) receivers.push(yield* spawn(() => r.receive()));
        yield* waitAllTasksBlocked();
        for (let i = 0; i < n; i++) s.sendNowait(i); // each handed to a receiver...
        // ...cancelled before it ran. Giving a message back lifted the ones given back before it off the front.
        const unshifted = countFifoUnshifts(() => {
          for (let k = 0; k < n; k++) receivers[cancelOrder === "oldest first" ? k : n - 1 - k]?.cancel();
        });
        assert.ok(unshifted < n, `${cancelOrder}: ${unshifted} messages put back at the front for ${n} cancels`);
        yield* allSettled(receivers);
        s.close();
        assert.deepEqual(
          yield* drain(r),
          Array.from({ length: n }, (_, i) => i),
          cancelOrder,
        );
      });
    }
  });

  it("after a message was given back, a receive lets a waiting sender in only when there is room: a rendezvous send still waits for its receiver", async () => {
    await runVirtual(function* () {
      const [s, r] = openMemoryChannel<number>(0);
      const cancelled = yield* spawn(() => r.receive());
      yield* waitAllTasksBlocked();
      s.sendNowait(0);
      cancelled.cancel();
      yield* rejectsOp(cancelled, CancelledError); // 0 went back: the buffer holds 1 over its size 0
      const log: string[] = [];
      yield* scope(function* () {
        yield* spawn(function* () {
          for (let i = 1; i <= 3; i++) {
            yield* s.send(i);
            log.push(`sent ${i}`);
          }
        });
        yield* waitAllTasksBlocked();
        for (let i = 0; i <= 3; i++) {
          log.push(`received ${yield* r.receive()} (buffered ${r.statistics().currentBufferUsed})`);
          yield* sleep(1);
        }
      });
      assert.deepEqual(log, [
        "received 0 (buffered 0)",
        "received 1 (buffered 0)",
        "sent 1",
        "received 2 (buffered 0)",
        "sent 2",
        "received 3 (buffered 0)",
        "sent 3",
      ]);
    });
  });

  it("a race of two receives loses no message: the loser's goes back (Trio's wake-is-final receive would drop it)", async () => {
    await runVirtual(function* () {
      const [s1, r1] = openMemoryChannel<string>(1);
      const [s2, r2] = openMemoryChannel<string>(1);
      const racer = yield* spawn(() => race([r1.receive(), r2.receive()]));
      yield* waitAllTasksBlocked();
      s1.sendNowait("a");
      s2.sendNowait("b");
      assert.equal(yield* racer, "a");
      assert.equal(r2.receiveNowait(), "b");
    });
  });

  it("for await left while its read was handed a message: the message stays in the channel", async () => {
    const [s, r] = openMemoryChannel<number>(0);
    const iterator = r[Symbol.asyncIterator]();
    const read = iterator.next();
    await new Promise((resolve) => setImmediate(resolve)); // the read waits in its root task
    s.sendNowait(1);
    await iterator.return?.();
    assert.deepEqual(await read, { done: true, value: undefined });
    assert.equal(r.receiveNowait(), 1);
  });

  it("the end waits for a message handed to a receiver that may come back", async () => {
    await runVirtual(function* () {
      const [s, r] = openMemoryChannel<string>(0);
      const first = yield* spawn(() => r.receive());
      const second = yield* spawn(() => drain(r));
      yield* waitAllTasksBlocked();
      s.sendNowait("m"); // handed to the first receiver
      s.close(); // the second does not get EndOfChannel yet: "m" may come back
      assert.throws(() => r.receiveNowait(), WouldBlock);
      first.cancel();
      yield* rejectsOp(first, CancelledError);
      assert.deepEqual(yield* second, ["m"]);
      yield* rejectsOp(r.receive(), EndOfChannel);
    });
  });

  it("a sender whose message was taken in the turn it is cancelled counts as sent; one cancelled first sends nothing", async () => {
    await runVirtual(function* () {
      const taken: string[] = [];
      yield* resultAndCancelInOneTurn(function* (makeResult) {
        const [s, r] = openMemoryChannel<string>(0);
        yield* spawn(function* () {
          yield* makeResult();
          try {
            taken.push(r.receiveNowait());
          } catch (error) {
            assert.ok(error instanceof WouldBlock, "the cancelled sender left nothing behind");
          }
        });
        return function* () {
          yield* s.send("message");
          return "v";
        };
      });
      // Taken in the two "result first" runs (priorities 1 and 50), never in the "cancel first" ones.
      assert.deepEqual(taken, ["message", "message"]);
    });
  });

  it("a sender cancelled while it waits on a rendezvous sends nothing: the next receiver waits for the next sender", async () => {
    await runVirtual(function* () {
      const [s, r] = openMemoryChannel<string>(0);
      const limited = yield* moveOnAfter(5, s.send("dropped"));
      assert.equal(limited.cancelled, true);
      assert.equal(s.statistics().tasksWaitingSend, 0);
      yield* spawn(function* () {
        yield* sleep(10);
        yield* s.send("kept");
      });
      assert.equal(yield* r.receive(), "kept");
    });
  });

  it("waiters are served in task priority order, FIFO within a priority", async () => {
    await runVirtual(function* () {
      const [s, r] = openMemoryChannel<number>(0);
      const got: string[] = [];
      yield* scope(function* () {
        for (const [name, priority] of [
          ["low-a", 20],
          ["high", 1],
          ["low-b", 20],
        ] as const) {
          yield* spawn(
            function* () {
              got.push(`${name}:${yield* r.receive()}`);
            },
            { priority },
          );
        }
        yield* waitAllTasksBlocked();
        for (let i = 0; i < 3; i++) s.sendNowait(i);
      });
      assert.deepEqual(got.sort(), ["high:0", "low-a:1", "low-b:2"]);
    });
  });

  it("each, forEach and for await read until every send side is closed and the buffer is drained", async () => {
    const [s, r] = openMemoryChannel<number>(4);
    const r2 = r.clone();
    for (let i = 0; i < 4; i++) s.sendNowait(i);
    s.close();
    const viaForEach = await run(function* () {
      const seen: number[] = [];
      yield* forEach(r, function* (n) {
        seen.push(n);
        if (n === 1) return;
      });
      return seen;
    });
    assert.deepEqual(viaForEach, [0, 1, 2, 3]);
    const viaForAwait: number[] = [];
    for await (const n of r2) viaForAwait.push(n);
    assert.deepEqual(viaForAwait, []);
    await run(function* () {
      assert.deepEqual(yield* r2.next(), { done: true, value: undefined });
      r2.close();
      yield* rejectsOp(r2.next(), ClosedResourceError);
    });
  });

  it("a receiver waiting in next() gets { done: true } when the last send side closes", async () => {
    await runVirtual(function* () {
      const [s, r] = openMemoryChannel<number>(0);
      const reader = yield* spawn(() => drain(r));
      yield* waitAllTasksBlocked();
      s.sendNowait(1);
      yield* waitAllTasksBlocked();
      s.close();
      assert.deepEqual(yield* reader, [1]);
    });
  });

  it("misuse: an operation run twice, a wait outside any task", async () => {
    await runVirtual(function* () {
      const [s, r] = openMemoryChannel<number>(1);
      const send = s.send(1);
      yield* send;
      yield* rejectsOp(send, TypeError);
      const receive = r.receive();
      assert.equal(yield* receive, 1);
      const error = yield* rejectsOp(receive, TypeError);
      assert.match(error.message, /Cannot run memoryReceiveChannel\.receive\(…\) twice/);
    });
    const [s] = openMemoryChannel<number>(0);
    const outside = s.send(1)[Symbol.iterator]();
    assert.throws(() => outside.next(), /send on a memory channel/);
    assert.throws(() => outside.next(), /twice/, "a send that failed is not reported as done when run again");
    assert.equal(s.statistics().tasksWaitingSend, 0);
    assert.ok(Object.is(openMemoryChannel(-0)[0].statistics().maxBufferSize, 0));
  });
});
