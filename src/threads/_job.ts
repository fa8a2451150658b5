/**
 * One job of a thread pool: the park its task waits on, and what to send.
 * @module
 */
import type { TransferListItem } from "node:worker_threads";
import { ExternalPark } from "../core/_external-park.ts";
import type { Instruction } from "../core/operation.ts";
import type { TaskImpl } from "../core/task.ts";
import { functionName } from "./_function-sources.ts";
import { RUN_FUNCTION } from "./_protocol.ts";
import type { WorkerSlot } from "./_workers.ts";

/** A park that is also the `{ done: false, value: park }` result that yields it (as `YieldedPark`). */
export class Job extends ExternalPark<unknown> implements IteratorYieldResult<Instruction> {
  /** As an iterator result: not done... */
  readonly done = false;
  /** ...and what it yields is itself. */
  readonly value: Instruction;
  /** Its id on the worker it was sent to (ids grow in the order that worker begins its jobs). */
  id = 0;
  /** `RUN_FUNCTION` or `RUN_EXPORT`. */
  readonly tag: number;
  /** What it runs: a function's id (`RUN_FUNCTION`) or a module's URL (`RUN_EXPORT`). */
  readonly target: number | string;
  /** The function a `RUN_EXPORT` job runs from its module. */
  readonly exportName: string;
  readonly args: unknown[];
  readonly transfers: TransferListItem[];
  /** The worker it was sent to; `undefined` while it is queued. */
  slot: WorkerSlot | undefined = undefined;
  /** The waiting task is gone: drop the job if it has not started, abort it if it has. */
  abandoned = false;
  /** When (`Date.now()`) its abort grace started: when the worker was told to abort it, or, if it had not begun then, when the pool first saw it begun. */
  abortedAt = 0;
  /** Whether the pool has seen the worker begin it (set once it is aborted). */
  seenBegun = false;
  /** The pool's handler for `abandoned` (one function per pool, not a closure per job). */
  readonly #onAbandon: (job: Job) => void;

  constructor(
    task: TaskImpl<unknown>,
    tag: number,
    target: number | string,
    exportName: string,
    args: unknown[],
    transfers: TransferListItem[],
    onAbandon: (job: Job) => void,
  ) {
    super(task, "thread");
    this.value = this;
    this.tag = tag;
    this.target = target;
    this.exportName = exportName;
    this.args = args;
    this.transfers = transfers;
    this.#onAbandon = onAbandon;
  }

  override cancelled(woken: boolean, value: unknown): void {
    super.cancelled(woken, value);
    if (!this.abandoned) {
      this.abandoned = true;
      this.#onAbandon(this);
    }
  }

  override describe(): string {
    return this.slot === undefined ? "a thread job, queued for a free worker" : `a thread job on worker thread ${this.slot.worker.threadId}`;
  }

  /** What it runs and for whom, for messages: `function hash (awaited by task main/1)`. */
  get work(): string {
    const what = this.tag === RUN_FUNCTION ? `function ${functionName(this.target as number)}` : `${this.exportName} from ${String(this.target)}`;
    return `${what} (awaited by task ${(this.task as TaskImpl<unknown>).path})`;
  }
}
