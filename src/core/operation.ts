/**
 * Operations: corio's unit of asynchronous work.
 * @module
 */

/**
 * What an operation yields to the runtime. User code never builds one: it
 * either `yield*`s another operation or, inside a periodic task, uses a bare
 * `yield` to end the current round (anywhere else a bare `yield` lets the
 * other ready tasks run first).
 */
export type Instruction = Suspension | undefined;

/**
 * What an operation yields when it suspends (a runtime record). Opaque: its
 * one member is named after the fix for the mistake that makes TypeScript
 * mention it, `yield op` where `yield* op` was meant.
 */
export interface Suspension {
  readonly "write yield* (with the star) to run an operation": never;
}

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
  if (typeof op !== "function") return iteratorOf(op, api, false);
  prepareOperationFunction(op);
  return iteratorOf(op(), api, true);
}

/**
 * An iterator already opened (by `iterate`), as an operation for `yield*`.
 * A class, not `{ [Symbol.iterator]: () => it }`: V8 builds that literal
 * with a computed key and a new closure each time, about 265 ns against
 * 45 ns for this (Node 20), which every `withLock`, `context.with` and
 * member of `any` or `asCompleted` paid.
 */
export class Opened<T> implements Operation<T> {
  readonly #it: Iterator<Instruction, T, unknown>;
  constructor(it: Iterator<Instruction, T, unknown>) {
    this.#it = it;
  }
  [Symbol.iterator](): Iterator<Instruction, T, unknown> {
    return this.#it;
  }
}

/**
 * The iterator the runtime drives for `operation`; `returned` says a
 * function returned it (for the error message). A generator object of a
 * function that got the shared prototype is its own iterator.
 */
export function iteratorOf<T>(operation: Operation<T>, api: string, returned: boolean): Iterator<Instruction, T, unknown> {
  if (operation instanceof SharedGenerator) {
    return operation as unknown as Iterator<Instruction, T, unknown>;
  }
  if (operation === null || typeof operation !== "object" || typeof operation[Symbol.iterator] !== "function") {
    throw new TypeError(`Cannot ${api}: ${notAnOperation(operation, returned)}`);
  }
  return operation[Symbol.iterator]();
}

/** Gives a generator function corio has not called before the shared prototype (see below); call it before the function's first call. */
export function prepareOperationFunction(fn: Function): void {
  if ((fn as { [PREPARED]?: true })[PREPARED] === undefined && isGeneratorFunction(fn)) prepareGenerator(fn);
}

// ---- a cheaper first call for generator functions written inline --------
//
// In V8 the first call of each new generator function allocates the
// function's `prototype` object and makes it a prototype (it gets a map of
// its own): 1.5-3 µs and old-space garbage per closure, which is what
// `spawn(function* () { ... })` in a loop pays per task. Given an object that
// is already a prototype, V8 only builds the function's initial map. So the
// first time corio calls a generator function (one it has not seen before),
// it gives it one shared prototype first. The generator objects behave the
// same: they still inherit `next`/`return`/`throw` from %GeneratorPrototype%
// and `g instanceof fn` still holds. What changes: `fn.prototype` is that
// shared object, so properties put on a function's own prototype before are
// not inherited any more (corio's own operations are never given it).

const GeneratorPrototype = (Object.getPrototypeOf(function* () {}) as { prototype: object }).prototype;
/** The prototype corio gives the generator functions it calls first. */
export const sharedGeneratorPrototype: object = Object.create(GeneratorPrototype);
{
  // Make it a prototype now, once.
  const warm = function* (): Generator<never, void, unknown> {};
  warm.prototype = sharedGeneratorPrototype as Generator<never, void, unknown>;
  warm().next();
}
/**
 * `it instanceof SharedGenerator`: whether `it` is a generator object of a
 * function that got the shared prototype. Node 20 answers
 * `Object.getPrototypeOf(it) === sharedGeneratorPrototype` in its runtime
 * (~130 instructions a call, twice per task started); `instanceof` of a
 * constant is a walk of the prototype chain in compiled code. It also holds
 * for an object further down the chain, which only `Object.create` of a
 * prepared function's `prototype` could make.
 */
export function SharedGenerator(): void {}
SharedGenerator.prototype = sharedGeneratorPrototype;
/**
 * Set on the generator functions corio has called (or marked as its operations): their
 * prototype is left alone from then on. A symbol property rather than a
 * `WeakSet`: adding each closure to a `WeakSet` cost more than it saved.
 */
const PREPARED = Symbol("corio.called");

function prepareGenerator(fn: Function): void {
  // A function that cannot take the mark (frozen, sealed) is left as it is.
  if (!Object.isExtensible(fn)) return;
  (fn as { [PREPARED]?: true })[PREPARED] = true;
  (fn as { prototype: object }).prototype = sharedGeneratorPrototype;
}

/** Checks eagerly that `op` can be run, so a bad argument fails where it was passed. */
export function assertOperationLike(op: unknown, api: string): void {
  if (typeof op === "function") return;
  if (op !== null && typeof op === "object" && typeof (op as { [Symbol.iterator]?: unknown })[Symbol.iterator] === "function") {
    devHooks.handedOver?.(op);
    return;
  }
  throw new TypeError(`Cannot ${api}: ${notAnOperation(op, false)}`);
}

/** Why `value` is not an operation, and what to write instead. */
function notAnOperation(value: unknown, returned: boolean): string {
  const what = returned ? "a function returning an operation, but it returned" : "an operation (a generator) or a function returning one, but received";
  if (value !== null && typeof value === "object" && typeof (value as { then?: unknown }).then === "function") {
    return `expected ${what} a promise; wait for a promise with until(promise) or call(() => promise), or pass a generator function (function* () { ... })`;
  }
  if (value === undefined && returned) {
    return `expected ${what} undefined; write the function as a generator (function* () { ... }), or use call(fn) to call a plain or async function`;
  }
  const received = value === null ? "null" : typeof value === "object" ? String(value) : typeof value;
  return `expected ${what} ${received}; pass a generator function (function* () { ... }) or an operation such as sleep(10)`;
}

// ---- marking corio's own operations -------------------------------------

const LABEL = Symbol("corio.operation");

/**
 * The `then` of corio's own operation objects. An operation is not a
 * promise: `await sleep(300)` would otherwise return at once with the
 * generator, and the sleep would never happen.
 */
function operationThen(this: object, _onFulfilled?: unknown, onRejected?: unknown): void {
  const label = operationLabel(this);
  const error = new TypeError(
    `Cannot await ${label}: a corio operation is not a promise. Inside an operation write yield* ${label}; from async code run it: await run(function* () { yield* ${label}; })`,
  );
  if (typeof onRejected === "function") onRejected(error);
  else throw error;
}

/** `sleep(…)`, `Lock.acquire(…)`: how messages name an operation object. */
export function operationLabel(op: object): string {
  const label = (op as { [LABEL]?: string })[LABEL];
  return label === undefined ? "the operation" : `${label}(…)`;
}

/** True for the rejecting `then` that corio's operation objects carry (they are not promises). */
export function isOperationThen(then: unknown): boolean {
  return then === operationThen;
}

/** Set by development mode (`_dev.ts`): called when an operation object is handed to the runtime. */
export const devHooks: { handedOver: ((op: object) => void) | null } = { handedOver: null };

const GeneratorFunction = Object.getPrototypeOf(function* () {}) as object;

/** True for a generator function (whose calls make operation objects). */
export function isGeneratorFunction(fn: unknown): fn is (...args: never[]) => Generator {
  return typeof fn === "function" && Object.getPrototypeOf(fn) === GeneratorFunction;
}

/**
 * Gives the objects a generator function makes a label and the rejecting
 * `then` (they share `fn.prototype`): nothing is added per call. `label` may
 * be a function of the object, for a class shared by several operations.
 */
export function markOperationPrototype(proto: object, label: string | ((op: object) => string), fn?: object): void {
  if (fn !== undefined && Object.isExtensible(fn)) (fn as { [PREPARED]?: true })[PREPARED] = true;
  // A class shared by several operations names each object by what it is (`deadline`, `timeout`).
  if (typeof label === "function")
    Object.defineProperty(proto, LABEL, {
      get(this: object) {
        return label(this);
      },
    });
  else Object.defineProperty(proto, LABEL, { value: label });
  Object.defineProperty(proto, "then", { value: operationThen, writable: true, configurable: true });
}

/**
 * The error of an operation object run again once finished (`const r =
 * channel.receive(); yield* r; yield* r`): each operation object runs once.
 * Step operations always check; generator-written ones in development mode.
 */
export function ranTwice(op: object): TypeError {
  const label = operationLabel(op);
  return new TypeError(`Cannot run ${label} twice: this operation object has already run (each runs once); call ${label} again for another`);
}
