/**
 * Text renderings of task snapshots.
 * @module
 */
import type { TaskSnapshot, TreeSnapshot } from "./snapshot.ts";

/**
 * Renders a snapshot as an indented tree, one task per line:
 * `name [state] p10 3.2s waits on a sleep until 1500 ms (400 ms from now)`.
 *
 * @example
 * ```ts
 * import { spawn, suspend } from "corio";
 * import { formatTaskTree, snapshotTasks } from "corio/inspect";
 * import { runVirtual, waitAllTasksBlocked } from "corio/testing";
 * await runVirtual(function* () {
 *   const idle = yield* spawn(suspend, { name: "idle" });
 *   yield* waitAllTasksBlocked();
 *   const text = formatTaskTree(snapshotTasks());
 *   console.assert(text.includes("idle [running] p10"));
 *   idle.cancel();
 * });
 * ```
 */
export function formatTaskTree(tree: TreeSnapshot): string {
  const lines: string[] = [];
  const visit = (task: TaskSnapshot, prefix: string, last: boolean, top: boolean): void => {
    const branch = top ? "" : last ? "└─ " : "├─ ";
    lines.push(
      `${prefix}${branch}${task.name} [${task.state}] p${task.priority} ${formatAge(task.ageMs)}${task.daemon ? " daemon" : ""} waits on ${task.waitingOn}${task.resources.length > 0 ? `, owns ${task.resources.join(", ")}` : ""}`,
    );
    const childPrefix = top ? prefix : `${prefix}${last ? "   " : "│  "}`;
    task.children.forEach((child, index) => {
      visit(child, childPrefix, index === task.children.length - 1, false);
    });
  };
  for (const root of tree.roots) visit(root, "", true, true);
  return lines.join("\n");
}

/**
 * Renders a snapshot as a `ps`-style table: one row per task, with its path.
 *
 * @example
 * ```ts
 * import { spawn, suspend } from "corio";
 * import { formatTaskTable, snapshotTasks } from "corio/inspect";
 * import { runVirtual, waitAllTasksBlocked } from "corio/testing";
 * await runVirtual(function* () {
 *   const idle = yield* spawn(suspend, { name: "idle" });
 *   yield* waitAllTasksBlocked();
 *   console.assert(formatTaskTable(snapshotTasks()).split("\n")[0]?.startsWith("ID"));
 *   idle.cancel();
 * });
 * ```
 */
export function formatTaskTable(tree: TreeSnapshot): string {
  const rows: string[][] = [["ID", "STATE", "PRIO", "AGE", "WAIT", "PATH"]];
  const visit = (task: TaskSnapshot): void => {
    rows.push([String(task.id), task.state, String(task.priority), formatAge(task.ageMs), task.waitKind, task.path]);
    for (const child of task.children) visit(child);
  };
  for (const root of tree.roots) visit(root);
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? "").length))) ?? [];
  return rows.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column] ?? 0))).join("  ")).join("\n");
}

function formatAge(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  return `${Math.floor(ms / 60_000)}m${Math.round((ms % 60_000) / 1000)}s`;
}
