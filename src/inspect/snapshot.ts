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
  /**
   * The kind of wait, for filtering: `sleep`, `lock`, `queue`, `io`, `child`,
   * `future`, `suspend`, `thread`, `process`, `idle`, `signal`, `children`
   * (body done, children running), `ready` or `running`; `finished` for a
   * task that has ended (a snapshot of a task given to `snapshotTasks` after
   * its end: the tree itself holds unfinished tasks only).
   */
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
  /** How many tasks the tree holds: all of them, even those `maxTasks` left out of `roots`. */
  count: number;
  /** How many tasks `roots` holds: `count`, unless `maxTasks` cut the snapshot short. */
  shown: number;
  roots: TaskSnapshot[];
}

/** Options of `snapshotTasks`. */
export interface SnapshotOptions {
  /**
   * Describe at most this many tasks, the first ones depth-first (each
   * task before its children, oldest first): the others are only counted.
   * Bounds the work on a huge tree (the live inspector takes 1000).
   * @default no limit
   */
  maxTasks?: number;
}

/**
 * Takes a snapshot of the task tree of the current loop (or of one task's
 * subtree): name, state, priority, age and what each task waits on, as plain
 * JSON-ready data. With `maxTasks`, the tasks past the limit are left out
 * (their parents' `children` lists are cut short) and only counted: `count`
 * is every task, `shown` those described.
 *
 * @param root A task whose subtree to take; by default every root of the current loop.
 * @param options A limit on the tasks described.
 * @returns The snapshot.
 * @throws {RangeError} if `maxTasks` is not a number from 0.
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
 *   console.assert(snapshotTasks(undefined, { maxTasks: 1 }).shown === 1);
 *   sleeper.cancel();
 * });
 * ```
 */
export function snapshotTasks(root?: Task<unknown>, options: SnapshotOptions = {}): TreeSnapshot {
  const maxTasks = options.maxTasks ?? Number.POSITIVE_INFINITY;
  if (!(typeof maxTasks === "number" && maxTasks >= 0)) {
    throw new RangeError(`Cannot take a snapshot of the tasks: maxTasks must be a number from 0, received ${String(maxTasks)}`);
  }
  const loop = root === undefined ? currentLoop() : (root as TaskImpl<unknown>).loop;
  const now = loop.now();
  let shown = 0;
  const describe = (task: TaskImpl<unknown>, path: string): TaskSnapshot => {
    shown++;
    return {
      id: task.id,
      name: task.name,
      path,
      state: task.state,
      priority: task.priority,
      ageMs: Math.max(0, now - task.createdAt),
      daemon: task.isDaemon,
      waitKind: task.waitKind(),
      waitingOn: task.waitDescription(path),
      resources: task.resourceNames(),
      children: [],
    };
  };
  // Depth-first, each task before its children, with a stack of its own (a chain of nested tasks
  // can be deep): per level, the children to describe (only those: a task with 100,000 children
  // costs no array of them all), the next one's index, and their parent's snapshot. Each path is its
  // parent's and a name: `task.path` climbs to the root, which cost a chain of d nested tasks d²/2
  // steps (2,000 deep: 0.8 s); joined here, the strings share their prefix.
  const visit = (top: TaskImpl<unknown>): TaskSnapshot => {
    const first = describe(top, top.path);
    const lists = [top.childList(maxTasks - shown) as TaskImpl<unknown>[]];
    const next = [0];
    const parents = [first];
    while (lists.length > 0 && shown < maxTasks) {
      const depth = lists.length - 1;
      const list = lists[depth] as TaskImpl<unknown>[];
      const index = next[depth] as number;
      if (index === list.length) {
        lists.pop();
        next.pop();
        parents.pop();
        continue;
      }
      next[depth] = index + 1;
      const child = list[index] as TaskImpl<unknown>;
      const parent = parents[depth] as TaskSnapshot;
      const snapshot = describe(child, `${parent.path}/${child.name}`);
      parent.children.push(snapshot);
      const children = child.childList(maxTasks - shown) as TaskImpl<unknown>[];
      if (children.length > 0) {
        lists.push(children);
        next.push(0);
        parents.push(snapshot);
      }
    }
    return first;
  };
  // The root list's iterator is a copy already (a root ending meanwhile changes nothing).
  const roots: Iterable<TaskImpl<unknown>> = root === undefined ? loop.roots : [root as TaskImpl<unknown>];
  const snapshots: TaskSnapshot[] = [];
  let count = 0;
  for (const task of roots) {
    // Every task is counted, by a walk that allocates nothing; only the first maxTasks are described.
    count += task.subtreeSize();
    if (shown < maxTasks) snapshots.push(visit(task));
  }
  return { time: now, count, shown, roots: snapshots };
}
