/**
 * Functions sent to workers as source: each distinct source gets an id, so
 * that a worker compiles it once and jobs then name it by that id.
 *
 * Sources are kept for the life of the process, here and compiled in each
 * worker that ran them (until it stops): a job's id must stay valid for as
 * long as it can be sent, taken back or run again elsewhere, and forgetting
 * one would need the workers to forget it in step. An application that makes
 * a new source per call (`new Function(...)` with the data in its text)
 * grows without bound (100,000 sources: ~36 MB here, ~73 MB in a worker);
 * pass the data as arguments to one function instead.
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
