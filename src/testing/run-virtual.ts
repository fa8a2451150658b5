/**
 * Running a test on virtual time.
 * @module
 */
import { clearHostTimeout, type HostTimer, setHostTimeout, setMacrotask } from "../core/_host.ts";

/** Real time a stuck loop is given (for I/O still on its way) before it is called a deadlock. */
const DEADLOCK_GRACE_MS = 100;

import { describe, describeKind, isCancellation } from "../core/errors.ts";
import { type ErrorContext, type ErrorHandler, Loop } from "../core/loop.ts";
import type { OperationLike } from "../core/operation.ts";
import { startRoot } from "../core/run.ts";
import type { Task, TaskImpl } from "../core/task.ts";
import { VirtualClock } from "../core/virtual-clock.ts";

/** Options of `runVirtual`. */
export interface RunVirtualOptions {
  /** Receives reported errors; without it, any report fails the run. @default undefined */
  onError?: ErrorHandler;
  /**
   * The clock to use. One with `autoAdvance: false` moves only when
   * advanced, by the test or from outside while the run is pending; if every
   * task waits on its timers and it is not advanced for 100 ms of real time,
   * the run fails as a deadlock, naming the next timer (Trio's `MockClock`
   * without autojump hangs instead). A clock serves one run at a time:
   * runs one after another may share it, but a run started while another
   * still uses it rejects. @default a new auto-advancing `VirtualClock` at 0
   */
  clock?: VirtualClock;
  /** The root task's name. @default "test" */
  name?: string;
  /**
   * How far virtual time may run, in ms from the run's start: a run whose
   * clock would jump past it fails, with what each task waits on, as a
   * deadlock does. For a test that can block beside a task that never
   * stops (a periodic one): all its tasks are not blocked, so no deadlock
   * is seen, and time would run on for good. Timers due at the limit
   * itself still fire. @default no limit
   */
  timeLimit?: number;
}

/**
 * Thrown by `runVirtual` when the loop can never make progress again, or
 * when the test left something behind or had errors reported. When there is
 * more than one problem, the message gives each on its own line, the most
 * telling first: the test's own error (`The test failed: ...`) or the
 * deadlock, then the errors reported, then what the test left behind
 * (`Also: ...`).
 *
 * @example
 * ```ts
 * import { suspend } from "corio";
 * import { runVirtual, VirtualTestError } from "corio/testing";
 * try { await runVirtual(suspend); } catch (e) { console.assert(e instanceof VirtualTestError); }
 * ```
 */
export class VirtualTestError extends Error {
  override name = "VirtualTestError";
  /**
   * Errors reported during the test besides `cause`, in order (`cause` is
   * the test's own error if it failed, else the first error reported).
   * Empty when there are none.
   */
  readonly errors: readonly unknown[];

  /**
   * @param message What went wrong.
   * @param options `cause`, and `errors`: the other errors behind it. @default no cause, no errors
   */
  constructor(message: string, options: { cause?: unknown; errors?: readonly unknown[] } = {}) {
    super(message, "cause" in options ? { cause: options.cause } : undefined);
    this.errors = options.errors ?? [];
  }
}

/**
 * Runs `op` on a fresh loop with an auto-advancing `VirtualClock` and returns
 * its result: timeouts, sleeps and periodic tasks take no real time and
 * always interleave the same way. The run fails (rejects with
 * `VirtualTestError`) if every task is blocked with nothing that could ever
 * wake it (a deadlock, reported with what each task waits on), if a timer or
 * task is left behind when `op` finishes, or if an error was reported (a
 * failing callback, a swallowed cancellation) and no `onError` was given.
 *
 * A wait on I/O or a promise (`until`) counts as busy and is never a
 * deadlock; a `Future` that only a host callback settles (a `setTimeout`, an
 * event of a child process) is not seen as busy, so the loop gets 100 ms of
 * real time without progress before it is called deadlocked: wait on such
 * things through a promise and `until` if they may take longer.
 *
 * A root task that `op` started (`run()` inside the test) and that is
 * still running when `op` ends is a task left behind: it is cancelled then,
 * before virtual time moves on for it alone, and the run fails once it has
 * ended (`The test left 1 task(s) running...`, with what each waited on).
 * One that failed with nobody awaiting it fails the run as a reported error.
 *
 * A deadlock cancels every task; if they are still blocked after that (a
 * `shield`, a cleanup that waits on something that never comes), the run
 * rejects all the same, with the tasks as they were and as they are, and
 * leaves them on the abandoned loop.
 *
 * A test whose `op` throws fails with that error, as it is, when nothing
 * else went wrong. When something else did too, it fails with a
 * `VirtualTestError` whose message starts with the test's own error (`The
 * test failed: ...`) and goes on with the rest (`Also: ...`, one line
 * each); its `cause` is the test's error, and `errors` holds the errors
 * reported meanwhile.
 *
 * @param op The test body, or a function returning it.
 * @param options `onError`, `clock`, `name`, `timeLimit`.
 * @returns What `op` returns.
 * @throws {TypeError} (the promise rejects) for a `clock` that is not a `VirtualClock`, or an `onError` that is not a function.
 * @throws {RangeError} (the promise rejects) for a `timeLimit` that is negative, NaN or infinite.
 * @example
 * ```ts
 * import { sleep, currentTime } from "corio";
 * import { runVirtual } from "corio/testing";
 * const t = await runVirtual(function* () { yield* sleep(3_600_000); return currentTime(); });
 * console.assert(t === 3_600_000);
 * ```
 */
export async function runVirtual<T>(op: OperationLike<T>, options: RunVirtualOptions = {}): Promise<T> {
  const reports: { error: unknown; context: ErrorContext }[] = [];
  if (options.clock !== undefined && !(options.clock instanceof VirtualClock)) {
    throw new TypeError(`Cannot run the test: clock must be a VirtualClock, received ${kindOf(options.clock)}`);
  }
  if (options.onError !== undefined && typeof options.onError !== "function") {
    throw new TypeError(`Cannot run the test: onError must be a function, received ${kindOf(options.onError)}`);
  }
  const timeLimit = options.timeLimit;
  if (timeLimit !== undefined && (typeof timeLimit !== "number" || !(timeLimit >= 0) || timeLimit === Number.POSITIVE_INFINITY)) {
    const error = typeof timeLimit === "number" ? RangeError : TypeError;
    throw new error(`Cannot run the test: timeLimit must be a non-negative finite number of ms, received ${describe(timeLimit)}`);
  }
  const clock = options.clock ?? new VirtualClock();
  const loop = new Loop({
    clock,
    onError: options.onError ?? ((error, context) => reports.push({ error, context })),
  });
  const task = startRoot(loop, op, { name: options.name ?? "test" });
  (task as Task<T> & { markObserved(): void }).markObserved();
  /** Why the run stopped every task: a deadlock, or its time limit (`timeLimit`). */
  let deadlock: VirtualTestError | undefined;
  /** Whether the test's own task had ended when the deadlock was found: if so, its error is its own, even a cancellation. */
  let endedBeforeDeadlock = false;
  // A root task the test started (run() inside it) and did not wait for: a mistake, as a child a scope
  // did not wait for would be. Cancelled when the test ends, before virtual time moves on for it alone.
  let leftTasks: { count: number; tree: string } | undefined;
  task.addDoneCallback(() => {
    if (deadlock !== undefined || loop.roots.size === 0) return;
    leftTasks = { count: loop.roots.size, tree: describeTree(loop) };
    loop.stop("the test ended and left this task running");
  });
  // Settles once every root task has ended (true), or (false) when the loop is stuck again after the
  // deadlock's cancel: a task that blocks in a shield, or in a cleanup that waits on what never comes.
  let giveUp: () => void = () => {};
  const ended = new Promise<boolean>((resolve) => {
    loop.whenRootsDone(() => resolve(true));
    giveUp = () => resolve(false);
  });
  // On a clock that does not advance by itself, timers wake nobody unless someone advances it: the
  // same 100 ms rule applies (Trio's MockClock without autojump would hang instead).
  const isStuck = (): boolean =>
    loop.roots.size > 0 && loop.ready.size === 0 && loop.busy === 0 && (loop.timers.size === 0 || !clock.autoAdvance) && !loop.flushing;
  if (timeLimit !== undefined) {
    const start = clock.now();
    loop.timeLimit = start + timeLimit;
    loop.onTimeLimit = (nextTimer) => {
      if (deadlock !== undefined) return;
      endedBeforeDeadlock = task.done;
      deadlock = new VirtualTestError(
        `Time limit: the test would run past its timeLimit of ${timeLimit} ms of virtual time (its next timer is due at ${nextTimer - start} ms); its tasks:\n${describeTree(loop)}`,
      );
      loop.stop(deadlock);
    };
  }
  let idleSince = 0;
  let checking: HostTimer | undefined;
  loop.onIdle = () => {
    idleSince++;
    if (!isStuck() || checking !== undefined) return;
    // A Future resolved by an I/O callback (a server accepting a connection) does not count as busy,
    // so give the host a moment of real time: a deadlock is a loop that stays stuck with no progress.
    const seen = idleSince;
    checking = setHostTimeout(() => {
      // Decide in a macrotask: what the host had ready when this fired (I/O that completed, or timers that
      // came due, while a loaded machine kept it busy) runs first, and a task it wakes is no deadlock.
      setMacrotask(() => {
        checking = undefined;
        if (loop.onIdle === undefined || !isStuck()) return;
        if (idleSince !== seen) {
          loop.onIdle?.();
          return;
        }
        if (deadlock === undefined) {
          endedBeforeDeadlock = task.done;
          const next = loop.timers.peek();
          deadlock = new VirtualTestError(
            next === undefined
              ? `Deadlock: every task is blocked and nothing can wake them:\n${describeTree(loop)}`
              : `Deadlock: every task is blocked and only the clock can wake them, but it does not advance by itself (autoAdvance: false) and was not advanced for ${DEADLOCK_GRACE_MS} ms of real time; its next timer is due at ${next.deadline} ms (now ${clock.now()} ms). Call clock.advance(ms), or use an auto-advancing clock:\n${describeTree(loop)}`,
          );
          loop.stop(deadlock);
          // A task parked in a shield is not woken by the cancel: flush anyway, so that onIdle looks again.
          loop.requestFlush();
          return;
        }
        // Still stuck after the cancel: waiting on would never end; the deadlock is the answer.
        deadlock = new VirtualTestError(
          `${deadlock.message}\nThe tasks were cancelled and are still blocked (in a shield, or in a cleanup that waits on something that never comes):\n${describeTree(loop)}`,
        );
        giveUp();
      });
    }, DEADLOCK_GRACE_MS);
  };
  const allEnded = await ended;
  // A root that failed with nobody awaiting it is reported a macrotask after it ended: let that come in.
  if (allEnded) await new Promise<void>((resolve) => setMacrotask(resolve));
  loop.onIdle = undefined;
  if (checking !== undefined) clearHostTimeout(checking);
  // The clock may serve another run: an abandoned loop must not listen to it any more.
  if (!allEnded) loop.releaseClock();
  // What went wrong, the most telling first: the test's own error (or the deadlock that stopped it), then
  // the errors reported, then what it left behind. A test that only failed fails with its own error, as is.
  const problems: string[] = [];
  const errors: unknown[] = [];
  let outcome: { ok: true; value: T } | { ok: false; error: unknown } | undefined;
  // The test's own task may have ended though others did not (a root it left behind, stuck in a shield).
  if (task.done) {
    try {
      outcome = { ok: true, value: task.result() };
    } catch (error) {
      outcome = { ok: false, error };
      // Cancelled by the deadlock: nothing of its own to tell.
      if (deadlock === undefined || endedBeforeDeadlock || !isCancellation(error)) {
        problems.push(`The test failed: ${describe(error)}`);
        errors.push(error);
      }
    }
  }
  if (deadlock !== undefined) problems.push(deadlock.message);
  if (reports.length > 0) {
    const first = reports[0] as { error: unknown; context: ErrorContext };
    problems.push(
      `${reports.length} error(s) were reported during the test; first, from ${first.context.path} (${first.context.kind}): ${String(first.error)}`,
    );
    for (const report of reports) errors.push(report.error);
  }
  if (leftTasks !== undefined) problems.push(`The test left ${leftTasks.count} task(s) running when it ended; they were cancelled:\n${leftTasks.tree}`);
  const leftovers = loop.timers.size;
  if (leftovers > 0) {
    for (const timer of [...loop.timers]) loop.removeTimer(timer);
    problems.push(`The test left ${leftovers} timer(s) pending (a callLater that was never cancelled?)`);
  }
  if (outcome?.ok === false && problems.length === 1 && errors[0] === outcome.error) throw outcome.error;
  if (problems.length > 0) {
    const message = problems.map((problem, i) => (i === 0 ? problem : `Also: ${problem.charAt(0).toLowerCase()}${problem.slice(1)}`)).join("\n");
    throw new VirtualTestError(message, errors.length > 0 ? { cause: errors[0], errors: errors.slice(1) } : {});
  }
  return (outcome as { ok: true; value: T }).value;
}

/**
 * The unfinished tasks, one line each, for a deadlock or leftover report: at
 * most `MAX_REPORTED_TASKS` lines, the indentation stopping at `MAX_INDENT`
 * levels with the depth written out instead, as `corio/inspect`'s tree does.
 */
function describeTree(loop: Loop): string {
  const lines: string[] = [];
  let total = 0;
  for (const root of loop.roots) {
    total += root.subtreeSize();
    // Depth-first, each task before its children, with a stack of its own: a chain of nested tasks
    // can be thousands deep. Each path is its parent's and a name, handed to the wait's words so a
    // join does not climb to the root again.
    const stack: [TaskImpl<unknown>, number, string][] = [[root, 1, root.path]];
    while (stack.length > 0 && lines.length < MAX_REPORTED_TASKS) {
      const [task, depth, path] = stack.pop() as [TaskImpl<unknown>, number, string];
      const deep = depth > MAX_INDENT ? `(depth ${depth}) ` : "";
      lines.push(`${"  ".repeat(Math.min(depth, MAX_INDENT))}${deep}${task.name} [${task.state}] waits on ${clipMiddle(task.waitDescription(path))}`);
      const children = task.childList(MAX_REPORTED_TASKS - lines.length) as TaskImpl<unknown>[];
      for (let i = children.length - 1; i >= 0; i--) {
        const child = children[i] as TaskImpl<unknown>;
        stack.push([child, depth + 1, `${path}/${child.name}`]);
      }
    }
  }
  if (total > lines.length) lines.push(`  … ${total - lines.length} more task(s) not shown`);
  return lines.join("\n");
}

/** `text`, its middle cut out if it is long: the path of a task deep in a chain ends with the names that tell it apart. */
function clipMiddle(text: string): string {
  return text.length <= MAX_WAIT_WORDS ? text : `${text.slice(0, 80)}…${text.slice(text.length - (MAX_WAIT_WORDS - 81))}`;
}

/** How many characters of a wait's words a report line keeps. */
const MAX_WAIT_WORDS = 240;
/** How many tasks a report lists. */
const MAX_REPORTED_TASKS = 1000;
/** How many levels a report indents. */
const MAX_INDENT = 64;

/** What kind of value an option was, for an error message: `string`, `null`, `an object`, `a RealClock`. */
function kindOf(value: unknown): string {
  return typeof value === "object" && value !== null && Object.getPrototypeOf(value) === Object.prototype ? "an object" : describeKind(value);
}
