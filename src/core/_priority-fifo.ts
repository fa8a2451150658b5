/**
 * Items in strict priority order (1 first), FIFO within a priority: the
 * scheduler's ready queue and every sync primitive's wait queue. One ring
 * buffer per priority in use, and a small sorted list of the priorities that
 * have items; the common case (everything at one priority) touches a single
 * ring buffer and a one-element list.
 * @module
 */
import { Fifo } from "./_fifo.ts";

/**
 * The base of the ready queue, and what every primitive's wait queue holds
 * (`WaitQueue` keeps one, with a live count of its own): its members are
 * `declare`d and set in the constructor, not `#private` (V8 does not inline
 * a base constructor with class fields into `super()`).
 */
export class PriorityFifo<T> {
  /** One ring buffer per priority in use (indexed by priority, 1..100). */
  declare private readonly byPriority: (Fifo<T> | undefined)[];
  /** Priorities with items, ascending. */
  declare private readonly active: number[];
  /** The ring buffer of the most urgent priority with items, or `null` when empty. */
  declare private first: Fifo<T> | null;
  declare private count: number;

  constructor() {
    this.byPriority = [];
    this.active = [];
    this.first = null;
    this.count = 0;
  }

  get size(): number {
    return this.count;
  }

  /** The most urgent priority that has an item (only meaningful while `size > 0`). */
  get firstPriority(): number {
    return this.active[0] as number;
  }

  /** Adds `item` behind the others of its `priority`. */
  pushAt(item: T, priority: number): void {
    let fifo = this.byPriority[priority];
    if (fifo === undefined) fifo = this.byPriority[priority] = new Fifo<T>();
    if (fifo.size === 0) this.activate(priority, fifo);
    fifo.push(item);
    this.count++;
  }

  /** The first item (most urgent, then oldest), removed. */
  shift(): T | undefined {
    const fifo = this.first;
    if (fifo === null) return undefined;
    const item = fifo.shift();
    this.count--;
    if (fifo.size === 0) this.deactivateFirst();
    return item;
  }

  /** Removes `item`, pushed at `priority`; returns whether it was there. */
  removeAt(item: T, priority: number): boolean {
    const fifo = this.byPriority[priority];
    if (fifo === undefined || !fifo.remove(item)) return false;
    this.count--;
    if (fifo.size === 0) {
      if (fifo === this.first) this.deactivateFirst();
      else this.active.splice(this.active.indexOf(priority), 1);
    }
    return true;
  }

  private activate(priority: number, fifo: Fifo<T>): void {
    const active = this.active;
    if (active.length === 0) {
      active.push(priority);
      this.first = fifo;
      return;
    }
    let i = active.length;
    while (i > 0 && (active[i - 1] as number) > priority) i--;
    active.splice(i, 0, priority);
    if (i === 0) this.first = fifo;
  }

  /** The most urgent priority has no item left: the next one becomes first. */
  private deactivateFirst(): void {
    const active = this.active;
    if (active.length === 1) {
      active.pop();
      this.first = null;
    } else {
      active.shift();
      this.first = this.byPriority[active[0] as number] as Fifo<T>;
    }
  }
}
