// One case of bench/instructions.ts, run under valgrind: `node _instructions-case.js <case> <n>`
// runs the case once with n operations as a warm-up (so TurboFan has compiled it), then once
// more; the driver takes the difference between a run of n and one of 2n, so start-up,
// compilation and the warm-up cancel out. `echo-server <clients> <portFile>` serves a line echo
// (or `echo-server-messages`, the same through `framing`; `echo-server-raw`, net.bench.ts's raw
// node:net floor) and exits once `clients` connections have come and gone twice (the warm-up
// and the measure).
// `http-server <portFile>` (or `http-server-node`, `http-server-path`) serves a hello world
// until a client asks for /exit.
import { writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { createServer as createNetServer } from "node:net";
import { all, Future, Lock, type Operation, Queue, run, Semaphore, scope, spawn, suspend } from "../src/index.ts";
import { serveHttp, startServer } from "../src/net/index.ts";
import { ThreadPool } from "../src/threads/index.ts";
import { echoLinesRaw } from "./_raw-line-echo.ts";

/** n task switches: two tasks hand a future back and forth. */
function pingPong(n: number): PromiseLike<void> {
  return run(function* () {
    let ping = new Future<void>();
    let pong = new Future<void>();
    const a = yield* spawn(function* () {
      for (let i = 0; i < n / 2; i++) {
        yield* ping;
        ping = new Future<void>();
        pong.resolve();
      }
    });
    const b = yield* spawn(function* () {
      for (let i = 0; i < n / 2; i++) {
        ping.resolve();
        yield* pong;
        pong = new Future<void>();
      }
    });
    yield* a;
    yield* b;
  });
}

function* one(): Operation<number> {
  return 1;
}

/** n spawns of a hoisted generator function, each joined at once. */
function spawnJoin(n: number): PromiseLike<void> {
  return run(function* () {
    for (let i = 0; i < n; i++) yield* yield* spawn(one);
  });
}

/** n `scope`s around a hoisted generator function that does not suspend: a boundary's eager first step and its end. */
function scopeOne(n: number): PromiseLike<void> {
  return run(function* () {
    for (let i = 0; i < n; i++) yield* scope(one);
  });
}

/** The cleanups `cancelTree`'s children have run, over every run of the process. */
let cleaned = 0;
function* parkedChild(): Operation<void> {
  try {
    yield* suspend();
  } finally {
    cleaned++;
  }
}

/**
 * core.bench.ts case 5 with n children: a parent spawns n children that park, then is cancelled
 * and joined (each child's cleanup runs). Counts the spawns and parks as well as the cancel.
 */
function cancelTree(n: number): PromiseLike<void> {
  return run(function* () {
    const parent = yield* spawn(function* () {
      for (let i = 0; i < n; i++) yield* spawn(parkedChild);
      yield* suspend();
    });
    yield* yield* spawn(function* () {}); // by now every child has parked
    parent.cancel();
    try {
      yield* parent;
    } catch {}
    if (cleaned % n !== 0) throw new Error(`${cleaned} cleanups for ${n} children`);
  });
}

/** n uncontended acquire/release pairs. */
function lockFast(n: number): PromiseLike<void> {
  return run(function* () {
    const lock = new Lock();
    for (let i = 0; i < n; i++) {
      yield* lock.acquire();
      lock.release();
    }
  });
}

/** n acquire/release pairs among `workers` tasks, each holding its token across one suspension. */
function contended(workers: number, tokens: number): (n: number) => PromiseLike<void> {
  return (n) =>
    run(function* () {
      const lock = tokens === 1 ? new Lock() : new Semaphore(tokens);
      const tasks = [];
      for (let w = 0; w < workers; w++) {
        tasks.push(
          yield* spawn(function* () {
            for (let i = 0; i < n / workers; i++) {
              yield* lock.acquire();
              yield;
              lock.release();
            }
          }),
        );
      }
      for (const task of tasks) yield* task;
    });
}

/** n items from a producer task to a consumer through a Queue(16). */
function queue(n: number): PromiseLike<void> {
  return run(function* () {
    const items = new Queue<number>({ maxsize: 16 });
    const producer = yield* spawn(function* () {
      for (let i = 0; i < n; i++) yield* items.put(i);
    });
    for (let i = 0; i < n; i++) yield* items.get();
    yield* producer;
  });
}

const trivial = (i: number): number => i;

/**
 * n calls of a trivial function on a pool of one worker: one at a time (`batch` 1, a round trip
 * each, both threads counted), or `batch` at once (one message each way per batch).
 */
function threadCalls(batch: number): (n: number) => PromiseLike<void> {
  return (n) =>
    run(function* () {
      const pool = yield* ThreadPool.start({ size: 1 });
      try {
        for (let i = 0; i < n; i += batch) {
          if (batch === 1) yield* pool.call(trivial, i);
          else yield* all(Array.from({ length: batch }, (_, j) => pool.call(trivial, i + j)));
        }
      } finally {
        yield* pool.close();
      }
    });
}

/**
 * The line echo of net.bench.ts (`readLine` and `write`), or with `messages`
 * the same through `framing: { mode: "line" }` (the Calvin seed's server
 * mode); the load comes from _echo-client.mjs in other processes.
 */
function echoServer(clients: number, portFile: string, messages: boolean): PromiseLike<void> {
  return run(function* () {
    let ended = 0;
    const exitOnLast = (): void => {
      if (++ended === 2 * clients) setImmediate(() => process.exit(0));
    };
    const server = messages
      ? yield* startServer(
          function* (_reader, writer, lines) {
            try {
              for (let line = yield* lines.next(); !line.done; line = yield* lines.next()) {
                writer.write(`${line.value}\n`);
                yield* writer.drain();
              }
            } finally {
              exitOnLast();
            }
          },
          { framing: { mode: "line", delimiter: "\n" } },
        )
      : yield* startServer(function* (reader, writer) {
          try {
            for (;;) {
              const line = yield* reader.readLine();
              if (line.length === 0) return;
              writer.write(line);
              yield* writer.drain();
            }
          } finally {
            exitOnLast();
          }
        });
    writeFileSync(portFile, `${server.address.port}\n`);
    yield* suspend();
  });
}

/** net.bench.ts's floor for the line echo: raw node:net, lines split with indexOf, one write per chunk. */
function rawEchoServer(clients: number, portFile: string): Promise<void> {
  let ended = 0;
  const server = createNetServer({ noDelay: true }, (socket) => {
    socket.on("close", () => {
      if (++ended === 2 * clients) setImmediate(() => process.exit(0));
    });
    echoLinesRaw(socket);
  });
  return new Promise(() => {
    server.listen(0, "127.0.0.1", () => writeFileSync(portFile, `${(server.address() as { port: number }).port}\n`));
  });
}

const HELLO = "hello world";

/**
 * The hello-world servers of http.bench.ts: corio's `serveHttp` (`http-server`) or raw
 * `node:http` (`http-server-node`, the floor); `http-server-path` is corio's reading
 * `request.path` as a router does. The load comes from _http-client.mjs, which ends with a
 * GET /exit.
 */
function httpServer(portFile: string, node: boolean, readPath: boolean): PromiseLike<void> {
  const exitSoon = (): void => {
    setImmediate(() => process.exit(0));
  };
  if (node) {
    const server = createServer((req, res) => {
      res.writeHead(200, { "content-type": "text/plain; charset=utf-8", "content-length": Buffer.byteLength(HELLO) });
      res.end(HELLO);
      if (req.url === "/exit") exitSoon();
    });
    return new Promise(() => {
      server.listen(0, "127.0.0.1", () => writeFileSync(portFile, `${(server.address() as { port: number }).port}\n`));
    });
  }
  return run(function* () {
    const server = yield* serveHttp(function* (request, response) {
      yield* response.send(200, HELLO);
      if ((readPath ? request.path : request.raw.url) === "/exit") exitSoon();
    });
    writeFileSync(portFile, `${server.address.port}\n`);
    yield* suspend();
  });
}

/** The cases, by name (bench/instructions.ts lists the same names): each runs n operations. */
const CASES: Record<string, (n: number) => PromiseLike<void>> = {
  "ping-pong": pingPong,
  "spawn-join": spawnJoin,
  "scope-one": scopeOne,
  "cancel-tree": cancelTree,
  "lock-uncontended": lockFast,
  "lock-8-contenders": contended(8, 1),
  "semaphore-8-of-64": contended(64, 8),
  "queue-16": queue,
  "thread-round-trip": threadCalls(1),
  "thread-batch-64": threadCalls(64),
};

const [name = "", arg = "", portFile = ""] = process.argv.slice(2);
if (name === "echo-server-raw") await rawEchoServer(Number(arg), portFile);
else if (name === "echo-server" || name === "echo-server-messages") await echoServer(Number(arg), portFile, name === "echo-server-messages");
else if (name.startsWith("http-server")) await httpServer(arg, name === "http-server-node", name === "http-server-path");
else {
  const body = CASES[name];
  if (body === undefined)
    throw new Error(`unknown case ${name}; the cases: ${Object.keys(CASES).join(", ")}, echo-server[-messages|-raw], http-server[-node|-path]`);
  await body(Number(arg));
  await body(Number(arg));
}
