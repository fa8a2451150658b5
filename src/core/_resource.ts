/**
 * Tying a resource (a socket, a server, a subprocess) to the task that
 * opened it: when that task finishes, for any reason, the resource is
 * closed. The owner's scope keeps its destructors (`ensure`) and its
 * daemons (a server, a file's pump) on one exit stack, unwound newest first
 * once its body and non-daemon children have ended.
 * @module
 */

import { waitUntilDone } from "./_boundary.ts";
import { DAEMON, type Destructor, INHERIT_LATER, RESOURCES_TO_PARENT, SHIELDED } from "./_scope.ts";
import { createCancelledError } from "./errors.ts";
import type { Operation } from "./operation.ts";
import { requireCurrentTask } from "./spawn.ts";
import { TaskImpl, withContextOf } from "./task.ts";

/** The registration of one resource; `release()` when the resource was closed by hand. */
export interface ResourceKeeper {
  release(): void;
  /**
   * Names what the opening operation returns for this resource: a boundary
   * (`timeout`, `shield`, ...) that returns that value hands the resource to
   * its caller instead of closing it. Returns `value`.
   */
  returnedAs<T extends object>(value: T): T;
}

/**
 * Registers `close` to run when the current task finishes. Returns a keeper
 * whose `release()` forgets the resource (call it after closing it by hand).
 */
export function adoptResource(name: string, close: () => unknown, api: string): ResourceKeeper {
  return keep({ name, close }, api);
}

/**
 * Like `adoptResource`, but the cleanup is an operation (stop a process and
 * wait for its exit): it runs to the end, and the owner finishes only after it.
 */
export function adoptResourceWithCleanup(name: string, cleanup: () => Operation<void>, api: string): ResourceKeeper {
  return keep({ name, cleanup }, api);
}

function keep(destructor: Destructor, api: string): ResourceKeeper {
  const owner = requireCurrentTask(api);
  owner.ensure(destructor);
  return {
    release() {
      owner.unensure(destructor);
    },
    returnedAs(value) {
      destructor.handle = value;
      return value;
    },
  };
}

/**
 * Starts `body` (a service such as a file's I/O pump) as a daemon child of
 * `owner` and runs it up to its first suspension now, inside the caller's
 * step. Starting at once matters: a task cancelled before its first step
 * never runs its body, so a service left in the ready queue would never reach
 * its `finally`. For the same reason an owner's pending cancel reaches the
 * service only after that first step.
 */
export function startDaemon(opener: TaskImpl<unknown>, name: string, body: () => Operation<void>): TaskImpl<void> {
  // Opened inside `timeout(ms, openFile(...))` and the like: the service is a daemon of the caller,
  // and the boundary stops it as it ends unless it returns the service's handle (`daemonReturnedAs`;
  // see RESOURCES_TO_PARENT). A shield keeps its own: the caller's cancellation must not reach it.
  let owner = opener;
  while ((owner.flags & (RESOURCES_TO_PARENT | SHIELDED)) === RESOURCES_TO_PARENT && owner.parentScope !== null) owner = owner.parentScope as TaskImpl<unknown>;
  const task = withContextOf(opener, owner, () => new TaskImpl<void>(owner.loop, owner, body, name, owner.priority, DAEMON | INHERIT_LATER));
  if (owner !== opener) stopWithOpener(opener, task);
  task.runStep();
  task.inheritCancel();
  return task;
}

/**
 * The resources of the current task returned as `from` (`keeper.returnedAs`)
 * are returned as `to` now: an operation that wraps a resource it opened in
 * the object it returns (a job queue around its Redis client) says so, so
 * that a boundary returning `to` hands them on. Returns `to`.
 */
export function returnedWrapped<T extends object>(from: object, to: T): T {
  requireCurrentTask("hand on a resource").rehandle(from, to);
  return to;
}

/** The destructor by which a boundary stops a daemon started inside it (see `startDaemon`). */
const stoppers = new WeakMap<TaskImpl<void>, Destructor>();

/** `opener` (a boundary) stops `daemon` as it ends, unless it hands it on; forgotten when the daemon ends first. */
function stopWithOpener(opener: TaskImpl<unknown>, daemon: TaskImpl<void>): void {
  const destructor: Destructor = {
    name: daemon.name,
    cleanup: () => waitUntilDone(requireCurrentTask("stop a service"), daemon, createCancelledError(`${daemon.name}: the operation that opened it has ended`)),
  };
  opener.ensure(destructor);
  stoppers.set(daemon, destructor);
  daemon.addWatcher({ taskFinished: () => opener.unensure(destructor) });
}

/**
 * `ResourceKeeper.returnedAs` for a service started by `startDaemon`: a
 * boundary that returns `value` (the server, the file) leaves the service
 * running for its caller. Returns `value`.
 */
export function daemonReturnedAs<T extends object>(daemon: TaskImpl<void>, value: T): T {
  const stopper = stoppers.get(daemon);
  if (stopper !== undefined) stopper.handle = value;
  return value;
}
