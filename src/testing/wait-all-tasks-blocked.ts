/**
 * Waiting until everything else is stuck.
 * @module
 */
import { defineOperation } from "../core/_dev.ts";
import { Park } from "../core/_park.ts";
import type { Operation } from "../core/operation.ts";
import { requireCurrentTask } from "../core/spawn.ts";
import type { TaskImpl } from "../core/task.ts";

class IdlePark extends Park {
  override cancelled(woken: boolean): void {
    if (woken) return;
    const waiters = (this.task as TaskImpl<unknown>).loop.idleWaiters;
    const index = waiters.indexOf(this);
    if (index >= 0) waiters.splice(index, 1);
  }
}

/**
 * Returns once every other task on the loop is suspended (Trio's
 * `wait_all_tasks_blocked`): nothing is ready to run, no timer is due, and
 * what the host already holds has been let in. Trio wakes its waiters after
 * an I/O poll that finds nothing; corio after two host turns
 * (`setImmediate`s, the second after Node's I/O poll) in which no task ran,
 * so a task awaiting a settled promise, or bytes a peer has already sent,
 * runs first. Time does not move meanwhile. (Deno runs `setImmediate`
 * callbacks without polling I/O between them: there, bytes already sent
 * may reach their reader only after the waiters.)
 * Tests use it to reach a known interleaving without sleeping: start some
 * tasks, wait until they are all blocked, then check their state.
 *
 * **Cancellation:** the wait is interrupted and `CancelledError` thrown here.
 *
 * @example
 * ```ts
 * import { Future, spawn } from "corio";
 * import { runVirtual, waitAllTasksBlocked } from "corio/testing";
 * await runVirtual(function* () {
 *   const gate = new Future<void>();
 *   const waiter = yield* spawn(function* () { yield* gate; });
 *   yield* waitAllTasksBlocked();
 *   console.assert(waiter.state === "running");
 *   gate.resolve();
 *   yield* waiter;
 * });
 * ```
 */
export const waitAllTasksBlocked = defineOperation(function* waitAllTasksBlocked(): Operation<void> {
  const task = requireCurrentTask("wait until all tasks are blocked");
  const park = new IdlePark(task, "idle", "every other task to block (waitAllTasksBlocked)");
  task.loop.idleWaiters.push(park);
  yield park;
});
