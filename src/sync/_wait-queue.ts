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

/**
 * A sync primitive's waiters, in the order of their tasks' priorities, FIFO within one.
 *
 * A removed waiter (cancelled) is only marked, and skipped when it reaches
 * the front: taking it out of the middle of a ring buffer moves the waiters
 * on one side of it, and many waiters cancelled in no particular order (each
 * its own timeout) took quadratic time, as asyncio's deque does (80,000
 * waiters of a lock: 25 s; Trio's ParkingLot removes in constant time). Once
 * the marked ones are half of what the buffers hold, the buffers are rebuilt
 * without them, so they never hold more than twice the live waiters.
 */
export class WaitQueue<W extends Park> extends PriorityFifo<W> {
  /** Removed waiters still in the buffers; `null` until the first removal (most queues never see one). */
  #removed: Set<W> | null = null;

  /** Waiters queued (not removed). */
  override get size(): number {
    const removed = this.#removed;
    return removed === null ? super.size : super.size - removed.size;
  }

  push(waiter: W): void {
    this.pushAt(waiter, waiter.task?.priority ?? 10);
  }

  override shift(): W | undefined {
    let waiter = super.shift();
    const removed = this.#removed;
    if (removed !== null && removed.size > 0) while (waiter !== undefined && removed.delete(waiter)) waiter = super.shift();
    return waiter;
  }

  /**
   * Removes `waiter`, which must be queued: a waiter is removed only while
   * it waits (its task's cancel finds it not yet woken), and one is shifted
   * out only to be woken.
   */
  remove(waiter: W): void {
    const removed = (this.#removed ??= new Set<W>());
    removed.add(waiter);
    if (removed.size * 2 >= super.size) this.#compact();
  }

  /** Rebuilds the buffers without the removed waiters. */
  #compact(): void {
    const removed = this.#removed as Set<W>;
    const live: W[] = [];
    for (let waiter = super.shift(); waiter !== undefined; waiter = super.shift()) if (!removed.has(waiter)) live.push(waiter);
    removed.clear();
    for (const waiter of live) this.push(waiter);
  }

  /** Removes and returns every waiter, in order. */
  drain(): W[] {
    const all: W[] = [];
    for (let waiter = this.shift(); waiter !== undefined; waiter = this.shift()) all.push(waiter);
    return all;
  }
}
