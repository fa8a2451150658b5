/**
 * The errors a stream has thrown to the code that uses it. A socket's
 * reader and writer share its break: once either has thrown it, the
 * writer's `waitClosed` does not throw it again (a handler that caught the
 * peer's reset and returned is not told twice).
 * @module
 */

const toldErrors = new WeakSet<object>();

/** Records `error` as thrown to user code, and gives it back (`throw told(error)`). */
export function told<E>(error: E): E {
  if (typeof error === "object" && error !== null) toldErrors.add(error);
  return error;
}

/** Whether `error` was thrown to user code already. */
export function wasTold(error: unknown): boolean {
  return typeof error === "object" && error !== null && toldErrors.has(error);
}
