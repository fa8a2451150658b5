/**
 * The scheduler's ready queue: strict priority order (1 runs first), FIFO
 * within a priority. One ring buffer per priority in use, and a small sorted
 * list of the priorities that have entries, so the common case (everything at
 * the default priority) is a single ring buffer.
 * @module
 */
import { Fifo } from "./_fifo.ts";

/** Something the loop can run: a task step or a plain callback. */
export interface Runnable {
  readonly priority: number;
  runStep(): void;
}

export class ReadyQueue {
  readonly #byPriority: (Fifo<Runnable> | undefined)[] = [];
  /** Priorities with at least one entry, ascending. */
  readonly #active: number[] = [];
  #size = 0;

  get size(): number {
    return this.#size;
  }

  push(entry: Runnable): void {
    const priority = entry.priority;
    let fifo = this.#byPriority[priority];
    if (fifo === undefined) fifo = this.#byPriority[priority] = new Fifo<Runnable>();
    if (fifo.size === 0) this.#activate(priority);
    fifo.push(entry);
    this.#size++;
  }

  shift(): Runnable | undefined {
    if (this.#size === 0) return undefined;
    const active = this.#active;
    const priority = active[0] as number;
    const fifo = this.#byPriority[priority] as Fifo<Runnable>;
    const entry = fifo.shift();
    if (fifo.size === 0) active.shift();
    this.#size--;
    return entry;
  }

  #activate(priority: number): void {
    const active = this.#active;
    let i = active.length;
    while (i > 0 && (active[i - 1] as number) > priority) i--;
    active.splice(i, 0, priority);
  }
}
