/**
 * Spawning tasks, and finding them.
 * @module
 */

import { defineOperation } from "./_dev.ts";
import { DAEMON } from "./_scope.ts";
import { FINISHED, FRESH, ranTwice, StepOperation } from "./_step-operation.ts";
import { parkUntil } from "./_timer-park.ts";
import { getDefaultLoop, getRunningLoop, type Loop } from "./loop.ts";
import { assertOperationLike, devHooks, type Instruction, markOperationPrototype, type Operation, type OperationLike } from "./operation.ts";
import { codeOwner, getCurrentTask, type Task, TaskImpl } from "./task.ts";

/** How a task is spawned. */
export interface SpawnOptions {
  /** Shown in errors, task paths and the inspector. @default `task-<id>` */
  name?: string;
  /** 1 (most urgent) to 100 (background). Ready tasks run in priority order, FIFO within one. @default the parent task's priority (a root started by `run` has 10, even from inside a task) */
  priority?: number;
  /** Milliseconds before the first step. @default 0, or `period` for a periodic task (as in the cooperative-scheduler seed) */
  delay?: number;
  /**
   * Makes the task periodic: each bare `yield` (or `yield* nextPeriod()`) ends
   * a round, and the next round starts at the next multiple of `period` ms
   * after the first run. Missed ticks are skipped, not run in a burst.
   * @default undefined (not periodic)
   */
  period?: number;
  /**
   * A daemon does not keep its parent alive: it is cancelled once the parent's body and other children are done,
   * in reverse order with the parent's resources (one opened after the daemon closes before it is cancelled).
   * @default false
   */
  daemon?: boolean;
}

/**
 * Starts `op` as a child task of the current task and returns its `Task`
 * without suspending. The child first runs when the spawner next suspends
 * (asyncio's `create_task`). The parent does not finish until the child has
 * (unless it is a `daemon`), and a child that fails cancels its siblings and
 * the parent's body, then fails the parent with its error.
 *
 * @param op The operation, or a function returning one.
 * @param options Name, priority, delay, period and daemon.
 * @returns The new task; `yield* task` waits for its result.
 * @throws {TypeError} for an argument that is not an operation or a bad option.
 * @throws {RangeError} for a priority outside 1..100 or a negative delay or period.
 * @example
 * ```ts
 * import { run, spawn, sleep } from "corio";
 * const order: string[] = [];
 * await run(function* () {
 *   yield* spawn(function* () { yield* sleep(20); order.push("slow"); });
 *   yield* spawn(function* () { yield* sleep(10); order.push("fast"); });
 * });
 * console.assert(order.join() === "fast,slow");
 * ```
 */
export const spawn = defineOperation(function spawn<T>(op: OperationLike<T>, options?: SpawnOptions): Operation<Task<T>> {
  return new SpawnOperation(op, options) as Operation<unknown> as Operation<Task<T>>;
});

/**
 * The operation `spawn` returns: spawns on its one step. Not a generator:
 * spawning is the most common operation, and a generator object was most of
 * what it allocated besides the task.
 */
class SpawnOperation<T> extends StepOperation<Task<T> | undefined> {
  readonly #op: OperationLike<T>;
  readonly #options: SpawnOptions | undefined;
  constructor(op: OperationLike<T>, options: SpawnOptions | undefined) {
    super();
    this.state = FRESH;
    this.#op = op;
    this.#options = options;
  }
  override [Symbol.iterator](): this {
    devHooks.handedOver?.(this);
    return this;
  }
  next(): IteratorResult<Instruction, Task<T> | undefined> {
    // It runs once: a second `yield*` throws, rather than give undefined and spawn nothing.
    if (this.state !== FRESH) throw ranTwice(this);
    this.state = FINISHED;
    return { value: spawnChild(requireCurrentTask("spawn"), this.#op, this.#options, 0), done: true };
  }
}
markOperationPrototype(SpawnOperation.prototype, "spawn");

/**
 * Creates a task under `parent` (or a root of `loop`) with checked options, and schedules it;
 * `afterIo` makes its first step wait for this turn's other I/O callbacks (`Loop.scheduleAfterIo`).
 */
export function createTask<T>(
  loop: Loop,
  parent: TaskImpl<unknown> | null,
  op: OperationLike<T>,
  options: SpawnOptions | undefined,
  flags: number,
  api: string,
  afterIo = false,
): TaskImpl<T> {
  assertOperationLike(op, api);
  if (options === undefined) {
    // The common case, kept short: no options to check.
    const task = new TaskImpl<T>(loop, parent, op, undefined, parent?.priority ?? 10, flags);
    task.enqueue();
    return task;
  }
  const name = options?.name;
  if (name !== undefined && typeof name !== "string") throw new TypeError(`Cannot ${api}: name must be a string, received ${typeof name}`);
  const priority = options?.priority ?? parent?.priority ?? 10;
  if (!Number.isInteger(priority) || priority < 1 || priority > 100) {
    throw new RangeError(`Cannot ${api}: priority must be an integer from 1 (most urgent) to 100, received ${String(priority)}`);
  }
  const period = options?.period;
  if (period !== undefined && !(typeof period === "number" && period >= 0 && Number.isFinite(period))) {
    throw new RangeError(`Cannot ${api}: period must be a non-negative number of ms, received ${String(period)}`);
  }
  const delay = options?.delay ?? (period !== undefined && period > 0 ? period : 0);
  if (!(typeof delay === "number" && delay >= 0 && Number.isFinite(delay))) {
    throw new RangeError(`Cannot ${api}: delay must be a non-negative number of ms, received ${String(delay)}`);
  }
  if (options?.daemon) flags |= DAEMON;
  const task = new TaskImpl<T>(loop, parent, op, name, priority, flags);
  if (period !== undefined && period > 0) task.periodic = { period, lastTick: loop.now() + delay };
  // A child that inherited a pending cancel (decided case 11) never runs: its first step ends it now, not after the delay.
  if (delay > 0 && task.cancelError === null) task.park = parkUntil(task as TaskImpl<unknown>, loop.now() + delay, "sleep");
  else if (afterIo) task.enqueueAfterIo();
  else task.enqueue();
  return task;
}

function spawnChild<T>(parent: TaskImpl<unknown>, op: OperationLike<T>, options: SpawnOptions | undefined, flags: number): TaskImpl<T> {
  return createTask(parent.loop, parent, op, options, flags, "spawn");
}

/** The running task, or a clear error naming the API that needed one. */
export function requireCurrentTask(api: string): TaskImpl<unknown> {
  const task = getCurrentTask();
  if (task === null) throw new Error(`Cannot ${api}: no corio task is running; call it inside an operation started with run() or spawn()`);
  return task;
}

/**
 * The task running the calling code (the seed scheduler's "get my task"):
 * inside `scope`, `shield` or a time limit, the task that entered it, as
 * asyncio's `current_task()` inside a `TaskGroup` or `timeout` is the task
 * that entered them (corio runs those bodies in a task of their own, which
 * holds their children). Each operation of `all`, `race` and the like is a
 * task of its own, as in asyncio's `gather`.
 *
 * @throws {Error} when called outside any task.
 * @example
 * ```ts
 * import { currentTask, run } from "corio";
 * const name = await run(function* () { return currentTask().name; }, { name: "worker" });
 * console.assert(name === "worker");
 * ```
 */
export function currentTask(): Task<unknown> {
  return codeOwner(requireCurrentTask("get the current task"));
}

/**
 * Every unfinished task on the current loop (or the default loop outside a
 * task), parents before children.
 *
 * @example
 * ```ts
 * import { allTasks, run, spawn, suspend } from "corio";
 * const names = await run(function* () {
 *   const child = yield* spawn(suspend, { name: "idle" });
 *   const seen = allTasks().map((t) => t.name);
 *   child.cancel();
 *   return seen;
 * }, { name: "root" });
 * console.assert(names.includes("root") && names.includes("idle"));
 * ```
 */
export function allTasks(): Task<unknown>[] {
  const loop = getCurrentTask()?.loop ?? getRunningLoop() ?? getDefaultLoop();
  const list: Task<unknown>[] = [];
  const visit = (task: Task<unknown>): void => {
    list.push(task);
    for (const child of task.children) visit(child);
  };
  for (const root of loop.roots) visit(root);
  return list;
}
