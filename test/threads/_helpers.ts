// Shared by the thread tests: jobs that report through shared memory, and
// ways to wait for them without polling the clock.
import { type Operation, until } from "../../src/index.ts";
import type { ThreadContext } from "../../src/threads/index.ts";

/** A module of job functions for ThreadPool.run. */
export const MODULE = new URL("../fixtures/thread-module.ts", import.meta.url);

/** Shared memory a job can write to, so the test sees what ran even when its result is dropped. */
export function counter(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(12));
}

/** A job that spins until the test lets it go (or it is aborted, if it checks). */
export function spin(this: ThreadContext, gate: Int32Array, checkAbort: boolean): string {
  Atomics.add(gate, 1, 1);
  Atomics.notify(gate, 1);
  for (;;) {
    if (Atomics.load(gate, 0) === 1) return "released";
    if (checkAbort && this.aborted) return "aborted";
  }
}

/** The worker's thread id: tells whether a worker was replaced. */
export function threadId(): number {
  return require("node:worker_threads").threadId;
}

/** Atomics.waitAsync is in Node 20, not in the ES2023 lib this project compiles against. */
export type WaitAsync = { waitAsync(a: Int32Array, i: number, v: number): { async: boolean; value: Promise<unknown> } };

/** Waits until the spinning job has started in its worker (woken by its Atomics.notify, no polling). */
export function* started(gate: Int32Array, count = 1): Operation<void> {
  for (let seen = Atomics.load(gate, 1); seen < count; seen = Atomics.load(gate, 1)) {
    const wait = (Atomics as unknown as WaitAsync).waitAsync(gate, 1, seen);
    if (wait.async) yield* until(wait.value);
  }
}

/**
 * An async job: counts its runs in `runs[0]`, says it started like `spin`,
 * and ends when the test releases `gate[0]`, saying so in `gate[2]`.
 */
export async function waitForRelease(gate: Int32Array, runs: Int32Array): Promise<string> {
  Atomics.add(runs, 0, 1);
  Atomics.add(gate, 1, 1);
  Atomics.notify(gate, 1);
  // Waits without blocking the worker.
  await (Atomics as unknown as WaitAsync).waitAsync(gate, 0, 0).value;
  Atomics.store(gate, 2, 1);
  Atomics.notify(gate, 2);
  return "released";
}

/** A job that ends once `waitForRelease` on the same worker has ended, and a turn later, so that its answer comes after that job's. */
export async function afterRelease(gate: Int32Array): Promise<void> {
  while (Atomics.load(gate, 2) === 0) await (Atomics as unknown as WaitAsync).waitAsync(gate, 2, 0).value;
  await new Promise((resolve) => setImmediate(resolve));
}
