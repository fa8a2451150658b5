/**
 * Interop with promises and plain functions.
 * @module
 */
import { defineOperation } from "./_dev.ts";
import { Park } from "./_park.ts";
import { FINISHED, FRESH, PARKED, ranTwice, StepOperation } from "./_step-operation.ts";
import { isCancellation } from "./errors.ts";
import { devHooks, type Instruction, isOperationThen, markOperationPrototype, type Operation, operationLabel } from "./operation.ts";
import { requireCurrentTask } from "./spawn.ts";
import type { TaskImpl } from "./task.ts";

/**
 * Parks a task on a foreign promise; counts as "busy" so a virtual clock
 * holds still. It is also the `{ done: false, value: park }` result that
 * yields it (one object per wait).
 */
class PromisePark extends Park implements IteratorYieldResult<Instruction> {
  readonly done = false;
  readonly value: Instruction;
  #pending = true;
  constructor(task: TaskImpl<unknown>) {
    super(task, "future");
    this.value = this;
    task.loop.busy++;
  }
  settle(isThrow: boolean, value: unknown): void {
    if (!this.#pending) return;
    this.#pending = false;
    const task = this.task as TaskImpl<unknown>;
    task.loop.busy--;
    if (task.park === this && !task.woken) task.wake(isThrow, value);
  }
  override cancelled(): void {
    // The promise is abandoned: stop counting it as outstanding work.
    if (this.#pending) {
      this.#pending = false;
      (this.task as TaskImpl<unknown>).loop.busy--;
    }
  }
  override describe(): string {
    return "a promise to settle (until)";
  }
}

/**
 * Waits for a promise (or any thenable) and gives its value, or throws its
 * rejection. While it waits, the task counts as busy: a virtual clock does
 * not jump ahead of the outside world.
 *
 * **Cancellation:** the promise cannot be stopped; it is abandoned (its
 * later outcome is ignored, a rejection included) and `CancelledError` is
 * thrown at once. Use `call` to pass an `AbortSignal` to promise-based APIs.
 *
 * @param promise What to wait for.
 * @returns Its value.
 * @example
 * ```ts
 * import { run, until } from "corio";
 * const v = await run(function* () { return yield* until(Promise.resolve(7)); });
 * console.assert(v === 7);
 * ```
 */
export const until = defineOperation(function until<T>(promise: PromiseLike<T>): Operation<T> {
  return new Until<T>(promise);
});

/**
 * `until(promise)`: a step operation (see `_step-operation.ts`), checked at
 * its first step as the generator it replaces was, which waits on the
 * promise's park.
 */
class Until<T> extends StepOperation<T> {
  readonly #promise: PromiseLike<T>;
  #park: PromisePark | null = null;
  constructor(promise: PromiseLike<T>) {
    super();
    this.state = FRESH;
    this.#promise = promise;
  }
  override [Symbol.iterator](): this {
    devHooks.handedOver?.(this);
    return this;
  }
  next(value?: unknown): IteratorResult<Instruction, T> {
    if (this.state === PARKED) {
      // Resumed with the value (a rejection comes in through `throw`).
      this.state = FINISHED;
      this.#leave();
      return { value: value as T, done: true };
    }
    if (this.state !== FRESH) throw ranTwice(this);
    this.state = FINISHED;
    const promise = this.#promise;
    if (promise !== null && typeof promise === "object" && isOperationThen(promise.then)) {
      throw new TypeError(`Cannot wait until: ${operationLabel(promise)} is an operation, not a promise; run it with yield* ${operationLabel(promise)}`);
    }
    if (promise === null || typeof promise !== "object" || typeof promise.then !== "function") {
      if (promise !== null && typeof promise === "function") {
        throw new TypeError("Cannot wait until: expected a promise, received a function (call it first, or use call())");
      }
      return { value: promise as T, done: true };
    }
    const park = parkOn(promise);
    this.#park = park;
    this.state = PARKED;
    return park;
  }
  override return(value?: T): IteratorResult<Instruction, T> {
    this.#leave();
    return super.return(value);
  }
  override throw(error: unknown): IteratorResult<Instruction, T> {
    this.#leave();
    return super.throw(error);
  }
  /**
   * Done with the park. Resumed by its settle or a cancel, that changes
   * nothing; left otherwise (code driving the operation by hand), the
   * promise no longer counts as work. A task still parked on it (its
   * generator closed from elsewhere) is left to wait for the promise.
   */
  #leave(): void {
    const park = this.#park;
    this.#park = null;
    if (park !== null && (park.task as TaskImpl<unknown>).park !== park) park.cancelled();
  }
}
markOperationPrototype(Until.prototype, "until");

/** The park of the current task's wait for `promise` (`until`, and `call` without a generator of `until`'s). */
function parkOn(promise: PromiseLike<unknown>): PromisePark {
  const park = new PromisePark(requireCurrentTask("wait until a promise settles"));
  // Through a native promise: a thenable that calls back at once, or whose `then` throws, would
  // settle or fail before the task waits on the park, and the task would wait for ever.
  Promise.resolve(promise).then(
    (value) => park.settle(false, value),
    (error: unknown) => park.settle(true, error),
  );
  return park;
}

/**
 * Calls `fn` with an `AbortSignal` and waits for what it returns: a promise
 * (as `until` does), an operation (run in this task), or a plain value.
 * This is how corio calls promise-based APIs that accept a signal.
 *
 * The signal is made only for a function that declares a parameter
 * (`fn.length !== 0`, the rule of Effect's `tryPromise`): Node 20 takes
 * about 3.6 µs and a collection to make one, ten times the rest of the call.
 * A function that reaches its signal only through a rest parameter or
 * `arguments` (a generic wrapper) gets none: declare it, `(signal) => …`.
 *
 * **Cancellation:** the signal is aborted with the `CancelledError` as its
 * reason, the promise is abandoned, and the cancellation propagates.
 *
 * @param fn Called once, at once, with the signal (with no argument if it declares no parameter).
 * @returns What `fn` produced, awaited.
 * @example
 * ```ts
 * import { call, run } from "corio";
 * const n = await run(function* () {
 *   return yield* call(async (signal) => (signal.aborted ? 0 : 42));
 * });
 * console.assert(n === 42);
 * ```
 */
export const call = defineOperation(function* call<T>(fn: (signal: AbortSignal) => T | PromiseLike<T> | Operation<T>): Operation<T> {
  if (typeof fn !== "function") throw new TypeError(`Cannot call: expected a function, received ${typeof fn}`);
  const controller = fn.length !== 0 ? new AbortController() : null;
  try {
    const result = controller !== null ? fn(controller.signal) : (fn as () => T | PromiseLike<T> | Operation<T>)();
    if (result !== null && typeof result === "object") {
      const then = (result as PromiseLike<T>).then;
      if (typeof then === "function" && !isOperationThen(then)) return (yield parkOn(result as PromiseLike<T>)) as T;
      if (typeof (result as Operation<T>)[Symbol.iterator] === "function") return yield* result as Operation<T>;
    }
    return result as T;
  } catch (error) {
    if (isCancellation(error)) controller?.abort(error);
    throw error;
  }
});

/** Re-exported for operations that build their own parks. */
export type { Instruction };
