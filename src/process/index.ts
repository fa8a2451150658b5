/**
 * Subprocesses with corio stream pipes: `spawnProcess` (asyncio's
 * `create_subprocess_exec`) gives a `Process` whose stdin is a
 * `StreamWriter` and whose stdout and stderr are `StreamReader`s. A process
 * belongs to the task that spawned it: when that task ends, a process still
 * running is terminated (then killed after a grace period) and awaited.
 * @module corio/process
 */
export { type CommunicateResult, Process, type ProcessExit } from "./process.ts";
export { type SpawnProcessOptions, type StdioMode, spawnProcess } from "./spawn-process.ts";
