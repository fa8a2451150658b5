/**
 * A park for waits on the network: it counts as busy for the virtual clock
 * (time must not jump ahead of real I/O) while it is pending.
 * @module
 */
import { Park, type WaitKind } from "./_park.ts";
import type { TaskImpl } from "./task.ts";

export class ExternalPark<T> extends Park {
  #pending = true;
  readonly #onCancel: ((woken: boolean, value: unknown) => void) | undefined;

  constructor(task: TaskImpl<unknown>, kind: WaitKind, onCancel?: (woken: boolean, value: unknown) => void, what?: string) {
    super(task, kind, what);
    task.loop.busy++;
    this.#onCancel = onCancel;
  }

  /** True until resolved, rejected or cancelled. */
  get pending(): boolean {
    return this.#pending;
  }

  resolve(value: T): boolean {
    return this.#settle(false, value);
  }

  reject(error: unknown): boolean {
    return this.#settle(true, error);
  }

  override cancelled(woken: boolean, value: unknown): void {
    if (this.#pending) {
      this.#pending = false;
      (this.task as TaskImpl<unknown>).loop.busy--;
    }
    this.#onCancel?.(woken, value);
  }

  #settle(isThrow: boolean, value: unknown): boolean {
    if (!this.#pending) return false;
    this.#pending = false;
    const task = this.task as TaskImpl<unknown>;
    task.loop.busy--;
    if (task.park !== this || task.woken) return false;
    task.wake(isThrow, value);
    return true;
  }
}
