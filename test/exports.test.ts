// The public names are the contract: a change here is a change of API.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as calvin from "../src/compat/calvin/index.ts";
import * as fs from "../src/fs/index.ts";
import * as corio from "../src/index.ts";
import * as process from "../src/process/index.ts";
import * as redis from "../src/redis/index.ts";
import * as testing from "../src/testing/index.ts";
import * as threads from "../src/threads/index.ts";

const CORE = [
  "Barrier",
  "BoundedSemaphore",
  "Broadcast",
  "BrokenBarrierError",
  "BrokenResourceError",
  "CancelledError",
  "CapacityLimiter",
  "Channel",
  "ChannelClosedError",
  "Condition",
  "Event",
  "IncompleteReadError",
  "LifoQueue",
  "LimitOverrunError",
  "Lock",
  "PriorityQueue",
  "Queue",
  "QueueEmpty",
  "QueueFull",
  "QueueShutDown",
  "Request",
  "Semaphore",
  "StreamReader",
  "StreamWriter",
  "Subscription",
  "PROCESS_WITH_LIMIT",
  "ProcessingFailure",
  "any",
  "asCompleted",
  "asyncCache",
  "createMemoryStreamPair",
  "limitGather",
  "processQueueWithLimit",
  "retry",
  "wait",
  "receive",
  "reply",
  "request",
  "send",
  "ClosedResourceError",
  "DelayedCall",
  "Future",
  "RealClock",
  "TaskGroupError",
  "TimeoutError",
  "VirtualClock",
  "all",
  "allSettled",
  "allTasks",
  "call",
  "callLater",
  "callSoon",
  "callWhenRunning",
  "createContext",
  "addInstrument",
  "ensure",
  "currentTask",
  "currentTime",
  "deadline",
  "every",
  "moveOnAfter",
  "moveOnAt",
  "isCancellation",
  "main",
  "nextPeriod",
  "race",
  "run",
  "scope",
  "shield",
  "sleep",
  "sleepUntil",
  "spawn",
  "stop",
  "suspend",
  "timeout",
  "until",
  "each",
  "forEach",
  "on",
  "once",
  "readerFromNodeStream",
  "writerToNodeStream",
  "readerFromWebStream",
  "writerToWebStream",
  "toWebReadableStream",
  "toWebWritableStream",
];

describe("exports", () => {
  it("corio exports the core and time API", () => {
    const names = Object.keys(corio);
    for (const name of CORE) assert.ok(names.includes(name), `corio should export ${name}`);
  });

  it("corio/compat/calvin exports the seed's classes", () => {
    assert.deepEqual(
      Object.keys(calvin).sort(),
      [
        "DelayedCall",
        "EventSource",
        "GenericFileDescriptor",
        "HTTPServer",
        "ServerConnection",
        "StdInFileDescriptor",
        "TCPClient",
        "TCPServer",
        "UDPClient",
        "UDPServer",
        "callFromThread",
        "callInThread",
        "deferToThread",
      ].sort(),
    );
  });

  it("corio/fs exports openFile, FileStream and stdin", () => {
    assert.deepEqual(Object.keys(fs).sort(), ["FileStream", "openFile", "stdin"]);
  });

  it("corio/process exports spawnProcess and Process", () => {
    assert.deepEqual(Object.keys(process).sort(), ["Process", "spawnProcess"]);
  });

  it("corio/threads exports the pool, its helpers and its error", () => {
    assert.deepEqual(Object.keys(threads).sort(), [
      "ThreadPool",
      "WorkerCrashedError",
      "WorkerTerminatedError",
      "callFromThread",
      "callInThread",
      "configureDefaultThreadPool",
      "exposeToThreads",
      "toThread",
      "transfer",
    ]);
  });

  it("corio/testing exports exactly its helpers", () => {
    assert.deepEqual(
      Object.keys(testing).sort(),
      ["VirtualClock", "VirtualTestError", "checkStream", "runVirtual", "waitAllTasksBlocked"].filter((name) => name in testing).sort(),
    );
    for (const name of ["VirtualClock", "VirtualTestError", "runVirtual", "waitAllTasksBlocked"]) assert.ok(name in testing);
  });

  it("corio/redis exports its connection, job queue, cache and event source", () => {
    assert.deepEqual(Object.keys(redis).sort(), ["JobCompletions", "JobQueue", "connectRedis", "openJobQueue", "redisCache", "redisEventSource"]);
  });
});
