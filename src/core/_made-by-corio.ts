/**
 * The guard of classes that only corio's functions make (a `DelayedCall`
 * comes from `callLater`, a `FileStream` from `openFile`...). Their
 * constructors are private, which the types enforce; plain JavaScript can
 * still call `new`, and would get a broken object that fails later, far
 * from the mistake. Their `create` passes `MADE_BY_CORIO`, and the
 * constructor checks it with `checkMadeByCorio`.
 * @module
 */

/** What a class's own `create` passes to its private constructor. */
export const MADE_BY_CORIO: unique symbol = Symbol("corio.madeByCorio");

/**
 * Throws a `TypeError` saying what to call instead, unless `token` is
 * `MADE_BY_CORIO`.
 * @example
 * ```ts
 * checkMadeByCorio(token, "a FileStream", "use yield* openFile(path, mode)");
 * ```
 */
export function checkMadeByCorio(token: unknown, what: string, instead: string): void {
  if (token !== MADE_BY_CORIO) throw new TypeError(`Cannot create ${what} with new: ${instead}`);
}
