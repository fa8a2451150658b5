/**
 * Tying a resource (a socket, a server, a subprocess) to the task that
 * opened it: when that task finishes, for any reason, the resource is
 * closed. The owner's scope keeps a list of destructors (`ensure`), run in
 * reverse order once its body, children and daemons have ended.
 * @module
 */

import { DAEMON, type Destructor, INHERIT_LATER } from "./_scope.ts";
import type { Operation } from "./operation.ts";
import { requireCurrentTask } from "./spawn.ts";
import { TaskImpl } from "./task.ts";

/** The registration of one resource; `release()` when the resource was closed by hand. */
export interface ResourceKeeper {
  release(): void;
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
export function startDaemon(owner: TaskImpl<unknown>, name: string, body: () => Operation<void>): TaskImpl<void> {
  const task = new TaskImpl<void>(owner.loop, owner, body, name, owner.priority, DAEMON | INHERIT_LATER);
  task.runStep();
  task.inheritCancel();
  return task;
}
