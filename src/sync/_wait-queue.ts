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
  readonly #byPriority = new Map<number, Fifo<W>>();
  /** Priorities with waiters, ascending. */
  readonly #active: number[] = [];
  #size = 0;

  get size(): number {
    return this.#size;
  }

  push(waiter: W): void {
    const priority = waiter.task?.priority ?? 10;
    let fifo = this.#byPriority.get(priority);
    if (fifo === undefined) {
      fifo = new Fifo<W>(4);
      this.#byPriority.set(priority, fifo);
    }
    if (fifo.size === 0) {
      const active = this.#active;
      let i = active.length;
      while (i > 0 && (active[i - 1] as number) > priority) i--;
      active.splice(i, 0, priority);
    }
    fifo.push(waiter);
    this.#size++;
  }

  /** The first waiter (most urgent, then oldest), removed. */
  shift(): W | undefined {
    if (this.#size === 0) return undefined;
    const priority = this.#active[0] as number;
    const fifo = this.#byPriority.get(priority) as Fifo<W>;
    const waiter = fifo.shift();
    if (fifo.size === 0) this.#active.shift();
    this.#size--;
    return waiter;
  }

  remove(waiter: W): boolean {
    const priority = waiter.task?.priority ?? 10;
    const fifo = this.#byPriority.get(priority);
    if (fifo === undefined || !fifo.remove(waiter)) return false;
    if (fifo.size === 0) this.#active.splice(this.#active.indexOf(priority), 1);
    this.#size--;
    return true;
  }

  /** Removes and returns every waiter, in order. */
  drain(): W[] {
    const all: W[] = [];
    for (let waiter = this.shift(); waiter !== undefined; waiter = this.shift()) all.push(waiter);
    return all;
  }
}
