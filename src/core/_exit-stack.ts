/**
 * A scope's exit stack (`Scope.unwind` in `_scope.ts`): the destructors of
 * the resources it owns and its live daemons, in the order they came, and
 * the bookkeeping that keeps its unwind linear. The unwind looks at the
 * stack again after each step that may change it (a daemon ends, a
 * `close()` registers or releases an entry), thousands of times for a big
 * stack, so the stack keeps its unwind order between looks instead of
 * copying itself at each one (docs/architecture.md, "an exit stack").
 * @module
 */
import type { Destructor, Scope } from "./_scope.ts";

/** Tells a daemon (a child scope) from a resource's destructor: `instanceof Scope`, which this file, importing `Scope` only as a type, gets from `_scope.ts`. */
export type IsDaemon = (entry: Destructor | Scope) => entry is Scope;

/**
 * A scope's exit stack: a `Set` of its destructors and live daemons, oldest
 * first, with the order its unwind goes through, newest first. Not a base
 * class: only `Scope` creates and uses one.
 *
 * @example
 * ```ts
 * const stack = new ExitStack((entry): entry is Scope => entry instanceof Scope);
 * const socket = { name: "socket", close: () => console.log("closed") };
 * stack.push(socket);
 * console.assert(stack.unwindOrder(null).at(-1) === socket); // the newest entry is unwound first
 * ```
 */
export class ExitStack extends Set<Destructor | Scope> {
  /** How many of its daemons the unwind has stopped and waits for: a count, not a look through the stack, as each of a thousand daemons ending checks it. */
  stopping = 0;
  /** The unwind order as the unwind last saw it (`unwindOrder`), `null` until the unwind looks at it; it may hold entries that have left. */
  private order: (Destructor | Scope)[] | null = null;
  /** The value whose resources the unwind passes over, to hand them on (what `unwindOrder` was given when `order` was made). */
  private keeps: object | null = null;
  /** Where in `order` the run of plain `close()`s the unwind closes inline begins (`-1`: not known); what lies above it has no cleanup operation. */
  private plainFrom = -1;
  private readonly isDaemon: IsDaemon;

  constructor(isDaemon: IsDaemon) {
    super();
    this.isDaemon = isDaemon;
  }

  /** Adds an entry as the newest, in the unwind order too once there is one (an entry added while the stack unwinds is unwound next). */
  push(entry: Destructor | Scope): void {
    if (this.has(entry)) return;
    this.add(entry);
    if (this.order === null) return;
    this.order.push(entry);
    // A cleanup operation on top: the run it joins goes to a cleanup task, as a whole.
    if (!this.isDaemon(entry) && entry.cleanup !== undefined) this.plainFrom = -1;
  }

  /** Whether the unwind is to close `destructor`: it is still on the stack (not released), and not handed on with the value the unwind order keeps. */
  closes(destructor: Destructor): boolean {
    return this.has(destructor) && (this.keeps === null || destructor.handle !== this.keeps);
  }

  /**
   * The entries, oldest first, down to the newest still to unwind (empty once
   * only what is handed on with `keeps` is left). What has left the stack
   * since (a daemon ended, a resource released) and what is handed on with
   * `keeps` (the value a boundary returns, or `null`) are passed over where
   * they are met. Kept between looks, not copied again at each of a thousand
   * runs: an entry added since (`push`, even from a `close()` of this
   * unwind) is on it already; a boundary that can no longer hand over
   * (`keeps` changed) makes it anew, as what it had taken off the top as
   * handed over is to close now.
   */
  unwindOrder(keeps: object | null): readonly (Destructor | Scope)[] {
    let order = this.order;
    if (order === null || this.keeps !== keeps) {
      order = [...this];
      this.order = order;
      this.keeps = keeps;
      this.plainFrom = -1;
    }
    for (;;) {
      const top = order.at(-1);
      if (top === undefined || (this.isDaemon(top) ? this.has(top) : this.closes(top))) return order;
      order.pop();
    }
  }

  /**
   * Where the run of daemons on top of the unwind order, ending at `top` (a
   * daemon), begins: the unwind stops them together. A resource released
   * since, or handed over, does not part two daemons; entries in the run that
   * have left the stack are for the caller to pass over.
   */
  daemonRunFrom(top: number): number {
    const order = this.order as (Destructor | Scope)[];
    let from = top;
    while (from > 0) {
      const below = order[from - 1] as Destructor | Scope;
      if (!this.isDaemon(below) && this.closes(below)) break;
      from--;
    }
    return from;
  }

  /**
   * The run of resources on top of the unwind order, from `top` (a resource
   * to close) down to the next daemon still on the stack. If they are all
   * plain `close()`s: where the run begins in the order, for the unwind to
   * close them inline. If one is a cleanup operation: the run, newest first,
   * for a cleanup task to run as a whole. Looked through once and kept
   * (`plainFrom`), not at each look a `close()` that changes the stack
   * causes (a thousand wrappers that release what they wrap).
   */
  runOnTop(top: number): number | Destructor[] {
    const cached = this.plainFrom;
    if (cached >= 0 && cached <= top) return cached;
    const order = this.order as (Destructor | Scope)[];
    const run: Destructor[] = [];
    let cleanup = false;
    let bottom = top;
    for (; bottom >= 0; bottom--) {
      const entry = order[bottom] as Destructor | Scope;
      // Passed over: a daemon that has ended, a resource released (by a close() of this unwind: not closed
      // again) or handed over with the boundary's value.
      if (this.isDaemon(entry)) {
        if (this.has(entry)) break;
      } else if (this.closes(entry)) {
        run.push(entry);
        if (entry.cleanup !== undefined) cleanup = true;
      }
    }
    // The run stays on the stack: each destructor leaves it as its turn comes, so that one an earlier cleanup of
    // the run closed by hand and released is not closed again (`Scope.runAll`).
    if (cleanup) return run;
    return (this.plainFrom = bottom + 1);
  }

  /**
   * Takes the destructor at `index` of the unwind order off the stack, as the
   * unwind closes it inline. What lay above it in the order has left the
   * stack or is handed over: it goes from the order too, so what the
   * `close()` adds is pushed just above `index` (see `grewAbove`), and is not
   * passed over again.
   */
  closeAt(index: number): void {
    const order = this.order as (Destructor | Scope)[];
    const destructor = order[index] as Destructor;
    order.length = index;
    this.delete(destructor);
  }

  /**
   * Whether an entry was pushed since `closeAt(index)`: a `close()` that
   * registered a resource or started a daemon, now the newest entry, to
   * unwind before the rest of the run. Not the stack's size: a `close()`
   * that releases what it wraps and registers another leaves it as it was.
   */
  grewAbove(index: number): boolean {
    return (this.order as (Destructor | Scope)[]).length !== index;
  }
}
