/**
 * `corio/otel`: OpenTelemetry tracing that follows corio tasks. The usual
 * Node context manager (`AsyncLocalStorageContextManager`) loses the active
 * span at the first corio suspension: tasks resume from corio's scheduler.
 * `TaskContextManager` keeps OpenTelemetry's context in the task-local
 * context instead, so `trace.getActiveSpan()` is right after any `yield*`,
 * in children and in `serveHttp` handlers, and it enters that context into
 * `AsyncLocalStorage` while a task step runs, so promise code the step
 * starts (a driver awaited with `until`) inherits it; outside task steps it
 * is an `AsyncLocalStorage` context manager like the usual one. `withSpan`
 * runs an operation in a span; `instrumentTasks` gives every task a span.
 * Needs `@opentelemetry/api` (an optional peer dependency of corio).
 *
 * Which context a task's spans nest under, whatever the manager: the
 * task's own (set by `withSpan` or `instrumentTasks`, or copied from its
 * parent at spawn), else the context active where the task was spawned, if
 * that was outside any task step and outside corio's scheduler (a `run()`
 * in promise code, a server's request listener): recorded then, so it holds
 * after every suspension; else the root context (a new trace). Never the
 * context active when a step runs: with the usual manager that is whatever
 * the scheduler's turn carries, often another request's, and a span in the
 * wrong trace is worse than one in a trace of its own. Importing this module
 * installs the instrument that records it (one call per spawn).
 * @module corio/otel
 */

import { AsyncLocalStorage } from "node:async_hooks";
import { EventEmitter } from "node:events";
import { type Context, type ContextManager, context, ROOT_CONTEXT, type Span, type SpanOptions, SpanStatusCode, type Tracer, trace } from "@opentelemetry/api";
import { defineOperation } from "../core/_dev.ts";
import { BOUNDARY, CONCURRENT } from "../core/_scope.ts";
import { contextValueOf, createContext, setContextValueOf } from "../core/context.ts";
import { isCancellation } from "../core/errors.ts";
import { addInstrument, type Instrument } from "../core/instruments.ts";
import { getRunningLoop } from "../core/loop.ts";
import { iterate, Opened, type Operation, type OperationLike } from "../core/operation.ts";
import { requireCurrentTask } from "../core/spawn.ts";
import { getCurrentTask, type Task, type TaskImpl, wrapTaskSteps } from "../core/task.ts";
import { callbackContext } from "../time/delayed-call.ts";

/** OpenTelemetry's context of each task, copied to children at spawn. */
const taskContext = createContext<Context | undefined>("OpenTelemetry context", undefined);

/** The enabled manager whose storage task steps enter (the one registered globally, in practice), and that storage. */
let stepping: { manager: TaskContextManager; storage: AsyncLocalStorage<Context> } | null = null;
/** Counts the contexts entered in the middle of a step (`enterInStep`): a step that entered one restores the store. */
let midStepEntries = 0;

/** The methods of an `EventEmitter` that add a listener, and those that remove some. */
const ADD_LISTENER = ["addListener", "on", "once", "prependListener", "prependOnceListener"] as const;
const REMOVE_LISTENER = ["removeListener", "off"] as const;

/**
 * An OpenTelemetry `ContextManager` for programs that use corio: inside a
 * task step the active context is the task's (set by `with`, by `withSpan`,
 * or copied from its parent at spawn), and everywhere else (promise code,
 * host callbacks, code before `run()`) it behaves as the usual
 * `AsyncLocalStorageContextManager`: `with` runs a function in a context
 * of an `AsyncLocalStorage`, and `bind` binds a function or an
 * `EventEmitter`'s listeners to one.
 *
 * Once enabled, the two meet: every task step runs inside its task's
 * context in the storage, so promise code a step starts (an instrumented
 * database driver awaited with `until`, a `setTimeout`) continues in that
 * context after its awaits, and its spans nest under the task's; callbacks
 * given to `callLater`, `callSoon` and `callWhenRunning` run in the context
 * of the code that scheduled them; and a task spawned outside any task step
 * (`run()` inside `context.with(requestContext, ...)`, a request task of
 * `serveHttp` started by an instrumented server) starts in the context
 * active there, and keeps it across its suspensions. Register one manager,
 * enabled, for the whole program (`context.setGlobalContextManager(new
 * TaskContextManager().enable())`); `context.disable()` disables it.
 *
 * Cost: while enabled, each task step reads the storage, and enters its
 * task's context (and restores the one before) when that differs from the
 * storage's. Counted in instructions (Node 20): a switch between two tasks
 * without spans costs 18% more, inside a span 50% more, a spawn and join
 * 28% more. A program that never enables one pays nothing: the step is
 * replaced while a manager is enabled, not tested for.
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
  readonly #storage = new AsyncLocalStorage<Context>();
  /** Keys of the listeners bound on each emitter: per event, from the listener given to the one added. */
  readonly #patched = Symbol("corio/otel bound listeners");
  /** Set while a patched `addListener` runs: `once` adds through `on`, whose listener is bound already. */
  #adding = false;

  /** Runs a task step inside its task's context in the storage. */
  readonly #step = (task: TaskImpl<unknown>, step: (task: TaskImpl<unknown>) => void): void => {
    const storage = this.#storage;
    const previous = storage.getStore();
    const ctx = contextValueOf(taskContext, task) ?? ROOT_CONTEXT;
    // enterWith, not run: `withSpan` enters its span mid-step (enterInStep), and run would not undo
    // that when the store was already this context; the step's end restores the caller's exactly.
    // Most steps find the store holding their context already (a flush of tasks without spans, or
    // of one request's tasks; an empty store reads as the root context): they enter nothing, and
    // restore only if the step entered something.
    const same = (previous ?? ROOT_CONTEXT) === ctx;
    const entries = midStepEntries;
    if (!same) storage.enterWith(ctx);
    try {
      step(task);
    } finally {
      if (!same || midStepEntries !== entries) storage.enterWith(previous as Context);
    }
  };

  /** The active context: the current task's in a task step, else the storage's, else the root. */
  active(): Context {
    if (getCurrentTask() !== null) return taskContext.get() ?? ROOT_CONTEXT;
    return this.#storage.getStore() ?? ROOT_CONTEXT;
  }

  /** Calls `fn` with `ctx` active (in the current task too, inside a task step), then restores the previous one. */
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(ctx: Context, fn: F, thisArg?: ThisParameterType<F>, ...args: A): ReturnType<F> {
    const call = thisArg == null ? fn : (fn.bind(thisArg) as F);
    if (getCurrentTask() === null) return this.#storage.run(ctx, call, ...args);
    // In a step: the task's context for what it spawns meanwhile, the storage's for the promises it starts.
    const previous = taskContext.get();
    taskContext.set(ctx);
    try {
      return this.#storage.run(ctx, call, ...args);
    } finally {
      taskContext.set(previous);
    }
  }

  /** Binds a function, or the listeners of an `EventEmitter`, to `ctx`; other targets are returned as they are. */
  bind<T>(ctx: Context, target: T): T {
    if (target instanceof EventEmitter) return this.#bindEmitter(ctx, target) as T;
    if (typeof target !== "function") return target;
    const manager = this;
    const fn = target as unknown as (...args: unknown[]) => unknown;
    const bound = function (this: unknown, ...args: unknown[]) {
      return manager.with(ctx, () => fn.apply(this, args));
    };
    Object.defineProperty(bound, "length", { value: fn.length, configurable: true });
    return bound as unknown as T;
  }

  /**
   * Makes every listener added to `emitter` from now on run in `ctx`, as the
   * usual manager does (instrumentations bind requests and responses so);
   * removing the listener given removes the bound one.
   */
  #bindEmitter(ctx: Context, emitter: EventEmitter): EventEmitter {
    const target = emitter as unknown as Record<string | symbol, unknown>;
    if (target[this.#patched] !== undefined) return emitter;
    let byEvent: Map<string | symbol, WeakMap<object, unknown>> = new Map();
    target[this.#patched] = byEvent;
    const manager = this;
    for (const name of ADD_LISTENER) {
      const original = target[name] as ((event: string | symbol, listener: unknown) => unknown) | undefined;
      if (typeof original !== "function") continue;
      target[name] = function (this: unknown, event: string | symbol, listener: (...args: unknown[]) => unknown) {
        if (manager.#adding) return original.call(this, event, listener);
        let bound = byEvent.get(event);
        if (bound === undefined) byEvent.set(event, (bound = new WeakMap()));
        const wrapped = manager.bind(ctx, listener);
        bound.set(listener, wrapped);
        manager.#adding = true;
        try {
          return original.call(this, event, wrapped);
        } finally {
          manager.#adding = false;
        }
      };
    }
    for (const name of REMOVE_LISTENER) {
      const original = target[name] as ((event: string | symbol, listener: unknown) => unknown) | undefined;
      if (typeof original !== "function") continue;
      target[name] = function (this: unknown, event: string | symbol, listener: object) {
        return original.call(this, event, byEvent.get(event)?.get(listener) ?? listener);
      };
    }
    const removeAll = target["removeAllListeners"] as ((...args: unknown[]) => unknown) | undefined;
    if (typeof removeAll === "function") {
      target["removeAllListeners"] = function (this: unknown, ...args: unknown[]) {
        if (args.length === 0) byEvent = new Map();
        else byEvent.delete(args[0] as string | symbol);
        target[manager.#patched] = byEvent;
        return removeAll.apply(this, args);
      };
    }
    return emitter;
  }

  /** Starts entering task contexts into the storage around task steps, and binding scheduled callbacks. */
  enable(): this {
    if (stepping?.manager !== this) {
      stepping = { manager: this, storage: this.#storage };
      wrapTaskSteps(this.#step);
      callbackContext.bind = (fn) => this.bind(this.active(), fn);
    }
    return this;
  }

  /** Stops that, and empties the storage (as the usual manager's `disable`). */
  disable(): this {
    if (stepping?.manager === this) {
      stepping = null;
      wrapTaskSteps(null);
      callbackContext.bind = null;
    }
    this.#storage.disable();
    return this;
  }
}

/**
 * The context a new task starts in: spawned from outside any task step
 * (`run()` in promise code, a server's request listener), the context
 * active there, if one is; otherwise the one copied from its parent. In
 * corio's scheduler (a `callSoon` callback) the active context is trusted
 * only from `TaskContextManager`, which binds those callbacks: the usual
 * manager's is whatever the scheduler's turn carries.
 */
function startContext(task: TaskImpl<unknown>): Context | undefined {
  const inherited = contextValueOf(taskContext, task);
  if (getCurrentTask() !== null || (stepping === null && getRunningLoop() !== undefined)) return inherited;
  const active = context.active();
  return active === ROOT_CONTEXT ? inherited : active;
}

/**
 * Gives a task spawned outside any task step the context active there (a
 * root run inside `context.with(requestContext, ...)` keeps that request's
 * span after its suspensions). A task whose context an instrument has set
 * already (`instrumentTasks`, to its own span) keeps it. Installed at
 * import, whichever manager is registered: a root's first step runs from
 * the scheduler, where the active context may be another request's.
 */
const startInActiveContext: Instrument = {
  taskSpawned(task) {
    if (getCurrentTask() !== null) return;
    const impl = task as TaskImpl<unknown>;
    const current = contextValueOf(taskContext, impl);
    const parent = impl.parent === undefined ? undefined : contextValueOf(taskContext, impl.parent as TaskImpl<unknown>);
    if (current !== parent) return;
    const start = startContext(impl);
    if (start !== current) setContextValueOf(taskContext, impl, start);
  },
};
addInstrument(startInActiveContext);

/** Makes `ctx` the storage's context for the rest of the current task step (the step's end restores the caller's). */
function enterInStep(ctx: Context): void {
  if (stepping === null) return;
  midStepEntries++;
  stepping.storage.enterWith(ctx);
}

/**
 * Runs `op` in a new span, child of the active one: the task's context
 * (for a root started by `run()` in promise code, the context active
 * there, recorded at spawn; for a task with none, the root context, never
 * the context the scheduler's turn happens to carry): the span
 * is active in `op` and in everything it spawns, across suspensions. The
 * span has the attribute `corio.task.path`: the path of the task running
 * `op` (as `instrumentTasks` names it). A failure is
 * recorded on the span (status error); a cancellation sets the attribute
 * `corio.cancelled` and leaves the status unset. The span ends when `op`
 * has finished, cleanup included.
 *
 * A tracer that throws (a span processor, an exporter) costs the trace,
 * never the operation: `op` runs (without a span if none could start), its
 * value or its own error is what `withSpan` gives, and the tracer's failure
 * is reported once per tracer to the loop's `onError` (kind `telemetry`,
 * which never stops a `stopOnError` loop).
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
  const task = requireCurrentTask("run an operation in a span");
  const previous = taskContext.get();
  // No context recorded: a new trace. The active one here is the scheduler's turn's, not this task's.
  const parent = previous ?? ROOT_CONTEXT;
  let span: Span;
  try {
    span = tracer.startSpan(name, { ...options, attributes: { ...options.attributes, "corio.task.path": task.path } }, parent);
  } catch (error) {
    // A tracer that cannot start a span costs the trace, never the operation.
    reportTelemetry(tracer, task, `span "${name}" of ${task.path} (start)`, error);
    return yield* new Opened(iterate(op, "run an operation in a span"));
  }
  const inside = trace.setSpan(parent, span);
  // The span's context is the task's while `op` runs (what it spawns copies it), and the storage's
  // from now to the end of this step (the promises `op` starts before it first suspends inherit it).
  taskContext.set(inside);
  enterInStep(inside);
  try {
    return yield* new Opened(iterate(op, "run an operation in a span"));
  } catch (error) {
    // The operation's own error goes on, whatever recording it does.
    try {
      if (isCancellation(error)) span.setAttribute("corio.cancelled", true);
      else recordFailure(span, error);
    } catch (telemetryError) {
      reportTelemetry(tracer, task, `span "${name}" of ${task.path} (recording the failure)`, telemetryError);
    }
    throw error;
  } finally {
    // Back to the caller's context, for the rest of the step that ends the span too (on the task
    // itself: a generator's finally may run outside any step, when it is closed from outside).
    setContextValueOf(taskContext, task, previous);
    if (getCurrentTask() === task) enterInStep(parent);
    try {
      span.end();
    } catch (telemetryError) {
      reportTelemetry(tracer, task, `span "${name}" of ${task.path} (end)`, telemetryError);
    }
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
 * named after the task, child of the span active where the task was spawned
 * (for a task spawned outside any task step, such as a root started by
 * `run()` in promise code, the context active there; for a task with none,
 * the root context),
 * with the attributes `corio.task.name`, `corio.task.path` and
 * `corio.task.id`. The span is active in the task (its children's spans nest
 * under it) and ends when the task has ended: a failure is recorded (status
 * error and an exception event), a cancellation sets `corio.cancelled`.
 * Returns the function that stops the instrumentation: no task gets a span
 * from then on, and the spans already started still end with their tasks
 * (the instrument stays installed until the last of them has ended).
 *
 * A tracer (or a `filter` or `spanName`) that throws costs a task its span,
 * never the task: the failure is reported once per tracer to the loop's
 * `onError` (kind `telemetry`, which never stops a `stopOnError` loop) and
 * the instrumentation goes on.
 *
 * Use it with `TaskContextManager` registered, so spans started by other
 * code inside tasks nest too. A span per task is cheap but not free (one
 * span object per task): narrow it with `filter` on a busy server.
 *
 * @param tracer From `trace.getTracer(name)`.
 * @param options Which tasks, and how to name their spans.
 * @returns A function that stops starting spans (those started still end with their tasks).
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
  /** Spans started and not ended yet: once stopped, the instrument stays until the last one has ended. */
  let open = 0;
  let stopped = false;
  const remove = addInstrument({
    taskSpawned(task) {
      if (stopped) return;
      const impl = task as TaskImpl<unknown>;
      let span: Span;
      let parent: Context;
      // A failure here (the tracer, its processors, or the options' functions) costs the task its span,
      // never the task: reported once, and the instrument stays.
      try {
        if (!filter(task)) return;
        parent = startContext(impl) ?? ROOT_CONTEXT;
        span = tracer.startSpan(
          spanName(task),
          { attributes: { "corio.task.name": task.name, "corio.task.path": task.path, "corio.task.id": impl.id } },
          parent,
        );
      } catch (error) {
        reportTelemetry(tracer, impl, `span of task ${task.path} (start)`, error);
        return;
      }
      spans.set(task, span);
      open++;
      setContextValueOf(taskContext, impl, trace.setSpan(parent, span));
    },
    taskExited(task) {
      const span = spans.get(task);
      if (span === undefined) return;
      spans.delete(task);
      open--;
      // A boundary run in sequence (`scope`, `timeout`) hands its context to its caller as it ends (it is
      // the caller's code): its caller's span goes back in first, so its own ended one does not follow.
      const impl = task as TaskImpl<unknown>;
      if ((impl.flags & (BOUNDARY | CONCURRENT)) === BOUNDARY && impl.parentScope !== null) {
        setContextValueOf(taskContext, impl, contextValueOf(taskContext, impl.parentScope as TaskImpl<unknown>));
      }
      if (stopped && open === 0) remove();
      try {
        if (task.cancelled) span.setAttribute("corio.cancelled", true);
        else if (task.state === "failed") recordFailure(span, task.error);
        span.end();
      } catch (error) {
        reportTelemetry(tracer, task as TaskImpl<unknown>, `span of task ${task.path} (end)`, error);
      }
    },
  });
  return () => {
    if (stopped) return;
    stopped = true;
    if (open === 0) remove();
  };
}

/** Tracers whose failure has been reported: a broken exporter is said once, not at every span. */
const reportedTracers = new WeakSet<Tracer>();

/** Reports a tracer's failure to the task's loop (kind `telemetry`: it never stops a `stopOnError` loop), once per tracer. */
function reportTelemetry(tracer: Tracer, task: TaskImpl<unknown>, span: string, error: unknown): void {
  if (reportedTracers.has(tracer)) return;
  reportedTracers.add(tracer);
  task.loop.report(error, { kind: "telemetry", task, path: span });
}

function recordFailure(span: Span, error: unknown): void {
  span.recordException(error instanceof Error ? error : String(error));
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
}
