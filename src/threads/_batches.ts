/**
 * Sending records to workers in batches: everything a loop turn sends to a
 * worker goes in one `postMessage` (one structured clone per batch instead
 * of one per job is most of the pool's speed).
 * @module
 */
import { queueMicrotask } from "../core/_host.ts";
import { CALL_RESULT, RUN_EXPORT, RUN_FUNCTION, SEND_BARE, toWorkerRecordSize } from "./_protocol.ts";
import { serializeError } from "./_serialize-error.ts";
import type { WorkerSlot } from "./_workers.ts";
import { DETACHED, findTransferMarker, isDetached, nestedTransferError } from "./transfer.ts";

/** The batches of a pool: records are pushed on `slot.outbox`, then `flushSoon(slot)`. */
export class Batches {
  #dirty: WorkerSlot[] = [];
  #flushQueued = false;
  /** Called after a flush failed jobs that could not be sent: their room on the worker is free for the jobs queued behind. */
  readonly #jobsFailed: () => void;

  constructor(jobsFailed: () => void) {
    this.#jobsFailed = jobsFailed;
  }

  /** Sends what `slot.outbox` holds at the end of this loop turn (on a microtask: the host's cheap one, see `_host.ts`). */
  flushSoon(slot: WorkerSlot): void {
    if (!slot.dirty) {
      slot.dirty = true;
      this.#dirty.push(slot);
    }
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      queueMicrotask(this.#flush);
    }
  }

  readonly #flush = (): void => {
    this.#flushQueued = false;
    const dirty = this.#dirty;
    this.#dirty = [];
    let failed = false;
    for (const slot of dirty) {
      slot.dirty = false;
      if (slot.outbox.length === 0 || slot.stopping === "close") continue;
      const batch = slot.outbox;
      const transfers = slot.transfers;
      slot.outbox = [];
      slot.transfers = [];
      slot.seriesEnd = -1;
      // A buffer moved since its job was submitted (or by an earlier job of this batch) would make Node drop the whole batch.
      if (transfers.some(isDetached)) {
        failed = postOneByOne(slot, batch, new TypeError(DETACHED)) || failed;
        continue;
      }
      try {
        slot.port.postMessage(isBareJob(slot, batch) ? batch[5] : batch, transfers);
      } catch (error) {
        failed = postOneByOne(slot, batch, error) || failed;
        continue;
      }
      noteSent(slot, batch);
    }
    if (failed) this.#jobsFailed();
  };
}

/**
 * Whether `batch` is one job of one argument (not an array), of the function
 * of the job sent just before it, with the next id: then the worker is sent
 * the argument alone, which it knows for that (see bare messages in `_protocol.ts`).
 */
function isBareJob(slot: WorkerSlot, batch: unknown[]): boolean {
  return (
    SEND_BARE &&
    batch.length === 6 &&
    batch[0] === RUN_FUNCTION &&
    batch[3] === 1 &&
    batch[4] === 1 &&
    batch[1] === slot.sentJobId + 1 &&
    batch[2] === slot.sentFnId &&
    !Array.isArray(batch[5])
  );
}

/**
 * What the worker notes of each message it gets (`_worker-source.ts` does
 * the same): the id and function of a lone job record; of anything else,
 * none. So a bare job follows a message of one job, or another bare job.
 */
function noteSent(slot: WorkerSlot, batch: unknown[]): void {
  const lone = batch[0] === RUN_FUNCTION && batch[4] === 1 && batch.length === 5 + (batch[3] as number);
  slot.sentJobId = lone ? (batch[1] as number) : 0;
  slot.sentFnId = lone ? (batch[2] as number) : -1;
}

/** A batch that would not clone: find the jobs at fault, fail them, send the rest; true if it failed any job. */
function postOneByOne(slot: WorkerSlot, batch: unknown[], batchError: unknown): boolean {
  // Some records may not go: the next job goes in a record.
  slot.sentFnId = -1;
  let failed = false;
  for (const record of recordsOf(batch)) {
    const tag = record[0];
    const isJob = tag === RUN_FUNCTION || tag === RUN_EXPORT;
    const job = isJob ? slot.inFlight.get(record[1] as number) : undefined;
    // Taken back for another worker before this batch went out (see `WorkerSlot.takeBack`): not this worker's any more.
    if (isJob && job === undefined) continue;
    try {
      const transfers = job?.transfers ?? [];
      // Node would drop the record without a word.
      if (transfers.some(isDetached)) throw new TypeError(DETACHED);
      slot.port.postMessage(record, transfers);
    } catch (error) {
      if (tag === CALL_RESULT) {
        const marker = record[2] === true ? markerIn(record[3]) : undefined;
        const why =
          marker === undefined ? (error as Error).message : `transfer() does not apply to it, and ${marker} is one: it is copied, return the value itself`;
        slot.port.postMessage([
          CALL_RESULT,
          record[1],
          false,
          serializeError(new TypeError(`callFromThread: the result cannot be copied to the worker (${why})`)),
        ]);
        continue;
      }
      if (job === undefined) throw batchError;
      slot.finished(job.id);
      failed = true;
      job.reject(
        nestedTransferError(job.args, error) ??
          new TypeError(`Cannot run in a thread: the arguments cannot be copied to a worker (${(error as Error).message})`, { cause: error }),
      );
    }
  }
  return failed;
}

/** Where a transfer marker is in a `callFromThread` result, if one is (a getter that throws: none found). */
function markerIn(result: unknown): string | undefined {
  try {
    return findTransferMarker(result, "result");
  } catch {
    return undefined;
  }
}

/** The records of `batch`, each a `RUN_FUNCTION` record of several jobs split into one record per job. */
function* recordsOf(batch: unknown[]): Generator<unknown[], void, undefined> {
  for (let i = 0; i < batch.length; ) {
    const size = toWorkerRecordSize(batch, i);
    if (batch[i] === RUN_FUNCTION) {
      const first = batch[i + 1] as number;
      const argc = batch[i + 3] as number;
      const count = batch[i + 4] as number;
      for (let k = 0; k < count; k++) {
        const start = i + 5 + k * argc;
        yield [RUN_FUNCTION, first + k, batch[i + 2], argc, 1, ...batch.slice(start, start + argc)];
      }
    } else {
      yield batch.slice(i, i + size);
    }
    i += size;
  }
}
