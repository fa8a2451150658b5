/**
 * Looking inside a running program: snapshots of the task tree as JSON, and
 * text renderings of them (a tree, or a `ps`-style table).
 * @module corio/inspect
 */
export { formatTaskTable, formatTaskTree } from "./format.ts";
export { createInspector, type InspectorOptions } from "./page.ts";
export { type SnapshotOptions, snapshotTasks, type TaskSnapshot, type TreeSnapshot } from "./snapshot.ts";
