// Single-flight: concurrent callers with one key share one run of the work
// (asyncCache and corio/redis' redisCache). The run is a root task, so
// cancelling one caller does not cancel it for the others; it is cancelled
// when the last caller leaves, which waits for its cleanup.
import { throwFailuresOverCancel } from "../core/_boundary.ts";
import { type Future, HandOffFuture } from "../core/future.ts";
import type { Loop } from "../core/loop.ts";
import type { Operation } from "../core/operation.ts";
import { currentLoop, startRoot } from "../core/run.ts";
import { requireCurrentTask } from "../core/spawn.ts";
import type { Task, TaskImpl, Watcher } from "../core/task.ts";

interface InFlight<R> {
  task: Task<R>;
  result: Future<R>;
  waiters: number;
}

/** The runs in flight, by key. */
export class SingleFlight<R> {
  readonly #inFlight = new Map<unknown, InFlight<R>>();
  readonly #name: string;
  readonly #why: string;

  /** `name`: the run tasks' name; `why`: the cancel reason when every caller has left. */
  constructor(name: string, why: string) {
    this.#name = name;
    this.#why = why;
  }

  /**
   * Joins the run for `key`, starting `work()` if none is in flight, and
   * returns its result. `stored(value, loop)` is called once with a
   * successful result, before any caller wakes (so a later call can find it
   * in a cache at once).
   */
  *join(key: unknown, work: () => Operation<R>, stored?: (value: R, loop: Loop) => void): Operation<R> {
    const caller = requireCurrentTask("join a shared run");
    let flight = this.#inFlight.get(key);
    if (flight === undefined) {
      const result = new HandOffFuture<R>();
      // A root task: no caller owns the run, so cancelling one caller does not cancel it for the others.
      const loop = currentLoop();
      const task = startRoot(loop, work, { name: this.#name }) as TaskImpl<R>;
      // Its outcome is handled here (a failure goes to the callers): not an unhandled root failure.
      task.markObserved();
      const created: InFlight<R> = { task, result, waiters: 0 };
      flight = created;
      this.#inFlight.set(key, created);
      // Told synchronously as the run finishes (a done callback would come a turn later): a caller is
      // woken now, before any cancel that comes later in the turn, so it is given the outcome.
      const settle: Watcher = {
        taskFinished: () => {
          if (this.#inFlight.get(key) === created) this.#inFlight.delete(key);
          let value: R;
          try {
            value = task.result();
          } catch (error) {
            result.reject(error);
            return;
          }
          // Inside the run's end: an error of `stored` is reported, not thrown into the task machinery.
          if (stored !== undefined) loop.invoke(stored, [value, loop]);
          result.resolve(value);
        },
      };
      task.addWatcher(settle);
    }
    flight.waiters++;
    try {
      // A hand-off future: a run that ended before this caller's cancel came (in the same turn) gives
      // its outcome all the same, a value or a failure (decided case 12), and the cancel is thrown at
      // the caller's next suspension.
      return yield* flight.result;
    } finally {
      yield* this.#leave(key, flight, caller);
    }
  }

  /** Later joins start new runs; the runs under way go on for the callers they have. */
  forgetAll(): void {
    this.#inFlight.clear();
  }

  /**
   * A caller leaves. The last one, if the run is still going, cancels it and
   * waits for its cleanup, so nothing outlives the last caller; an error from
   * that cleanup is thrown to it rather than dropped (an error is never
   * replaced by a cancel).
   */
  *#leave(key: unknown, flight: InFlight<R>, caller: TaskImpl<unknown>): Operation<void> {
    flight.waiters--;
    if (flight.waiters > 0 || flight.result.done) return;
    if (this.#inFlight.get(key) === flight) this.#inFlight.delete(key);
    flight.task.cancel(this.#why);
    try {
      yield* flight.task;
    } catch {}
    // Its failure is thrown, and the caller's cancel is due again at its next suspension.
    throwFailuresOverCancel(caller, [flight.task as TaskImpl<unknown>]);
  }
}
