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
 * the marked ones are as many as the live ones, the buffers are rebuilt
 * without them, so they never hold more than twice the live waiters; and
 * once no live waiter is left, none (a cancelled task is not kept).
 *
 * It holds its `PriorityFifo` rather than extending it, with the live count
 * in a field of its own: the uncontended Lock and Semaphore read `size` and
 * call `shift()` on every acquire/release, and overriding the base's getter
 * and `shift` (a `super` call each) cost them 9% (lock-uncontended: 234
 * instructions, 213 before).
 */
export class WaitQueue<W extends Park> {
  readonly #waiters = new PriorityFifo<W>();
  /** Waiters queued and not removed. */
  #live = 0;
  /** Removed waiters still in `#waiters`; `null` until the first removal (most queues never see one). */
  #removed: Set<W> | null = null;

  /** Waiters queued (not removed). */
  get size(): number {
    return this.#live;
  }

  push(waiter: W): void {
    this.#waiters.pushAt(waiter, waiter.task?.priority ?? 10);
    this.#live++;
  }

  /** The first live waiter, removed from the queue. */
  shift(): W | undefined {
    if (this.#live === 0) return undefined;
    this.#live--;
    const waiters = this.#waiters;
    let waiter = waiters.shift() as W;
    const removed = this.#removed;
    if (removed !== null && removed.size > 0) {
      while (removed.delete(waiter)) waiter = waiters.shift() as W;
      if (this.#live === 0 && removed.size > 0) this.#compact();
    }
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
    this.#live--;
    if (removed.size >= this.#live) this.#compact();
  }

  /** Rebuilds the buffers without the removed waiters. */
  #compact(): void {
    const removed = this.#removed as Set<W>;
    const waiters = this.#waiters;
    const live: W[] = [];
    for (let waiter = waiters.shift(); waiter !== undefined; waiter = waiters.shift()) if (!removed.has(waiter)) live.push(waiter);
    removed.clear();
    for (const waiter of live) waiters.pushAt(waiter, waiter.task?.priority ?? 10);
  }

  /** Removes and returns every waiter, in order. */
  drain(): W[] {
    const all: W[] = [];
    for (let waiter = this.shift(); waiter !== undefined; waiter = this.shift()) all.push(waiter);
    return all;
  }
}
