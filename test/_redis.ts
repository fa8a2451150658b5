// A real redis-server for the corio/redis tests: persistence off, listening only on a unix
// socket in a temp folder (no port to collide with), stopped and removed by `stop()`.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before } from "node:test";
import { needsCommands } from "./_helpers.ts";

/** True if `redis-server` can be started here (`bash scripts/install-system-deps.sh` installs it). */
export function haveRedisServer(): boolean {
  return spawnSync("redis-server", ["--version"], { stdio: "ignore" }).status === 0;
}

/** `false`, or why to skip a test that needs `redis-server` (under `CI=true` a missing one fails instead). */
export function needsRedisServer(): string | false {
  return needsCommands("redis-server");
}

/**
 * Inside a `describe`: starts one redis-server before its tests and stops it
 * after them. Returns the way to reach it from a test.
 */
export function useRedisServer(): () => RedisServer {
  let server: RedisServer | undefined;
  before(async () => {
    server = await startRedisServer();
  });
  after(async () => {
    await server?.stop();
  });
  return () => {
    if (server === undefined) throw new Error("the Redis server is not started: call useRedisServer() inside a describe");
    return server;
  };
}

export interface RedisServer {
  /** The unix socket path (ioredis option `path`). */
  readonly path: string;
  /** A `redis+unix` address for code that takes a URL. */
  readonly url: string;
  /** Kills the server (SIGKILL) and starts it again on the same socket, empty. */
  restart(): Promise<void>;
  /** Kills the server without starting it again (until `restart`). */
  kill(): Promise<void>;
  /** Writes the data to disk (SAVE): a `restart` after it starts with that data. */
  save(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts redis-server on a unix socket in a fresh temp folder and waits until it answers. */
export async function startRedisServer(): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), "corio-redis-"));
  const path = join(dir, "redis.sock");
  let child: ChildProcess | null = null;

  async function launch(): Promise<void> {
    const proc = spawn("redis-server", ["--port", "0", "--unixsocket", path, "--unixsocketperm", "700", "--save", "", "--appendonly", "no", "--dir", dir], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    child = proc;
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`redis-server exited with code ${proc.exitCode}`);
      if (await answersPing(path)) return;
      if (Date.now() > deadline) throw new Error("redis-server did not answer within 10 s");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async function kill(): Promise<void> {
    const proc = child;
    child = null;
    if (proc === null || proc.exitCode !== null) return;
    const exited = new Promise((resolve) => proc.once("exit", resolve));
    proc.kill("SIGKILL");
    await exited;
    rmSync(path, { force: true });
  }

  await launch();
  return {
    path,
    url: `redis+unix://${path}`,
    async restart() {
      await kill();
      await launch();
    },
    kill,
    async save() {
      const answer = await command(path, "SAVE");
      if (!answer.startsWith("+OK")) throw new Error(`redis SAVE failed: ${answer}`);
    },
    async stop() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function answersPing(path: string): Promise<boolean> {
  return (await command(path, "PING")).startsWith("+PONG");
}

/** Sends one inline command and gives the first line of the answer ("" if the server cannot be reached). */
function command(path: string, line: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(path);
    let answer = "";
    socket.setTimeout(5000);
    socket.on("connect", () => socket.write(`${line}\r\n`));
    socket.on("data", (data) => {
      answer += data.toString();
      if (answer.includes("\r\n")) {
        socket.destroy();
        resolve(answer.slice(0, answer.indexOf("\r\n")));
      }
    });
    socket.on("error", () => resolve(""));
    socket.on("timeout", () => {
      socket.destroy();
      resolve("");
    });
  });
}
