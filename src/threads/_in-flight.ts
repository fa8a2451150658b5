/**
 * The jobs sent to one worker and not answered yet, by id, in the order they
 * were sent. A worker's jobs get consecutive ids (`WorkerSlot.add`), so the
 * job of id `id` sits at `id - firstId` of one array, with a hole where an
 * answered job was: a lookup is an index, and nothing is hashed. A `Map`
 * cost ~480 instructions a job in batches of 64 (set, get, delete, and
 * rehashing as it grew to 64 and shrank back to nothing, every batch).
 * @module
 */
import type { Job } from "./_job.ts";

export class InFlight {
  /** `#jobs[i]` has id `#firstId + i`; `undefined` once answered. Live jobs lie in `[#head, #end)`. */
  readonly #jobs: (Job | undefined)[] = [];
  #firstId = 0;
  #head = 0;
  #end = 0;
  #size = 0;

  /** How many jobs are in flight. */
  get size(): number {
    return this.#size;
  }

  /** Adds `job`, whose id must follow the last one added (ids of one worker are consecutive). */
  add(job: Job): void {
    if (this.#size === 0) {
      // Empty: start again at the front, keeping the array's storage for the next batch.
      this.#head = this.#end = 0;
      this.#firstId = job.id;
    } else if (job.id !== this.#firstId + this.#end) {
      throw new Error(`corio thread pool: job ${job.id} sent out of order (expected ${this.#firstId + this.#end})`);
    } else if (this.#end === this.#jobs.length && this.#head * 2 >= this.#end) {
      // Full, and at least half of it answered: move the live part to the front instead of growing.
      const jobs = this.#jobs;
      const live = this.#end - this.#head;
      jobs.copyWithin(0, this.#head, this.#end);
      jobs.fill(undefined, live, this.#end);
      this.#firstId += this.#head;
      this.#head = 0;
      this.#end = live;
    }
    this.#jobs[this.#end++] = job;
    this.#size++;
  }

  /** The job of id `id`, or `undefined` if it is not in flight. */
  get(id: number): Job | undefined {
    const i = id - this.#firstId;
    return i >= this.#head && i < this.#end ? this.#jobs[i] : undefined;
  }

  /** The job sent first of those in flight, or `undefined`. */
  oldest(): Job | undefined {
    return this.#size === 0 ? undefined : this.#jobs[this.#head];
  }

  /** Removes the job of id `id`; false if it was not in flight. */
  delete(id: number): boolean {
    const i = id - this.#firstId;
    const jobs = this.#jobs;
    if (i < this.#head || i >= this.#end || jobs[i] === undefined) return false;
    jobs[i] = undefined;
    if (--this.#size === 0) this.#head = this.#end = 0;
    else if (i === this.#head) while (jobs[this.#head] === undefined) this.#head++;
    return true;
  }

  /** The jobs in flight, sent first first. */
  *values(): Generator<Job, void, undefined> {
    for (let i = this.#head; i < this.#end; i++) {
      const job = this.#jobs[i];
      if (job !== undefined) yield job;
    }
  }

  /** Forgets every job. */
  clear(): void {
    this.#jobs.fill(undefined, this.#head, this.#end);
    this.#head = this.#end = this.#size = 0;
  }
}
