/**
 * The one wait queue under every sync primitive (Trio's ParkingLot): waiters
 * in priority order (1 first), FIFO within a priority, removable when
 * cancelled. A waiter is a `Park`; the primitive decides what to hand it.
 * @module
 */
import { Fifo } from "../core/_fifo.ts";
import { Park, type WaitKind } from "../core/_park.ts";
import type { TaskImpl } from "../core/task.ts";

/**
 * A parked waiter of a sync primitive. `value` carries what a putter wants to
 * put; `onCancel` lets the primitive undo a hand-off (`woken`) or just
 * forget the waiter.
 */
export class Waiter<T = unknown> extends Park {
  value: T;
  readonly #onCancel: (waiter: Waiter<T>, woken: boolean, handed: unknown) => void;
  constructor(task: TaskImpl<unknown>, kind: WaitKind, value: T, onCancel: (waiter: Waiter<T>, woken: boolean, handed: unknown) => void, what?: string) {
    super(task, kind, what);
    this.value = value;
    this.#onCancel = onCancel;
  }
  override cancelled(woken: boolean, handed: unknown): void {
    this.#onCancel(this, woken, handed);
  }
}

export class WaitQueue<W extends Park> {
  /** One ring buffer per priority in use (indexed by priority, 1..100). */
  readonly #byPriority: (Fifo<W> | undefined)[] = [];
  /** Priorities with waiters, ascending. */
  readonly #active: number[] = [];
  /**
   * The ring buffer of the most urgent priority with waiters, or `null`
   * when empty: the common case (one priority) touches only it.
   */
  #first: Fifo<W> | null = null;
  #size = 0;

  get size(): number {
    return this.#size;
  }

  push(waiter: W): void {
    const priority = waiter.task?.priority ?? 10;
    let fifo = this.#byPriority[priority];
    if (fifo === undefined) fifo = this.#byPriority[priority] = new Fifo<W>(4);
    if (fifo.size === 0) this.#activate(priority, fifo);
    fifo.push(waiter);
    this.#size++;
  }

  /** The first waiter (most urgent, then oldest), removed. */
  shift(): W | undefined {
    const fifo = this.#first;
    if (fifo === null) return undefined;
    const waiter = fifo.shift();
    this.#size--;
    if (fifo.size === 0) this.#deactivateFirst();
    return waiter;
  }

  remove(waiter: W): boolean {
    const priority = waiter.task?.priority ?? 10;
    const fifo = this.#byPriority[priority];
    if (fifo === undefined || !fifo.remove(waiter)) return false;
    this.#size--;
    if (fifo.size === 0) {
      if (fifo === this.#first) this.#deactivateFirst();
      else this.#active.splice(this.#active.indexOf(priority), 1);
    }
    return true;
  }

  /** Removes and returns every waiter, in order. */
  drain(): W[] {
    const all: W[] = [];
    for (let waiter = this.shift(); waiter !== undefined; waiter = this.shift()) all.push(waiter);
    return all;
  }

  #activate(priority: number, fifo: Fifo<W>): void {
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

  /** The most urgent priority has no waiter left: the next one becomes first. */
  #deactivateFirst(): void {
    const active = this.#active;
    if (active.length === 1) {
      active.pop();
      this.#first = null;
    } else {
      active.shift();
      this.#first = this.#byPriority[active[0] as number] as Fifo<W>;
    }
  }
}
