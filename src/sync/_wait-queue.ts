/**
 * The one wait queue under every sync primitive (Trio's ParkingLot): waiters
 * in priority order (1 first), FIFO within a priority, removable when
 * cancelled. A waiter is a `Park`; the primitive decides what to hand it.
 * @module
 */
import { Park, type WaitKind } from "../core/_park.ts";
import { PriorityFifo } from "../core/_priority-fifo.ts";
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

/** A sync primitive's waiters, in the order of their tasks' priorities, FIFO within one. */
export class WaitQueue<W extends Park> extends PriorityFifo<W> {
  push(waiter: W): void {
    this.pushAt(waiter, waiter.task?.priority ?? 10);
  }

  remove(waiter: W): boolean {
    return this.removeAt(waiter, waiter.task?.priority ?? 10);
  }

  /** Removes and returns every waiter, in order. */
  drain(): W[] {
    const all: W[] = [];
    for (let waiter = this.shift(); waiter !== undefined; waiter = this.shift()) all.push(waiter);
    return all;
  }
}
