/**
 * corio's error classes under stable keys, in a registry shared through
 * `globalThis`, so that an error crossing to another thread is rebuilt there
 * as an instance of the same class (see `threads/_serialize-error.ts`).
 *
 * Why a global symbol and not a module: each thread loads its own copy of
 * corio, and the classes a worker's code tests with `instanceof` are the
 * ones *its* copy defined; the pool's worker code is source text that
 * cannot import anything. A thread that never loaded corio has no
 * registry, and errors arrive there as plain errors with their `name`.
 * @module
 */

/** A class of error (its constructor is not run to rebuild an instance). */
export type ErrorClass = abstract new (...args: never[]) => Error;

/** What `globalThis[Symbol.for("corio.errorClasses")]` holds. */
export interface ErrorRegistry {
  /** The class to rebuild an error of each key as. */
  readonly classes: Map<string, ErrorClass>;
  /** The key of each class, including the classes of a second copy of corio. */
  readonly keys: Map<ErrorClass, string>;
}

/** Where the registry lives; `threads/_serialize-error.ts` spells it out, as it runs in workers too. */
export const ERROR_REGISTRY: unique symbol = Symbol.for("corio.errorClasses");

/**
 * Registers error classes under their keys (which go on the wire, so they
 * are written out, not taken from `Class.name`, which a minifier changes).
 */
export function registerErrorClasses(classes: Record<string, ErrorClass>): void {
  const host = globalThis as { [ERROR_REGISTRY]?: ErrorRegistry };
  const registry = (host[ERROR_REGISTRY] ??= { classes: new Map(), keys: new Map() });
  for (const [key, errorClass] of Object.entries(classes)) {
    // When two copies of corio are loaded, the first one's classes are rebuilt; both are recognized.
    if (!registry.classes.has(key)) registry.classes.set(key, errorClass);
    registry.keys.set(errorClass, key);
  }
}
