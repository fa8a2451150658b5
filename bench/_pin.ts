// Core pinning for the load benches (http, net): the servers under test run on
// core 0 and the load generators (wrk, autocannon, the client scripts) on core
// 1, so a server's throughput is what one core of its own gives it, and the
// load generator does not take turns with it on both cores. Unpinned on the
// 2-core VM of bench/RESULTS.md, a raw node:http server answered 33k–82k
// requests/s from one round to the next, pinned 66k–76k (5 s rounds, one
// sitting); the host's own drift remains either way (see RESULTS.md).
// BENCH_PIN=0 turns it off; it is off where `taskset` (util-linux) is missing
// or the machine has one core.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";

const TASKSET = "/usr/bin/taskset";

/** Whether the load benches pin servers to core 0 and load generators to core 1. */
export const PIN = process.env["BENCH_PIN"] !== "0" && existsSync(TASKSET) && availableParallelism() >= 2;

/** How the run was pinned, for the line under a bench's title. */
export const PIN_NOTE = PIN ? "servers on core 0, load generators on core 1" : "not pinned: servers and load generators share the cores";

/**
 * The command line that runs `command args` on `core` when pinning, else as it is.
 * taskset execs the command, so the child's pid is the command's (its /proc CPU times are read by pid).
 *
 * @example
 * const [command, args] = onCore(1, "/usr/bin/wrk", ["-c100", url]);
 * execFileSync(command, args);
 */
export function onCore(core: number, command: string, args: string[]): [string, string[]] {
  return PIN ? [TASKSET, ["-c", String(core), command, ...args]] : [command, args];
}

/**
 * Pins this process (every thread it has, and so the threads and processes it starts later) to
 * `core` when pinning: for a bench whose servers run in its own process.
 *
 * @example
 * pinThisProcess(0); // the net bench's servers live in the bench process
 */
export function pinThisProcess(core: number): void {
  if (PIN) execFileSync(TASKSET, ["-a", "-p", "-c", String(core), String(process.pid)], { stdio: "ignore" });
}
