/**
 * The wire format between a `ThreadPool` and its workers, on a
 * `MessageChannel` of the pool's own handed to each worker at start
 * (`workerData.port`), not on the worker's `parentPort`: that one is the
 * jobs' (a job may post progress there, as with plain `worker_threads`), and
 * a message of theirs read as records would answer the wrong job, or none.
 * The pool does not read `parentPort`: what jobs post there is dropped.
 * Messages are flat
 * arrays of records, many records per `postMessage` (one structured clone
 * per batch instead of one per job is most of the pool's speed). Each
 * record is a tag followed by a fixed number of fields. Aborts travel on a
 * port of their own (see `_worker-source.ts`); errors as a `SerializedError`
 * (see `_serialize-error.ts`).
 *
 * Bare messages. A message that is not an array is one record whose
 * fields both sides already know, sent as its last field alone (an array
 * in a message costs a clone and an allocation on each side: a round trip
 * of one job took 33,900 instructions with a record each way, 26,400
 * without):
 * - Main → worker, a bare job: `RUN_FUNCTION` of the next job id, the
 *   function of the job before it, one argument (the message), one job. The pool
 *   sends one only right after a message of that one job (a lone record,
 *   or bare: both sides note the id and function of a message that is one
 *   job record, and nothing of any other), and only for an argument that
 *   is not an array.
 * - Worker → main, a bare result: `DONE` of one job, the one sent first of
 *   those still in flight on that worker. The worker sends one only when the
 *   batch holds that one record, the value is not an array, and no job it
 *   began before is still running: every older job has been answered
 *   earlier on the same port, or taken back by the pool (which removes it).
 *
 * Both sides read bare messages on every runtime, but send them only on V8
 * (`SEND_BARE`).
 * @module
 */

/**
 * Whether to send bare messages. On Bun (JavaScriptCore), a message of a
 * number costs what a flat array does (a raw echo: 29.6 against 28.6 µs),
 * and the pool's round trip with bare messages took 32.3 µs against 31.0
 * without, in nine runs each: there they are not sent.
 */
export const SEND_BARE = !("bun" in process.versions);

/** Main → worker: `DEFINE fnId source` compiles a function once per worker. */
export const DEFINE = 0;
/**
 * Main → worker: `RUN_FUNCTION jobId fnId argc count arg…`, `count` jobs of
 * one function with consecutive ids from `jobId`, each of `argc` arguments,
 * all inline (`argc × count` of them, job after job). Not an array of
 * arguments: each array in a message costs a clone and an allocation on each
 * side, about 3,300 instructions of a 36,000-instruction round trip. Not a
 * record per job: each value of a message costs ~170 instructions to write
 * and read, and the jobs one loop turn sends a worker are mostly calls of
 * one function (`all(items.map((item) => pool.call(fn, item)))`).
 */
export const RUN_FUNCTION = 1;
/** Main → worker: `RUN_EXPORT jobId moduleUrl exportName argc arg…`. */
export const RUN_EXPORT = 2;
/** Main → worker: `CALL_RESULT callId ok value` answers a `callFromThread`. */
export const CALL_RESULT = 4;

/**
 * The length of the main → worker record that starts at `batch[i]`.
 * (`_worker-source.ts` computes the same in the worker.)
 */
export function toWorkerRecordSize(batch: readonly unknown[], i: number): number {
  const tag = batch[i];
  if (tag === RUN_FUNCTION) return 5 + (batch[i + 3] as number) * (batch[i + 4] as number);
  if (tag === RUN_EXPORT) return 5 + (batch[i + 4] as number);
  return tag === DEFINE ? 3 : 4;
}

/** In the `Int32Array` a worker shares with the pool: how many aborts the pool sent (see `_worker-source.ts`). */
export const ABORTS = 0;
/**
 * In the shared `Int32Array`: the id of the last job the worker began. A
 * worker's job ids grow in the order it is sent them (and begins them), so
 * the pool knows which jobs of a dead worker had started. The worker claims
 * each job by changing the value from the last one it saw to the job's id
 * (`Atomics.compareExchange`); the pool takes back jobs a busy worker has not
 * begun by changing it from the last one begun to the last one it takes, and
 * the worker skips the jobs up to that one. So exactly one of them has each
 * job (both store `id | 0`: compare with wrap-around).
 */
export const STARTED = 1;

/** Worker → main: `DONE jobId count value…`, the results of `count` jobs with consecutive ids from `jobId`. */
export const DONE = 0;
/** Worker → main: `FAILED jobId error` (a `SerializedError`). */
export const FAILED = 1;
/** Worker → main: `CALL callId jobId name args` asks the main thread to run a function. */
export const CALL = 2;
/**
 * Worker → main: `CRASHED 0 error`, an error thrown outside any job (a
 * timer, an unhandled rejection), sent on the results' port just before the
 * worker exits: it comes after the results sent before it, so the pool knows
 * which jobs had returned.
 */
export const CRASHED = 3;
