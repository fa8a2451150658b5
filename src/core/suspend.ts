/**
 * Waiting for nothing but cancellation.
 * @module
 */
import { FOREVER } from "./_park.ts";
import { type Instruction, markOperationPrototype, type Operation } from "./operation.ts";
import { requireCurrentTask } from "./spawn.ts";

/**
 * The iterator of `suspend()`: yields the never-woken park once. A plain
 * object rather than a generator: throwing a cancellation through it is
 * then one frame cheaper (V8 unwinds generator frames slowly), which matters
 * when a tree of thousands of parked tasks is cancelled.
 */
class SuspendIterator implements Iterator<Instruction, never, unknown> {
  #started = false;
  next(): IteratorResult<Instruction, never> {
    if (this.#started) throw new Error("unreachable: suspend() was resumed without being cancelled");
    this.#started = true;
    requireCurrentTask("suspend");
    return { done: false, value: FOREVER };
  }
  throw(error: unknown): IteratorResult<Instruction, never> {
    throw error;
  }
  return(): IteratorResult<Instruction, never> {
    return { done: true, value: undefined as never };
  }
}

const SUSPEND: Operation<never> = { [Symbol.iterator]: () => new SuspendIterator() };
markOperationPrototype(SUSPEND, "suspend");

/**
 * Suspends the current task until it is cancelled: the body of a server that
 * runs until Ctrl-C, or of a resource that lives as long as its scope.
 *
 * **Cancellation:** the only way out; `CancelledError` is thrown here.
 *
 * @example
 * ```ts
 * import { run, suspend, isCancellation } from "corio";
 * const task = run(function* () { yield* suspend(); });
 * task.cancel();
 * await task.then(() => {}, (e) => console.assert(isCancellation(e)));
 * ```
 */
export function suspend(): Operation<never> {
  return SUSPEND;
}
