/**
 * Twisted's `Failure`: an error travelling down a Deferred's errback chain.
 * @module
 */

/** A constructor of errors, for `trap` and `check`. */
export type ErrorClass = abstract new (...args: never[]) => unknown;

/**
 * Wraps an error on its way down a `Deferred`'s errback chain (Twisted's
 * `twisted.python.failure.Failure`). An errback receives a `Failure`; it can
 * `trap` the error types it handles (anything else keeps going down the
 * chain) and read `value`, the original error.
 *
 * @example
 * ```ts
 * import { Failure } from "corio/compat/twisted";
 * const failure = new Failure(new RangeError("too big"));
 * console.assert(failure.check(TypeError, RangeError) === RangeError);
 * console.assert(failure.getErrorMessage() === "too big");
 * ```
 */
export class Failure {
  /** The error itself. */
  readonly value: unknown;

  constructor(value: unknown) {
    this.value = value instanceof Failure ? value.value : value;
  }

  /** The error's class (its constructor), or `undefined` for a thrown non-object. */
  get type(): unknown {
    return typeof this.value === "object" && this.value !== null ? this.value.constructor : undefined;
  }

  /** The first of `types` that the error is an instance of, or `null`. */
  check(...types: ErrorClass[]): ErrorClass | null {
    for (const type of types) if (this.value instanceof type) return type;
    return null;
  }

  /**
   * Returns the matching type, or throws the original error (`value`), so
   * that in an errback the chain goes on with it (Twisted's `trap`, which
   * re-raises the underlying exception on Python 3).
   */
  trap(...types: ErrorClass[]): ErrorClass {
    const found = this.check(...types);
    if (found === null) this.raiseException();
    return found;
  }

  /** Throws the original error. */
  raiseException(): never {
    throw this.value;
  }

  /** The error's message. */
  getErrorMessage(): string {
    return this.value instanceof Error ? this.value.message : String(this.value);
  }

  /** The error's stack (or its message). */
  getTraceback(): string {
    return this.value instanceof Error ? (this.value.stack ?? this.value.message) : String(this.value);
  }

  toString(): string {
    return `[Failure instance: ${this.value instanceof Error ? `${this.value.name}: ${this.value.message}` : String(this.value)}]`;
  }
}
