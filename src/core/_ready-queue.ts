/**
 * The scheduler's ready queue: strict priority order (1 runs first), FIFO
 * within a priority.
 *
 * Nearly always every entry has the same priority (tasks run at the default
 * 10), and a task switch is one push and one shift. So the entries of one
 * priority sit in a ring buffer of their own, and only the entries of other
 * priorities go through a `PriorityFifo`. The ring's priority is that of the
 * first entry pushed into an empty queue; the other queue never holds an
 * entry of the ring's priority, so comparing its most urgent priority with
 * the ring's decides which goes first. In a ping-pong between two tasks this
 * took a switch from 69–75 to 62–67 ns (bench/RESULTS.md, "Issue 13, eighth
 * pass").
 * @module
 */
import { PriorityFifo } from "./_priority-fifo.ts";

/** Something the loop can run: a task step or a plain callback. */
export interface Runnable {
  readonly priority: number;
  runStep(): void;
}

export class ReadyQueue {
  /** The entries of `#priority`, oldest at `#head`; the length is a power of two. */
  #ring: (Runnable | undefined)[] = new Array<Runnable | undefined>(16);
  #head = 0;
  #ringSize = 0;
  #priority = 10;
  /** Entries of any other priority. */
  readonly #others = new PriorityFifo<Runnable>();

  /** How many entries are queued. */
  get size(): number {
    return this.#ringSize + this.#others.size;
  }

  /** Queues `entry` behind the others of its priority. */
  push(entry: Runnable): void {
    const priority = entry.priority;
    if (priority !== this.#priority) {
      if (this.#ringSize !== 0 || this.#others.size !== 0) {
        this.#others.pushAt(entry, priority);
        return;
      }
      // An empty queue: the ring takes this priority.
      this.#priority = priority;
    }
    const ring = this.#ring;
    if (this.#ringSize === ring.length) this.#grow();
    this.#ring[(this.#head + this.#ringSize) & (this.#ring.length - 1)] = entry;
    this.#ringSize++;
  }

  /** The most urgent entry, oldest first, removed; `undefined` if none is queued. */
  shift(): Runnable | undefined {
    const others = this.#others;
    if (others.size !== 0 && (this.#ringSize === 0 || others.firstPriority < this.#priority)) return others.shift();
    if (this.#ringSize === 0) return undefined;
    const ring = this.#ring;
    const head = this.#head;
    const entry = ring[head];
    ring[head] = undefined;
    this.#head = (head + 1) & (ring.length - 1);
    this.#ringSize--;
    return entry;
  }

  #grow(): void {
    const old = this.#ring;
    const ring = new Array<Runnable | undefined>(old.length * 2);
    for (let i = 0; i < this.#ringSize; i++) ring[i] = old[(this.#head + i) & (old.length - 1)];
    this.#ring = ring;
    this.#head = 0;
  }
}
