/**
 * Operations written as small classes that are their own iterator, instead
 * of generator functions, for the hot paths (`spawn`, `Lock.acquire`,
 * `Semaphore.acquire`, `Queue.get`/`put`): a generator object, its registers
 * and a result object per call cost more than the work itself when the call
 * completes at once (a queue's `put`/`get` nearly always does), and `yield*`
 * calling a plain `next` is cheaper than resuming a generator. They behave
 * as the generators did (nothing happens until the first `next()`, `throw`
 * and `return` finish it), but one run again once finished throws
 * `ranTwice` instead of giving `{ done: true, value: undefined }`: a second
 * `yield* op` that silently received or sent nothing lost a message (asyncio
 * raises on a coroutine awaited twice). The check sits on the branch of the
 * finished state, which `next` takes anyway: it costs the first run nothing.
 * @module
 */
import { defineOperation } from "./_dev.ts";
import { DEV_MODE } from "./_host.ts";
import { Park, type WaitKind } from "./_park.ts";
import { devHooks, type Instruction, markOperationPrototype, type Operation } from "./operation.ts";
import type { TaskImpl } from "./task.ts";

/** Not run yet. */
export const FRESH = 0;
/** Yielded its park, waiting to be resumed. */
export const PARKED = 1;
/** Finished. */
export const FINISHED = 2;

/** The result of a finished operation of no value (one object: nobody mutates results). */
export const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };

export { ranTwice } from "./operation.ts";

/**
 * An operation that is its own iterator; subclasses write `next`, and set
 * `state = FRESH` in their constructor right after `super()`. This class
 * has no constructor of its own, on purpose: V8 skips a default base
 * constructor in `super()` altogether, whereas a base constructor that does
 * anything is called through its generic construct path wherever TurboFan
 * does not inline it (in a user's handler whose inlining budget is spent:
 * ~200 instructions per operation in a line echo server).
 */
export abstract class StepOperation<T> implements Operation<T>, Iterator<Instruction, T, unknown> {
  /** `FRESH`, `PARKED` or `FINISHED`. */
  declare state: number;

  [Symbol.iterator](): this {
    return this;
  }

  abstract next(value?: unknown): IteratorResult<Instruction, T>;

  throw(error: unknown): IteratorResult<Instruction, T> {
    this.state = FINISHED;
    throw error;
  }

  return(value?: T): IteratorResult<Instruction, T> {
    this.state = FINISHED;
    return { done: true, value: value as T };
  }
}

/**
 * The park of a step operation that has to wait, which is also the
 * `{ done: false, value: park }` result that yields it: a wait allocates one
 * object besides the operation. `onCancel` is the primitive's `cancelled`.
 */
export class YieldedPark extends Park implements IteratorYieldResult<Instruction> {
  /** As an iterator result: not done... */
  readonly done = false;
  /** ...and what it yields is itself. */
  readonly value: Instruction;
  readonly #onCancel: (park: Park, woken: boolean, handed: unknown) => void;
  constructor(task: TaskImpl<unknown>, kind: WaitKind, onCancel: (park: Park, woken: boolean, handed: unknown) => void, what: string) {
    super(task, kind, what);
    this.value = this;
    this.#onCancel = onCancel;
  }
  override cancelled(woken: boolean, handed: unknown): void {
    this.#onCancel(this, woken, handed);
  }
}

/**
 * Marks `cls`'s objects as the operation `label` (the rejecting `then`, the
 * name in messages), and replaces `owner.prototype[method]`, which returns
 * them, with what `defineOperation` makes of it (in development mode, a
 * wrapper that reports an object never run).
 */
export function defineStepOperation(cls: { prototype: object }, label: string, owner: { prototype: object }, method: string): void {
  defineStepOperations(cls, () => label, owner, { [method]: label });
}

/**
 * `defineStepOperation` for a class that several methods of `owner` return
 * (`send`, `json`, `end`): `labelOf` names each object, `methods` maps each
 * method to its label.
 */
export function defineStepOperations(
  cls: { prototype: object },
  labelOf: (op: object) => string,
  owner: { prototype: object },
  methods: Record<string, string>,
): void {
  markOperationPrototype(cls.prototype, labelOf);
  if (!DEV_MODE) return;
  Object.defineProperty(cls.prototype, Symbol.iterator, {
    value: function iterateAndMark(this: object): object {
      devHooks.handedOver?.(this);
      return this;
    },
    writable: true,
    configurable: true,
  });
  for (const [method, label] of Object.entries(methods)) {
    const descriptor = Object.getOwnPropertyDescriptor(owner.prototype, method) as PropertyDescriptor;
    Object.defineProperty(owner.prototype, method, { ...descriptor, value: defineOperation(descriptor.value, label) });
  }
}
