/**
 * Text renderings of task snapshots.
 * @module
 */
import type { TaskSnapshot, TreeSnapshot } from "./snapshot.ts";

/**
 * Renders a snapshot as an indented tree, one task per line:
 * `name [state] p10 3.2s waits on a sleep until 1500 ms (400 ms from now)`.
 * The tasks a snapshot taken with `maxTasks` left out are summed up in a
 * last line: `… 7000 more tasks not shown`. Indentation stops after 64
 * levels: the tasks nested deeper share one column, each line starting
 * with its depth (`└─ (depth 812) worker [running] ...`). Control characters in names
 * and descriptions are escaped as JSON writes them (`\n`, `\u001b`), so a
 * name cannot forge a line or send a terminal escape.
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
  return renderTaskTree(tree, NO_LIMITS).text;
}

/** Bounds on a rendering, for the live inspector: a frame must stay small whatever the tree holds. */
export interface RenderLimits {
  /** Task lines at most. */
  maxLines: number;
  /** Characters at most in all (the task lines; the closing "more tasks" line is extra). */
  maxChars: number;
  /** Characters at most in one task line: a longer one is cut, ending in "…". */
  maxLineChars: number;
}

const NO_LIMITS: RenderLimits = { maxLines: Number.POSITIVE_INFINITY, maxChars: Number.POSITIVE_INFINITY, maxLineChars: Number.POSITIVE_INFINITY };

/**
 * `formatTaskTree` within limits: the tasks past them (and those the
 * snapshot left out) are summed up in a last line, `… 7000 more tasks not
 * shown`. Gives the text and how many task lines it holds.
 */
export function renderTaskTree(tree: TreeSnapshot, limits: RenderLimits): { text: string; shown: number } {
  const lines: string[] = [];
  let chars = 0;
  // Depth-first with a stack of its own, not recursion (a chain of nested tasks can be deep): per
  // level, the tasks (the roots, then a task's children), the next one's index, and their prefix.
  const lists = [tree.roots];
  const next = [0];
  const prefixes = [""];
  const cut = limits.maxLineChars;
  while (lists.length > 0 && lines.length < limits.maxLines) {
    const level = lists.length - 1;
    const list = lists[level] as TaskSnapshot[];
    const index = next[level] as number;
    if (index === list.length) {
      lists.pop();
      next.pop();
      prefixes.pop();
      continue;
    }
    next[level] = index + 1;
    const task = list[index] as TaskSnapshot;
    const prefix = prefixes[level] as string;
    const last = index === list.length - 1;
    const branch = level === 0 ? "" : last ? "└─ " : "├─ ";
    const depth = level > MAX_INDENT ? `(depth ${level}) ` : "";
    // Each text is cut to the line's limit before it is escaped and joined: a name of millions of
    // characters costs no line of millions (escaping only lengthens, so the line is cut as before).
    // Every cut keeps surrogate pairs whole.
    let line = `${prefix}${branch}${depth}${printable(clip(task.name, cut))} [${task.state}] p${task.priority} ${formatAge(task.ageMs)}${task.daemon ? " daemon" : ""} waits on ${printable(clip(task.waitingOn, cut))}${task.resources.length > 0 ? `, owns ${printable(clip(task.resources.join(", "), cut))}` : ""}`;
    if (line.length > cut) line = `${clip(line, Math.max(0, cut - 1))}…`;
    if (chars + line.length > limits.maxChars) break;
    lines.push(line);
    chars += line.length + 1;
    if (task.children.length > 0) {
      lists.push(task.children);
      next.push(0);
      // Past MAX_INDENT levels the prefix stops growing: deeper tasks share one column.
      prefixes.push(level === 0 || level > MAX_INDENT ? prefix : `${prefix}${last ? "   " : "│  "}`);
    }
  }
  const shown = lines.length;
  const more = tree.count - shown;
  if (more > 0) lines.push(`… ${more} more task${more === 1 ? "" : "s"} not shown`);
  return { text: lines.join("\n"), shown };
}

/**
 * Levels of indentation at most: a chain of 20,000 nested tasks indented
 * in full would need 600 million characters (and a page's line of 1000
 * would show only the guides of a task 333 levels deep).
 */
const MAX_INDENT = 64;

/** A path longer than this is shown by its end in `formatTaskTable`, the part that names the task. */
const MAX_PATH_CHARS = 1000;

/**
 * `text` cut to its first `max` characters (UTF-16 units), if longer: one
 * fewer if the cut would split a surrogate pair (an emoji), whose first
 * half alone is no character (a page shows it as �, `isWellFormed()` fails).
 */
function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  return text.slice(0, isLowSurrogate(text.charCodeAt(max)) ? max - 1 : max);
}

/** `text` cut to its last `max` characters, if longer: one fewer if the cut would split a surrogate pair. */
function clipStart(text: string, max: number): string {
  if (text.length <= max) return text;
  const start = text.length - max;
  return text.slice(isLowSurrogate(text.charCodeAt(start)) ? start + 1 : start);
}

/** Whether a UTF-16 unit is the second half of a surrogate pair. */
function isLowSurrogate(unit: number): boolean {
  return unit >= 0xdc00 && unit <= 0xdfff;
}

/**
 * Renders a snapshot as a `ps`-style table: one row per task, with its path.
 * The tasks a snapshot taken with `maxTasks` left out are summed up in a
 * last line, and control characters are escaped, as in `formatTaskTree`; a
 * path longer than 1000 characters is shown by its end (`…/worker/n/n`).
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
  // Depth-first with a stack of its own, not recursion (a chain of nested tasks can be deep).
  const stack = tree.roots.slice().reverse();
  while (stack.length > 0) {
    const task = stack.pop() as TaskSnapshot;
    rows.push([
      String(task.id),
      task.state,
      String(task.priority),
      formatAge(task.ageMs),
      task.waitKind,
      printable(task.path.length > MAX_PATH_CHARS ? `…${clipStart(task.path, MAX_PATH_CHARS - 1)}` : task.path),
    ]);
    for (let index = task.children.length - 1; index >= 0; index--) stack.push(task.children[index] as TaskSnapshot);
  }
  // A loop, not Math.max(...lengths): spreading 200,000 rows into arguments overflows the stack.
  const widths = new Array<number>(rows[0]?.length ?? 0).fill(0);
  for (const row of rows) {
    for (let column = 0; column < row.length; column++) widths[column] = Math.max(widths[column] ?? 0, (row[column] ?? "").length);
  }
  const lines = rows.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column] ?? 0))).join("  "));
  const more = tree.count - (rows.length - 1);
  if (more > 0) lines.push(`… ${more} more task${more === 1 ? "" : "s"} not shown`);
  return lines.join("\n");
}

/**
 * Characters that would let a task name (often made of what a client sent:
 * a request's target, a peer's name) forge the text: line breaks and other
 * control characters (a newline starts a fake task line, an ANSI escape
 * repaints the terminal), and the Unicode controls that reorder what
 * follows them (bidirectional overrides and isolates).
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const UNPRINTABLE_ALL = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const SHORT_ESCAPES: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/** `text` with those characters escaped as JSON writes them (`\n`, `\u001b`), as request task names are. */
function printable(text: string): string {
  if (!UNPRINTABLE.test(text)) return text;
  return text.replace(UNPRINTABLE_ALL, (char) => SHORT_ESCAPES[char] ?? `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/**
 * An age as `850ms`, `12.3s`, `4m7s` or `2h5m`. Each unit is rounded before
 * it is split, so a carry goes up (59,960 ms is `1m0s`, never `60.0s`;
 * 119,700 ms `2m0s`, never `1m60s`).
 */
function formatAge(ms: number): string {
  const whole = Math.round(ms);
  if (whole < 1000) return `${whole}ms`;
  const tenths = Math.round(ms / 100);
  if (tenths < 600) return `${(tenths / 10).toFixed(1)}s`;
  const seconds = Math.round(ms / 1000);
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${seconds % 60}s`;
  return `${Math.floor(seconds / 3600)}h${Math.floor((seconds % 3600) / 60)}m`;
}
