/**
 * Twisted's `DeferredList` and `gatherResults`: one Deferred for the
 * results of several.
 * @module
 */
import { Deferred } from "./deferred.ts";
import { Failure } from "./failure.ts";

/**
 * The failure of a `DeferredList` with `fireOnOneErrback` (and of
 * `gatherResults`): the first of its Deferreds to fail, and where it was in
 * the list (Twisted's `defer.FirstError`).
 *
 * @example
 * ```ts
 * import { FirstError, gatherResults, succeed, fail, type Failure } from "corio/compat/twisted";
 * let seen = "";
 * gatherResults([succeed(1), fail<number>(new RangeError("no"))], { consumeErrors: true }).addErrback((failure: Failure) => {
 *   const first = failure.value as FirstError;
 *   seen = `#${first.index}: ${first.subFailure.getErrorMessage()}`;
 * });
 * console.assert(seen === "#1: no");
 * ```
 */
export class FirstError extends Error {
  override name = "FirstError";
  /** The failure of the Deferred that failed first. */
  readonly subFailure: Failure;
  /** Its index in the list. */
  readonly index: number;

  constructor(failure: Failure, index: number) {
    super(`FirstError[#${index}, ${failure}]`, { cause: failure.value });
    this.subFailure = failure;
    this.index = index;
  }
}

/** Options of `DeferredList`, as Twisted's keyword arguments. */
export interface DeferredListOptions {
  /** Fire with `[result, index]` as soon as one Deferred succeeds. @default false */
  fireOnOneCallback?: boolean;
  /** Fail with a `FirstError` as soon as one Deferred fails. @default false */
  fireOnOneErrback?: boolean;
  /** Turn each failure into an `undefined` result on its own Deferred once seen, so it is not reported as unhandled. @default false */
  consumeErrors?: boolean;
}

/** What a `DeferredList` fires with: a `[success, result]` pair per Deferred, in order (the result a `Failure` when `success` is false). */
export type DeferredListResult<T> = [success: boolean, result: T | Failure][];

/**
 * Twisted's `DeferredList`: a Deferred that fires once every Deferred in
 * the list has, with a `[success, result]` pair for each, in list order
 * (`result` is a `Failure` when `success` is false). It adds a callback
 * pair to each Deferred, like any other caller: callbacks added to them
 * before see results first, and `consumeErrors` turns their failures into
 * `undefined` for callbacks added after. An empty list fires at once with
 * `[]` (never, with `fireOnOneCallback`).
 *
 * With `fireOnOneCallback` it fires with `[result, index]` of the first
 * Deferred to succeed instead (as in Twisted, the type cannot say so: cast
 * it); with `fireOnOneErrback` it fails with a `FirstError` as soon as one
 * fails. `cancel()` before it fires cancels every Deferred of the list (it
 * then fires from their outcomes); after, it does nothing.
 *
 * Native corio waits on several operations with `all`/`allSettled`
 * (`corio`), which also cancel the rest when one fails.
 *
 * @typeParam T The result of the Deferreds.
 * @example
 * ```ts
 * import { Deferred, DeferredList, type Failure } from "corio/compat/twisted";
 * const a = new Deferred<string>();
 * const b = new Deferred<string>();
 * let pairs: [boolean, unknown][] = [];
 * new DeferredList([a, b], { consumeErrors: true }).addCallback((result: [boolean, string | Failure][]) => {
 *   pairs = result.map(([ok, value]) => [ok, ok ? value : (value as Failure).getErrorMessage()]);
 * });
 * b.errback(new Error("b failed"));
 * a.callback("a done");
 * console.assert(JSON.stringify(pairs) === '[[true,"a done"],[false,"b failed"]]');
 * ```
 */
export class DeferredList<T = unknown> extends Deferred<DeferredListResult<T>> {
  /** Whether it fires on the first success. */
  readonly fireOnOneCallback: boolean;
  /** Whether it fails on the first failure. */
  readonly fireOnOneErrback: boolean;
  /** Whether the failures are consumed on their Deferreds. */
  readonly consumeErrors: boolean;
  /** The results so far: `undefined` where a Deferred has not fired yet. */
  readonly resultList: ([success: boolean, result: T | Failure] | undefined)[];
  /** How many of the Deferreds have fired. */
  finishedCount = 0;
  readonly #deferreds: Deferred<T>[];

  constructor(deferreds: Iterable<Deferred<T>>, options: DeferredListOptions = {}) {
    super();
    this.#deferreds = [...deferreds];
    this.resultList = this.#deferreds.map(() => undefined);
    this.fireOnOneCallback = options.fireOnOneCallback ?? false;
    this.fireOnOneErrback = options.fireOnOneErrback ?? false;
    this.consumeErrors = options.consumeErrors ?? false;
    if (this.#deferreds.length === 0 && !this.fireOnOneCallback) this.callback([]);
    // The flags are set before the callbacks are added: a Deferred that has fired runs its callback at once.
    this.#deferreds.forEach((deferred, index) => {
      deferred.addCallbacks(
        (result: T) => this.#fired(result, index, true),
        (failure: Failure) => this.#fired(failure, index, false),
      );
    });
  }

  /** Cancels every Deferred of the list, if it has not fired yet; an error a canceller throws is logged and the others are still cancelled. */
  override cancel(): void {
    if (this.called) return;
    for (const deferred of this.#deferreds) {
      try {
        deferred.cancel();
      } catch (error) {
        // Twisted logs it ("Exception raised from user supplied canceller") and cancels the rest.
        console.error("Exception raised from user supplied canceller:", error);
      }
    }
  }

  #fired(result: T | Failure, index: number, succeeded: boolean): unknown {
    this.resultList[index] = [succeeded, result];
    this.finishedCount++;
    if (!this.called) {
      if (succeeded && this.fireOnOneCallback) this.callback([result, index] as unknown as DeferredListResult<T>);
      else if (!succeeded && this.fireOnOneErrback) this.errback(new Failure(new FirstError(result as Failure, index)));
      else if (this.finishedCount === this.resultList.length) this.callback(this.resultList as DeferredListResult<T>);
    }
    return !succeeded && this.consumeErrors ? undefined : result;
  }
}

/**
 * The results of several Deferreds, in order, once all have succeeded, or
 * a `FirstError` as soon as one fails (Twisted's `gatherResults`: a
 * `DeferredList` with `fireOnOneErrback`). `cancel()` cancels them all.
 *
 * @param deferreds The Deferreds.
 * @param options `consumeErrors`: turn each failure into `undefined` on its own Deferred (no unhandled-error report).
 * @example
 * ```ts
 * import { gatherResults, succeed } from "corio/compat/twisted";
 * let sum = 0;
 * gatherResults([succeed(1), succeed(2)]).addCallback((values: number[]) => { sum = values[0]! + values[1]!; });
 * console.assert(sum === 3);
 * ```
 */
export function gatherResults<T>(deferreds: Iterable<Deferred<T>>, options: { consumeErrors?: boolean } = {}): Deferred<T[]> {
  const list = new DeferredList(deferreds, { fireOnOneErrback: true, consumeErrors: options.consumeErrors ?? false });
  return list.addCallback((results: DeferredListResult<T>) => results.map(([, value]) => value)) as unknown as Deferred<T[]>;
}
