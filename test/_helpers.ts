// Shared test fixtures. Every test file calls `checkLeaks()` once at top
// level: after each test, no timer, socket, worker or child process may be
// left open, and the default loop must have no task left.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { accessSync, constants, existsSync } from "node:fs";
import { connect, Server as NetServer, type Socket } from "node:net";
import { networkInterfaces } from "node:os";
import { delimiter, join } from "node:path";
import { afterEach, beforeEach } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { allTasks, CancelledError, Future, isCancellation, type Operation, sleep, spawn } from "../src/index.ts";
import { waitAllTasksBlocked } from "../src/testing/index.ts";

const IGNORED = new Set(["TTYWRAP", "PipeWrap", "ProcessWrap", "FSReqCallback", "TTYWrap", "SignalWrap"]);

function openResources(): string[] {
  return process.getActiveResourcesInfo().filter((name) => !IGNORED.has(name));
}

/** The resources open now that were not open in `before` (counted: two sockets before and three now leave one). */
function leakedSince(before: readonly string[]): string[] {
  const leaked = openResources();
  for (const name of before) {
    const index = leaked.indexOf(name);
    if (index >= 0) leaked.splice(index, 1);
  }
  return leaked;
}

/** Fails any test that leaves a handle open or a task running on the default loop. */
export function checkLeaks(): void {
  let before: string[] = [];
  beforeEach(() => {
    before = openResources();
  });
  afterEach(async () => {
    // Closed handles disappear on the next turns of the event loop, and a timer of a millisecond or
    // two (a library's setTimeout(0)) once that much real time has passed: twenty turns can take less
    // than that, which failed the otel tests about one run in thirty. A leak stays past the 100 ms.
    // Waited for by name, not by count: handles open before the test (a probe's connect) that end
    // during it made the count look settled while the test's own were still closing (Node 24).
    await turnsUntil(() => leakedSince(before).length === 0, 100, 20);
    const leaked = leakedSince(before);
    assert.deepEqual(leaked, [], `the test left resources open: ${leaked.join(", ")}`);
    assert.deepEqual(
      allTasks().map((task) => task.path),
      [],
      "the test left tasks running on the default loop",
    );
  });
}

/**
 * Lets Node's event loop turn until `done()` holds, for up to `ms` of real time (never fewer than
 * `minTurns` turns). A bound in turns alone fails on a loaded machine when the awaited thing runs on
 * another thread (libuv's pool, a worker) or process: a thousand idle turns can pass in a few
 * milliseconds. It only bounds the wait; it never sleeps.
 */
export async function turnsUntil(done: () => boolean, ms = 10_000, minTurns = 1000): Promise<boolean> {
  const since = performance.now();
  for (let i = 0; !done() && (i < minTurns || performance.now() - since < ms); i++) {
    await new Promise((resolve) => setImmediate(resolve));
  }
  return done();
}

/** Collects reported errors for `runVirtual(op, { onError })`. */
export function collectReports(): {
  reports: { error: unknown; kind: string; path: string }[];
  onError: (error: unknown, context: { kind: string; path: string }) => void;
} {
  const reports: { error: unknown; kind: string; path: string }[] = [];
  return { reports, onError: (error, context) => reports.push({ error, kind: context.kind, path: context.path }) };
}

/** Runs an operation's first step outside any task (to check argument errors thrown at once). */
export function start(op: { [Symbol.iterator](): Iterator<unknown, unknown, unknown> }): void {
  op[Symbol.iterator]().next();
}

/** Runs `op` and checks that it throws an instance of `expected` (the operation twin of `assert.rejects`). */
export function* rejectsOp(op: Operation<unknown>, expected: new (...args: never[]) => Error): Operation<Error> {
  try {
    yield* op;
  } catch (error) {
    assert.ok(error instanceof expected, `expected ${expected.name}, got ${String(error)}`);
    return error;
  }
  assert.fail(`expected ${expected.name}, but the operation succeeded`);
}

/**
 * Decided case 12's race, on the virtual clock: runs `body` in a task and
 * cancels that task in the turn the operation `body` starts at once ends,
 * when that operation sleeps 10 ms (its timer is set before the
 * canceller's). The task must end cancelled. Returns what `body` gave (or
 * threw, other than a cancel) and the name of the error the task's next
 * suspension threw: `"CancelledError"` when the cancel was due again.
 */
export function* cancelledAsItEnds(body: () => Operation<unknown>): Operation<{ got: unknown; later: string }> {
  let got: unknown = "nothing";
  let later = "not cancelled";
  const caller = yield* spawn(function* () {
    try {
      got = yield* body();
    } catch (error) {
      if (isCancellation(error)) throw error;
      got = error;
    }
    try {
      yield* sleep(1);
    } catch (error) {
      later = (error as Error).name;
      throw error;
    }
  });
  yield* sleep(0);
  yield* sleep(0); // the operation's timer is set before the canceller's: it ends first, at 10 ms
  yield* spawn(function* () {
    yield* sleep(10);
    caller.cancel();
  });
  yield* rejectsOp(caller, CancelledError);
  return { got, later };
}

/**
 * Decided case 12's race in both orders, on the virtual clock: a result and
 * its caller's cancel come in one turn, the result first or the cancel
 * first, to a caller of a high (1) and a low (50) priority. `setup` is given
 * the operation that makes the result (`"v"`, once released) and returns
 * what the caller runs to get it; `setup` itself runs in the test's task
 * (where `asCompleted` or a cache is made). The caller must get `"v"` only
 * when the result came first, then its cancel at its next suspension,
 * whatever its priority: its scheduling order must not decide.
 */
export function* resultAndCancelInOneTurn(setup: (makeResult: () => Operation<string>) => Operation<() => Operation<unknown>>): Operation<void> {
  for (const order of ["result first", "cancel first"] as const) {
    for (const priority of [1, 50]) {
      const gate = new Future<void>();
      const cancelNow = new Future<void>();
      const get = yield* setup(function* () {
        yield* gate;
        // The result's last step wakes the canceller (priority 1): it cancels the caller in this turn,
        // after the result came and before the caller runs.
        if (order === "result first") cancelNow.resolve();
        return "v";
      });
      let got: unknown = "nothing";
      const caller = yield* spawn(
        function* () {
          got = yield* get();
          yield* sleep(1);
        },
        { priority },
      );
      yield* spawn(
        function* () {
          yield* cancelNow;
          caller.cancel();
          // Cancelled first: the result comes later in this turn (before a caller of priority 50 runs).
          if (order === "cancel first") gate.resolve();
        },
        { priority: 1 },
      );
      yield* waitAllTasksBlocked();
      if (order === "result first") gate.resolve();
      else cancelNow.resolve();
      yield* rejectsOp(caller, CancelledError);
      assert.equal(got, order === "result first" ? "v" : "nothing", `${order}, caller of priority ${priority}`);
    }
  }
}

/** `Promise.withResolvers()`, which Node 20 lacks. */
export function promiseWithResolvers<T>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (error: unknown) => void } {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** The one command that installs every system tool the tests use (as root). */
export const INSTALL_SYSTEM_DEPS = "bash scripts/install-system-deps.sh";

/**
 * The reason to skip a test whose system tool is missing, naming the command
 * that installs it. Under `CI=true` a missing tool is a failure instead: this
 * throws, so the test file fails at once rather than passing with skips.
 */
export function missingTool(what: string): string {
  const reason = `needs ${what}; install the test tools with \`${INSTALL_SYSTEM_DEPS}\` (as root)`;
  if (process.env["CI"] === "true") throw new Error(`CI=true and a test tool is missing: ${reason}`);
  return reason;
}

/**
 * `false` when every command is on PATH, else the reason to skip a test that
 * runs them: `it("...", { skip: needsCommands("curl") }, ...)`. Under
 * `CI=true` a missing command fails instead (see `missingTool`).
 */
export function needsCommands(...commands: string[]): string | false {
  const dirs = (process.env["PATH"] ?? "").split(delimiter).filter((dir) => dir !== "");
  const missing = commands.filter((command) =>
    dirs.every((dir) => {
      try {
        accessSync(join(dir, command), constants.X_OK);
        return false;
      } catch {
        return true;
      }
    }),
  );
  return missing.length === 0 ? false : missingTool(`${missing.join(", ")} on PATH`);
}

/** `false` when `nc` is OpenBSD's (the tests use its `-N`, to shut the connection down at the end of stdin), else why to skip. */
export function needsOpenBsdNc(): string | false {
  const missing = needsCommands("nc");
  if (missing) return missing;
  const help = spawnSync("nc", ["-h"], { encoding: "utf8" });
  return `${help.stdout}${help.stderr}`.includes("-N") ? false : missingTool("OpenBSD's nc (for -N, package netcat-openbsd)");
}

/** `false` when Chromium is at `path` (the browser tests drive it), else why to skip. */
export function needsChromium(path: string): string | false {
  return existsSync(path) ? false : missingTool(`Chromium at ${path}`);
}

/**
 * `false` when the loopback interface has an IPv6 address (`::1`), else why
 * to skip. Not a tool: containers often have no IPv6, so this skips even
 * under `CI=true`.
 */
export function needsIpv6Loopback(): string | false {
  const addresses = Object.values(networkInterfaces()).flatMap((list) => list ?? []);
  return addresses.some((address) => address.address === "::1") ? false : "needs IPv6 on the loopback interface (::1)";
}

/**
 * Records the Node servers (`net`, `tls` and `http` servers) that start
 * listening until `restore()`, so a test can reach the object under a corio
 * server, e.g. to emit an accept error on it.
 */
export function captureNodeServers(): { servers: NetServer[]; restore(): void } {
  const servers: NetServer[] = [];
  const listen = NetServer.prototype.listen;
  NetServer.prototype.listen = function (this: NetServer, ...args: unknown[]) {
    servers.push(this);
    return (listen as (...a: unknown[]) => NetServer).apply(this, args);
  } as typeof listen;
  return {
    servers,
    restore() {
      NetServer.prototype.listen = listen;
    },
  };
}

/** What a plain Node client socket saw: the text it read, then how it ended. */
export interface RawClient {
  socket: Socket;
  text: string;
  /** True once the peer's FIN arrived. */
  ended: boolean;
  /** The socket's error code, if it had one (`ECONNRESET`). */
  error: string | undefined;
  /** Resolves once the socket is closed. */
  closed: Promise<void>;
}

/** Connects a plain Node socket (outside corio) that sends `data` and records what comes back. */
export function rawClient(port: number, data = ""): RawClient {
  const socket = connect(port, "127.0.0.1", () => {
    if (data !== "") socket.write(data);
  });
  const client: RawClient = { socket, text: "", ended: false, error: undefined, closed: new Promise((resolve) => socket.once("close", () => resolve())) };
  socket.setEncoding("utf8").on("data", (chunk: string) => {
    client.text += chunk;
  });
  socket.on("end", () => {
    client.ended = true;
  });
  socket.on("error", (error: NodeJS.ErrnoException) => {
    client.error = error.code ?? error.message;
  });
  return client;
}

/**
 * Runs V8's collector so that `WeakRef`s to what nothing else holds read
 * `undefined`: a `WeakRef` keeps its target until the job that read it ends,
 * so each round lets one turn of the event loop pass first (a check phase,
 * not a timer). Node only (`--expose-gc` through `node:v8`).
 */
export async function collectGarbage(): Promise<void> {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  for (let round = 0; round < 2; round++) {
    await new Promise((resolve) => setImmediate(resolve));
    gc();
  }
}
