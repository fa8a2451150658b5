/**
 * A bounded worker pool between two queues (the file-sync seed's
 * `process_queue_with_limit`).
 * @module
 */
import { defineOperation } from "../core/_dev.ts";
import { TimeoutError } from "../core/errors.ts";
import { Future } from "../core/future.ts";
import { iterate, Opened, type Operation, type OperationLike } from "../core/operation.ts";
import { scope } from "../core/scope.ts";
import { requireCurrentTask, spawn } from "../core/spawn.ts";
import { QueueShutDown } from "../sync/errors.ts";
import { type Queue, wasShutDownImmediately } from "../sync/queue.ts";
import { timeout } from "../time/timeout.ts";

/**
 * What `processQueueWithLimit` puts on the done queue for an item that
 * failed: the item, and its error.
 *
 * @example
 * ```ts
 * import { ProcessingFailure } from "corio";
 * const failure = new ProcessingFailure("job", new Error("boom"));
 * console.assert(failure.item === "job" && failure.error instanceof Error);
 * ```
 */
export class ProcessingFailure<I = unknown> {
  readonly item: I;
  readonly error: unknown;
  constructor(item: I, error: unknown) {
    this.item = item;
    this.error = error;
  }
}

/**
 * The method by which another kind of queue (a BullMQ `JobQueue` of
 * `corio/redis`) takes over `processQueueWithLimit(queue, …)`: the same call
 * then processes that queue its own way.
 *
 * @example A queue type of your own, taken by processQueueWithLimit
 * ```ts
 * import { type Operation, PROCESS_WITH_LIMIT, type ProcessSource, processQueueWithLimit, run } from "corio";
 * class Numbers implements ProcessSource<number, number, undefined> {
 *   *[PROCESS_WITH_LIMIT](_done: unknown, n: number, worker?: (item: number) => Operation<number>): Operation<never> {
 *     for (let i = 0; i < n; i++) yield* worker!(i);
 *     throw new Error("done");
 *   }
 * }
 * await run(() => processQueueWithLimit(new Numbers(), null, 2, function* (n: number) { return n; })).then(
 *   () => console.assert(false),
 *   (error: Error) => console.assert(error.message === "done"),
 * );
 * ```
 */
export const PROCESS_WITH_LIMIT: unique symbol = Symbol.for("corio.processWithLimit");

/**
 * A queue that processes itself under `processQueueWithLimit` (see
 * `PROCESS_WITH_LIMIT`): the `JobQueue` of `corio/redis` is one.
 *
 * @example
 * ```ts
 * import type { ProcessSource } from "corio";
 * import type { JobQueue } from "corio/redis";
 * const accepts = (queue: JobQueue<string, number>): ProcessSource<string, number, unknown> => queue;
 * console.assert(typeof accepts === "function");
 * ```
 */
export interface ProcessSource<I, R, O> {
  [PROCESS_WITH_LIMIT](
    doneQueue: Queue<R | ProcessingFailure<I>> | null,
    n: number,
    worker: ((item: I) => Operation<R>) | undefined,
    options?: O,
  ): Operation<never>;
}

/**
 * Takes items from `queue` forever and processes up to `n` at once, with
 * the `limitGather` start rule (`taskTimeout`). Each result is put on
 * `doneQueue` (in completion order) and each item is marked with
 * `queue.taskDone()`, so `queue.join()` tells when the input is processed.
 * Without `worker`, the items are themselves operations (as in the seed);
 * with it, `worker(item)` is run. A failing item neither stops the pool nor
 * vanishes: a `ProcessingFailure { item, error }` goes on `doneQueue`, and
 * the item is still marked done.
 *
 * It never returns by itself. Once `queue` is shut down (not
 * `immediate`) and empty, the items in flight finish and reach `doneQueue`,
 * then the `QueueShutDown` is thrown. **Cancellation:** stops taking items and
 * cancels the ones in flight (each is still marked done; a cancelled item
 * puts nothing on `doneQueue`).
 *
 * `queue` may also be a `JobQueue` of `corio/redis` (a BullMQ queue shared
 * by many processes): then `n` jobs run at once in this process, `doneQueue`
 * (or `null`) gets this process's outcomes, and cancelling puts the jobs in
 * flight back after a grace (see `JobQueue.process`).
 *
 * @example The seed's docstring example
 * ```ts
 * import { processQueueWithLimit, Queue, spawn } from "corio";
 * import { runVirtual } from "corio/testing";
 * await runVirtual(function* () {
 *   const queue = new Queue<number>();
 *   const done = new Queue<number>();
 *   const pool = yield* spawn(() => processQueueWithLimit(queue, done, 2, function* (n: number) { return n * n; }));
 *   for (const n of [1, 2, 3, 4]) queue.putNowait(n);
 *   yield* queue.join();
 *   pool.cancel();
 *   const results: number[] = [];
 *   while (!done.empty) results.push(done.getNowait());
 *   console.assert(results.sort((a, b) => a - b).join() === "1,4,9,16");
 * });
 * ```
 */
export const processQueueWithLimit: {
  <I, R, O>(
    queue: ProcessSource<I, R, O>,
    doneQueue: Queue<R | ProcessingFailure<I>> | null,
    n: number,
    worker: (item: I, ...rest: never[]) => Operation<R>,
    options?: O,
  ): Operation<never>;
  <I, R>(
    queue: Queue<I>,
    doneQueue: Queue<R | ProcessingFailure<I>>,
    n: number,
    worker?: (item: I) => Operation<R>,
    options?: { taskTimeout?: number },
  ): Operation<never>;
} = defineOperation(function* processQueueWithLimit<I, R>(
  queue: Queue<I> | ProcessSource<I, R, unknown>,
  doneQueue: Queue<R | ProcessingFailure<I>> | null,
  n: number,
  worker?: (item: I) => Operation<R>,
  options: { taskTimeout?: number } = {},
): Operation<never> {
  if (queue !== null && typeof queue === "object" && PROCESS_WITH_LIMIT in queue) return yield* queue[PROCESS_WITH_LIMIT](doneQueue, n, worker, options);
  if (doneQueue === null) throw new TypeError("Cannot processQueueWithLimit: doneQueue is required for an in-memory queue");
  return yield* processInMemory(queue, doneQueue, n, worker, options);
}) as unknown as never;

/** One item of an in-memory queue: run it, put its result (or failure) on `doneQueue`. */
function* processItem<I, R>(doneQueue: Queue<R | ProcessingFailure<I>>, worker: ((item: I) => Operation<R>) | undefined, item: I): Operation<void> {
  try {
    const it = worker !== undefined ? worker(item)[Symbol.iterator]() : iterate(item as unknown as OperationLike<R>, "process a queue item");
    const result: R = yield* new Opened(it);
    yield* doneQueue.put(result);
  } catch (error) {
    // Its own cancel (the pool stops) goes on, and so does an error of the cleanup it ran then. A
    // CancelledError the work threw by itself (it joined a task someone cancelled) is its failure.
    if (requireCurrentTask("process a queue item").cancelError !== null) throw error;
    yield* doneQueue.put(new ProcessingFailure(item, error));
  }
}

function* processInMemory<I, R>(
  queue: Queue<I>,
  doneQueue: Queue<R | ProcessingFailure<I>>,
  n: number,
  worker: ((item: I) => Operation<R>) | undefined,
  options: { taskTimeout?: number },
): Operation<never> {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`Cannot processQueueWithLimit: n must be a positive integer, received ${String(n)}`);
  const taskTimeout = options.taskTimeout ?? 0;
  if (!(typeof taskTimeout === "number" && taskTimeout >= 0))
    throw new RangeError(`Cannot processQueueWithLimit: taskTimeout must be a non-negative number of ms, received ${String(taskTimeout)}`);
  return yield* scope(function* (): Operation<never> {
    let running = 0;
    let changed: Future<void> | null = null;
    // Marks the item done when its task ends in any way: one cancelled before its first step
    // never enters a `finally` (and `queue.join()` would wait for it for good).
    const finished = (): void => {
      queue.taskDone();
      running--;
      const waiter = changed;
      changed = null;
      waiter?.resolve();
    };
    function* untilRunningAtMost(limit: number): Operation<void> {
      while (running > limit) {
        changed ??= new Future<void>();
        yield* changed;
      }
    }
    for (;;) {
      yield* untilRunningAtMost(n - 1);
      let item: I;
      try {
        item = yield* queue.get();
      } catch (error) {
        // Shut down (not immediately) and drained: the items in flight finish (their results reach doneQueue)
        // before the QueueShutDown is thrown; ending the scope at once would cancel them and lose their results.
        if (error instanceof QueueShutDown && !wasShutDownImmediately(queue)) yield* untilRunningAtMost(0);
        throw error;
      }
      // A generator declared once, not a closure per item (a new closure's first call is slow in V8).
      const task = yield* spawn(processItem(doneQueue, worker, item));
      running++;
      task.addDoneCallback(finished);
      if (taskTimeout > 0) {
        try {
          yield* timeout(taskTimeout, untilRunningAtMost(0));
        } catch (error) {
          if (!(error instanceof TimeoutError)) throw error;
        }
      }
    }
  });
}
