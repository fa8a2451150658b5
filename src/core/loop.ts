/**
 * The scheduler. A loop owns a ready queue (priority order, FIFO within a
 * priority), a timer heap (one host timer armed for the earliest entry) and
 * the root tasks started on it. It is driven by the host's event loop: any
 * wake-up from outside (a timer, I/O, a promise) only queues work and asks
 * for a flush in a microtask, so user code never runs inside a host
 * callback's stack.
 * @module
 */

import {
  clearHostTimeout,
  type HostTimer,
  hostConsole,
  MAX_HOST_DELAY,
  monotonicNow,
  queueMicrotask,
  setAfterIo,
  setHostTimeout,
  setMacrotask,
} from "./_host.ts";
import type { Park } from "./_park.ts";
import { ReadyQueue, type Runnable } from "./_ready-queue.ts";
import { RootList } from "./_scope.ts";
import { type TimerEntry, TimerHeap } from "./_timer-heap.ts";
import { type Clock, RealClock } from "./clock.ts";
import { describe } from "./errors.ts";
import type { Task, TaskImpl } from "./task.ts";
import type { ClockListener, VirtualClock } from "./virtual-clock.ts";

/** Where a reported error came from. */
export interface ErrorContext {
  /**
   * `task`: a root task failed with nobody awaiting it; `callback`: a plain
   * callback threw; `swallowed-cancel`: a task caught its own cancellation
   * and returned; `peer-gone`: a server connection's peer reset it or went
   * away (a `BrokenResourceError` whose cause is `ECONNRESET`, `EPIPE` or
   * `ECONNABORTED`) while its handler ran or while it was being closed.
   * That is ordinary for a server: the default printer gives it one line
   * without a stack, and it never stops a `stopOnError` loop.
   * `floating-operation` (development mode, `CORIO_DEV=1`): an operation was
   * created and never run (`sleep(10)` without `yield*`); the error's stack
   * is where it was created.
   * `telemetry`: `corio/otel` could not record a span (the tracer, a span
   * processor or an exporter threw); reported once per tracer, and it never
   * stops a `stopOnError` loop: tracing must not take the application down.
   */
  kind: "task" | "callback" | "swallowed-cancel" | "peer-gone" | "floating-operation" | "telemetry";
  /** The task involved, if any. */
  task?: Task<unknown>;
  /** The task path (`main/server/conn-3`) or the callback's name. */
  path: string;
  /** For `peer-gone`: the peer's address (`127.0.0.1:50312`), when it had one. */
  peer?: string;
}

/** Receives the errors the loop reports instead of crashing. */
export type ErrorHandler = (error: unknown, context: ErrorContext) => void;

/** Options that make a loop of its own. */
export interface LoopOptions {
  /** The clock to run on. @default a new `RealClock` */
  clock?: Clock;
  /** Where reported errors go. @default print to stderr with the task path (a stack, except for a `peer-gone` report: one line) */
  onError?: ErrorHandler;
  /** Stop the loop (cancel every root task) on the first reported error (a peer going away, `peer-gone`, is not one, nor a tracer's failure, `telemetry`). @default false */
  stopOnError?: boolean;
}

/** How long one flush may run before it lets the host handle I/O. */
const SLICE_MS = 8;

/** A plain callback queued with `callSoon`. */
class CallbackEntry implements Runnable {
  readonly priority: number;
  readonly #loop: Loop;
  readonly #fn: (...args: never[]) => unknown;
  readonly #args: unknown[];
  constructor(loop: Loop, fn: (...args: never[]) => unknown, args: unknown[], priority: number) {
    this.#loop = loop;
    this.#fn = fn;
    this.#args = args;
    this.priority = priority;
  }
  runStep(): void {
    this.#loop.invoke(this.#fn, this.#args);
  }
}

export class Loop {
  readonly clock: Clock;
  readonly ready = new ReadyQueue();
  readonly timers = new TimerHeap();
  readonly roots = new RootList<TaskImpl>();
  /** Waits on the outside world (I/O, promises, workers): they hold a virtual clock still. */
  busy = 0;
  /** Tasks parked in `waitAllTasksBlocked`. */
  readonly idleWaiters: Park[] = [];
  onError: ErrorHandler | undefined;
  stopOnError: boolean;
  /** Set by `runVirtual` to notice a loop that can never make progress again. */
  onIdle: (() => void) | undefined;
  /**
   * Set by `runVirtual` (its `timeLimit`): an auto-advancing virtual clock
   * does not jump past this time without calling `onTimeLimit` first, once.
   */
  timeLimit = Number.POSITIVE_INFINITY;
  onTimeLimit: ((nextTimer: number) => void) | undefined;
  /** The first error reported while `stopOnError` was set. */
  stopError: unknown;
  started = false;
  #whenRunning: (() => void)[] = [];
  #onRootsDone: (() => void)[] = [];
  #flushScheduled = false;
  #flushing = false;
  /** Task steps run by every flush before the current one: tells `waitAllTasksBlocked` whether a host turn woke anyone. */
  #stepsRun = 0;
  /** `#stepsRun` when the loop last found itself idle with tasks in `waitAllTasksBlocked`, and the host turns since in which no task ran. */
  #idleMark = -1;
  #quietTurns = 0;
  #idlePollPending = false;
  readonly #idlePoll = (): void => {
    this.#idlePollPending = false;
    this.#quietTurns++;
    this.flush();
  };
  #hostTimer: HostTimer | null = null;
  #hostTimerAt = Number.POSITIVE_INFINITY;
  readonly #flush = (): void => this.flush();
  readonly #requestFlush = (): void => this.requestFlush();
  /**
   * On a virtual clock, while this loop uses it (it has a root task or a
   * timer): stops listening to its `advance`. Only then: a clock that kept
   * every loop that ever ran on it would keep them all alive, and flush
   * each at every advance.
   */
  #stopListening: (() => void) | null = null;
  /** What the virtual clock is given: it flushes this loop at an `advance`, and asks whether this loop drives it. */
  readonly #clockListener: ClockListener = { advanced: this.#requestFlush, drivesClock: () => this.roots.size > 0 };
  readonly #onHostTimer = (): void => {
    this.#hostTimer = null;
    this.#hostTimerAt = Number.POSITIVE_INFINITY;
    this.flush();
  };

  constructor(options: LoopOptions = {}) {
    this.clock = options.clock ?? new RealClock();
    this.onError = options.onError;
    this.stopOnError = options.stopOnError ?? false;
  }

  /**
   * Called before a root task (`forRoot`) or a timer is added: on a virtual
   * clock, a manual `advance` must flush this loop from now on (to fire its
   * timers). A loop with root tasks drives the clock (jumps it to its
   * timers): it throws if another loop already does.
   */
  useClock(forRoot: boolean): void {
    if (!this.clock.virtual) return;
    const clock = this.clock as VirtualClock;
    const listening = this.#stopListening !== null;
    // About to drive it: its first root, or listening again with roots (a loop runVirtual gave up on).
    if ((forRoot && this.roots.size === 0) || (!listening && this.roots.size > 0)) clock.claim(this.#clockListener);
    if (!listening) this.#stopListening = clock.onAdvance(this.#clockListener);
  }

  /** Stops listening to a virtual clock once nothing is left that time could wake: no root task, no timer. */
  releaseClockIfDone(): void {
    if (this.#stopListening !== null && this.roots.size === 0 && this.timers.size === 0) this.releaseClock();
  }

  /**
   * Stops listening to a virtual clock now, whatever is left (`runVirtual`
   * gives up on a loop whose tasks never end); a root task or a timer added
   * later listens again.
   */
  releaseClock(): void {
    const stop = this.#stopListening;
    this.#stopListening = null;
    stop?.();
  }

  /**
   * The clock as last read by the loop: cheap, for bookkeeping such as task
   * ages (see `recentTime`). Use `now()` for timing decisions.
   */
  time = 0;
  /** Set at the start of each flush (and when virtual time jumps): `time` is from before it. */
  #timeStale = true;

  /** The loop's time in ms. */
  now(): number {
    this.#timeStale = false;
    this.time = this.clock.now();
    return this.time;
  }

  /**
   * The loop's time as of this flush, read on first use (outside a flush:
   * read now): a clock read costs 50-65 ns on a VM without a fast clock, and
   * most flushes (a socket's data waking one task) need none.
   */
  recentTime(): number {
    return this.#timeStale || !this.#flushing ? this.now() : this.time;
  }

  /** Queues a runnable and makes sure a flush will happen. */
  schedule(entry: Runnable): void {
    this.ready.push(entry);
    if (!this.#flushing && !this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(this.#flush);
    }
  }

  /**
   * Queues a runnable that I/O made ready; the flush it asks for waits until
   * the host has run this turn's other I/O callbacks (Node's check phase), so
   * what one turn's reads start runs together after all of them, as asyncio's
   * loop runs its ready callbacks after each poll. Anything queued meanwhile
   * joins that flush. On loopback HTTP this took the server's CPU per request
   * from 28 to 22 µs (bench/RESULTS.md, "Issue 13, fifth pass").
   */
  scheduleAfterIo(entry: Runnable): void {
    this.ready.push(entry);
    if (!this.#flushing && !this.#flushScheduled) {
      this.#flushScheduled = true;
      setAfterIo(this.#flush);
    }
  }

  /** Asks for a flush without queueing anything (after a timer was added from outside, or the clock moved). */
  requestFlush(): void {
    if (!this.#flushing && !this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(this.#flush);
    }
  }

  callSoon(fn: (...args: never[]) => unknown, args: unknown[], priority = 10): void {
    this.schedule(new CallbackEntry(this, fn, args, priority));
  }

  /** Runs `fn` when the loop starts, or now if it is running (Twisted's `callWhenRunning`). */
  whenRunning(fn: () => void): void {
    if (this.started) this.invoke(fn, []);
    else {
      this.#whenRunning.push(fn);
      this.requestFlush();
    }
  }

  /** Calls a plain callback, reporting what it throws instead of letting it escape. */
  invoke(fn: (...args: never[]) => unknown, args: unknown[]): void {
    try {
      (fn as (...a: unknown[]) => unknown)(...args);
    } catch (error) {
      this.report(error, { kind: "callback", path: fn.name ? `callback ${fn.name}` : "callback" });
    }
  }

  addTimer(entry: TimerEntry, deadline: number): void {
    if (this.clock.virtual) this.useClock(false);
    this.timers.insert(entry, deadline);
    if (!this.#flushing) {
      if (this.clock.virtual) this.requestFlush();
      else this.#armHostTimer();
    }
  }

  removeTimer(entry: TimerEntry): void {
    // Outside a flush, drop the host timer with the last corio timer, so an idle process can exit.
    if (this.timers.remove(entry) && !this.#flushing && this.timers.size === 0) {
      if (this.clock.virtual) this.releaseClockIfDone();
      else this.#armHostTimer();
    }
  }

  /** Reports an error to `onError` (or stderr); with `stopOnError`, stops the loop. */
  report(error: unknown, context: ErrorContext): void {
    if (this.onError) {
      try {
        this.onError(error, context);
      } catch (handlerError) {
        hostConsole.error("corio: the onError handler threw:", handlerError);
      }
    } else {
      printReport(error, context);
    }
    if (this.stopOnError && this.stopError === undefined && context.kind !== "peer-gone" && context.kind !== "telemetry") {
      this.stopError = error ?? new Error("stopOnError");
      this.stop(`stopOnError: ${describe(error)}`);
    }
  }

  /** Called by a root task when it has finished. */
  rootFinished(task: TaskImpl): void {
    this.roots.delete(task);
    if (this.roots.size === 0) {
      if (this.#onRootsDone.length !== 0) for (const fn of this.#onRootsDone.splice(0)) fn();
      // Inside a flush, its end looks (a step later in it may start another root).
      if (!this.#flushing) this.releaseClockIfDone();
    }
  }

  /** Runs `fn` once no root task is left on this loop (at once if none is). */
  whenRootsDone(fn: () => void): void {
    if (this.roots.size === 0) fn();
    else this.#onRootsDone.push(fn);
  }

  /** Cancels every root task; `main` and `run` promises settle once they have cleaned up. */
  stop(reason: unknown = "loop stopped"): void {
    for (const root of this.roots) root.cancel(reason);
  }

  /** Runs ready tasks and due timers until nothing is left to do right now. */
  flush(): void {
    this.#flushScheduled = false;
    if (this.#flushing) return;
    this.#flushing = true;
    const outer = runningLoop;
    runningLoop = this;
    if (!this.started) this.#start();
    const ready = this.ready;
    this.#timeStale = true;
    // The slice is timed from the 64th step: a flush shorter than that (most are) reads no clock.
    let sliceStart = -1;
    let steps = 0;
    try {
      for (;;) {
        const entry = ready.shift();
        if (entry !== undefined) {
          entry.runStep();
          if ((++steps & 63) === 0) {
            if (sliceStart < 0) sliceStart = monotonicNow();
            else if ((steps & 1023) === 0) {
              // A loop that never runs dry must still fire its timers and let I/O in.
              this.#fireDueTimers();
              if (monotonicNow() - sliceStart > SLICE_MS) {
                this.#flushScheduled = true;
                setMacrotask(this.#flush);
                return;
              }
            }
          }
          continue;
        }
        if (this.#fireDueTimers()) continue;
        if (this.idleWaiters.length > 0) {
          if (this.#idleLongEnough(this.#stepsRun + steps)) continue;
          break;
        }
        // Time jumps only for a loop that still has work: leftovers after the last root stay visible.
        if (this.clock.virtual && this.busy === 0 && this.roots.size > 0 && (this.clock as VirtualClock).autoAdvance) {
          const next = this.timers.peek();
          if (next !== undefined && next.deadline > this.timeLimit) {
            // Once: the tasks it cancels may need time to end.
            this.timeLimit = Number.POSITIVE_INFINITY;
            this.onTimeLimit?.(next.deadline);
            continue;
          }
          if (next !== undefined) {
            (this.clock as VirtualClock).jumpTo(next.deadline);
            this.#timeStale = true;
            continue;
          }
        }
        break;
      }
    } finally {
      this.#stepsRun += steps;
      this.#flushing = false;
      runningLoop = outer;
    }
    if (!this.clock.virtual) this.#armHostTimer();
    else this.releaseClockIfDone();
    this.onIdle?.();
  }

  /** True while this loop is running tasks. */
  get flushing(): boolean {
    return this.#flushing;
  }

  #start(): void {
    this.started = true;
    for (const fn of this.#whenRunning.splice(0)) this.invoke(fn, []);
  }

  /**
   * Wakes the tasks in `waitAllTasksBlocked` once the loop has been idle for
   * two host turns in which no task ran; otherwise asks for another turn.
   * Trio wakes them only after an I/O poll finds nothing: what the host
   * already holds (a settled promise's callback, bytes a peer has sent) must
   * reach its task first. Node polls I/O between two check phases, so the
   * second `setImmediate` comes after a poll that began once the loop was idle.
   */
  #idleLongEnough(stepsRun: number): boolean {
    if (stepsRun !== this.#idleMark) {
      this.#idleMark = stepsRun;
      this.#quietTurns = 0;
    }
    if (this.#quietTurns < 2) {
      if (!this.#idlePollPending) {
        this.#idlePollPending = true;
        setMacrotask(this.#idlePoll);
      }
      return false;
    }
    this.#idleMark = -1;
    this.#quietTurns = 0;
    for (const park of this.idleWaiters.splice(0)) {
      const task = park.task;
      if (task !== null && task.park === park && !task.woken) task.wake(false, undefined);
    }
    return true;
  }

  #fireDueTimers(): boolean {
    const timers = this.timers;
    if (timers.size === 0) return false;
    const now = this.now();
    // A timer set by one that fires now waits for the next pass, after the tasks it made ready: on a virtual
    // clock a delay of 0 is due at this very `now`, and a chain of them would starve every task.
    const before = timers.nextSeq;
    let fired = false;
    for (let entry = timers.popDue(now, before); entry !== undefined; entry = timers.popDue(now, before)) {
      entry.fire();
      fired = true;
    }
    return fired;
  }

  /** Keeps exactly one host timer, armed no later than the earliest deadline. */
  #armHostTimer(): void {
    const next = this.timers.peek();
    if (next === undefined) {
      if (this.#hostTimer !== null) {
        clearHostTimeout(this.#hostTimer);
        this.#hostTimer = null;
        this.#hostTimerAt = Number.POSITIVE_INFINITY;
      }
      return;
    }
    if (this.#hostTimer !== null && this.#hostTimerAt <= next.deadline) return;
    if (this.#hostTimer !== null) clearHostTimeout(this.#hostTimer);
    // Hosts keep delays in a signed 32-bit number (Node turns a longer one into 1 ms):
    // clamp, and the flush that the early wake-up runs finds nothing due and re-arms.
    const now = this.clock.now();
    const delay = Math.min(MAX_HOST_DELAY, Math.max(0, Math.ceil(next.deadline - now)));
    this.#hostTimerAt = delay === MAX_HOST_DELAY ? now + delay : next.deadline;
    this.#hostTimer = setHostTimeout(this.#onHostTimer, delay);
  }
}

function printReport(error: unknown, context: ErrorContext): void {
  if (context.kind === "peer-gone") {
    // A peer going away is not a bug: no stack to read.
    const code = ((error as Error).cause as { code?: unknown } | undefined)?.code;
    hostConsole.error(`corio: ${context.path}: the peer${context.peer === undefined ? "" : ` ${context.peer}`} went away (${String(code)})`);
    return;
  }
  const what =
    context.kind === "task"
      ? `Uncaught error in task ${context.path}`
      : context.kind === "callback"
        ? `Error in ${context.path}`
        : context.kind === "floating-operation"
          ? `An operation was created and never run in ${context.path}`
          : context.kind === "telemetry"
            ? `Tracing failed for ${context.path} (said once per tracer; the program goes on)`
            : `Task ${context.path} swallowed its cancellation`;
  hostConsole.error(`corio: ${what}:`, error);
}

let defaultLoop: Loop | undefined;
/** The loop whose flush is running (callbacks run outside any task, but on a loop). */
let runningLoop: Loop | undefined;

/** The loop running right now, if any. */
export function getRunningLoop(): Loop | undefined {
  return runningLoop;
}

/** The shared loop on the real clock used by `run` without loop options. */
export function getDefaultLoop(): Loop {
  defaultLoop ??= new Loop();
  return defaultLoop;
}
