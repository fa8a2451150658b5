/**
 * Operations: corio's unit of asynchronous work.
 * @module
 */
/**
 * Brands {@link Suspension}. Type-only: nothing exists at run time, so no
 * object outside corio can pass for one.
 */
export declare const suspensionBrand: unique symbol;

/**
 * An opaque request to suspend the running task, made only by corio's own
 * operations (a sleep, a lock's wait...). Its shape is private: the runtime's
 * internal park records carry the brand, nothing else does.
 */
export interface Suspension {
  /** Type-only brand; not present at run time. */
  readonly [suspensionBrand]: true;
}

/**
 * What an operation yields to the runtime. User code never builds one: it
 * either `yield*`s another operation or, inside a periodic task, uses a bare
 * `yield` to end the current round (anywhere else a bare `yield` lets the
 * other ready tasks run first).
 */
export type Instruction = Suspension | undefined;

/**
 * A piece of asynchronous work that corio can run, suspend and cancel: any
 * iterable whose iterator is a generator over runtime instructions. Generator
 * functions make them; `yield* op` inside another operation runs it (the
 * `await` of corio).
 *
 * @typeParam T The value the operation returns.
 * @example
 * ```ts
 * import { type Operation, run, sleep } from "corio";
 * function* twice(n: number): Operation<number> {
 *   yield* sleep(1);
 *   return n * 2;
 * }
 * console.assert((await run(twice(21))) === 42);
 * ```
 */
export interface Operation<T> {
  [Symbol.iterator](): Iterator<Instruction, T, unknown>;
}

/**
 * An operation, or a function of no arguments that returns one: every corio
 * API that runs work accepts both, so `spawn(function* () { ... })` and
 * `spawn(handle(conn))` both work.
 *
 * @example
 * ```ts
 * import { type OperationLike, run } from "corio";
 * const op: OperationLike<string> = function* () { return "done"; };
 * console.assert((await run(op)) === "done");
 * ```
 */
export type OperationLike<T> = Operation<T> | (() => Operation<T>);

/** Opens an operation-like value into the iterator the runtime drives. */
export function iterate<T>(op: OperationLike<T>, api: string): Iterator<Instruction, T, unknown> {
  const operation = typeof op === "function" ? op() : op;
  if (operation === null || typeof operation !== "object" || typeof operation[Symbol.iterator] !== "function") {
    throw new TypeError(
      `Cannot ${api}: expected an operation (a generator) or a function returning one, received ${typeof operation === "object" ? String(operation) : typeof operation}`,
    );
  }
  return operation[Symbol.iterator]();
}

/** Checks eagerly that `op` can be run, so a bad argument fails where it was passed. */
export function assertOperationLike(op: unknown, api: string): void {
  if (typeof op === "function") return;
  if (op !== null && typeof op === "object" && typeof (op as { [Symbol.iterator]?: unknown })[Symbol.iterator] === "function") return;
  throw new TypeError(`Cannot ${api}: expected an operation (a generator) or a function returning one, received ${op === null ? "null" : typeof op}`);
}
