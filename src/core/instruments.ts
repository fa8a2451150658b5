/**
 * Instruments: callbacks told when tasks start and end, for tracing,
 * metrics and debugging tools (Trio's `trio.abc.Instrument`).
 * @module
 */
import type { Task, TaskImpl } from "./task.ts";

/**
 * Callbacks for task lifecycle events; implement the ones you need. They run
 * synchronously inside the scheduler: keep them short, do not suspend. One
 * that throws is removed and its error reported to the loop's `onError`
 * (Trio does the same), so a broken instrument cannot break the program.
 *
 * @example Count the tasks a program starts
 * ```ts
 * import { addInstrument, run, spawn } from "corio";
 * let started = 0;
 * const remove = addInstrument({ taskSpawned: () => void started++ });
 * await run(function* () {
 *   yield* spawn(function* () {});
 * });
 * remove();
 * console.assert(started === 2); // the root task and its child
 * ```
 */
export interface Instrument {
  /** A task was created: its parent, name and inherited context are set; its body has not run yet. */
  taskSpawned?(task: Task<unknown>): void;
  /** A task ended (`done`, `failed` or `cancelled`), its children and cleanup finished, before its joiners are woken. */
  taskExited?(task: Task<unknown>): void;
}

/** The installed instruments; empty in most programs, so the scheduler pays one length check. */
export const instruments: Instrument[] = [];
/**
 * The same, as a copy made at each change and never changed in place: a
 * notification goes through the copy of its moment (an instrument removed or
 * added while being called changes the next one only) without copying the
 * list at each spawn and finish, which was most of what an instrument cost.
 */
let notified: readonly Instrument[] = [];

/**
 * Installs an instrument for every loop of this thread and returns the
 * function that removes it. Adding the same object twice installs it once.
 *
 * @param instrument The callbacks.
 * @returns A function that removes the instrument (calling it again does nothing).
 * @throws {TypeError} if `instrument` is not an object.
 * @example
 * ```ts
 * import { addInstrument, run } from "corio";
 * const names: string[] = [];
 * const remove = addInstrument({ taskExited: (task) => void names.push(`${task.name} ${task.state}`) });
 * await run(function* () {}, { name: "main" });
 * remove();
 * console.assert(names[0] === "main done");
 * ```
 */
export function addInstrument(instrument: Instrument): () => void {
  if (instrument === null || typeof instrument !== "object")
    throw new TypeError(
      `Cannot add an instrument: expected an object with taskSpawned and/or taskExited, received ${instrument === null ? "null" : typeof instrument}`,
    );
  if (!instruments.includes(instrument)) {
    instruments.push(instrument);
    notified = instruments.slice();
  }
  return () => removeInstrument(instrument);
}

function removeInstrument(instrument: Instrument): void {
  const index = instruments.indexOf(instrument);
  if (index !== -1) {
    instruments.splice(index, 1);
    notified = instruments.slice();
  }
}

/** Calls one hook of every instrument; one that throws is removed and reported. */
export function notifyInstruments(hook: keyof Instrument, task: TaskImpl<unknown>): void {
  const list = notified;
  for (let index = 0; index < list.length; index++) {
    const instrument = list[index] as Instrument;
    const fn = instrument[hook];
    if (fn === undefined) continue;
    try {
      fn.call(instrument, task);
    } catch (error) {
      removeInstrument(instrument);
      task.loop.report(error, { kind: "callback", task, path: `instrument ${hook} of ${task.path}` });
    }
  }
}
