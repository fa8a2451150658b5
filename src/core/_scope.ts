/**
 * The one Scope under every structured construct (Trio's nursery and cancel
 * status, Effection's scope). A scope holds:
 * - its children, and waits for the non-daemon ones before it ends;
 * - a cancel status: a cancel reaches every child, and a child spawned while
 *   the cancel is pending (requested, not yet thrown into the body) is
 *   cancelled before its first step (decided case 11);
 * - the failures of its body and children, which its boundary turns into the
 *   error or a `TaskGroupError`, never dropping one (decided case 12);
 * - an exit stack: the destructors of the resources it owns (`ensure`) and
 *   its daemons, in the order they came. Once the body and the non-daemon
 *   children are done it is unwound newest first: a resource opened after a
 *   daemon is closed before that daemon is cancelled, and a daemon started
 *   after a resource is stopped before that resource closes (Trio's exit
 *   stack, asyncio's `AsyncExitStack`).
 *
 * A task (`task.ts`) is a scope with a body; `scope`, `timeout`,
 * `all`/`race`/`allSettled` and `shield` are child tasks flagged as
 * boundaries (`_boundary.ts`), and resources are destructors on their
 * owner's scope (`_resource.ts`).
 * @module
 */
import { ExitStack } from "./_exit-stack.ts";
import { type CancelledError, createCancelledError, describe, TaskGroupError } from "./errors.ts";
import type { Instruction, Operation } from "./operation.ts";

// Flags, packed into one number (shared with the task's own flags: 32-256, 4096-16384) to keep a parked task small.
export const DAEMON = 1;
/** Its failure goes to whoever joins it, not to its parent. */
export const BOUNDARY = 2;
/** A parent's cancellation does not reach it. */
export const SHIELDED = 4;
export const BODY_DONE = 8;
export const CANCEL_DELIVERED = 16;
/** Running the exit stack's plain `close()` destructors: a child that ends meanwhile does not start another unwind. */
const UNWINDING = 512;
/** A daemon its parent's unwind has stopped (cancelled, or found cancelled) and waits for. */
const STOPPING = 1048576;
export const BODY_CANCELLED = 1024;
/** Started by the runtime before it inherits a pending cancel (see `startDaemon`). */
export const INHERIT_LATER = 2048;
/** Its failure is reported by whoever watches it (a server's connection task), not taken by its parent. */
export const FAILS_ALONE = 32768;
/**
 * A boundary that runs one operation for its caller (`timeout`, `moveOnAfter`, `deadline`,
 * `shield`): when it ends done, the resource its operation returns (`timeout(ms,
 * openConnection(...))`) goes to its parent with the value, instead of closing as it ends.
 */
export const RESOURCES_TO_PARENT = 65536;
/** One of several operations a boundary runs at once for its caller (`all`, `race`, `allSettled`, `wait`): a task in its own right, not its caller's code. */
export const CONCURRENT = 131072;

/** Where each failure first happened, so `main` can print the task path of its origin. */
export const errorOrigins = new WeakMap<object, string>();

/** How one resource is closed: a plain `close()`, or a `cleanup` operation that may suspend. */
export interface Destructor {
  readonly name: string;
  readonly close?: () => unknown;
  readonly cleanup?: () => Operation<void>;
  /** What the operation that opened it returns (a connection, a process, a file): a boundary that returns it hands it on. */
  handle?: object;
}

/**
 * The base of every task. Its members are TypeScript-private and `declare`d,
 * set in the constructor, not `#private` class fields or methods: V8 (Node
 * 20–24) does not inline into `super()` a base constructor that initializes
 * instance fields or private members, which made every spawn 25 ns slower
 * (see docs/architecture.md, "Base classes declare their fields").
 */
export abstract class Scope {
  declare flags: number;
  /** The cancellation requested for this scope, once one is. */
  declare cancelError: CancelledError | null;
  declare readonly parentScope: Scope | null;
  declare private firstChild: Scope | null;
  declare private lastChild: Scope | null;
  declare private prevSibling: Scope | null;
  declare private nextSibling: Scope | null;
  declare private liveChildren: number;
  declare private failures: unknown[] | null;
  /** The destructors of the resources this scope owns and its live daemons, oldest first (see `unwind`). */
  declare private exitStack: ExitStack | null;

  constructor(parent: Scope | null, flags: number) {
    this.flags = flags;
    this.cancelError = null;
    this.parentScope = parent;
    this.firstChild = null;
    this.lastChild = null;
    this.prevSibling = null;
    this.nextSibling = null;
    this.liveChildren = 0;
    this.failures = null;
    this.exitStack = null;
  }

  abstract get name(): string;
  /** True once the scope has ended, in any way. */
  abstract get finished(): boolean;
  /** True if it ended with a failure (then `error` holds it). */
  abstract get failed(): boolean;
  abstract get error(): unknown;
  /** Delivers `cancelError` into the body (at its suspension point, or as its outcome if it has returned). */
  protected abstract deliverCancel(): void;
  /** Everything has ended: settle with the failures (`null` for none). */
  protected abstract finish(failures: unknown[] | null): void;
  /** Runs `run` as a shielded child whose end finishes this scope. */
  protected abstract startFinalizer(run: () => Operation<void>): void;
  /** What the body returned (once it has, and was not cancelled). */
  protected abstract bodyValue(): unknown;

  get path(): string {
    if (this.parentScope === null) return this.name;
    // A loop, not a recursion through the parents: a chain may be thousands of tasks deep.
    const names: string[] = [];
    for (let scope: Scope | null = this; scope !== null; scope = scope.parentScope) names.push(scope.name);
    return names.reverse().join("/");
  }

  /** The unfinished children, oldest first (the first `limit` of them). */
  childList(limit = Number.POSITIVE_INFINITY): Scope[] {
    const list: Scope[] = [];
    for (let child = this.firstChild; child !== null && list.length < limit; child = child.nextSibling) list.push(child);
    return list;
  }

  /**
   * How many scopes the subtree holds, this one included: a walk along the
   * links that allocates nothing (the inspector counts the tasks of a huge
   * tree it does not describe, on every tick) and does not recurse (a chain
   * of nested tasks can be deep).
   */
  subtreeSize(): number {
    let count = 1;
    let node: Scope = this;
    for (;;) {
      if (node.firstChild !== null) {
        node = node.firstChild;
        count++;
        continue;
      }
      while (node !== this && node.nextSibling === null) node = node.parentScope as Scope;
      if (node === this) return count;
      node = node.nextSibling as Scope;
      count++;
    }
  }

  /** Joins the parent's children; called once the subclass is fully built. */
  protected attach(): void {
    if (this.parentScope !== null) this.parentScope.link(this);
  }

  private link(child: Scope): void {
    const last = this.lastChild;
    child.prevSibling = last;
    if (last === null) this.firstChild = child;
    else last.nextSibling = child;
    this.lastChild = child;
    if ((child.flags & DAEMON) === 0) this.liveChildren++;
    else (this.exitStack ??= new ExitStack(isDaemonEntry)).push(child);
    // A child spawned while this scope's cancel is pending is cancelled before its first step.
    if (this.cancelError !== null && (this.flags & CANCEL_DELIVERED) === 0 && (child.flags & (SHIELDED | INHERIT_LATER)) === 0) {
      child.requestCancel(this.cancelError);
    }
  }

  /**
   * Records a cancellation and passes it down to the children (except
   * shielded ones) and into the body. Returns `true` if this request was the
   * one taken (no earlier cancel was pending).
   */
  requestCancel(error: CancelledError): boolean {
    if (this.finished || this.cancelError !== null) return false;
    this.cancelError = error;
    // Depth first, each scope's children before it, as a recursion would, but in a loop over the links:
    // a chain of nested tasks may be thousands deep.
    let scope: Scope = this;
    for (;;) {
      const child = Scope.takeCancel(scope.firstChild, error);
      if (child !== null) {
        scope = child;
        continue;
      }
      for (;;) {
        scope.deliverCancel();
        if (scope === this) return true;
        const sibling = Scope.takeCancel(scope.nextSibling, error);
        if (sibling !== null) {
          scope = sibling;
          break;
        }
        scope = scope.parentScope as Scope;
      }
    }
  }

  /** The first of `from` and its next siblings a cancel reaches (not shielded, not ended, not cancelled yet), now cancelled with `error`. */
  private static takeCancel(from: Scope | null, error: CancelledError): Scope | null {
    for (let scope = from; scope !== null; scope = scope.nextSibling) {
      if ((scope.flags & SHIELDED) === 0 && !scope.finished && scope.cancelError === null) {
        scope.cancelError = error;
        return scope;
      }
    }
    return null;
  }

  /**
   * True while a cancel has been requested but not yet thrown into the body:
   * children spawned now inherit it (decided case 11, Trio's cancel status).
   */
  get cancelPending(): boolean {
    return this.cancelError !== null && (this.flags & CANCEL_DELIVERED) === 0;
  }

  /** The pending cancel, now counted as delivered: for code that throws it into the body itself. */
  takePendingCancel(): CancelledError {
    this.flags |= CANCEL_DELIVERED;
    return this.cancelError as CancelledError;
  }

  /**
   * Called by a boundary that throws an error in place of the cancel that was
   * delivered here (decided case 12): the cancel is due again at the next
   * suspension, so catching that error does not cancel the cancellation.
   */
  redeliverCancel(): void {
    if (this.cancelError !== null && (this.flags & BODY_DONE) === 0) this.flags &= ~CANCEL_DELIVERED;
  }

  /** Applies the parent's pending cancel to a child started with `INHERIT_LATER`, once its first step has run. */
  inheritCancel(): void {
    this.flags &= ~INHERIT_LATER;
    const parent = this.parentScope;
    if (parent?.cancelPending && (this.flags & SHIELDED) === 0) this.requestCancel(parent.cancelError as CancelledError);
    // A daemon started for a parent that has finished (a service opened from a callback after its owner ended)
    // has nobody to stop it. One started while the parent unwinds (a thread pool a daemon's cleanup needs) is
    // the newest entry of its exit stack: it is cancelled once what the unwind waits for has ended.
    else if ((this.flags & DAEMON) !== 0 && parent?.finished === true)
      this.requestCancel(createCancelledError(`daemon of ${parent.path}: its parent has finished`));
  }

  /** Adds a scope with no parent to the end of a loop's roots (`RootList`), through its sibling links. */
  static linkRoot(roots: RootList<Scope>, root: Scope): void {
    const last = roots.last;
    root.prevSibling = last;
    if (last === null) roots.first = root;
    else last.nextSibling = root;
    roots.last = root;
    roots.size++;
  }

  /** Takes a root out of `roots`; does nothing if it is not there. */
  static unlinkRoot(roots: RootList<Scope>, root: Scope): void {
    const prev = root.prevSibling;
    const next = root.nextSibling;
    if (prev === null ? roots.first !== root : prev.nextSibling !== root) return;
    if (prev === null) roots.first = next;
    else prev.nextSibling = next;
    if (next === null) roots.last = prev;
    else next.prevSibling = prev;
    root.prevSibling = root.nextSibling = null;
    roots.size--;
  }

  /** The root after `root` in its loop's `RootList`. */
  static nextRoot(root: Scope): Scope | null {
    return root.nextSibling;
  }

  /** True while some child (daemons included) has not ended. */
  get hasChildren(): boolean {
    return this.firstChild !== null;
  }

  /** True if a failure has been recorded. */
  get hasFailures(): boolean {
    return this.failures !== null;
  }

  /** Records a failure (of the body, a child or a destructor); the first one cancels the rest of the scope. */
  protected addFailure(error: unknown): void {
    if (error !== null && typeof error === "object" && !errorOrigins.has(error)) errorOrigins.set(error, this.path);
    if (this.failures === null) {
      this.failures = [error];
      // Once the body has ended and no child is left (a body that threw, a destructor that failed),
      // there is nothing to cancel: no CancelledError is built (about 0.7 µs with its message).
      if ((this.flags & BODY_DONE) === 0 || this.firstChild !== null) {
        this.requestCancel(createCancelledError(`task ${this.path} failed: ${describe(error)}`));
      }
    } else {
      this.failures.push(error);
    }
  }

  /**
   * Records the body's failure, unless it is the very error object a failed child of this scope
   * already recorded: a body that lets out (or rethrows) the error of a child it waited for fails
   * once with it, not as a `TaskGroupError` holding it twice. Only objects: two failures that are
   * equal primitives (`throw "boom"` twice) are two failures.
   */
  protected addBodyFailure(error: unknown): void {
    if (error !== null && typeof error === "object" && this.failures?.includes(error)) return;
    this.addFailure(error);
  }

  /** Cancels the children (not shielded ones) but not this scope, whose body has ended. */
  protected cancelChildren(reason: CancelledError): void {
    for (let child = this.firstChild; child !== null; ) {
      const next = child.nextSibling;
      if ((child.flags & SHIELDED) === 0) child.requestCancel(reason);
      child = next;
    }
  }

  /** A child has ended: unlink it, take its failure unless it is a boundary's, and see whether this scope is done. */
  childEnded(child: Scope): void {
    const prev = child.prevSibling;
    const next = child.nextSibling;
    if (prev === null) this.firstChild = next;
    else prev.nextSibling = next;
    if (next === null) this.lastChild = prev;
    else next.prevSibling = prev;
    child.prevSibling = child.nextSibling = null;
    if ((child.flags & DAEMON) === 0) this.liveChildren--;
    else this.forgetDaemon(child);
    if (child.failed && (child.flags & (BOUNDARY | FAILS_ALONE)) === 0) this.addFailure(child.error);
    this.tryFinish();
  }

  /** Ends the scope once its body and non-daemon children are done and its exit stack is unwound. */
  protected tryFinish(): void {
    if ((this.flags & (BODY_DONE | UNWINDING)) !== BODY_DONE || this.liveChildren > 0 || this.finished) return;
    if (this.exitStack !== null && !this.unwind()) return;
    const failures = this.failures;
    this.failures = null;
    this.finish(failures);
  }

  /** A daemon has ended: it leaves the exit stack. */
  private forgetDaemon(daemon: Scope): void {
    const stack = this.exitStack;
    if (stack?.delete(daemon) !== true) return;
    if ((daemon.flags & STOPPING) !== 0) stack.stopping--;
    if (stack.size === 0) this.exitStack = null;
  }

  /**
   * What a boundary that runs one operation for its caller (RESOURCES_TO_PARENT) hands on with its value,
   * as long as it may still do so (it has not been cancelled, nothing failed): its unwind leaves the
   * resources returned as it on the stack, and they go to the parent once nothing else is left.
   */
  private returnedValue(): object | null {
    if ((this.flags & (RESOURCES_TO_PARENT | BODY_CANCELLED)) !== RESOURCES_TO_PARENT || this.failures !== null || this.parentScope === null) return null;
    const value = this.bodyValue();
    return value !== null && typeof value === "object" ? value : null;
  }

  /**
   * Unwinds the exit stack from its newest entry, one run of entries of a
   * kind at a time, and returns `true` once it is empty. Daemons on top are
   * cancelled together (`daemon of …: its parent has finished`) and waited
   * for: their ends call `tryFinish` again. Resources on top are closed,
   * newest first: plain `close()`s inline; if one is an operation (stop a
   * process and wait for its exit), the run goes to a shielded `cleanup`
   * child, so a second cancel does not interrupt it (decided case 4), whose
   * end calls `tryFinish` again. What a `close()` starts (a daemon, a
   * resource) is the newest entry then, and unwound next, before the rest of
   * its run (asyncio's `ExitStack` pops one callback at a time); one it
   * releases (`unensure`) is not closed again.
   */
  private unwind(): boolean {
    for (;;) {
      const stack = this.exitStack;
      if (stack === null) return true;
      // Daemons this unwind stopped and still running: what came after them (a late service their cleanup needs) waits.
      if (this.liveChildren > 0 || stack.stopping > 0) return false;
      const order = stack.unwindOrder(this.returnedValue());
      let i = order.length - 1;
      if (i < 0) {
        // Only what a boundary returns is left (a stack holds nothing that is not in its unwind order otherwise).
        this.handOver(stack);
        return true;
      }
      if (order[i] instanceof Scope) {
        this.stopDaemons(stack, order, stack.daemonRunFrom(i));
        return false;
      }
      const run = stack.runOnTop(i);
      if (typeof run !== "number") {
        // One of them is an operation: a shielded cleanup task closes the run, as a whole (decided case 4).
        this.startFinalizer(() => this.runAll(run));
        return false;
      }
      // All plain close()s, from `bottom` up: closed here, newest first.
      const bottom = run;
      this.flags |= UNWINDING;
      for (; i >= bottom; i--) {
        const destructor = order[i] as Destructor | Scope;
        // Up to the next daemon still on the stack (one a close() started) and past what needs no closing.
        if (destructor instanceof Scope) {
          if (stack.has(destructor)) break;
          continue;
        }
        if (!stack.closes(destructor)) continue;
        stack.closeAt(i);
        try {
          destructor.close?.();
        } catch (error) {
          this.addFailure(error);
        }
        // What the close() added (a resource, a daemon) waits for the next look at the top; one it released is passed over.
        if (this.exitStack !== stack || stack.grewAbove(i)) break;
      }
      this.flags &= ~UNWINDING;
      if (stack.size === 0 && this.exitStack === stack) this.exitStack = null;
    }
  }

  /**
   * Cancels the daemons of the run on top of the unwind order, from `from`, oldest first as they were spawned,
   * together (one reason) and counts them as waited for. The run may hold what has left the stack since the
   * order was kept: a daemon that has ended (it left the stack, not this list) or is stopping already, and a
   * resource released (counted as a daemon to wait for, it would leave the owner waiting for good).
   */
  private stopDaemons(stack: ExitStack, order: readonly (Destructor | Scope)[], from: number): void {
    let reason: CancelledError | null = null;
    for (let j = from; j < order.length; j++) {
      const daemon = order[j];
      if (!(daemon instanceof Scope) || daemon.finished || (daemon.flags & STOPPING) !== 0) continue;
      daemon.flags |= STOPPING;
      stack.stopping++;
      if (daemon.cancelError === null) daemon.requestCancel((reason ??= createCancelledError(`daemon of ${this.path}: its parent has finished`)));
    }
  }

  /**
   * Runs destructors in order, those still on the exit stack (one released meanwhile is skipped), each
   * taken off it as it runs; each one runs even if an earlier one failed, and every failure is thrown.
   */
  private *runAll(list: Destructor[]): Generator<Instruction, void, unknown> {
    const errors: unknown[] = [];
    for (const destructor of list) {
      // The current stack, not the one the run was taken from: `ensureOutermost` may have replaced it.
      const stack = this.exitStack;
      if (stack?.delete(destructor) !== true) continue;
      if (stack.size === 0) this.exitStack = null;
      try {
        if (destructor.cleanup !== undefined) yield* destructor.cleanup();
        else destructor.close?.();
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new TaskGroupError(errors);
  }

  /**
   * Registers a resource's destructor: it runs once the scope's body and
   * non-daemon children have ended, in reverse order of registration, its
   * daemons' stops among them (Effection's `ensure`, Trio's exit stack).
   */
  ensure(destructor: Destructor): void {
    (this.exitStack ??= new ExitStack(isDaemonEntry)).push(destructor);
  }

  /**
   * Registers a destructor as the exit stack's oldest entry: it runs after
   * everything else the scope holds, daemons included. For what a scope owns
   * from its start but registers only when it must (an HTTP response ended
   * after the tasks its handler left running: `_request-run.ts`).
   */
  ensureOutermost(destructor: Destructor): void {
    const stack = new ExitStack(isDaemonEntry);
    stack.add(destructor);
    if (this.exitStack !== null) {
      for (const entry of this.exitStack) stack.add(entry);
      stack.stopping = this.exitStack.stopping;
    }
    this.exitStack = stack;
  }

  /** Forgets a destructor (its resource was closed by hand), wherever a boundary handed it on to. */
  unensure(destructor: Destructor): void {
    if (this.exitStack?.delete(destructor) !== true && (this.flags & RESOURCES_TO_PARENT) !== 0) this.parentScope?.unensure(destructor);
  }

  /** Gives the destructors whose handle is `from` the handle `to` (a resource wrapped in what is returned). */
  rehandle(from: object, to: object): void {
    if (this.exitStack !== null) for (const entry of this.exitStack) if (!(entry instanceof Scope) && entry.handle === from) entry.handle = to;
  }

  /** The names of the resources this scope will close when it ends, oldest first (for the inspector). */
  resourceNames(): string[] {
    const names: string[] = [];
    if (this.exitStack !== null) for (const entry of this.exitStack) if (!(entry instanceof Scope)) names.push(entry.name);
    return names;
  }

  /**
   * Ends done: the resource it returns (`timeout(ms, openConnection(...))`) is its caller's now.
   * Only that one: what its operation opened for itself (`ensure`, a listener, a connection it
   * used and did not return) still ends with it, as its operation expected. Called once the rest
   * of the stack is unwound: a boundary cancelled (it timed out) or failed meanwhile (a daemon's
   * cleanup) closes them instead, as it returns no value.
   */
  private handOver(stack: ExitStack): void {
    const parent = this.parentScope as Scope;
    this.exitStack = null;
    for (const entry of stack) parent.ensure(entry as Destructor);
  }
}

/** Tells a daemon from a destructor on an exit stack, for `ExitStack`, which may import `Scope` only as a type. */
function isDaemonEntry(entry: Destructor | Scope): entry is Scope {
  return entry instanceof Scope;
}

/**
 * A loop's root tasks, oldest first: a list threaded through the roots' own
 * sibling links (a root has no parent to link it into), so starting and
 * ending a root allocates nothing. A `Set` here made each `await run(op)`
 * from promise code about 1.7x slower: its table, once old, took a young task
 * on every add (a write barrier and a remembered-set entry) and shrank and
 * grew again as roots came and went (bench/RESULTS.md, "Issue 13,
 * seventeenth pass").
 */
export class RootList<S extends Scope> implements Iterable<S> {
  first: Scope | null = null;
  last: Scope | null = null;
  size = 0;

  add(root: S): void {
    Scope.linkRoot(this as RootList<Scope>, root);
  }

  delete(root: S): void {
    Scope.unlinkRoot(this as RootList<Scope>, root);
  }

  /** The roots as they are now: ending or starting one while going through them changes nothing. */
  [Symbol.iterator](): Iterator<S> {
    const list: S[] = [];
    for (let root = this.first; root !== null; root = Scope.nextRoot(root)) list.push(root as S);
    return list[Symbol.iterator]();
  }
}
