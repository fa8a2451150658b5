import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { all, currentTask, Request, receive, reply, request, scope, send, sleep, spawn, TimeoutError, timeout } from "../../src/index.ts";
import { runVirtual, waitAllTasksBlocked } from "../../src/testing/index.ts";
import { checkLeaks } from "../_helpers.ts";

checkLeaks();

describe("task mailboxes", () => {
  it("the mailbox is currentTask()'s: inside scope or a time limit, the task that entered it; inside an operation of all, the operation's own", async () => {
    await runVirtual(function* () {
      const fromScope = yield* scope(function* () {
        send(currentTask(), "to the caller");
        return yield* receive<string>();
      });
      assert.equal(fromScope, "to the caller");
      const [fromOperation] = yield* all([
        function* () {
          send(currentTask(), "to the operation");
          return yield* timeout(10, receive<string>());
        },
      ]);
      assert.equal(fromOperation, "to the operation");
    });
  });

  it("send() queues messages even when nobody waits; receive() takes them in order", async () => {
    await runVirtual(function* () {
      const me = currentTask();
      assert.equal(send(me, "one"), true);
      send(me, "two");
      assert.equal(yield* receive(), "one");
      assert.equal(yield* receive(), "two");
    });
  });

  it("receive(filter) takes the first matching message and leaves the others", async () => {
    await runVirtual(function* () {
      const me = currentTask();
      yield* spawn(function* () {
        send(me, { kind: "log", text: "hello" });
        yield* sleep(10);
        send(me, { kind: "signal", value: 42 });
      });
      const signal = (yield* receive((m) => (m as { kind: string }).kind === "signal")) as { value: number };
      assert.equal(signal.value, 42);
      assert.deepEqual(yield* receive(), { kind: "log", text: "hello" });
    });
  });

  it("request() waits for the reply (send a signal and wait for the response)", async () => {
    await runVirtual(function* () {
      const service = yield* spawn(function* () {
        for (let i = 0; i < 2; i++) {
          const ask = (yield* receive((m) => m instanceof Request)) as Request<number, number>;
          yield* sleep(5);
          if (ask.message < 0) ask.fail(new RangeError("negative"));
          else reply(ask, ask.message * 10);
        }
      });
      assert.equal(yield* request<number>(service, 4), 40);
      try {
        yield* request<number>(service, -1);
        assert.fail("expected the request to fail");
      } catch (error) {
        assert.ok(error instanceof RangeError);
      }
    });
  });

  it("a receive with a timeout composes with timeout(), and a late message is kept", async () => {
    await runVirtual(function* () {
      const me = currentTask();
      try {
        yield* timeout(50, receive());
        assert.fail("expected a timeout");
      } catch (error) {
        assert.ok(error instanceof TimeoutError);
      }
      send(me, "late");
      assert.equal(yield* receive(), "late");
    });
  });

  it("a receiver cancelled after a message was handed to it keeps it in the mailbox", async () => {
    await runVirtual(function* () {
      let receiver = currentTask();
      const child = yield* spawn(function* () {
        receiver = currentTask();
        yield* receive();
      });
      yield* waitAllTasksBlocked();
      send(receiver, "kept");
      child.cancel();
      try {
        yield* child;
      } catch {}
      assert.equal(send(child, "after"), false, "a finished task takes no messages");
    });
  });

  it("a receive filter that throws fails the receiver, not the sender, and the message stays", async () => {
    await runVirtual(function* () {
      const kindIsX = (m: unknown): boolean => (m as { kind: string }).kind === "x";
      const receiver = yield* spawn(function* () {
        try {
          yield* receive(kindIsX);
          return "received";
        } catch (error) {
          assert.ok(error instanceof TypeError);
          // The message that broke the filter is still there.
          return yield* receive();
        }
      });
      yield* waitAllTasksBlocked();
      assert.equal(send(receiver, null), true); // kindIsX(null) throws
      assert.equal(yield* receiver, null);
    });
  });
});
