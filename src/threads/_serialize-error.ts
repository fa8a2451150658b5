/**
 * Errors crossing between a pool and its workers, both ways: a job's error
 * to its task, a `callFromThread` failure to the worker. `postMessage` alone
 * keeps only the message of a custom error (a `CancelledError` would arrive
 * as a plain `Error`), so errors travel as a `SerializedError` and are
 * rebuilt on the other side: as an instance of the same class when it is a
 * built-in error class or a corio class registered in that thread (see
 * `core/_error-registry.ts`), else as an `Error` with the same `name`. An
 * `AggregateError` keeps its errors (the first 100, each sent as an error
 * is), a `DOMException` its name, message and code.
 * Message, stack, `cause` and own fields (`code`, `reason`, `ms`...) come
 * along when they can be read and copied.
 *
 * `isCloneable`, `serializeError` and `deserializeError` also run in the
 * worker, as source text (`_worker-source.ts`): they use only globals and
 * each other, and define no named inner functions (tsx would wrap those in
 * a helper the worker does not have).
 * @module
 */
import type { ErrorRegistry } from "../core/_error-registry.ts";

/** An error as it crosses a thread. */
export interface SerializedError {
  /** The class to rebuild: a key of corio's error registry, or the name of a built-in error class. */
  key: string;
  name: string;
  message: string;
  stack?: string;
  /** Own enumerable fields that can be copied, and `code` even when it is a getter (`DOMException`). */
  fields?: Fields;
  cause?: SerializedError;
  /** Set when the thrown value was not an Error: it travels as it is. */
  thrown?: unknown;
  /** An `AggregateError`'s errors (the first `MAX_ERRORS`), each as the error itself is. */
  errors?: SerializedError[];
}

type Registry = { [key: symbol]: ErrorRegistry | undefined };
type Fields = { code?: unknown; [name: string]: unknown };

/** Whether `postMessage` can copy `value`. */
export function isCloneable(value: unknown): boolean {
  if (value === null || (typeof value !== "object" && typeof value !== "function" && typeof value !== "symbol")) return true;
  if (typeof value !== "object") return false;
  try {
    structuredClone(value);
    return true;
  } catch {
    return false;
  }
}

/**
 * Turns a thrown value into something `postMessage` can carry. It never
 * throws: a field whose getter throws is left out, like one that cannot be
 * copied; an error whose class, name, message or stack cannot be read (a
 * getter or a proxy that throws) becomes an `Error` saying so. Thrown here,
 * it would end the worker (failing every job on it) or, in the main thread,
 * escape the pool's message handler.
 *
 * `budget` counts the errors one call may still write out (causes and an
 * `AggregateError`'s errors included): an error listed many times, or
 * listing itself, would otherwise be written out again at every mention,
 * exponentially. Past it, an error comes as one saying it was left out.
 */
export function serializeError(error: unknown, depth = 0, budget = { left: 200 }): SerializedError {
  try {
    if (!(error instanceof Error)) {
      let message: string;
      try {
        message = String(error);
      } catch {
        message = Object.prototype.toString.call(error);
      }
      return { key: "Error", name: "Error", message, thrown: error };
    }
    if (budget.left <= 0) return { key: "Error", name: "Error", message: "An error left out: the error thrown holds more errors than are sent across threads" };
    budget.left--;
    const registry = (globalThis as unknown as Registry)[Symbol.for("corio.errorClasses")];
    const builtins: unknown[] = [Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError, AggregateError, DOMException];
    // An error rebuilt where its class was missing keeps its key, so it comes back as what it was.
    let key = (error as unknown as Record<symbol, string | undefined>)[Symbol.for("corio.errorKey")];
    // The nearest registered or built-in class: a subclass of TypeError arrives as a TypeError with its own name.
    for (let proto = Object.getPrototypeOf(error); key === undefined && proto !== null; proto = Object.getPrototypeOf(proto)) {
      const errorClass = proto.constructor;
      key = registry?.keys.get(errorClass) ?? (builtins.includes(errorClass) ? (errorClass as ErrorConstructor).name : undefined);
    }
    const record: SerializedError = { key: key ?? "Error", name: String(error.name), message: String(error.message) };
    if (typeof error.stack === "string") record.stack = error.stack;
    const own = error as unknown as Fields;
    let fields: Fields | undefined;
    for (const name of Object.keys(error)) {
      if (name === "name" || name === "message" || name === "stack" || name === "cause") continue;
      try {
        const value = own[name];
        if (isCloneable(value)) (fields ??= {})[name] = value;
      } catch {
        // A getter that throws: left out, as a value that cannot be copied is.
      }
    }
    try {
      if (fields?.code === undefined && own.code !== undefined && isCloneable(own.code)) (fields ??= {}).code = own.code;
    } catch {
      // As above.
    }
    if (fields !== undefined) record.fields = fields;
    // A cause that cannot be copied (or a cycle of causes) is left out rather than failing the whole message.
    try {
      if ("cause" in error && depth < 8 && (error.cause instanceof Error || isCloneable(error.cause)))
        record.cause = serializeError(error.cause, depth + 1, budget);
    } catch {
      // As above.
    }
    // An AggregateError's errors, as deep as causes go and no more than 100 of them (the message must stay small);
    // one that cannot be copied comes as an Error saying so.
    try {
      const errors = (error as { errors?: unknown }).errors;
      if (key === "AggregateError" && Array.isArray(errors) && depth < 8) {
        const list: SerializedError[] = [];
        for (const item of errors.slice(0, 100)) {
          if (budget.left <= 0) {
            // One record says the rest were left out (each would only say the same).
            list.push(serializeError(item, depth + 1, budget));
            break;
          }
          list.push(
            item instanceof Error || isCloneable(item)
              ? serializeError(item, depth + 1, budget)
              : { key: "Error", name: "Error", message: `An error of the AggregateError cannot be copied across threads: ${typeof item}` },
          );
        }
        record.errors = list;
      }
    } catch {
      // As above.
    }
    return record;
  } catch (failure) {
    let why: string;
    try {
      why = failure instanceof Error ? String(failure.message) : String(failure);
    } catch {
      why = "reading it threw";
    }
    return { key: "Error", name: "Error", message: `An error was thrown that cannot be read to send it across threads (${why})` };
  }
}

/** Rebuilds an error sent by `serializeError`. */
export function deserializeError(record: SerializedError): unknown {
  // Not from `serializeError` (the other thread's code is broken): an error saying so, rather than a throw here.
  if (record === null || typeof record !== "object") return new Error(`The other thread sent an error that cannot be read: ${String(record)}`);
  if ("thrown" in record) return record.thrown;
  const registry = (globalThis as unknown as Registry)[Symbol.for("corio.errorClasses")];
  const builtins: Record<string, ErrorConstructor> = { Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError };
  const options = record.cause === undefined ? undefined : { cause: deserializeError(record.cause) };
  const builtin = Object.hasOwn(builtins, record.key) ? builtins[record.key] : undefined;
  const registered = builtin === undefined ? registry?.classes.get(record.key) : undefined;
  let error: Error;
  if (builtin !== undefined) {
    error = new builtin(record.message, options);
  } else if (record.key === "AggregateError") {
    error = new AggregateError(Array.isArray(record.errors) ? record.errors.map((item) => deserializeError(item)) : [], record.message, options);
  } else if (record.key === "DOMException") {
    // Its name gives its code (a getter): only the name and message are its own.
    error = new DOMException(record.message, record.name);
    if (options !== undefined) Object.defineProperty(error, "cause", { value: options.cause, writable: true, configurable: true });
  } else if (registered !== undefined) {
    // A real Error whose prototype is the class's, made without running the class's constructor (each takes other arguments).
    error = Reflect.construct(Error, [record.message, options], registered as unknown as new () => Error);
  } else {
    error = new Error(record.message, options);
    Object.defineProperty(error, Symbol.for("corio.errorKey"), { value: record.key });
  }
  if (error.name !== record.name) error.name = record.name;
  if (record.stack !== undefined) error.stack = record.stack;
  if (record.fields !== null && typeof record.fields === "object") {
    for (const name of Object.keys(record.fields)) {
      Object.defineProperty(error, name, { value: record.fields[name], writable: true, enumerable: true, configurable: true });
    }
  }
  return error;
}
