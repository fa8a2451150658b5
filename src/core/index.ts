/**
 * The core runtime: operations, tasks, structured concurrency, cancellation.
 *
 * Which tool do I need?
 * - Start a program: `main` (signals, exit code) or `run` (a root task you can await).
 * - Run things at once: `spawn` (a child you may join), `all`/`allSettled`/`race` (combine results).
 * - Contain failures: `scope`. Protect cleanup from cancellation: `shield`.
 * - Talk to promises: `until(promise)`, `call(signal => ...)`. Wake a task from a callback: `Future`.
 * @module
 */
export { type Awaitable, all, allSettled, type Results, race, type Settled } from "./all.ts";
export { call, until } from "./call.ts";
export { type Context, createContext } from "./context.ts";
export {
  BrokenResourceError,
  CancelledError,
  ClosedResourceError,
  isCancellation,
  TaskGroupError,
  TimeoutError,
} from "./errors.ts";
export { Future } from "./future.ts";
export type { ErrorContext, ErrorHandler, LoopOptions } from "./loop.ts";
export { type MainOptions, main } from "./main.ts";
export type { Instruction, Operation, OperationLike, Suspension } from "./operation.ts";
export { type RunOptions, run, stop } from "./run.ts";
export { scope } from "./scope.ts";
export { shield } from "./shield.ts";
export { allTasks, currentTask, type SpawnOptions, spawn } from "./spawn.ts";
export { suspend } from "./suspend.ts";
export type { Task, TaskState } from "./task.ts";
