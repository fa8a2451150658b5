/**
 * Twisted's `Deferred`, for code being ported: a chain of callbacks and
 * errbacks fired once with a result, convertible to and from corio
 * operations and promises.
 * @module
 */

import type { Instruction, Operation, OperationLike } from "../../index.ts";
import { Future, isCancellation, run } from "../../index.ts";
import { Failure } from "./failure.ts";
import type { IReactorTime } from "./interfaces.ts";

/**
 * Thrown by `callback`/`errback` on a Deferred that has already fired (Twisted's `AlreadyCalledError`).
 *
 * @example
 * ```ts
 * import { AlreadyCalledError, Deferred } from "corio/compat/twisted";
 * const d = new Deferred<number>();
 * d.callback(1);
 * try { d.callback(2); } catch (e) { console.assert(e instanceof AlreadyCalledError); }
 * ```
 */
export class AlreadyCalledError extends Error {
  override name = "AlreadyCalledError";
}

/**
 * A cancelled Deferred's failure (Twisted's `defer.CancelledError`). It is an
 * ordinary error, not corio's `CancelledError`: corio takes a thrown
 * `CancelledError` for the cancellation of the task it reaches, so a task
 * doing `yield* d` on a Deferred that someone else cancelled would end
 * "cancelled" without a word. With this one it fails, as an
 * `inlineCallbacks` function does in Twisted. When the waiting task itself
 * is cancelled, `yield* d` throws corio's `CancelledError` (and cancels `d`).
 * A Deferred that fails with corio's `CancelledError` (the task behind
 * `Deferred.fromOperation` was cancelled) gives this one instead, with
 * corio's as its `cause`.
 *
 * @example
 * ```ts
 * import { CancelledError, Deferred } from "corio/compat/twisted";
 * const d = new Deferred<number>();
 * d.addErrback((failure) => { failure.trap(CancelledError); return -1; });
 * d.cancel();
 * console.assert(d.result === -1);
 * ```
 */
export class CancelledError extends Error {
  override name = "CancelledError";
  constructor(message = "Deferred was cancelled", options?: ErrorOptions) {
    super(message, options);
  }
}

/**
 * What `addTimeout` fails a Deferred with when it times out (Twisted's
 * `defer.TimeoutError`, which is not `twisted.internet.error.TimeoutError`:
 * that one is this layer's `TimeoutError`, a connection attempt's).
 *
 * @example
 * ```ts
 * import { DeferredTimeoutError } from "corio/compat/twisted";
 * const error = new DeferredTimeoutError(10);
 * console.assert(error.timeout === 10 && error.message === "Deferred timed out after 10 s");
 * ```
 */
export class DeferredTimeoutError extends Error {
  override name = "DeferredTimeoutError";
  /** The timeout, in seconds. */
  readonly timeout: number;
  constructor(timeout: number, options?: ErrorOptions) {
    super(`Deferred timed out after ${timeout} s`, options);
    this.timeout = timeout;
  }
}

/** Twisted's `_cancelledToTimedOutError`: the cancellation a timeout caused becomes a `DeferredTimeoutError`. */
function cancelledToTimedOut(value: unknown, timeout: number): unknown {
  if (value instanceof Failure) {
    value.trap(CancelledError);
    throw new DeferredTimeoutError(timeout, { cause: value.value });
  }
  return value;
}

/**
 * @internal What a Deferred fails with for `error`: corio's `CancelledError`
 * becomes Twisted's (see `CancelledError`), anything else stays.
 */
export function deferredError(error: unknown): unknown {
  return isCancellation(error) ? new CancelledError(undefined, { cause: error }) : error;
}

/**
 * A callback or errback of a `Deferred` chain: it gets the current result (a
 * `Failure` for an errback) and the extra arguments given with it, and returns
 * the next result (a `Deferred` to wait on, a `Failure`, or a value).
 */
// biome-ignore lint/suspicious/noExplicitAny: a Deferred chain passes results of any type from step to step, as in Twisted
export type DeferredCallback = (result: any, ...args: any[]) => unknown;

interface ChainLink {
  callback: DeferredCallback;
  callbackArgs: unknown[];
  errback: DeferredCallback;
  errbackArgs: unknown[];
}

/** Put at the end of a chained Deferred's links: hand its result to `waiting` (Twisted's `_CONTINUE`). */
interface Continuation {
  waiting: Deferred<unknown>;
}

const passthru: DeferredCallback = (result) => result;

/** Logs failures left at the end of a chain when their Deferred is garbage collected (as Twisted does). */
const unhandled = new FinalizationRegistry<string>((description) => {
  console.error(`Unhandled error in Deferred:\n${description}`);
});

/**
 * Twisted's `Deferred`: a result that will arrive later, and a chain of
 * `(callback, errback)` pairs it is passed through, in order. A callback's
 * return value replaces the result; a thrown error (or a returned
 * `Failure`) switches to the errback track, and an errback that returns a
 * value switches back. A callback that returns a Deferred pauses the chain
 * until that one fires. Callbacks added after firing run at once.
 *
 * It is also a corio operation: `yield* deferred` waits for its result
 * (cancelling the waiting task cancels the Deferred). A Deferred cancelled
 * by anyone else throws Twisted's `CancelledError` there, an ordinary error
 * that fails the waiting task, not a cancellation of it.
 *
 * @typeParam T The result it is fired with.
 * @example
 * ```ts
 * import { Deferred } from "corio/compat/twisted";
 * const seen: unknown[] = [];
 * const d = new Deferred<number>();
 * d.addCallback((n: number) => n * 2)
 *   .addCallback(() => { throw new Error("bad"); })
 *   .addErrback((failure) => `recovered from ${failure.getErrorMessage()}`)
 *   .addBoth((result) => seen.push(result));
 * d.callback(21);
 * console.assert(seen[0] === "recovered from bad");
 * ```
 */
export class Deferred<T = unknown> implements Operation<T> {
  /** True once `callback` or `errback` has been called. */
  called = false;
  /** How many times `pause()` was called without `unpause()` (a chained Deferred counts too). */
  paused = 0;
  /** The current result: the value, or a `Failure` on the errback track. */
  result: unknown;
  readonly #links: (ChainLink | Continuation)[] = [];
  readonly #canceller: ((deferred: Deferred<T>) => void) | undefined;
  #suppressAlreadyCalled = false;
  #running = false;
  #chainedTo: Deferred<unknown> | null = null;
  #registered = false;

  /** @param canceller Called by `cancel()` on an unfired Deferred, to stop the work behind it. */
  constructor(canceller?: (deferred: Deferred<T>) => void) {
    this.#canceller = canceller;
  }

  /** Adds a callback/errback pair. Both get the result first, then their extra arguments. */
  addCallbacks(callback: DeferredCallback, errback?: DeferredCallback | null, options: { callbackArgs?: unknown[]; errbackArgs?: unknown[] } = {}): this {
    if (typeof callback !== "function") throw new TypeError(`Cannot add callbacks: the callback must be a function, received ${typeof callback}`);
    this.#links.push({ callback, callbackArgs: options.callbackArgs ?? [], errback: errback ?? passthru, errbackArgs: options.errbackArgs ?? [] });
    if (this.called) this.#runCallbacks();
    return this;
  }

  /** Adds a callback (errors pass by it). */
  addCallback(callback: DeferredCallback, ...args: unknown[]): this {
    return this.addCallbacks(callback, passthru, { callbackArgs: args });
  }

  /** Adds an errback (results pass by it); it receives a `Failure`. */
  addErrback(errback: DeferredCallback, ...args: unknown[]): this {
    if (typeof errback !== "function") throw new TypeError(`Cannot add an errback: expected a function, received ${typeof errback}`);
    return this.addCallbacks(passthru, errback, { errbackArgs: args });
  }

  /** Adds the same function as callback and errback. */
  addBoth(fn: DeferredCallback, ...args: unknown[]): this {
    return this.addCallbacks(fn, fn, { callbackArgs: args, errbackArgs: args });
  }

  /**
   * Fires the Deferred with a result.
   * @throws {AlreadyCalledError} if it has already fired.
   */
  callback(result: T): void {
    if (result instanceof Deferred) throw new TypeError("Cannot fire a Deferred with another Deferred: return it from a callback to chain them");
    this.#fire(result);
  }

  /**
   * Fires the Deferred with a failure (an error, or a `Failure`).
   * @throws {AlreadyCalledError} if it has already fired.
   */
  errback(failure: unknown = new Error("Deferred.errback() called without a failure")): void {
    this.#fire(failure instanceof Failure ? failure : new Failure(failure));
  }

  /**
   * Cancels this Deferred if it has not fired `seconds` from now on `clock`
   * (Twisted's `addTimeout`); it then fails with `DeferredTimeoutError`,
   * unless its canceller fired it, or `onTimeoutCancel` says otherwise:
   * that one gets the result at that point in the chain (a `Failure` of
   * `CancelledError`, usually) and the timeout, and its return value is the
   * new result. The timeout covers the callbacks added before it, not those
   * added after; it is called off once the Deferred fires.
   *
   * @param seconds The timeout, in seconds.
   * @param clock What schedules it: the reactor (Twisted's `clock` argument).
   * @param onTimeoutCancel Called only on a timeout, not on another cancel; by default a `CancelledError` becomes a `DeferredTimeoutError`.
   * @returns This Deferred.
   * @example
   * ```ts
   * import { createReactor, Deferred, DeferredTimeoutError, type Failure } from "corio/compat/twisted";
   * import { VirtualClock } from "corio/testing";
   * const reactor = createReactor({ clock: new VirtualClock() });
   * let outcome = "";
   * reactor.callWhenRunning(() => {
   *   new Deferred<string>().addTimeout(5, reactor).addErrback((failure: Failure) => {
   *     outcome = `${failure.check(DeferredTimeoutError)?.name} at ${reactor.seconds()}`;
   *     reactor.stop();
   *   });
   * });
   * await reactor.run();
   * console.assert(outcome === "DeferredTimeoutError at 5", outcome);
   * ```
   */
  addTimeout(seconds: number, clock: IReactorTime, onTimeoutCancel?: (result: unknown, timeout: number) => unknown): this {
    let timedOut = false;
    const delayedCall = clock.callLater(seconds, () => {
      timedOut = true;
      this.cancel();
    });
    this.addBoth((result: unknown) => (timedOut ? (onTimeoutCancel ?? cancelledToTimedOut)(result, seconds) : result));
    this.addBoth((result: unknown) => {
      if (delayedCall.active()) delayedCall.cancel();
      return result;
    });
    return this;
  }

  /** Stops the chain from running until `unpause()`. */
  pause(): void {
    this.paused++;
  }

  /** Resumes a paused chain. */
  unpause(): void {
    this.paused--;
    if (this.paused === 0 && this.called) this.#runCallbacks();
  }

  /**
   * Cancels an unfired Deferred: its canceller runs, and if it did not fire
   * the Deferred, it errbacks with Twisted's `CancelledError` (a later `callback` from
   * the producer is then ignored once). A Deferred waiting on a chained one
   * cancels that one instead.
   */
  cancel(): void {
    if (!this.called) {
      if (this.#canceller !== undefined) this.#canceller(this);
      else this.#suppressAlreadyCalled = true;
      if (!this.called) this.errback(new Failure(new CancelledError()));
    } else if (this.#chainedTo !== null) {
      this.#chainedTo.cancel();
    }
  }

  /**
   * A promise of the result (Twisted's `asFuture`): it takes the result out
   * of the chain, so a failure it carries is not reported as unhandled.
   */
  toPromise(): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.addCallbacks(
        (value) => {
          resolve(value as T);
        },
        (failure: Failure) => {
          reject(failure.value);
        },
      );
    });
  }

  /**
   * `yield* deferred`: waits for the result; a failure is thrown as its
   * original error, except corio's `CancelledError`, which would cancel the
   * waiting task: it is thrown as Twisted's `CancelledError`. As Twisted's
   * `await`: a Deferred that has already fired keeps its result (callbacks
   * added later see it, and a failure stays, though it is no longer
   * reported as unhandled); a pending one is waited on with a callback that
   * takes the result out of the chain (later callbacks see `undefined`).
   */
  *[Symbol.iterator](): Iterator<Instruction, T, unknown> {
    if (this.called && this.paused === 0 && !this.#running) {
      // Twisted's Deferred.send: the result is given, not taken.
      const result = this.result;
      if (!(result instanceof Failure)) return result as T;
      if (this.#registered) {
        unhandled.unregister(this);
        this.#registered = false;
      }
      throw deferredError(result.value);
    }
    const future = new Future<T>();
    this.addCallbacks(
      (value) => {
        future.resolve(value as T);
      },
      (failure: Failure) => {
        future.reject(deferredError(failure.value));
      },
    );
    try {
      return yield* future;
    } finally {
      if (!future.done) this.cancel();
    }
  }

  /** A Deferred that fires with the promise's outcome (corio's `CancelledError` becomes Twisted's). */
  static fromPromise<T>(promise: PromiseLike<T>): Deferred<T> {
    const deferred = new Deferred<T>();
    promise.then(
      (value) => {
        if (!deferred.called) deferred.callback(value);
      },
      (error: unknown) => {
        if (!deferred.called) deferred.errback(deferredError(error));
      },
    );
    return deferred;
  }

  /**
   * Runs `op` as a root task on the current loop and gives its outcome as a
   * Deferred (Twisted's `ensureDeferred`); cancelling the Deferred cancels
   * the task. A task cancelled otherwise fails the Deferred with Twisted's
   * `CancelledError`.
   */
  static fromOperation<T>(op: OperationLike<T>): Deferred<T> {
    const task = run(op);
    const deferred = new Deferred<T>(() => task.cancel("the Deferred was cancelled"));
    task.then(
      (value) => {
        if (!deferred.called) deferred.callback(value);
      },
      (error: unknown) => {
        if (!deferred.called) deferred.errback(deferredError(error));
      },
    );
    return deferred;
  }

  #fire(result: unknown): void {
    if (this.called) {
      if (this.#suppressAlreadyCalled) {
        this.#suppressAlreadyCalled = false;
        return;
      }
      throw new AlreadyCalledError("Cannot fire the Deferred: it has already been fired; a Deferred fires exactly once");
    }
    this.called = true;
    this.result = result;
    this.#runCallbacks();
  }

  /**
   * Runs the links of this Deferred, and of those waiting on it, in one loop
   * with an explicit stack of Deferreds (as Twisted's `_runCallbacks`): a
   * chain of any length fires at a constant stack depth. Only a callback
   * that is running marks its Deferred as running, as in Twisted: a
   * Deferred lower on the stack, which has handed its result on and waits
   * for the loop to come back to it, runs a callback added to it at once.
   */
  #runCallbacks(): void {
    if (this.#running) return; // called from one of its own callbacks: the loop running them picks up what was added
    const chain: Deferred<unknown>[] = [this as Deferred<unknown>];
    this.#enter();
    while (chain.length > 0) {
      const current = chain[chain.length - 1] as Deferred<unknown>;
      const next = current.#advance();
      if (next !== null) {
        chain.push(next);
        next.#enter();
      } else {
        chain.pop();
        current.#leave();
      }
    }
  }

  #enter(): void {
    if (this.#registered) {
      unhandled.unregister(this);
      this.#registered = false;
    }
  }

  #leave(): void {
    // A nested run (a callback added while this one was lower on the stack) may have registered it already.
    if (this.result instanceof Failure && this.#links.length === 0 && this.paused === 0 && !this.#registered) {
      unhandled.register(this, this.result.getTraceback(), this);
      this.#registered = true;
    }
  }

  /**
   * Runs links until there are none left or the Deferred is paused; gives
   * the Deferred that was waiting on this one when it is its turn (the
   * caller's loop then runs it), else `null`.
   */
  #advance(): Deferred<unknown> | null {
    while (this.#links.length > 0 && this.paused === 0) {
      const link = this.#links.shift() as ChainLink | Continuation;
      if ("waiting" in link) {
        const waiting = link.waiting;
        waiting.#chainedTo = null;
        waiting.result = this.result;
        this.result = undefined;
        waiting.paused--;
        if (waiting.paused === 0) return waiting;
        continue;
      }
      const failed = this.result instanceof Failure;
      const step = failed ? link.errback : link.callback;
      const args = failed ? link.errbackArgs : link.callbackArgs;
      this.#running = true;
      try {
        this.result = step(this.result, ...args);
      } catch (error) {
        this.result = error instanceof Failure ? error : new Failure(error);
        continue;
      } finally {
        this.#running = false;
      }
      const inner = this.result;
      if (inner instanceof Deferred) this.#chain(inner as Deferred<unknown>);
    }
    return null;
  }

  /**
   * A callback returned `inner`: continue with its result, waiting for it if
   * need be. As Twisted's `_runCallbacks`, a Deferred that has a result and
   * is not paused gives it up at once, whatever it is doing: one that is
   * running a callback gives the result that callback was called with (the
   * callback's return value then becomes its own result), and one that has
   * already handed its result on gives `undefined` (Twisted's `None`).
   */
  #chain(inner: Deferred<unknown>): void {
    if (inner === (this as Deferred<unknown>)) {
      this.result = new Failure(new TypeError("Cannot chain a Deferred to itself: a callback returned its own Deferred"));
      return;
    }
    if (inner.called && inner.paused === 0) {
      this.result = inner.result;
      inner.result = undefined;
      if (inner.#registered) {
        unhandled.unregister(inner);
        inner.#registered = false;
      }
      return;
    }
    // Not fired, or paused (waiting on another Deferred, say): its loop is not running, and its result comes through the continuation.
    this.paused++;
    this.#chainedTo = inner;
    inner.#links.push({ waiting: this as Deferred<unknown> });
  }
}

/**
 * A Deferred that has already fired with `value` (Twisted's `succeed`).
 *
 * @example
 * ```ts
 * import { succeed } from "corio/compat/twisted";
 * succeed(1).addCallback((v: number) => console.assert(v === 1));
 * ```
 */
export function succeed<T>(value: T): Deferred<T> {
  const deferred = new Deferred<T>();
  deferred.callback(value);
  return deferred;
}

/**
 * A Deferred that has already failed with `error` (Twisted's `fail`).
 *
 * @example
 * ```ts
 * import { fail } from "corio/compat/twisted";
 * fail(new Error("no")).addErrback((f) => console.assert(f.getErrorMessage() === "no"));
 * ```
 */
export function fail<T = never>(error: unknown): Deferred<T> {
  const deferred = new Deferred<T>();
  deferred.errback(error);
  return deferred;
}

/**
 * Calls `f(...args)` and gives its outcome as a Deferred (Twisted's
 * `maybeDeferred`): a Deferred it returns as it is, a `Failure` it returns
 * or an error it throws as a failed one, any other value as a fired one.
 *
 * @example
 * ```ts
 * import { Deferred, maybeDeferred } from "corio/compat/twisted";
 * const seen: unknown[] = [];
 * maybeDeferred((n: number) => n + 5, 10).addCallback((v: number) => seen.push(v));
 * maybeDeferred(() => { throw new RangeError("bad"); }).addErrback((f) => seen.push(f.getErrorMessage()));
 * const d = new Deferred<string>();
 * console.assert(maybeDeferred(() => d) === d);
 * console.assert(seen.join() === "15,bad");
 * ```
 */
export function maybeDeferred<T, A extends unknown[]>(f: (...args: A) => T | Deferred<T> | Failure, ...args: A): Deferred<T> {
  let result: T | Deferred<T> | Failure;
  try {
    result = f(...args);
  } catch (error) {
    return fail(error);
  }
  if (result instanceof Deferred) return result;
  if (result instanceof Failure) return fail(result);
  return succeed(result);
}

/**
 * Twisted's `ensureDeferred`: a Deferred as it is, or an operation run as a
 * root task on the current loop, its outcome as a Deferred (the same as
 * `Deferred.fromOperation`, under Twisted's name; where Twisted runs a
 * coroutine, corio runs a generator operation: `yield*` takes `await`'s
 * place, and a Deferred can be `yield*`ed in it).
 *
 * @example
 * ```ts
 * import { Deferred, ensureDeferred } from "corio/compat/twisted";
 * import { run } from "corio";
 * await run(function* () {
 *   const inner = new Deferred<number>();
 *   const outer = ensureDeferred(function* () {
 *     return (yield* inner) * 2;
 *   });
 *   inner.callback(21);
 *   console.assert((yield* outer) === 42);
 *   console.assert(ensureDeferred(inner) === inner);
 * });
 * ```
 */
export function ensureDeferred<T>(op: Deferred<T> | OperationLike<T>): Deferred<T> {
  return op instanceof Deferred ? op : Deferred.fromOperation(op);
}
