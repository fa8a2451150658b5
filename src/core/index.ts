/**
 * The core runtime: operations, tasks, structured concurrency, cancellation.
 *
 * Which tool do I need?
 * - Start a program: `main` (signals, exit code) or `run` (a root task you can await).
 * - Run things at once: `spawn` (a child you may join), `all`/`allSettled`/`race` (combine results).
 * - Contain failures: `scope`. Protect cleanup from cancellation: `shield`. Clean up when the task ends: `ensure`.
 * - Watch tasks start and end (tracing, metrics): `addInstrument`.
 * - Talk to promises: `until(promise)`, `call(signal => ...)`. Wake a task from a callback: `Future`.
 * - Iterate async iterables, Node and Web streams, queues and channels: `forEach(source, function* (item) {...})`, `each(source)`.
 * - Wait for events of an `EventTarget` or `EventEmitter`: `once(target, name)`, `on(target, name)`.
 * @module
 */
export { type Awaitable, all, allSettled, type Results, race, type Settled } from "./all.ts";
export { call, until } from "./call.ts";
export { type Context, createContext } from "./context.ts";
export { type EachIterator, type EachSource, each, forEach, type WebReadableStreamLike } from "./each.ts";
export { ensure } from "./ensure.ts";
export {
  BrokenResourceError,
  CancelledError,
  ClosedResourceError,
  isCancellation,
  TaskGroupError,
  TimeoutError,
} from "./errors.ts";
export { type EventEmitterLike, type EventTargetLike, on, once } from "./events.ts";
export { Future } from "./future.ts";
export { addInstrument, type Instrument } from "./instruments.ts";
export type { ErrorContext, ErrorHandler, LoopOptions } from "./loop.ts";
export { type MainOptions, main } from "./main.ts";
export type { Instruction, Operation, OperationLike, Suspension } from "./operation.ts";
export type { IterableOperationIterator, OperationIterator } from "./operation-iterator.ts";
export { type RunOptions, run, stop } from "./run.ts";
export { scope } from "./scope.ts";
export { shield } from "./shield.ts";
export { allTasks, currentTask, type SpawnOptions, spawn } from "./spawn.ts";
export { type Started, start } from "./start.ts";
export { suspend } from "./suspend.ts";
export type { Task, TaskState } from "./task.ts";
