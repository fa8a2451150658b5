/**
 * Moving buffers to a worker instead of copying them: `transfer`.
 * @module
 */
import { Buffer } from "node:buffer";
import type { TransferListItem } from "node:worker_threads";

/**
 * The value of a marker's `cannotBeCopied` (the worker's `this.transfer()`
 * marker has one too). Structured clone refuses a function, so a marker
 * left inside an argument or result, where the pool does not look for one,
 * makes `postMessage` throw instead of arriving as this wrapper; the pool
 * turns that into a clear error for its job alone (`nestedTransferError`).
 * Looking for markers in every argument would cost each job a walk of its
 * arguments; this costs nothing: the clone walks them anyway.
 */
function transferMarker(): never {
  throw new TypeError("a transfer() marker is not a value: give it to a thread job as a whole argument");
}

/** The wrapper `transfer` puts around an argument (unwrapped before sending). */
class Transferred {
  readonly value: unknown;
  readonly list: readonly TransferListItem[];
  /** Own and enumerable, so that structured clone meets it (see `transferMarker`). */
  readonly cannotBeCopied = transferMarker;
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
 * `view` itself if it covers its whole `ArrayBuffer`, else a copy of its
 * bytes in a buffer of its own (a `DataView` or a typed array of the same
 * kind; a Node `Buffer`, which arrives as a `Uint8Array` anyway, as one).
 * Moving a part's whole buffer would detach bytes that are not the
 * argument's: a `StreamReader`'s line is a view of its buffer, whose
 * unread bytes would be lost.
 */
function ownedView(view: ArrayBufferView): ArrayBufferView {
  const buffer = view.buffer;
  if (!(buffer instanceof ArrayBuffer) || (view.byteOffset === 0 && view.byteLength === buffer.byteLength)) return view;
  const bytes = buffer.slice(view.byteOffset, view.byteOffset + view.byteLength);
  if (view instanceof DataView) return new DataView(bytes);
  const Kind = Buffer.isBuffer(view) ? Uint8Array : (view.constructor as new (buffer: ArrayBuffer) => ArrayBufferView);
  return new Kind(bytes);
}

/**
 * Marks an argument of a thread job to be moved, not copied: an
 * `ArrayBuffer`, a typed array (its buffer moves) or a `MessagePort`, or any
 * value with an explicit `list` of what to move. After the call the buffer
 * is detached on this side (its `byteLength` is 0), and a job given a
 * detached buffer fails with a `TypeError` (Node would drop its message
 * silently). A typed array or `DataView` that is only part of its buffer
 * (a line `StreamReader.readLine` returned, a `subarray`) is copied first,
 * and the copy moves: moving the whole buffer would detach the bytes
 * around it, which are not yours to give (the reader's unread data). With
 * an explicit `list` nothing is copied. Inside a worker,
 * `this.transfer(value)` does the same for a result.
 *
 * Only a whole argument (or, in a worker, the whole result) can be marked,
 * as with piscina's `move()`. A marker inside an object or array (`{ data:
 * transfer(bytes) }`, `[transfer(a), transfer(b)]`) fails its job with a
 * `TypeError` saying where it is, before anything moved: the buffer stays
 * whole here, and the jobs sent with it run (piscina sends such a marker
 * as its wrapper object, without a word). To move buffers inside an
 * argument, mark the whole argument and list them, as below. The marker is
 * no value of its own: `structuredClone` or `postMessage` refuse it
 * (`DataCloneError`), which is how the pool finds one out of place at no
 * cost to the jobs without one.
 *
 * @example
 * ```ts
 * import { run } from "corio";
 * import { toThread, transfer } from "corio/threads";
 * await run(function* () {
 *   const bytes = new Uint8Array(1024).fill(1);
 *   const sum = yield* toThread((data: Uint8Array) => data.reduce((a, b) => a + b, 0), transfer(bytes));
 *   console.assert(sum === 1024 && bytes.byteLength === 0);
 *   // A buffer inside an argument: the whole argument is marked, with the list of what to move.
 *   const data = new Float64Array([1, 2]);
 *   const length = yield* toThread((arg: { data: Float64Array }) => arg.data.length, transfer({ data }, [data.buffer]));
 *   console.assert(length === 2 && data.byteLength === 0);
 * });
 * ```
 */
export function transfer<T>(value: T, list?: readonly TransferListItem[]): T {
  if (list !== undefined) return new Transferred(value, list) as T;
  const moved = ArrayBuffer.isView(value) ? (ownedView(value) as T) : value;
  return new Transferred(moved, defaultList(moved)) as T;
}

/**
 * Where in `value` (named `path`) a transfer marker is, this side's or the
 * worker's (`transferMarker`), as `args[0].data`; `undefined` if there is
 * none. Only for a message that would not clone, so it may take its time.
 * Self-contained: the worker has its source (`_worker-source.ts`).
 */
export function findTransferMarker(value: unknown, path: string, seen: Set<object> = new Set()): string | undefined {
  if (value === null || typeof value !== "object" || seen.has(value)) return undefined;
  if (typeof (value as { cannotBeCopied?: unknown }).cannotBeCopied === "function" && "list" in value) return path;
  seen.add(value);
  // Their bytes hold no marker (and a big one has millions of keys).
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return undefined;
  if (value instanceof Map) {
    for (const [key, item] of value) {
      const at =
        findTransferMarker(key, `${path} (a key)`, seen) ??
        findTransferMarker(item, `${path}.get(${typeof key === "string" ? JSON.stringify(key) : String(key)})`, seen);
      if (at !== undefined) return at;
    }
    return undefined;
  }
  if (value instanceof Set) {
    for (const item of value) {
      const at = findTransferMarker(item, `${path} (an item)`, seen);
      if (at !== undefined) return at;
    }
    return undefined;
  }
  const isArray = Array.isArray(value);
  for (const key of Object.keys(value)) {
    const name = isArray ? `[${key}]` : /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
    const at = findTransferMarker((value as Record<string, unknown>)[key], path + name, seen);
    if (at !== undefined) return at;
  }
  return undefined;
}

/**
 * The error for a job whose arguments would not clone (`cause`) because of
 * a marker inside one of them, or `undefined` if none is.
 */
export function nestedTransferError(args: readonly unknown[], cause: unknown): TypeError | undefined {
  let at: string | undefined;
  try {
    at = findTransferMarker(args, "args");
  } catch {
    // A getter that throws, a structure too deep: the plain "cannot be copied" error says enough.
    return undefined;
  }
  if (at === undefined) return undefined;
  return new TypeError(
    `Cannot run in a thread: transfer() marks a whole argument only, and ${at} is one inside an argument (it cannot be sent; nothing was moved). Pass it as an argument of its own, or mark the whole argument and list what to move: transfer({ data: bytes }, [bytes.buffer])`,
    { cause },
  );
}

/**
 * Replaces `transfer(...)` wrappers in `args` by their values; returns what to move.
 * @throws {TypeError} for a buffer that was moved already (see `isDetached`).
 */
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
  if (list?.some(isDetached)) throw new TypeError(`Cannot run in a thread: ${DETACHED}`);
  return list ?? NONE;
}

/** Why a job whose buffer is detached cannot be sent. */
export const DETACHED = "an ArrayBuffer given to transfer() is detached (it was moved to another thread already)";

/**
 * Whether `item` is an `ArrayBuffer` that was moved away already. Node drops
 * a whole message whose transfer list holds one, without an error (Node
 * 20-24), so the pool must not post it: every job in that batch would wait
 * forever. (`ArrayBuffer.prototype.detached` is not in Node 20; a view on a
 * detached buffer cannot be made.)
 */
export function isDetached(item: TransferListItem): boolean {
  if (!(item instanceof ArrayBuffer) || item.byteLength !== 0) return false;
  try {
    return new Uint8Array(item, 0, 0).byteLength !== 0;
  } catch {
    return true;
  }
}

const NONE: TransferListItem[] = [];
