// Issue 3 benchmarks: locks, semaphores, queues and broadcast against
// async-mutex, async-sema, a minimal promise lock, Effection and Python's
// asyncio.Queue, measured side by side in one run; memory channels against
// Trio's (when the system Python has Trio: scripts/install-system-deps.sh).
// Run alone: npm run bench -- sync (compiled; through tsx it measures tsx's transform too)
import { execFileSync } from "node:child_process";
import { Mutex, Semaphore as MutexSemaphore } from "async-mutex";
import { Sema } from "async-sema";
import * as effection from "effection";
import { measure } from "mitata";
import { Broadcast, Channel, Lock, type Operation, openMemoryChannel, Queue, run, Semaphore, spawn } from "../src/index.ts";
import { medianPerOp, printCase } from "./_report.ts";

const INNER = 1000;
const perOp = async (fn: () => unknown): Promise<number> => (await measure(fn, { min_cpu_time: 500e6 })).p50 / INNER;

/** The smallest correct promise semaphore (a lock with one token): a count and a FIFO of resolvers. */
class PromiseSemaphore {
  #free: number;
  readonly #waiters: (() => void)[] = [];
  constructor(tokens = 1) {
    this.#free = tokens;
  }
  acquire(): Promise<void> | undefined {
    if (this.#free > 0) {
      this.#free--;
      return undefined;
    }
    return new Promise((resolve) => this.#waiters.push(resolve));
  }
  release(): void {
    const next = this.#waiters.shift();
    if (next) next();
    else this.#free++;
  }
}

// 1. Uncontended acquire/release.
{
  const lock = new Lock();
  function* corioLoop(): Generator<unknown, void, unknown> {
    for (let i = 0; i < INNER; i++) {
      yield* lock.acquire();
      lock.release();
    }
  }
  const mutex = new Mutex();
  const sema = new Sema(1);
  const promiseLock = new PromiseSemaphore();
  const corio = await perOp(() => corioLoop().next());
  // The scoped form: the lock held around an operation, released however it ends.
  function* nothing(): Operation<void> {}
  function* corioWithLockLoop(): Generator<unknown, void, unknown> {
    for (let i = 0; i < INNER; i++) yield* lock.withLock(nothing);
  }
  const corioWithLock = await perOp(() => corioWithLockLoop().next());
  const asyncMutex = await perOp(async () => {
    for (let i = 0; i < INNER; i++) {
      const release = await mutex.acquire();
      release();
    }
  });
  const nothingAsync = async (): Promise<void> => {};
  const asyncMutexExclusive = await perOp(async () => {
    for (let i = 0; i < INNER; i++) await mutex.runExclusive(nothingAsync);
  });
  const asyncSema = await perOp(async () => {
    for (let i = 0; i < INNER; i++) {
      await sema.acquire();
      sema.release();
    }
  });
  const minimal = await perOp(async () => {
    for (let i = 0; i < INNER; i++) {
      await promiseLock.acquire();
      promiseLock.release();
    }
  });
  printCase(
    "uncontended Lock acquire/release (mitata p50)",
    [
      { name: "corio Lock", value: corio },
      { name: "corio lock.withLock(op)", value: corioWithLock },
      { name: "async-mutex", value: asyncMutex },
      { name: "async-mutex runExclusive(asyncFn)", value: asyncMutexExclusive },
      { name: "async-sema", value: asyncSema },
      { name: "minimal promise lock", value: minimal },
    ],
    "corio Lock",
    "≥ 40x faster than async-mutex, ≥ 1.3x faster than async-sema",
  );
}

// 2. Contended: W workers each hold the lock across one suspension, K times.
async function contended(title: string, workers: number, tokens: number, goal: string): Promise<void> {
  const K = 200_000 / workers;
  const total = workers * K;
  const corio = await medianPerOp(total, () =>
    run(function* () {
      const lock = tokens === 1 ? new Lock() : new Semaphore(tokens);
      const tasks = [];
      for (let w = 0; w < workers; w++) {
        tasks.push(
          yield* spawn(function* (): Operation<void> {
            for (let i = 0; i < K; i++) {
              yield* lock.acquire();
              yield; // hold it across a suspension, so the others contend
              lock.release();
            }
          }),
        );
      }
      for (const task of tasks) yield* task;
    }),
  );
  const asyncMutex = await medianPerOp(total, async () => {
    const lock = tokens === 1 ? new Mutex() : new MutexSemaphore(tokens);
    await Promise.all(
      Array.from({ length: workers }, async () => {
        for (let i = 0; i < K; i++) {
          const [, release] = lock instanceof Mutex ? [0, await lock.acquire()] : await lock.acquire();
          await null;
          release();
        }
      }),
    );
  });
  const asyncSema = await medianPerOp(total, async () => {
    const sema = new Sema(tokens);
    await Promise.all(
      Array.from({ length: workers }, async () => {
        for (let i = 0; i < K; i++) {
          await sema.acquire();
          await null;
          sema.release();
        }
      }),
    );
  });
  const minimal = await medianPerOp(total, async () => {
    const lock = new PromiseSemaphore(tokens);
    await Promise.all(
      Array.from({ length: workers }, async () => {
        for (let i = 0; i < K; i++) {
          await lock.acquire();
          await null;
          lock.release();
        }
      }),
    );
  });
  printCase(
    title,
    [
      { name: "corio", value: corio },
      { name: "async-mutex", value: asyncMutex },
      { name: "async-sema", value: asyncSema },
      { name: tokens === 1 ? "minimal promise lock" : "minimal promise semaphore", value: minimal },
    ],
    "corio",
    goal,
  );
}
await contended("Lock with 8 contenders, per acquire/release", 8, 1, "≥ 10x faster than async-mutex, faster than async-sema");
await contended("Semaphore(8) with 64 contending workers, per acquire/release", 64, 8, "≥ 10x faster than async-mutex, faster than async-sema");

// 3. Producer/consumer through a bounded queue (maxsize 64).
{
  const N = 1_000_000;
  const corio = await medianPerOp(
    N,
    () =>
      run(function* () {
        const queue = new Queue<number>({ maxsize: 64 });
        const consumer = yield* spawn(function* () {
          let sum = 0;
          for (let i = 0; i < N; i++) sum += yield* queue.get();
          return sum;
        });
        for (let i = 0; i < N; i++) yield* queue.put(i);
        yield* consumer;
      }),
    3,
  );
  const channel = await medianPerOp(
    N,
    () =>
      run(function* () {
        const messages = new Channel<number>({ capacity: 64 });
        const consumer = yield* spawn(function* () {
          let sum = 0;
          for (let i = 0; i < N; i++) sum += yield* messages.receive();
          return sum;
        });
        for (let i = 0; i < N; i++) yield* messages.send(i);
        yield* consumer;
      }),
    3,
  );
  const M = 100_000;
  const effectionTime = await medianPerOp(
    M,
    () =>
      effection.run(function* () {
        const queue = effection.createQueue<number, void>();
        const consumer = yield* effection.spawn(function* () {
          let sum = 0;
          for (let i = 0; i < M; i++) {
            const next = yield* queue.next();
            if (!next.done) sum += next.value;
          }
          return sum;
        });
        for (let i = 0; i < M; i++) {
          queue.add(i);
          if (i % 64 === 63) yield* effection.sleep(0);
        }
        yield* consumer;
      }),
    3,
  );
  const python = `
import asyncio, time
async def main():
    q = asyncio.Queue(maxsize=64)
    N = ${N}
    async def consumer():
        s = 0
        for _ in range(N):
            s += await q.get()
        return s
    t = time.perf_counter()
    c = asyncio.create_task(consumer())
    for i in range(N):
        await q.put(i)
    await c
    print((time.perf_counter() - t) / N * 1e9)
asyncio.run(main())
`;
  const pythonNs = Number(execFileSync("python3", ["-c", python], { encoding: "utf8" }).trim());
  printCase(
    "producer/consumer through a bounded queue (maxsize 64), per item",
    [
      { name: "corio Queue (1M items)", value: corio },
      { name: "corio Channel, capacity 64 (1M messages)", value: channel },
      { name: "Effection createQueue (100k items)", value: effectionTime },
      { name: "Python asyncio.Queue (1M items)", value: pythonNs },
    ],
    "corio Queue (1M items)",
    "≤ 75 ns per item, ≥ 2x Effection and Python",
  );
  console.log(`items per second: corio ${(1e9 / corio).toFixed(0)}, Effection ${(1e9 / effectionTime).toFixed(0)}, Python ${(1e9 / pythonNs).toFixed(0)}`);
}

// 3b. Trio's memory channels: a producer and a consumer, buffered and as a rendezvous.
{
  const N = 1_000_000;
  const throughMemoryChannel = (maxBufferSize: number) =>
    medianPerOp(
      N,
      () =>
        run(function* () {
          const [sendSide, receiveSide] = openMemoryChannel<number>(maxBufferSize);
          const consumer = yield* spawn(function* () {
            let sum = 0;
            for (let i = 0; i < N; i++) sum += yield* receiveSide.receive();
            return sum;
          });
          for (let i = 0; i < N; i++) yield* sendSide.send(i);
          yield* consumer;
        }),
      3,
    );
  const buffered = await throughMemoryChannel(64);
  const rendezvous = await throughMemoryChannel(0);
  const trio = (maxBufferSize: number): number | undefined => {
    const script = `
import time, trio
N = 100_000
async def main():
    s, r = trio.open_memory_channel(${maxBufferSize})
    async def consumer():
        total = 0
        for _ in range(N):
            total += await r.receive()
    t = time.perf_counter()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(consumer)
        for i in range(N):
            await s.send(i)
    print((time.perf_counter() - t) / N * 1e9)
trio.run(main)
`;
    try {
      return Number(execFileSync("/usr/bin/python3", ["-c", script], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim());
    } catch {
      return undefined; // no Trio on this machine
    }
  };
  const trioBuffered = trio(64);
  const trioRendezvous = trio(0);
  printCase(
    "producer/consumer through a memory channel, per message",
    [
      { name: "corio openMemoryChannel(64) (1M messages)", value: buffered },
      { name: "corio openMemoryChannel(0), a rendezvous (1M messages)", value: rendezvous },
      ...(trioBuffered === undefined ? [] : [{ name: "Trio open_memory_channel(64) (100k messages)", value: trioBuffered }]),
      ...(trioRendezvous === undefined ? [] : [{ name: "Trio open_memory_channel(0) (100k messages)", value: trioRendezvous }]),
    ],
    "corio openMemoryChannel(64) (1M messages)",
    "about the cost of a Channel; far below Trio's",
  );
}

// 4. Broadcast to 1,000 subscribers.
{
  const SUBSCRIBERS = 1000;
  const MESSAGES = 200;
  const deliveries = SUBSCRIBERS * MESSAGES;
  const corio = await medianPerOp(
    deliveries,
    () =>
      run(function* () {
        const updates = new Broadcast<number>();
        const tasks = [];
        for (let s = 0; s < SUBSCRIBERS; s++) {
          const subscription = updates.subscribe({ capacity: MESSAGES });
          tasks.push(
            yield* spawn(function* () {
              let sum = 0;
              for (let m = yield* subscription.next(); !m.done; m = yield* subscription.next()) sum += m.value;
              return sum;
            }),
          );
        }
        for (let i = 0; i < MESSAGES; i++) updates.publish(i);
        updates.close();
        for (const task of tasks) yield* task;
      }),
    3,
  );
  printCase("Broadcast to 1,000 subscribers, per delivered message", [{ name: "corio Broadcast", value: corio }], "corio Broadcast");
  console.log(`messages delivered per second: ${(1e9 / corio).toFixed(0)}`);
}
