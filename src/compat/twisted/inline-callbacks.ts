/**
 * Twisted's `defer.inlineCallbacks`: a generator function that yields
 * Deferreds, run as a function that returns a Deferred.
 * @module
 */
import { Deferred } from "./deferred.ts";
import { Failure } from "./failure.ts";

/** What cancels an `inlineCallbacks` Deferred: only its first errback sees it (Twisted's `_InternalInlineCallbacksCancelledError`). */
class InlineCallbacksCancelled extends Error {
  override name = "InlineCallbacksCancelled";
}

/** Twisted's `_CancellationStatus`: the Deferred the generator fires when it ends, and the one it waits on. */
interface Status {
  deferred: Deferred<unknown>;
  waitingOn: Deferred<unknown> | undefined;
}

// biome-ignore lint/suspicious/noExplicitAny: what `yield` gives back is the result of the Deferred yielded, of any type, as in Twisted
type InlineGenerator<R> = Generator<unknown, R, any>;

/**
 * Twisted's `inlineCallbacks`: turns a generator function that yields
 * Deferreds into a function that returns a Deferred. Calling it runs the
 * generator at once, up to the first Deferred that has no result yet.
 *
 * - `yield d` waits for the Deferred `d` and gives its result; a failure is
 *   thrown into the generator as its original error (as Twisted's
 *   `Failure.raiseException`). The result is taken out of `d`'s chain (later
 *   callbacks of `d` see `undefined`, Twisted's `None`). A Deferred that has
 *   already fired is taken at once, in a loop: any number of them run at a
 *   constant stack depth.
 * - `yield value` of anything else gives `value` straight back.
 * - `return value` fires the Deferred with `value` (Twisted's
 *   `returnValue(value)`, which TypeScript does not need); a thrown error
 *   fails it. Returning a Deferred fails it with a `TypeError`: yield the
 *   Deferred and return its result.
 * - Cancelling the Deferred cancels the one the generator waits on; what
 *   that one fails with (Twisted's `CancelledError`, usually) is thrown into
 *   the generator, which may catch it and go on. The Deferred fires with
 *   the generator's outcome.
 *
 * This is Twisted's callback world: `yield d`, not corio's `yield* d`, and
 * no task is involved. Inside a corio task, `yield* d` does the same job.
 *
 * @param f The generator function; `this` and the arguments are passed on.
 * @returns A function that calls `f` and returns the Deferred of its outcome.
 * @throws {TypeError} from the returned function if `f` does not return a generator.
 * @example
 * ```ts
 * import { Deferred, inlineCallbacks, succeed } from "corio/compat/twisted";
 * const lookup = new Deferred<string>();
 * const greet = inlineCallbacks(function* (greeting: string) {
 *   const name: string = yield lookup;
 *   const punctuation: string = yield succeed("!");
 *   return `${greeting}, ${name}${punctuation}`;
 * });
 * let seen = "";
 * greet("hello").addCallback((text: string) => {
 *   seen = text;
 * });
 * lookup.callback("world");
 * console.assert(seen === "hello, world!", seen);
 * ```
 */
export function inlineCallbacks<This, A extends unknown[], R>(
  // biome-ignore lint/suspicious/noExplicitAny: what `yield` gives back is the result of the Deferred yielded, of any type, as in Twisted
  f: (this: This, ...args: A) => Generator<unknown, R, any>,
): (this: This, ...args: A) => Deferred<R> {
  if (typeof f !== "function") throw new TypeError(`inlineCallbacks requires a generator function, received ${typeof f}`);
  const unwindGenerator = function (this: This, ...args: A): Deferred<R> {
    const gen: unknown = f.apply(this, args);
    if (!isGenerator(gen)) {
      throw new TypeError(`inlineCallbacks requires ${f.name || "its function"} to produce a generator; instead got ${describe(gen)}`);
    }
    return cancellableInlineCallbacks(gen) as Deferred<R>;
  };
  // Twisted's @wraps: stack traces and logs name the generator function.
  Object.defineProperty(unwindGenerator, "name", { value: f.name, configurable: true });
  return unwindGenerator;
}

function isGenerator(value: unknown): value is InlineGenerator<unknown> {
  const it = value as InlineGenerator<unknown> | null | undefined;
  return typeof it === "object" && it !== null && typeof it.next === "function" && typeof it.throw === "function";
}

function describe(value: unknown): string {
  return value === null ? "null" : typeof value === "object" ? `an object (${Object.prototype.toString.call(value)})` : `${typeof value} ${String(value)}`;
}

/**
 * Twisted's `_cancellableInlineCallbacks`: the generator's Deferred, whose
 * canceller fails it with `InlineCallbacksCancelled`. Its first errback
 * (added before anyone else's, where Twisted inserts it on cancel) then
 * cancels what the generator waits on and goes on with a new Deferred that
 * the generator fires when it ends.
 */
function cancellableInlineCallbacks(gen: InlineGenerator<unknown>): Deferred<unknown> {
  const cancel = (it: Deferred<unknown>): void => it.errback(new InlineCallbacksCancelled("the inlineCallbacks Deferred was cancelled"));
  const handleCancel = (failure: Failure): unknown => {
    if (!(failure.value instanceof InlineCallbacksCancelled)) return failure; // the generator's own failure: on down the chain
    status.deferred = cancellable();
    // Twisted keeps the last Deferred waited on; one that has fired since ignores the cancel.
    status.waitingOn?.cancel();
    return status.deferred;
  };
  const cancellable = (): Deferred<unknown> => new Deferred<unknown>(cancel).addErrback(handleCancel);
  const status: Status = { deferred: cancellable(), waitingOn: undefined };
  const deferred = status.deferred;
  step(undefined, gen, status);
  return deferred;
}

/**
 * Twisted's `_inlineCallbacks`: sends `result` into the generator and goes
 * on while it yields values or Deferreds that have fired (a loop, so that
 * any number of them take no stack), until it yields one that has not (a
 * callback on it comes back here) or ends (it fires `status.deferred`).
 */
function step(result: unknown, gen: InlineGenerator<unknown>, status: Status): void {
  for (;;) {
    let next: IteratorResult<unknown, unknown>;
    try {
      next = result instanceof Failure ? gen.throw(result.value) : gen.next(result);
    } catch (error) {
      status.deferred.errback(error);
      return;
    }
    if (next.done) {
      if (next.value instanceof Deferred) {
        status.deferred.errback(new TypeError("An inlineCallbacks generator returned a Deferred: yield it, and return its result"));
      } else {
        status.deferred.callback(next.value);
      }
      return;
    }
    result = next.value;
    if (result instanceof Deferred) {
      const yielded = result as Deferred<unknown>;
      let waiting = true;
      let got: unknown;
      yielded.addBoth((value: unknown) => {
        if (waiting) {
          waiting = false;
          got = value;
        } else {
          step(value, gen, status);
        }
      });
      if (waiting) {
        // No result yet: the callback above resumes the generator when it comes.
        waiting = false;
        status.waitingOn = yielded;
        return;
      }
      result = got;
    }
  }
}
