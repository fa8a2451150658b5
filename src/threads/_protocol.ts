/**
 * The wire format between a `ThreadPool` and its workers. Messages are flat
 * arrays of records, many records per `postMessage` (one structured clone
 * per batch instead of one per job is most of the pool's speed). Each
 * record is a tag followed by a fixed number of fields. Aborts travel on a
 * port of their own (see `_worker-source.ts`).
 * @module
 */

/** Main → worker: `DEFINE fnId source` compiles a function once per worker. */
export const DEFINE = 0;
/** Main → worker: `RUN_FUNCTION jobId fnId args`. */
export const RUN_FUNCTION = 1;
/** Main → worker: `RUN_EXPORT jobId moduleUrl exportName args`. */
export const RUN_EXPORT = 2;
/** Main → worker: `CALL_RESULT callId ok value` answers a `callFromThread`. */
export const CALL_RESULT = 4;

/** In the `Int32Array` a worker shares with the pool: how many aborts the pool sent (see `_worker-source.ts`). */
export const ABORTS = 0;
/**
 * In the shared `Int32Array`: the id of the last job the worker began. Ids
 * grow in the order a worker begins its jobs, so the pool knows which jobs
 * of a dead worker had started (it stores `id | 0`; compare with wrap-around).
 */
export const STARTED = 1;

/** Worker → main: `DONE jobId value`. */
export const DONE = 0;
/** Worker → main: `FAILED jobId error` (a `SerializedError`). */
export const FAILED = 1;
/** Worker → main: `CALL callId jobId name args` asks the main thread to run a function. */
export const CALL = 2;

/** An error as it crosses a thread: enough to rebuild it with its worker stack. */
export interface SerializedError {
  name: string;
  message: string;
  stack?: string | undefined;
  code?: unknown;
  /** Set when the thrown value was not an Error. */
  thrown?: unknown;
}

const ERROR_CLASSES: Record<string, ErrorConstructor> = {
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
};

/** Rebuilds an error sent by `serializeError`, keeping the other side's stack and `code`. */
export function deserializeError(record: SerializedError): unknown {
  if ("thrown" in record) return record.thrown;
  const ErrorClass = ERROR_CLASSES[record.name] ?? Error;
  const error = new ErrorClass(record.message) as Error & { code?: unknown };
  if (error.name !== record.name) Object.defineProperty(error, "name", { value: record.name, configurable: true, writable: true });
  if (record.stack !== undefined) error.stack = record.stack;
  if (record.code !== undefined) error.code = record.code;
  return error;
}

/** Turns a thrown value into something `postMessage` can carry. */
export function serializeError(error: unknown): SerializedError {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return { name: error.name, message: error.message, stack: error.stack, ...(code !== undefined && { code }) };
  }
  return { name: "Error", message: String(error), thrown: error };
}
