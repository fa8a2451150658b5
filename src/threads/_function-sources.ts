/**
 * Functions sent to workers as source: each distinct source gets an id, so
 * that a worker compiles it once and jobs then name it by that id.
 * @module
 */

const functionIds = new WeakMap<object, number>();
const sourceIds = new Map<string, number>();
const sources: string[] = [];
const names: string[] = [];

/** The id of `fn`'s source, the same for equal sources (an arrow written inline is a new object at every call). */
export function functionId(fn: (...args: never[]) => unknown): number {
  let id = functionIds.get(fn);
  if (id === undefined) {
    const source = Function.prototype.toString.call(fn);
    if (source.endsWith("{ [native code] }")) {
      // `fn.bind(...)` has no source to send either; its name is "bound " and the target's.
      if (fn.name.startsWith("bound "))
        throw new TypeError(
          `Cannot run a bound function${fn.name.length > 6 ? ` (${fn.name})` : ""} in a thread: it has no source to send; pass the function itself, and what you bound as arguments`,
        );
      throw new TypeError(`Cannot run ${fn.name || "a native function"} in a thread: only functions written in JavaScript can be sent`);
    }
    id = sourceIds.get(source);
    if (id === undefined) {
      id = sources.length;
      sources.push(source);
      names.push(fn.name);
      sourceIds.set(source, id);
    }
    functionIds.set(fn, id);
  }
  return id;
}

/** The source text of function `id`. */
export function functionSource(id: number): string {
  return sources[id] as string;
}

/** The name of function `id` (of the first function seen with that source), for messages. */
export function functionName(id: number): string {
  return names[id] || "(anonymous)";
}
