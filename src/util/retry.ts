/**
 * Retrying an operation with backoff.
 * @module
 */
import { defineOperation } from "../core/_dev.ts";
import { isCancellation } from "../core/errors.ts";
import { type Instruction, iteratorOf, Opened, type Operation } from "../core/operation.ts";
import { requireCurrentTask } from "../core/spawn.ts";
import { sleep } from "../time/sleep.ts";

/** Options of `retry`. */
export interface RetryOptions {
  /** Attempts in all, the first included. @default 3 */
  attempts?: number;
  /**
   * Delay before the second attempt, then multiplied by `factor`, up to `max`
   * (ms). `initial` >= 0, `factor` >= 1 (`Infinity` goes straight to `max`),
   * and `max` a finite number >= 0.
   * @default { initial: 100, factor: 2, max: 10_000, jitter: true }
   */
  backoff?: { initial?: number; factor?: number; max?: number; jitter?: boolean };
  /** Retry only errors for which this returns true. @default every error except cancellation */
  shouldRetry?: (error: unknown, attempt: number) => boolean;
  /** Random numbers in [0, 1) for the jitter (for tests); another number throws a `RangeError`. @default Math.random */
  random?: () => number;
}

/**
 * Runs `fn()` until it succeeds, at most `attempts` times, sleeping between
 * attempts on the loop's clock: `initial` ms, then `factor` times longer each
 * time, up to `max`; with `jitter` (the default), each delay is a random
 * time between 0 and that ("full jitter", so retries of many clients spread
 * out). Whatever is thrown is retried (`throw undefined` included), except
 * a cancellation, an error `shouldRetry` refuses, and a `fn` that returns no
 * operation (a mistake in the code, thrown at once).
 *
 * **Cancellation:** stops at once (in the operation or in the sleep). An
 * error that the operation's cleanup throws over the cancel is thrown, not
 * retried.
 *
 * @param fn Returns a fresh operation for each attempt.
 * @returns The first success.
 * @throws the last error once the attempts are used up.
 * @throws {RangeError} for bad `attempts` or `backoff` (a `max` that is not
 * finite: an attempt would wait for good), and, with the operation's error
 * as its `cause`, if `random()` returns a number outside [0, 1).
 * @throws {TypeError} if `fn` (or `shouldRetry`, `random`) is not a function.
 * @example
 * ```ts
 * import { retry } from "corio";
 * import { runVirtual } from "corio/testing";
 * await runVirtual(function* () {
 *   let calls = 0;
 *   const value = yield* retry(function* () {
 *     if (++calls < 3) throw new Error("flaky");
 *     return "ok";
 *   }, { attempts: 5, backoff: { initial: 100 } });
 *   console.assert(value === "ok" && calls === 3);
 * });
 * ```
 */
export const retry = defineOperation(function* retry<T>(fn: (attempt: number) => Operation<T>, options: RetryOptions = {}): Operation<T> {
  if (typeof fn !== "function") throw new TypeError(`Cannot retry: expected a function returning an operation (one per attempt), received ${typeof fn}`);
  const attempts = options.attempts ?? 3;
  if (!Number.isInteger(attempts) || attempts < 1) throw new RangeError(`Cannot retry: attempts must be a positive integer, received ${String(attempts)}`);
  const { initial = 100, factor = 2, max = 10_000, jitter = true } = options.backoff ?? {};
  if (!(typeof initial === "number" && initial >= 0 && typeof factor === "number" && factor >= 1 && typeof max === "number" && max >= 0 && max < Infinity))
    throw new RangeError(
      `Cannot retry: backoff needs initial >= 0, factor >= 1 and a finite max >= 0 (ms), received ${describeBackoff({ initial, factor, max })}`,
    );
  const random = options.random ?? Math.random;
  if (typeof random !== "function") throw new TypeError(`Cannot retry: random must be a function returning numbers in [0, 1), received ${typeof random}`);
  if (options.shouldRetry !== undefined && typeof options.shouldRetry !== "function")
    throw new TypeError(`Cannot retry: shouldRetry must be a function, received ${typeof options.shouldRetry}`);
  const task = requireCurrentTask("retry");
  // A cancel the task had already caught before (a retry in its cleanup) does not stop the retries; one
  // still pending does (it is thrown at the first suspension, and must not replace an attempt's error).
  const cancelBefore = task.cancelPending ? null : task.cancelError;
  for (let attempt = 1; ; attempt++) {
    // A flag, not the error itself: `throw undefined` from the operation must not pass for a misuse.
    let misuse = false;
    try {
      const op = fn(attempt);
      let it: Iterator<Instruction, T, unknown>;
      try {
        it = iteratorOf(op, "retry", true);
      } catch (error) {
        // A function that returns a promise (or nothing) is a mistake in the code: not retried.
        misuse = true;
        throw error;
      }
      return yield* new Opened(it);
    } catch (error) {
      // Cancelled during the attempt: an error its cleanup threw replaces the CancelledError, but the
      // task was cancelled all the same, and a cancel is delivered once: never retried, never slept on.
      if (
        misuse ||
        isCancellation(error) ||
        task.cancelError !== cancelBefore ||
        attempt >= attempts ||
        (options.shouldRetry !== undefined && !options.shouldRetry(error, attempt))
      )
        throw error;
      // 0 × an infinite factor is NaN: a zero initial delay stays zero.
      const delay = initial === 0 ? 0 : Math.min(max, initial * factor ** (attempt - 1));
      let wait = delay;
      if (jitter) {
        const r = random();
        // Checked here, not left to sleep: its RangeError would replace the operation's error.
        if (!(typeof r === "number" && r >= 0 && r < 1))
          throw new RangeError(`Cannot retry: random() must return a number in [0, 1), received ${String(r)}`, { cause: error });
        wait = r * delay;
      }
      yield* sleep(wait);
    }
  }
});

function describeBackoff(backoff: Record<string, unknown>): string {
  return Object.entries(backoff)
    .map(([name, value]) => `${name}: ${typeof value === "number" ? String(value) : typeof value}`)
    .join(", ");
}
