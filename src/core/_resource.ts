/**
 * Tying a resource (a socket, a server, a subprocess) to the task that
 * opened it: when that task finishes, for any reason, the resource is
 * closed. Implemented as a daemon child that waits for cancellation, which
 * comes once the task's body and other children are done.
 * @module
 */
import type { Operation } from "./operation.ts";
import { requireCurrentTask } from "./spawn.ts";
import { suspend } from "./suspend.ts";
import { DAEMON, TaskImpl } from "./task.ts";

/** The keeper of one resource; `release()` when the resource was closed by hand. */
export interface ResourceKeeper {
  release(): void;
}

/**
 * Registers `close` to run when the current task finishes. Returns a keeper
 * whose `release()` forgets the resource (call it after closing it by hand).
 */
export function adoptResource(name: string, close: () => unknown, api: string): ResourceKeeper {
  return keep(
    name,
    function* closeNow() {
      close();
    },
    api,
  );
}

/**
 * Like `adoptResource`, but the cleanup is an operation (stop a process and
 * wait for its exit): it runs to the end, and the owner finishes only after it.
 */
export function adoptResourceWithCleanup(name: string, cleanup: () => Operation<void>, api: string): ResourceKeeper {
  return keep(name, cleanup, api);
}

/**
 * Starts `body` as a daemon child of `owner` and runs it up to its first
 * suspension now, inside the caller's step (as boundaries start). Starting
 * at once matters: a task cancelled before its first step never runs its
 * body, so a keeper left in the ready queue would never reach its `finally`
 * if its owner returned (or was cancelled) before suspending.
 */
export function startDaemon(owner: TaskImpl<unknown>, name: string, body: () => Operation<void>): TaskImpl<void> {
  const task = new TaskImpl<void>(owner.loop, owner, body, name, owner.priority, DAEMON);
  task.runStep();
  return task;
}

function keep(name: string, cleanup: () => Operation<void>, api: string): ResourceKeeper {
  const owner = requireCurrentTask(api);
  let released = false;
  const keeper = startDaemon(owner, name, function* keep() {
    try {
      yield* suspend();
    } finally {
      // The cancellation was delivered at `suspend()`: this cleanup is not interrupted again.
      if (!released) yield* cleanup();
    }
  });
  return {
    release() {
      released = true;
      keeper.cancel("released");
    },
  };
}
