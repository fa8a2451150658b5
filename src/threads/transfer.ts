/**
 * Moving buffers to a worker instead of copying them: `transfer`.
 * @module
 */
import type { TransferListItem } from "node:worker_threads";

/** The wrapper `transfer` puts around an argument (unwrapped before sending). */
class Transferred {
  readonly value: unknown;
  readonly list: readonly TransferListItem[];
  constructor(value: unknown, list: readonly TransferListItem[]) {
    this.value = value;
    this.list = list;
  }
}

function defaultList(value: unknown): TransferListItem[] {
  if (value instanceof ArrayBuffer) return [value];
  if (ArrayBuffer.isView(value)) return [value.buffer as ArrayBuffer];
  if (value !== null && typeof value === "object") return [value as TransferListItem];
  throw new TypeError(`Cannot transfer ${typeof value}: only an ArrayBuffer, a typed array, a MessagePort or another transferable object can be moved`);
}

/**
 * Marks an argument of a thread job to be moved, not copied: an
 * `ArrayBuffer`, a typed array (its buffer moves) or a `MessagePort`, or any
 * value with an explicit `list` of what to move. After the call the buffer
 * is detached on this side (its `byteLength` is 0). Inside a worker,
 * `this.transfer(value)` does the same for a result.
 *
 * @example
 * ```ts
 * import { run } from "corio";
 * import { toThread, transfer } from "corio/threads";
 * await run(function* () {
 *   const bytes = new Uint8Array(1024).fill(1);
 *   const sum = yield* toThread((data: Uint8Array) => data.reduce((a, b) => a + b, 0), transfer(bytes));
 *   console.assert(sum === 1024 && bytes.byteLength === 0);
 * });
 * ```
 */
export function transfer<T>(value: T, list?: readonly TransferListItem[]): T {
  return new Transferred(value, list ?? defaultList(value)) as T;
}

/** Replaces `transfer(...)` wrappers in `args` by their values; returns what to move. */
export function unwrapTransfers(args: unknown[]): TransferListItem[] {
  let list: TransferListItem[] | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg instanceof Transferred) {
      args[i] = arg.value;
      list ??= [];
      for (const item of arg.list) list.push(item);
    }
  }
  return list ?? NONE;
}

const NONE: TransferListItem[] = [];
