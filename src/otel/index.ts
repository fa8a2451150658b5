/**
 * `corio/otel`: OpenTelemetry tracing that follows corio tasks. The API's
 * default context manager is built on `AsyncLocalStorage`, which loses the
 * active span at the first corio suspension (tasks resume from corio's
 * scheduler). `TaskContextManager` keeps OpenTelemetry's context in the
 * task-local context instead, so `trace.getActiveSpan()` is right after any
 * `yield*`, in children and in `serveHttp` handlers; `withSpan` runs an
 * operation in a span; `instrumentTasks` gives every task a span. Needs `@opentelemetry/api` (an optional peer
 * dependency of corio).
 * @module corio/otel
 */

import { type Context, type ContextManager, ROOT_CONTEXT, type Span, type SpanOptions, SpanStatusCode, type Tracer, trace } from "@opentelemetry/api";
import { defineOperation } from "../core/_dev.ts";
import { BOUNDARY } from "../core/_scope.ts";
import { contextValueOf, createContext, setContextValueOf } from "../core/context.ts";
import { isCancellation } from "../core/errors.ts";
import { addInstrument } from "../core/instruments.ts";
import type { Operation, OperationLike } from "../core/operation.ts";
import { getCurrentTask, type Task, type TaskImpl } from "../core/task.ts";

/** OpenTelemetry's context of each task, copied to children at spawn. */
const taskContext = createContext<Context | undefined>("OpenTelemetry context", undefined);

/**
 * An OpenTelemetry `ContextManager` backed by corio's task-local context:
 * inside a task the active context is the task's (set by `with`, by
 * `withSpan`, or copied from its parent at spawn); outside any task it is a
 * plain stack, as for synchronous code.
 *
 * @example
 * ```ts
 * import { context, trace } from "@opentelemetry/api";
 * import { run, sleep } from "corio";
 * import { TaskContextManager, withSpan } from "corio/otel";
 * context.setGlobalContextManager(new TaskContextManager().enable());
 * const tracer = trace.getTracer("example");
 * await run(withSpan(tracer, "work", function* () {
 *   yield* sleep(1);
 *   // With a registered tracer provider, this is the "work" span, even after the suspension.
 *   console.assert(trace.getActiveSpan() !== undefined);
 * }));
 * context.disable();
 * ```
 */
export class TaskContextManager implements ContextManager {
  #outside: Context[] = [];

  /** The active context: the current task's, else the innermost `with` outside tasks, else the root. */
  active(): Context {
    if (getCurrentTask() !== null) return taskContext.get() ?? ROOT_CONTEXT;
    return this.#outside.at(-1) ?? ROOT_CONTEXT;
  }

  /** Calls `fn` with `ctx` active, then restores the previous one (in the current task, or outside tasks). */
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(ctx: Context, fn: F, thisArg?: ThisParameterType<F>, ...args: A): ReturnType<F> {
    if (getCurrentTask() === null) {
      this.#outside.push(ctx);
      try {
        return fn.call(thisArg, ...args);
      } finally {
        this.#outside.pop();
      }
    }
    const previous = taskContext.get();
    taskContext.set(ctx);
    try {
      return fn.call(thisArg, ...args);
    } finally {
      taskContext.set(previous);
    }
  }

  /** Binds a function to `ctx` (other targets are returned as they are). */
  bind<T>(ctx: Context, target: T): T {
    if (typeof target !== "function") return target;
    const manager = this;
    const fn = target as unknown as (...args: unknown[]) => unknown;
    return function (this: unknown, ...args: unknown[]) {
      return manager.with(ctx, fn, this, ...args);
    } as unknown as T;
  }

  enable(): this {
    return this;
  }

  disable(): this {
    this.#outside = [];
    return this;
  }
}

/**
 * Runs `op` in a new span, child of the active one: the span is active in
 * `op` and in everything it spawns, across suspensions. A failure is
 * recorded on the span (status error); a cancellation sets the attribute
 * `corio.cancelled` and leaves the status unset. The span ends when `op`
 * has finished, cleanup included.
 *
 * **Cancellation:** `op` is cancelled with the caller; the span still ends.
 *
 * @param tracer From `trace.getTracer(name)`.
 * @param name The span's name.
 * @param op The operation, or a function returning one.
 * @param options OpenTelemetry's span options (attributes, kind, links).
 * @example
 * ```ts
 * import { trace } from "@opentelemetry/api";
 * import { run } from "corio";
 * import { withSpan } from "corio/otel";
 * const value = await run(withSpan(trace.getTracer("example"), "compute", function* () { return 42; }));
 * console.assert(value === 42);
 * ```
 */
export const withSpan = defineOperation(function* withSpan<T>(tracer: Tracer, name: string, op: OperationLike<T>, options: SpanOptions = {}): Operation<T> {
  const task = getCurrentTask();
  const parent = task === null ? ROOT_CONTEXT : (taskContext.get() ?? ROOT_CONTEXT);
  const span: Span = tracer.startSpan(name, { ...options, attributes: { ...options.attributes, ...(task !== null && { "corio.task": task.path }) } }, parent);
  try {
    return yield* taskContext.with(trace.setSpan(parent, span), op);
  } catch (error) {
    if (isCancellation(error)) span.setAttribute("corio.cancelled", true);
    else recordFailure(span, error);
    throw error;
  } finally {
    span.end();
  }
});

/** Options of `instrumentTasks`. */
export interface InstrumentTasksOptions {
  /** Which tasks get a span. @default every task except the internal children of `timeout`, `all`, `race`, `scope`, `shield` and the like */
  filter?: (task: Task<unknown>) => boolean;
  /** The span's name. @default the task's name */
  spanName?: (task: Task<unknown>) => string;
}

/**
 * Starts a span for every task (optional span-per-task instrumentation):
 * named after the task, child of the span active where the task was spawned,
 * with the attributes `corio.task.name`, `corio.task.path` and
 * `corio.task.id`. The span is active in the task (its children's spans nest
 * under it) and ends when the task has ended: a failure is recorded (status
 * error and an exception event), a cancellation sets `corio.cancelled`.
 * Returns the function that stops the instrumentation (spans already
 * started still end with their tasks).
 *
 * Use it with `TaskContextManager` registered, so spans started by other
 * code inside tasks nest too. A span per task is cheap but not free (one
 * span object per task): narrow it with `filter` on a busy server.
 *
 * @param tracer From `trace.getTracer(name)`.
 * @param options Which tasks, and how to name their spans.
 * @returns A function that stops starting spans.
 * @example
 * ```ts
 * import { trace } from "@opentelemetry/api";
 * import { run, spawn } from "corio";
 * import { instrumentTasks } from "corio/otel";
 * const stop = instrumentTasks(trace.getTracer("example"), { filter: (task) => task.name.startsWith("job") });
 * await run(function* () {
 *   yield* spawn(function* () {}, { name: "job 1" }); // with a tracer provider registered, a span "job 1"
 * });
 * stop();
 * ```
 */
export function instrumentTasks(tracer: Tracer, options: InstrumentTasksOptions = {}): () => void {
  const filter = options.filter ?? ((task: Task<unknown>) => ((task as TaskImpl<unknown>).flags & BOUNDARY) === 0);
  const spanName = options.spanName ?? ((task: Task<unknown>) => task.name);
  const spans = new WeakMap<Task<unknown>, Span>();
  return addInstrument({
    taskSpawned(task) {
      if (!filter(task)) return;
      const impl = task as TaskImpl<unknown>;
      const parent = contextValueOf(taskContext, impl) ?? ROOT_CONTEXT;
      const span = tracer.startSpan(
        spanName(task),
        { attributes: { "corio.task.name": task.name, "corio.task.path": task.path, "corio.task.id": impl.id } },
        parent,
      );
      spans.set(task, span);
      setContextValueOf(taskContext, impl, trace.setSpan(parent, span));
    },
    taskExited(task) {
      const span = spans.get(task);
      if (span === undefined) return;
      spans.delete(task);
      if (task.cancelled) span.setAttribute("corio.cancelled", true);
      else if (task.state === "failed") recordFailure(span, task.error);
      span.end();
    },
  });
}

function recordFailure(span: Span, error: unknown): void {
  span.recordException(error instanceof Error ? error : String(error));
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
}
