/**
 * Task-local context: values that follow the task handling a request
 * through every `yield*` and into the children it spawns, without leaking
 * to siblings (asyncio's `contextvars`, Effection's `createContext`).
 * @module
 */
import { iterate, Opened, type Operation, type OperationLike } from "./operation.ts";
import { requireCurrentTask } from "./spawn.ts";
import { getCurrentTask, OWN_CONTEXT, type TaskImpl } from "./task.ts";

/** A task-local value: read with `get()`, set with `set()` or for one operation with `with()`. */
export interface Context<T> {
  /** The name given to `createContext`, for messages. */
  readonly name: string;
  /**
   * The value in the current task (set by it, by `with`, or copied from its
   * parent at spawn), else the default. Outside any task: the default.
   * @throws {Error} when there is no value and no default.
   */
  get(): T;
  /** Sets the value for the current task and the children it spawns from now on. */
  set(value: T): void;
  /** Runs `op` with the value set, then restores what was there (children spawned inside keep it). */
  with<R>(value: T, op: OperationLike<R>): Operation<R>;
}

const ABSENT: unique symbol = Symbol("absent");

/** Reads and writes a context on a given task, for corio's own instruments (`corio/otel`). */
interface TaskAccess {
  read(task: TaskImpl<unknown>): unknown;
  write(task: TaskImpl<unknown>, value: unknown): void;
}
const access = new WeakMap<Context<unknown>, TaskAccess>();

/** The value of `context` in `task` (not the current task), or `undefined`. */
export function contextValueOf<T>(context: Context<T>, task: TaskImpl<unknown>): T | undefined {
  const value = access.get(context as Context<unknown>)?.read(task);
  return value === ABSENT ? undefined : (value as T);
}

/** Sets `context` in `task` (not the current task), as `set` would inside it. */
export function setContextValueOf<T>(context: Context<T>, task: TaskImpl<unknown>, value: T): void {
  access.get(context as Context<unknown>)?.write(task, value);
}

/**
 * Creates a task-local context. Each task sees its own value; a child gets a
 * copy of its parent's values at spawn (asyncio copies the context when a
 * task is created: a later `set` in the parent does not reach a child
 * already spawned, nor does a child's `set` reach its parent). Effection
 * differs: its children read the parent's current value through the scope
 * chain. The boundaries that run one operation in sequence (`scope`,
 * `timeout`, `moveOnAfter`, `deadline`, `shield`) are their caller's code:
 * a value set inside one is still set after it, as a `ContextVar` set
 * inside asyncio's `async with timeout()` or `TaskGroup` body is (asyncio's
 * `shield` runs its awaitable as a task of its own; corio's does not). A
 * task that `start` or a server makes inside them belongs to the task
 * outside, yet starts with the values set inside, as Trio's `nursery.start`
 * copies the calling task's context. The
 * operations of `all`, `race`, `allSettled` and `wait` are tasks of their
 * own, as `gather`'s are. Node's `AsyncLocalStorage` cannot serve corio tasks: they resume
 * from corio's scheduler, so after a suspension its store is whatever the
 * code that flushed the ready queue had.
 *
 * An unused context costs nothing: a task without values carries `null`,
 * and spawning copies one reference.
 *
 * @param name Shown in errors.
 * @param defaultValue What `get()` gives where nothing was set; without it, `get()` throws there.
 * @example A request id that follows the work
 * ```ts
 * import { createContext, run, sleep, spawn } from "corio";
 * const requestId = createContext<string>("request id", "none");
 * const seen: string[] = [];
 * await run(function* () {
 *   for (const id of ["a", "b"]) {
 *     yield* spawn(function* () {
 *       requestId.set(id);
 *       yield* sleep(1);
 *       yield* spawn(function* () { seen.push(requestId.get()); });
 *     });
 *   }
 * });
 * console.assert(seen.sort().join() === "a,b" && requestId.get() === "none");
 * ```
 */
export function createContext<T>(name: string, ...defaultValue: [] | [T]): Context<T> {
  if (typeof name !== "string" || name === "") throw new TypeError(`Cannot create a context: name must be a non-empty string, received ${String(name)}`);
  const key = {};
  const fallback: T | typeof ABSENT = defaultValue.length > 0 ? (defaultValue[0] as T) : ABSENT;

  function read(task: TaskImpl<unknown> | null): T | typeof ABSENT {
    const map = task?.context;
    if (map?.has(key)) return map.get(key) as T;
    return fallback;
  }

  function write(task: TaskImpl<unknown>, value: T | typeof ABSENT): void {
    let map = task.context;
    if (map === null || (task.flags & OWN_CONTEXT) === 0) {
      // Shared with a child spawned earlier (or with the parent): copy before writing.
      map = map === null ? new Map() : new Map(map);
      task.context = map;
      task.flags |= OWN_CONTEXT;
    }
    if (value === ABSENT) map.delete(key);
    else map.set(key, value);
  }

  const context: Context<T> = {
    name,
    get(): T {
      const value = read(getCurrentTask());
      if (value === ABSENT) {
        throw new Error(`Cannot read the context ${name}: it has no value here and no default; set it first, or give createContext a default`);
      }
      return value;
    },
    set(value: T): void {
      write(requireCurrentTask(`set the context ${name}`), value);
    },
    *with<R>(value: T, op: OperationLike<R>): Operation<R> {
      const task = requireCurrentTask(`set the context ${name}`);
      const iterator = iterate(op, `run with the context ${name}`);
      const had = task.context?.has(key) === true;
      const previous = had ? (task.context?.get(key) as T) : ABSENT;
      write(task, value);
      try {
        return yield* new Opened(iterator);
      } finally {
        write(task, previous);
      }
    },
  };
  access.set(context as Context<unknown>, { read, write: write as TaskAccess["write"] });
  return context;
}
