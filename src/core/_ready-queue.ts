/**
 * The scheduler's ready queue: strict priority order (1 runs first), FIFO
 * within a priority. One ring buffer per priority in use, and a small sorted
 * list of the priorities that have entries. The common case (everything at
 * one priority) touches a single ring buffer and a one-element list.
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
  /** The ring buffer of the most urgent active priority, or `null` when empty. */
  #first: Fifo<Runnable> | null = null;
  #size = 0;

  get size(): number {
    return this.#size;
  }

  push(entry: Runnable): void {
    const priority = entry.priority;
    let fifo = this.#byPriority[priority];
    if (fifo === undefined) fifo = this.#byPriority[priority] = new Fifo<Runnable>();
    if (fifo.size === 0) this.#activate(priority, fifo);
    fifo.push(entry);
    this.#size++;
  }

  shift(): Runnable | undefined {
    const fifo = this.#first;
    if (fifo === null) return undefined;
    const entry = fifo.shift();
    this.#size--;
    if (fifo.size === 0) {
      const active = this.#active;
      if (active.length === 1) {
        active.pop();
        this.#first = null;
      } else {
        active.shift();
        this.#first = this.#byPriority[active[0] as number] as Fifo<Runnable>;
      }
    }
    return entry;
  }

  #activate(priority: number, fifo: Fifo<Runnable>): void {
    const active = this.#active;
    if (active.length === 0) {
      active.push(priority);
      this.#first = fifo;
      return;
    }
    let i = active.length;
    while (i > 0 && (active[i - 1] as number) > priority) i--;
    active.splice(i, 0, priority);
    if (i === 0) this.#first = fifo;
  }
}
