/**
 * The scheduler's ready queue: strict priority order (1 runs first), FIFO
 * within a priority (see `_priority-fifo.ts`).
 * @module
 */
import { PriorityFifo } from "./_priority-fifo.ts";

/** Something the loop can run: a task step or a plain callback. */
export interface Runnable {
  readonly priority: number;
  runStep(): void;
}

export class ReadyQueue extends PriorityFifo<Runnable> {
  push(entry: Runnable): void {
    this.pushAt(entry, entry.priority);
  }
}
