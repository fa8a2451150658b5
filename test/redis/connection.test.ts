// corio/redis connectRedis against a real redis-server (issue 15).
import assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";
import { CancelledError, type Operation, run, sleep, spawn, until } from "../../src/index.ts";
import { connectRedis, type RedisClient } from "../../src/redis/index.ts";
import { checkLeaks } from "../_helpers.ts";
import { needsRedisServer, type RedisServer, useRedisServer } from "../_redis.ts";

const skip = needsRedisServer();

describe("connectRedis", { skip }, () => {
  checkLeaks();
  const redisServer = useRedisServer();
  let server: RedisServer;
  beforeEach(() => {
    server = redisServer();
  });

  it("connects by socket path or by URL, and closes the connection when the task ends", async () => {
    let kept: RedisClient | undefined;
    const value = await run(function* () {
      const redis = yield* connectRedis({ path: server.path });
      kept = redis;
      yield* until(redis.set("k", "v"));
      const byUrl = yield* connectRedis(server.url);
      return yield* until(byUrl.get("k"));
    });
    assert.equal(value, "v");
    assert.equal(kept?.status, "end");
  });

  it("closes the connection when the task is cancelled or fails", async () => {
    let kept: RedisClient | undefined;
    await assert.rejects(
      async () =>
        await run(function* () {
          kept = yield* connectRedis({ path: server.path });
          throw new Error("handler failed");
        }),
      /handler failed/,
    );
    assert.equal(kept?.status, "end");
  });

  it("an unreachable server gives a clear error within the connect timeout", async () => {
    const started = Date.now();
    await assert.rejects(
      // 1 s: under a loaded machine a first attempt cut short by the deadline would have no error to name.
      async () => await run(() => connectRedis({ path: `${server.path}.missing`, connectTimeout: 1000 })),
      (error: Error) => /Cannot connect to Redis at .*\.missing within 1000 ms: connect ENOENT/.test(error.message),
    );
    assert.ok(Date.now() - started < 5000);
  });

  it("waits for a server that is still starting", async () => {
    await server.kill();
    const restarted = new Promise((resolve) => setTimeout(resolve, 200)).then(() => server.restart());
    const value = await run(function* () {
      const redis = yield* connectRedis({ path: server.path, connectTimeout: 10_000 });
      return yield* until(redis.ping());
    });
    await restarted;
    assert.equal(value, "PONG");
  });

  it("reconnects by itself after the server restarts", async () => {
    await run(function* () {
      const redis = yield* connectRedis({ path: server.path });
      yield* until(redis.set("before", "1"));
      yield* until(server.restart());
      // The command waits for the reconnection instead of failing.
      assert.equal(yield* until(redis.set("after", "2")), "OK");
      assert.equal(yield* until(redis.get("before")), null); // a fresh, empty server
    });
  });

  it("cancelling the caller while it connects throws CancelledError and leaves nothing open", async () => {
    await server.kill();
    try {
      await run(function* () {
        const connecting = yield* spawn(() => connectRedis({ path: server.path, connectTimeout: 60_000 }));
        yield* sleep(150);
        connecting.cancel();
        yield* assertCancelled(connecting);
      });
    } finally {
      await server.restart();
    }
  });

  it("an owner that ends while the client waits to reconnect (server down) ends at once and leaves nothing open", async () => {
    try {
      await run(function* () {
        const redis = yield* connectRedis({ path: server.path });
        yield* until(server.kill());
        while (redis.status !== "reconnecting") yield* sleep(5);
      });
    } finally {
      await server.restart();
    }
  });

  it("rejects bad arguments", async () => {
    await run(function* () {
      yield* assertRejects(connectRedis(42 as never), TypeError);
      yield* assertRejects(connectRedis({ connectTimeout: -1 }), RangeError);
    });
  });
});

function* assertCancelled(task: Operation<unknown>) {
  try {
    yield* task;
    assert.fail("expected a cancellation");
  } catch (error) {
    assert.ok(error instanceof CancelledError);
  }
}

function* assertRejects(op: Operation<unknown>, type: new (...args: never[]) => Error) {
  try {
    yield* op;
    assert.fail("expected an error");
  } catch (error) {
    assert.ok(error instanceof type, String(error));
  }
}
