import assert from "node:assert/strict";
import { EventEmitter, getEventListeners, once as nodeOnce } from "node:events";
import { describe, it } from "node:test";
import { MessageChannel } from "node:worker_threads";
import { CancelledError, each, forEach, type Operation, on, once, run, sleep, spawn } from "../../src/index.ts";
import { runVirtual, waitAllTasksBlocked } from "../../src/testing/index.ts";
import { checkLeaks, rejectsOp } from "../_helpers.ts";

checkLeaks();

function* emitLater(ms: number, emit: () => void): Operation<void> {
  yield* spawn(function* () {
    yield* sleep(ms);
    emit();
  });
}

describe("once", () => {
  it("gives the listener's arguments of an EventEmitter, and removes its listeners", async () => {
    await runVirtual(function* () {
      const emitter = new EventEmitter();
      yield* emitLater(10, () => emitter.emit("exit", 0, "SIGTERM"));
      const args = yield* once<[number, string]>(emitter, "exit");
      assert.deepEqual(args, [0, "SIGTERM"]);
      assert.equal(emitter.listenerCount("exit"), 0);
      assert.equal(emitter.listenerCount("error"), 0);
    });
  });

  it("gives the Event of an EventTarget", async () => {
    await runVirtual(function* () {
      const target = new EventTarget();
      yield* emitLater(5, () => target.dispatchEvent(new Event("ready")));
      const event = yield* once(target, "ready");
      assert.equal(event.type, "ready");
      assert.equal(getEventListeners(target, "ready").length, 0);
    });
  });

  it("throws an emitter's error event, and cleans up", async () => {
    await runVirtual(function* () {
      const emitter = new EventEmitter();
      const boom = new Error("boom");
      yield* emitLater(1, () => emitter.emit("error", boom));
      const error = yield* rejectsOp(once(emitter, "data"), Error);
      assert.equal(error, boom);
      assert.equal(emitter.listenerCount("data") + emitter.listenerCount("error"), 0);
      // Waiting for "error" itself gives it.
      yield* emitLater(1, () => emitter.emit("error", boom));
      assert.deepEqual(yield* once(emitter, "error"), [boom]);
    });
  });

  it("cancelled, it leaves no listener behind", async () => {
    await runVirtual(function* () {
      const emitter = new EventEmitter();
      const target = new EventTarget();
      const a = yield* spawn(() => once(emitter, "never"));
      const b = yield* spawn(() => once(target, "never"));
      yield* waitAllTasksBlocked();
      assert.equal(emitter.listenerCount("never"), 1);
      assert.equal(getEventListeners(target, "never").length, 1);
      a.cancel();
      b.cancel();
      yield* rejectsOp(a, CancelledError);
      yield* rejectsOp(b, CancelledError);
      assert.equal(emitter.listenerCount("never"), 0);
      assert.equal(emitter.listenerCount("error"), 0);
      assert.equal(getEventListeners(target, "never").length, 0);
    });
  });

  it("removes its listeners at the first event, before its task resumes: an error emitted next is not swallowed", async () => {
    await runVirtual(function* () {
      const emitter = new EventEmitter();
      const waiter = yield* spawn(() => once(emitter, "connect"));
      yield* waitAllTasksBlocked();
      emitter.emit("connect", 1);
      assert.equal(emitter.listenerCount("connect") + emitter.listenerCount("error"), 0);
      // As with Node's events.once: nobody listens any more, so emit() throws it.
      assert.throws(() => emitter.emit("error", new Error("reset right after connect")), /reset right after connect/);
      assert.deepEqual(yield* waiter, [1]);
      const target = new EventTarget();
      const eventWaiter = yield* spawn(() => once(target, "ready"));
      yield* waitAllTasksBlocked();
      const first = new Event("ready");
      target.dispatchEvent(first);
      assert.equal(getEventListeners(target, "ready").length, 0);
      target.dispatchEvent(new Event("ready"));
      assert.equal(yield* eventWaiter, first);
    });
  });

  it("removes its listeners at the first error: a second error is not swallowed (Node's stopListeningAfterCatchingError)", async () => {
    await runVirtual(function* () {
      const emitter = new EventEmitter();
      yield* emitLater(1, () => {
        emitter.emit("error", new Error("first"));
        assert.equal(emitter.listenerCount("connect") + emitter.listenerCount("error"), 0);
        assert.throws(() => emitter.emit("error", new Error("second")), /second/);
        emitter.emit("connect", 1);
      });
      const error = yield* rejectsOp(once(emitter, "connect"), Error);
      assert.equal(error.message, "first");
    });
  });

  it("settled while its listeners are being added (once(emitter, 'newListener')), it leaves none behind", async () => {
    await runVirtual(function* () {
      const emitter = new EventEmitter();
      const [added] = yield* once(emitter, "newListener");
      assert.equal(added, "error", "adding its 'error' listener was the event");
      assert.equal(emitter.listenerCount("newListener") + emitter.listenerCount("error"), 0);
    });
  });

  it("takes an object that is both an EventEmitter and an EventTarget as an emitter, as Node's events.once does", async () => {
    // Like the ws package's WebSocket: an emitter with addEventListener too (Node's prioritizesEventEmitter).
    class Socket extends EventEmitter {
      addEventListener(): void {
        assert.fail("the EventTarget API was used");
      }
      removeEventListener(): void {
        assert.fail("the EventTarget API was used");
      }
    }
    await runVirtual(function* () {
      const socket = new Socket();
      yield* emitLater(1, () => socket.emit("open", "hello"));
      assert.deepEqual(yield* once(socket, "open"), ["hello"], "the listener's arguments");
      yield* emitLater(1, () => socket.emit("error", new Error("ECONNREFUSED")));
      const error = yield* rejectsOp(once(socket, "open"), Error);
      assert.equal(error.message, "ECONNREFUSED", "its error event is thrown");
      assert.equal(socket.listenerCount("open") + socket.listenerCount("error"), 0);
      const events = yield* on(socket, "data");
      socket.emit("data", 1, 2);
      assert.deepEqual(yield* events.next(), { done: false, value: [1, 2] });
      socket.emit("error", new Error("reset"));
      yield* rejectsOp(events.next(), Error);
      assert.equal(socket.listenerCount("data") + socket.listenerCount("error"), 0);
    });
  });

  it("gives what Node's events.once gives for a MessagePort (an emitter and an EventTarget)", async () => {
    const { port1, port2 } = new MessageChannel();
    try {
      port2.postMessage({ n: 1 });
      const expected = await nodeOnce(port1, "message");
      port2.postMessage({ n: 2 });
      const got = await run(() => once(port1, "message"));
      assert.deepEqual(expected, [{ n: 1 }]);
      assert.deepEqual(got, [{ n: 2 }]);
    } finally {
      port1.close();
    }
  });

  it("rejects a target that is neither kind with a TypeError", async () => {
    await runVirtual(function* () {
      const error = yield* rejectsOp(once({} as EventTarget, "x"), TypeError);
      assert.match(error.message, /expected an EventTarget \(addEventListener\/removeEventListener\) or an EventEmitter/);
    });
  });
});

describe("on", () => {
  it("buffers every event from the call on, in order; return() removes the listeners", async () => {
    await runVirtual(function* () {
      const emitter = new EventEmitter();
      const data = yield* on<[string]>(emitter, "data");
      emitter.emit("data", "a");
      emitter.emit("data", "b");
      yield* emitLater(10, () => emitter.emit("data", "c"));
      const seen: string[] = [];
      for (let r = yield* data.next(); !r.done; r = yield* data.next()) {
        seen.push(r.value[0]);
        if (seen.length === 3) break;
      }
      assert.deepEqual(seen, ["a", "b", "c"]);
      assert.equal(emitter.listenerCount("data"), 1);
      yield* data.return();
      assert.equal(emitter.listenerCount("data"), 0);
      assert.equal(emitter.listenerCount("error"), 0);
      assert.deepEqual(yield* data.next(), { done: true, value: undefined });
    });
  });

  it("forEach over on(EventTarget) cancelled leaves no listener", async () => {
    await runVirtual(function* () {
      const target = new EventTarget();
      let count = 0;
      const task = yield* spawn(function* () {
        yield* forEach(yield* on(target, "tick"), function* () {
          count++;
        });
      });
      yield* waitAllTasksBlocked();
      target.dispatchEvent(new Event("tick"));
      target.dispatchEvent(new Event("tick"));
      yield* waitAllTasksBlocked();
      assert.equal(count, 2);
      task.cancel();
      yield* rejectsOp(task, CancelledError);
      assert.equal(getEventListeners(target, "tick").length, 0);
    });
  });

  it("the listeners go when the task that called on() ends, even without return()", async () => {
    await runVirtual(function* () {
      const emitter = new EventEmitter();
      yield* spawn(function* () {
        const it = yield* on(emitter, "data");
        emitter.emit("data", 1);
        assert.deepEqual((yield* it.next()).value, [1]);
      });
      yield* waitAllTasksBlocked();
      assert.equal(emitter.listenerCount("data"), 0);
      assert.equal(emitter.listenerCount("error"), 0);
    });
  });

  it("an error event is thrown after the events before it, and removes the listeners", async () => {
    await runVirtual(function* () {
      const emitter = new EventEmitter();
      const it = yield* each(yield* on(emitter, "data"));
      emitter.emit("data", 1);
      emitter.emit("error", new Error("broken"));
      assert.deepEqual((yield* it.next()).value, [1]);
      const error = yield* rejectsOp(it.next(), Error);
      assert.equal(error.message, "broken");
      assert.equal(emitter.listenerCount("data") + emitter.listenerCount("error"), 0);
    });
  });

  it("a cancelled next() loses no event", async () => {
    await runVirtual(function* () {
      const emitter = new EventEmitter();
      const it = yield* on(emitter, "data");
      const reader = yield* spawn(() => it.next());
      yield* waitAllTasksBlocked();
      reader.cancel();
      emitter.emit("data", "kept");
      yield* rejectsOp(reader, CancelledError);
      assert.deepEqual((yield* it.next()).value, ["kept"]);
      yield* it.return();
    });
  });
});
