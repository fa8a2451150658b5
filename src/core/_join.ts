/**
 * Waiting for a task: `yield* task` (a join park), `await task` (a promise)
 * and done callbacks. They are the watchers a task tells when it finishes.
 * @module
 */
import { IteratorPark } from "./_park.ts";
import type { Instruction } from "./operation.ts";
import { getCurrentTask, type Task, type TaskImpl, type Watcher } from "./task.ts";

/**
 * Parks the current task until `target` finishes. It is also the iterator of
 * `yield* task` (no generator per join): the first step gives a finished
 * task's outcome at once, or parks; the runtime resumes it with the value or
 * throws the error in.
 */
export class JoinPark extends IteratorPark implements Watcher {
  readonly target: TaskImpl<unknown>;
  #parked = false;
  constructor(task: TaskImpl<unknown> | null, target: TaskImpl<unknown>) {
    super(task, "child");
    this.target = target;
  }
  taskFinished(): void {
    const task = this.task;
    if (task === null || task.park !== this || task.woken) return;
    const target = this.target;
    if (target.state === "done") task.wake(false, target.result());
    else task.wake(true, target.error);
  }
  override cancelled(woken: boolean): void {
    if (!woken) this.target.removeWatcher(this);
  }
  override describe(): string {
    return `task ${this.target.path} to finish`;
  }

  next(value?: unknown): IteratorResult<Instruction, unknown> {
    if (this.#parked) return { value, done: true };
    const target = this.target;
    if (target.done) return { value: target.outcome(), done: true };
    const waiter = this.task;
    if (waiter === null) throw new Error(`Cannot wait for task ${target.path} outside a task: use await instead of yield*`);
    if (waiter === target) throw new Error(`Cannot wait for task ${target.path} from inside itself: it would never finish`);
    this.#parked = true;
    target.addWatcher(this);
    return { value: this, done: false };
  }
}

/** `yield* task`: waits for the task and gives its value, or throws its error. */
export function join<T>(target: TaskImpl<T>): Iterator<Instruction, T, unknown> {
  return new JoinPark(getCurrentTask(), target as TaskImpl<unknown>) as Iterator<Instruction, T, unknown>;
}

export class DoneCallback implements Watcher {
  readonly task: TaskImpl<unknown>;
  readonly callback: (task: Task<unknown>) => void;
  constructor(task: TaskImpl<unknown>, callback: (task: Task<unknown>) => void) {
    this.task = task;
    this.callback = callback;
  }
  taskFinished(task: TaskImpl<unknown>): void {
    task.loop.callSoon(this.callback, [task]);
  }
}

const promises = new WeakMap<TaskImpl<unknown>, Promise<unknown>>();

export function toPromise<T>(task: TaskImpl<T>): Promise<T> {
  let promise = promises.get(task as TaskImpl<unknown>) as Promise<T> | undefined;
  if (promise === undefined) {
    promise = new Promise<T>((resolve, reject) => {
      const settle = (): void => {
        try {
          resolve(task.outcome());
        } catch (error) {
          reject(error);
        }
      };
      if (task.done) settle();
      else task.addWatcher({ taskFinished: settle });
    });
    promises.set(task as TaskImpl<unknown>, promise);
  }
  return promise;
}
