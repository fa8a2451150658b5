/**
 * Helpers for testing code written with corio: virtual time, deadlock
 * detection and interleaving control.
 * @module corio/testing
 */
export { VirtualClock } from "../core/virtual-clock.ts";
export { checkStream, type StreamCheck } from "./check-stream.ts";
export { type RunVirtualOptions, runVirtual, VirtualTestError } from "./run-virtual.ts";
export { waitAllTasksBlocked } from "./wait-all-tasks-blocked.ts";
