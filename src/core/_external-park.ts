/**
 * A park for waits on the network: it counts as busy for the virtual clock
 * (time must not jump ahead of real I/O) while it is pending.
 * @module
 */
import { Park, type WaitKind } from "./_park.ts";
import type { TaskImpl } from "./task.ts";

/** Its members are `declare`d, not `#private`: it is a base class (see `Park`). */
export class ExternalPark<T> extends Park {
  declare private waiting: boolean;
  declare private readonly whenCancelled: ((woken: boolean, value: unknown) => void) | undefined;

  constructor(task: TaskImpl<unknown>, kind: WaitKind, onCancel?: (woken: boolean, value: unknown) => void, what?: string) {
    super(task, kind, what);
    task.loop.busy++;
    this.waiting = true;
    this.whenCancelled = onCancel;
  }

  /** True until resolved, rejected or cancelled. */
  get pending(): boolean {
    return this.waiting;
  }

  resolve(value: T): boolean {
    return this.settle(false, value);
  }

  reject(error: unknown): boolean {
    return this.settle(true, error);
  }

  override cancelled(woken: boolean, value: unknown): void {
    if (this.waiting) {
      this.waiting = false;
      (this.task as TaskImpl<unknown>).loop.busy--;
    }
    this.whenCancelled?.(woken, value);
  }

  private settle(isThrow: boolean, value: unknown): boolean {
    if (!this.waiting) return false;
    this.waiting = false;
    const task = this.task as TaskImpl<unknown>;
    task.loop.busy--;
    if (task.park !== this || task.woken) return false;
    task.wake(isThrow, value);
    return true;
  }
}
