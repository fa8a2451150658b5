// Classes that only corio's functions make: their constructors are private in the types, and
// plain JavaScript that calls `new` gets a TypeError naming what to call instead (not an object
// that fails later, far from the mistake).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { IDelayedCall } from "../../src/compat/twisted/index.ts";
import { FileStream } from "../../src/fs/index.ts";
import { DelayedCall, Request, Subscription } from "../../src/index.ts";
import { DatagramSocket } from "../../src/net/index.ts";
import { JobCompletions, JobQueue } from "../../src/redis/index.ts";
import { ThreadPool } from "../../src/threads/index.ts";

/** Each class, the arguments a user might try, and what the error tells them to call. */
const CASES: [string, unknown, unknown[], string][] = [
  ["DelayedCall", DelayedCall, [10, () => {}], "Cannot create a DelayedCall with new: use callLater(ms, fn, ...args)"],
  ["Request", Request, ["hello"], "Cannot create a Request with new: a task gets one from yield* receive() after another calls request(task, message)"],
  ["Subscription", Subscription, [], "Cannot create a Subscription with new: use broadcast.subscribe()"],
  ["FileStream", FileStream, ["notes.txt", "r"], "Cannot create a FileStream with new: use yield* openFile(path, mode)"],
  ["DatagramSocket", DatagramSocket, [{ port: 0 }], "Cannot create a DatagramSocket with new: use yield* openDatagram(options)"],
  ["JobQueue", JobQueue, ["emails"], "Cannot create a JobQueue with new: use yield* openJobQueue(name, options)"],
  ["JobCompletions", JobCompletions, [], "Cannot create a JobCompletions with new: use yield* queue.completions()"],
  ["IDelayedCall", IDelayedCall, [1, () => {}], "Cannot create an IDelayedCall with new: use reactor.callLater(seconds, fn, ...args)"],
  ["ThreadPool", ThreadPool, [{ size: 2 }], "Cannot create a ThreadPool with new: use yield* ThreadPool.start(options) inside a task"],
];

describe("classes made by corio's functions", () => {
  for (const [name, cls, args, message] of CASES) {
    it(`new ${name}(...) from plain JavaScript throws a TypeError naming what to call`, () => {
      const Constructor = cls as new (...args: unknown[]) => unknown;
      assert.throws(() => new Constructor(...args), { name: "TypeError", message });
      // A token-like first argument is not the token either.
      assert.throws(() => new Constructor(Symbol("corio.madeByCorio"), ...args), { name: "TypeError", message });
    });
  }
});
