/**
 * The few host facilities the portable modules need, typed here once so that
 * `core`, `time`, `sync`, `streams` and `util` compile with `lib: ["ES2023"]`
 * and no `@types/node`: they run on Node, Deno, Bun and browsers alike.
 * @module
 */

/** An opaque handle returned by the host's `setTimeout`. */
export interface HostTimer {
  ref?(): unknown;
  unref?(): unknown;
}

interface HostGlobals {
  setTimeout(fn: () => void, ms: number): HostTimer;
  clearTimeout(timer: HostTimer): void;
  setImmediate?: (fn: () => void) => unknown;
  performance?: { now(): number };
  console: { error(...args: unknown[]): void };
  process?: HostProcess & { env?: Record<string, string | undefined> };
  CORIO_DEV?: unknown;
  Buffer?: { prototype: { utf8Slice?: (this: Uint8Array, start: number, end: number) => string } };
}

/** The part of Node's `process` that `main` uses, when it exists. */
export interface HostProcess {
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  off(event: string, listener: (...args: unknown[]) => void): unknown;
  exitCode?: number | string | undefined;
  pid?: number;
  kill?(pid: number, signal: string): unknown;
}

const host = globalThis as unknown as HostGlobals;

const utf8Slice = host.Buffer?.prototype.utf8Slice;
/**
 * `bytes[start..end)` decoded as UTF-8 by the host itself, where it can
 * (Node's and Bun's `Buffer.prototype.utf8Slice`, taken as a function of any
 * `Uint8Array`); `undefined` elsewhere. The same text as a `TextDecoder`
 * created with `ignoreBOM` (U+FEFF kept, invalid bytes as U+FFFD; a property
 * test checks it) with no view of the range and no argument checks in
 * JavaScript: a line decodes in about half the time.
 */
export const hostDecodeUtf8: ((bytes: Uint8Array, start: number, end: number) => string) | undefined =
  typeof utf8Slice === "function" ? (bytes, start, end) => utf8Slice.call(bytes, start, end) : undefined;

/** The longest delay a host timer takes (2^31 - 1 ms, about 24.8 days): Node turns a longer one into 1 ms. */
export const MAX_HOST_DELAY = 2 ** 31 - 1;

export const setHostTimeout = (fn: () => void, ms: number): HostTimer => host.setTimeout(fn, ms);
export const clearHostTimeout = (timer: HostTimer): void => host.clearTimeout(timer);
const settled = Promise.resolve();
/**
 * Runs `fn` in a microtask: a `then` on a settled promise. Node's
 * `queueMicrotask` builds an `AsyncResource` and a bound function per call
 * (about 250 bytes, twice the time), and the loop asks for a flush on every
 * wake-up from outside (each HTTP request, each read). The loop's flush
 * never throws, so the rejection path of the promise is never taken.
 */
export const queueMicrotask = (fn: () => void): void => {
  void settled.then(fn);
};

/** Runs `fn` after pending I/O callbacks (a macrotask), so a busy loop never starves I/O. */
export const setMacrotask: (fn: () => void) => void = host.setImmediate
  ? (fn) => {
      host.setImmediate?.(fn);
    }
  : (fn) => {
      host.setTimeout(fn, 0);
    };

/**
 * Runs `fn` once the host has run this turn's pending I/O callbacks (Node's
 * check phase: `setImmediate`), or in a microtask where the host has no such
 * phase (a `setTimeout(0)` would wait a millisecond or more).
 */
export const setAfterIo: (fn: () => void) => void = host.setImmediate
  ? (fn) => {
      host.setImmediate?.(fn);
    }
  : queueMicrotask;

/** Monotonic milliseconds. */
export const monotonicNow: () => number = host.performance ? () => (host.performance as { now(): number }).now() : () => Date.now();

export const hostConsole = host.console;
export const hostProcess: HostProcess | undefined = host.process;

/**
 * Development mode: `CORIO_DEV=1` in the environment (or `globalThis.CORIO_DEV = true`
 * set before corio is imported, where there is no environment). Read once, at load.
 */
export const DEV_MODE: boolean = host.CORIO_DEV === true || /^(1|true|yes|on)$/i.test(host.process?.env?.["CORIO_DEV"] ?? "");

/**
 * Run by `main` once the program has ended, after the exit code is set: a
 * `node:cluster` worker (`net/_cluster.ts`) lets go of its IPC channel
 * there, which would otherwise keep the process alive.
 */
export const programEndHooks: (() => void)[] = [];

/**
 * Run by `main`, and by every `run` on the running or default loop (not one
 * with a loop of its own), once its root task is started: a `node:cluster`
 * worker whose primary asked it to close while no program ran owes that
 * stop, and pays it there, to the roots started in that turn of the event
 * loop (`stopOwed` in `net/_cluster.ts`).
 */
export const programStartHooks: (() => void)[] = [];
