/**
 * Waiting for a task: `yield* task` (a join park), `await task` (a promise)
 * and done callbacks. They are the watchers a task tells when it finishes.
 * @module
 */
import type { OneOrMany } from "./_one-or-many.ts";
import { IteratorPark } from "./_park.ts";
import type { Scope } from "./_scope.ts";
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
  override describe(taskPath?: string): string {
    return `task ${taskPath === undefined ? this.target.path : pathBelow(this.target, this.task, taskPath)} to finish`;
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

/**
 * The path of `target`, built from `ownerPath` (the path of `owner`) when
 * `target` is a few levels below `owner`, as a joined child is: climbing to
 * the root for every task of a chain of d joins cost d²/2 steps (3,000 deep:
 * a 51 MB deadlock report in 2.8 s).
 */
function pathBelow(target: TaskImpl<unknown>, owner: TaskImpl<unknown> | null, ownerPath: string): string {
  const names: string[] = [];
  let scope: Scope | null = target;
  for (; scope !== null && scope !== owner && names.length < MAX_LEVELS_BELOW; scope = scope.parentScope) names.push(scope.name);
  if (scope !== owner) return target.path;
  return `${ownerPath}/${names.reverse().join("/")}`;
}

/** How far below its waiter `pathBelow` looks for a joined task (boundaries between them count). */
const MAX_LEVELS_BELOW = 16;

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

/**
 * `await task` on a task still running: the promise it settles when it
 * finishes. One per task however many `then`s (found among its watchers), so
 * no `WeakMap` from task to promise: its entries are ephemerons, which cost
 * every collection, and `await run(op)` made one per call.
 */
export class PromiseWatcher implements Watcher {
  readonly promise: Promise<unknown>;
  resolve!: (value: unknown) => void;
  reject!: (error: unknown) => void;
  constructor() {
    this.promise = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }
  taskFinished(task: TaskImpl<unknown>): void {
    let value: unknown;
    try {
      value = task.outcome();
    } catch (error) {
      this.reject(error);
      return;
    }
    this.resolve(value);
  }
}

/** The promise of a pending task: its `PromiseWatcher`'s, or a new one's. */
export function pendingPromise(task: TaskImpl<unknown>, watchers: OneOrMany<Watcher>): Promise<unknown> {
  if (watchers instanceof PromiseWatcher) return watchers.promise;
  if (Array.isArray(watchers)) for (const watcher of watchers) if (watcher instanceof PromiseWatcher) return watcher.promise;
  const watcher = new PromiseWatcher();
  task.addWatcher(watcher);
  return watcher.promise;
}
