/**
 * Marking corio's operations, and development mode's check for operations
 * created and never run.
 *
 * Every public operation function goes through `defineOperation` (class
 * methods through `defineOperationMethods`): its objects get a label and a
 * `then` that rejects with the fix (`await sleep(300)` is a mistake), at no
 * cost per call. With `CORIO_DEV=1`, the function is also wrapped: each
 * object it makes records where it was made, and one that nobody runs is
 * reported with that place when the task that made it finishes (or, made
 * outside any task, when it is garbage-collected). Without `CORIO_DEV` the
 * function is returned as it is.
 * @module
 */
import { DEV_MODE } from "./_host.ts";
import { addInstrument } from "./instruments.ts";
import { getDefaultLoop } from "./loop.ts";
import { devHooks, isGeneratorFunction, markOperationPrototype, type Operation, ranTwice } from "./operation.ts";
import { getCurrentTask, type TaskImpl } from "./task.ts";

/** One operation object made in development mode and not run yet. */
interface Created {
  readonly label: string;
  readonly stack: string;
  /** Set once it is run or handed to the runtime. */
  used: boolean;
}

/** Operation object → its record, while not yet run. */
const created = new WeakMap<object, Created>();
/** Task → the records of the operations made while it ran. */
const byTask = new WeakMap<TaskImpl<unknown>, Created[]>();
/** Operations made outside any task: reported if collected unused. */
const outside =
  typeof FinalizationRegistry === "function"
    ? new FinalizationRegistry<Created>((record) => {
        if (!record.used) getDefaultLoop().report(floatingError(record), { kind: "floating-operation", path: "(outside any task)" });
      })
    : null;

function markUsed(op: object): void {
  const record = created.get(op);
  if (record !== undefined) {
    record.used = true;
    created.delete(op);
    outside?.unregister(record);
  }
}

if (DEV_MODE) {
  devHooks.handedOver = markUsed;
  // The check runs as each task ends, through the same hook tracing tools use.
  addInstrument({
    taskExited(exited) {
      const task = exited as TaskImpl<unknown>;
      const records = byTask.get(task);
      if (records === undefined) return;
      byTask.delete(task);
      for (const record of records) if (!record.used) task.loop.report(floatingError(record), { kind: "floating-operation", task, path: task.path });
    },
  });
}

/** The report of an operation made and never run, whose stack is where it was made. */
function floatingError(record: Created): Error {
  const error = new Error(
    `${record.label}(…) was created but never run: an operation does nothing until it is driven. ` +
      `Write yield* ${record.label}(…) inside an operation, or pass it to run(), spawn() or another corio function`,
  );
  error.name = "FloatingOperationError";
  error.stack = `${error.name}: ${error.message}\n${record.stack}`;
  return error;
}

/** The stack of the caller of `fn`, without the message line. */
function stackAbove(fn: Function): string {
  const holder: { stack?: string } = {};
  const capture = (Error as { captureStackTrace?: (target: object, above: Function) => void }).captureStackTrace;
  if (capture !== undefined) capture(holder, fn);
  else holder.stack = new Error().stack ?? "";
  const stack = holder.stack ?? "";
  const firstFrame = stack.indexOf("\n");
  return firstFrame < 0 ? "" : stack.slice(firstFrame + 1);
}

function track<T extends object>(op: T, label: string, stack: string): T {
  const record: Created = { label, stack, used: false };
  created.set(op, record);
  const task = getCurrentTask();
  if (task === null) outside?.register(op, record, record);
  else {
    const list = byTask.get(task);
    if (list === undefined) byTask.set(task, [record]);
    else list.push(record);
  }
  return op;
}

function handOver(value: unknown): void {
  if (value !== null && typeof value === "object") markUsed(value);
}

/** Generator-written operation objects already run (`yield*` called their iterator), in development mode. */
const iterated = new WeakSet<object>();

/**
 * In development mode, iterating an operation object marks it as run, and a
 * second run throws `ranTwice`, as a step operation always does: a finished
 * generator run again gives `undefined` at once (a second `sleep` that never
 * sleeps). Not checked without `CORIO_DEV`: a mark per object would cost
 * every `sleep`, `scope` and `timeout` an allocation.
 */
function iterateAndMark<T extends object>(this: T): T {
  if (iterated.has(this)) throw ranTwice(this);
  iterated.add(this);
  markUsed(this);
  return this;
}

function mark(fn: Function, label: string): void {
  const proto = (fn as { prototype?: object }).prototype;
  if (proto === undefined) return;
  markOperationPrototype(proto, label, fn);
  if (DEV_MODE) Object.defineProperty(proto, Symbol.iterator, { value: iterateAndMark, writable: true, configurable: true });
}

/**
 * Marks a public operation function (see the module comment). Returns `fn`
 * itself, or in development mode a wrapper that records each object's origin.
 */
export function defineOperation<F extends (...args: never[]) => Operation<unknown>>(fn: F, label: string = fn.name): F {
  mark(fn, label);
  if (!DEV_MODE) return fn;
  const wrapper = function (this: unknown, ...args: never[]): Operation<unknown> {
    // Captured here, where this frame is surely on the stack: JavaScriptCore (Bun, Safari) drops the
    // frame of a strict-mode tail call, so from inside `track` the wrapper's frame may be gone.
    const stack = stackAbove(wrapper);
    // An operation passed to another one is in corio's hands, even if that one fails its checks.
    for (const arg of args as unknown[]) {
      if (Array.isArray(arg)) for (const item of arg) handOver(item);
      else handOver(arg);
    }
    return track(fn.apply(this, args), label, stack);
  };
  Object.defineProperty(wrapper, "name", { value: fn.name });
  Object.defineProperty(wrapper, "length", { value: fn.length });
  return wrapper as unknown as F;
}

/** `defineOperation` for every generator method of a class (`Lock.acquire`, `StreamReader.readLine`...), static ones included. */
export function defineOperationMethods(cls: Function & { prototype: object }): void {
  defineMethods(cls.prototype, lowerFirst(cls.name));
  defineMethods(cls, cls.name);
}

function defineMethods(target: object, owner: string): void {
  for (const key of Object.getOwnPropertyNames(target)) {
    const descriptor = Object.getOwnPropertyDescriptor(target, key);
    if (descriptor === undefined || !isGeneratorFunction(descriptor.value)) continue;
    const method = descriptor.value as (...args: never[]) => Operation<unknown>;
    const wrapped = defineOperation(method, `${owner}.${key}`);
    if (wrapped !== method) Object.defineProperty(target, key, { ...descriptor, value: wrapped });
  }
}

function lowerFirst(name: string): string {
  return name.charAt(0).toLowerCase() + name.slice(1);
}
