/**
 * The program entry point.
 * @module
 */
import { clearHostTimeout, type HostTimer, hostConsole, hostProcess, programEndHooks, programStartHooks, setHostTimeout } from "./_host.ts";
import type { ErrorHandler } from "./loop.ts";
import { getDefaultLoop } from "./loop.ts";
import type { OperationLike } from "./operation.ts";
import { startRoot } from "./run.ts";
import { errorOriginOf } from "./task.ts";

/** Options of `main`. */
export interface MainOptions {
  /** The root task's name, first in every task path. @default "main" */
  name?: string;
  /** Stop the program (cancel every task, exit code 1) on the first reported error. @default false */
  stopOnError?: boolean;
  /** Where reported errors go. @default print to stderr with the task path */
  onError?: ErrorHandler;
}

const EXIT_CODES: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };
const KEEP_ALIVE_MS = 2 ** 31 - 1;

/**
 * Runs a program: starts `op` as the root task on the default loop, turns
 * SIGINT and SIGTERM into cancellation (a second signal exits at once),
 * prints an uncaught error with the path of the task it came from, sets
 * `process.exitCode` (0, 1 for an error, 130 after SIGINT, 143 after SIGTERM)
 * and resolves when every task on the loop has ended. In a `node:cluster`
 * worker it then disconnects from the primary, so the worker can exit (and
 * a worker that corio's primary asked to close before `main` was called
 * is stopped as it starts).
 *
 * @param op The program, or a function returning it.
 * @param options Name, `stopOnError` and `onError`.
 * @example
 * ```ts ignore
 * import { main, sleep } from "corio";
 * await main(function* () {
 *   try { yield* sleep(60_000); } finally { console.log("cleaned up"); }
 * });
 * ```
 */
export async function main(op: OperationLike<unknown>, options: MainOptions = {}): Promise<void> {
  const loop = getDefaultLoop();
  if (options.onError !== undefined) loop.onError = options.onError;
  if (options.stopOnError !== undefined) loop.stopOnError = options.stopOnError;
  const proc = hostProcess;
  let signalled: string | undefined;
  const onSignal = (signal: unknown): void => {
    const name = String(signal);
    if (signalled !== undefined) {
      hostConsole.error(`corio: second ${name}, exiting without waiting for cleanup`);
      (proc as { exit?(code: number): never }).exit?.(EXIT_CODES[name] ?? 1);
      return;
    }
    signalled = name;
    loop.stop(name);
  };
  proc?.on("SIGINT", onSignal);
  proc?.on("SIGTERM", onSignal);
  // A task may wait on nothing the host can see (a Future set later): keep the process alive while it runs.
  let keepAlive: HostTimer | undefined;
  const holdOpen = (): void => {
    keepAlive = setHostTimeout(holdOpen, KEEP_ALIVE_MS);
  };
  holdOpen();
  const task = startRoot(loop, op, { name: options.name ?? "main" });
  (task as typeof task & { markObserved(): void }).markObserved();
  for (const hook of programStartHooks) hook();
  let failed = false;
  try {
    await task;
  } catch (error) {
    if (task.state === "failed") {
      failed = true;
      hostConsole.error(`corio: uncaught error in task ${errorOriginOf(error, task.path)}:`, error);
    }
  }
  await new Promise<void>((resolve) => loop.whenRootsDone(resolve));
  if (keepAlive !== undefined) clearHostTimeout(keepAlive);
  proc?.off("SIGINT", onSignal);
  proc?.off("SIGTERM", onSignal);
  if (proc !== undefined) {
    if (signalled !== undefined) proc.exitCode = EXIT_CODES[signalled] ?? 1;
    else if (failed || loop.stopError !== undefined) proc.exitCode = 1;
  }
  for (const hook of programEndHooks) hook();
}
