/**
 * Functions of the main thread that workers may call: `exposeToThreads`.
 * @module
 */
import { isCancellation } from "../core/errors.ts";
import type { Operation } from "../core/operation.ts";
import { createTask } from "../core/spawn.ts";
import type { TaskImpl } from "../core/task.ts";

type Exposed = (...args: never[]) => unknown;
const exposed = new Map<string, Exposed>();

/**
 * Lets code in worker threads call `fn` by `name` with
 * `callFromThread(name, ...args)` (or `this.callFromThread` in a job): the
 * call runs on the main thread's loop and its result goes back to the
 * worker. `fn` may return a value, a promise, or an operation (a generator),
 * which runs as a task of the thread pool. An error it throws reaches the
 * worker with its class where the worker has it (a `CancelledError` stays
 * one), else with its `name`; see `ThreadContext.callFromThread`. Returns
 * a function that removes it again.
 *
 * @example
 * ```ts
 * import { run } from "corio";
 * import { exposeToThreads, type ThreadContext, toThread } from "corio/threads";
 * const unexpose = exposeToThreads("double", (n: number) => n * 2);
 * await run(function* () {
 *   const result = yield* toThread(async function (this: ThreadContext) {
 *     return (await this.callFromThread("double", 21)) as number;
 *   });
 *   console.assert(result === 42);
 * });
 * unexpose();
 * ```
 */
export function exposeToThreads<A extends unknown[]>(name: string, fn: (...args: A) => unknown): () => void {
  if (typeof name !== "string" || name === "") throw new TypeError("Cannot expose to threads: name must be a non-empty string");
  if (typeof fn !== "function") throw new TypeError(`Cannot expose ${name} to threads: expected a function, received ${typeof fn}`);
  if (exposed.has(name)) throw new Error(`Cannot expose ${name} to threads: a function of that name is already exposed; remove it first`);
  exposed.set(name, fn as Exposed);
  return () => {
    if (exposed.get(name) === fn) exposed.delete(name);
  };
}

function isGenerator(value: unknown): value is Operation<unknown> {
  return Object.prototype.toString.call(value) === "[object Generator]";
}

/** Runs an exposed generator function's operation and sends its outcome back. */
function* answerWith(op: Operation<unknown>, reply: (ok: boolean, value: unknown) => void): Operation<void> {
  let value: unknown;
  try {
    value = yield* op;
  } catch (error) {
    reply(false, error);
    if (isCancellation(error)) throw error;
    return;
  }
  reply(true, value);
}

/** Runs the exposed function `name` for a worker; `reply(ok, value)` sends the outcome back. */
export function runExposed(owner: TaskImpl<unknown>, name: string, args: unknown[], reply: (ok: boolean, value: unknown) => void): void {
  const fn = exposed.get(name);
  if (fn === undefined) {
    reply(
      false,
      new Error(
        `callFromThread: no function named ${JSON.stringify(name)} is exposed; call exposeToThreads(${JSON.stringify(name)}, fn) on the main thread first`,
      ),
    );
    return;
  }
  let result: unknown;
  try {
    result = fn(...(args as never[]));
  } catch (error) {
    reply(false, error);
    return;
  }
  if (isGenerator(result)) {
    // A generator object of one hoisted function, not a closure per call (V8's first call of each new one costs microseconds).
    createTask(owner.loop, owner, answerWith(result, reply), { name: `callFromThread ${name}` }, 0, "call from a thread");
  } else if (result instanceof Promise) {
    result.then(
      (value) => reply(true, value),
      (error) => reply(false, error),
    );
  } else {
    reply(true, result);
  }
}
