/**
 * Snapshots of the live task tree.
 * @module
 */
import { currentLoop } from "../core/run.ts";
import type { Task, TaskImpl } from "../core/task.ts";

/** One task in a snapshot. */
export interface TaskSnapshot {
  id: number;
  name: string;
  path: string;
  state: Task<unknown>["state"];
  priority: number;
  /** Milliseconds of loop time since the task was created. */
  ageMs: number;
  daemon: boolean;
  /** The kind of wait, for filtering: `sleep`, `lock`, `queue`, `io`, `child`, `future`, `suspend`, `thread`, `process`, `idle`, `signal`, `children` (body done, children running), `ready` or `running`. */
  waitKind: string;
  /** What it waits on, in words: `a sleep until 1500 ms (400 ms from now)`, `task main/worker to finish`, `a lock held by another task (acquire)`, `an item from an empty queue (get)`... */
  waitingOn: string;
  /** The resources the task owns and will close when it ends (`connection`, `process 1234`...), oldest first. */
  resources: string[];
  children: TaskSnapshot[];
}

/** The whole tree of one loop at one moment. */
export interface TreeSnapshot {
  /** The loop's clock when the snapshot was taken. */
  time: number;
  /** How many tasks the tree holds. */
  count: number;
  roots: TaskSnapshot[];
}

/**
 * Takes a snapshot of the task tree of the current loop (or of one task's
 * subtree): name, state, priority, age and what each task waits on, as plain
 * JSON-ready data.
 *
 * @param root A task whose subtree to take; by default every root of the current loop.
 * @returns The snapshot.
 * @example
 * ```ts
 * import { sleep, spawn } from "corio";
 * import { snapshotTasks } from "corio/inspect";
 * import { runVirtual, waitAllTasksBlocked } from "corio/testing";
 * await runVirtual(function* () {
 *   const sleeper = yield* spawn(() => sleep(1000), { name: "sleeper" });
 *   yield* waitAllTasksBlocked();
 *   const tree = snapshotTasks();
 *   console.assert(tree.roots[0]?.children[0]?.waitKind === "sleep");
 *   sleeper.cancel();
 * });
 * ```
 */
export function snapshotTasks(root?: Task<unknown>): TreeSnapshot {
  const loop = root === undefined ? currentLoop() : (root as TaskImpl<unknown>).loop;
  const now = loop.now();
  let count = 0;
  const visit = (task: TaskImpl<unknown>): TaskSnapshot => {
    count++;
    return {
      id: task.id,
      name: task.name,
      path: task.path,
      state: task.state,
      priority: task.priority,
      ageMs: Math.max(0, now - task.createdAt),
      daemon: task.isDaemon,
      waitKind: task.waitKind(),
      waitingOn: task.waitDescription(),
      resources: task.resourceNames(),
      children: task.children.map((child) => visit(child as TaskImpl<unknown>)),
    };
  };
  const roots = root === undefined ? [...loop.roots] : [root as TaskImpl<unknown>];
  const snapshots = roots.map(visit);
  return { time: now, count, roots: snapshots };
}
