/**
 * Waiting for events of an `EventTarget` or a Node `EventEmitter`, with no
 * listener left behind.
 * @module
 */
import { defineOperation } from "./_dev.ts";
import { Fifo } from "./_fifo.ts";
import { adoptResource, type ResourceKeeper } from "./_resource.ts";
import type { EachIterator } from "./each.ts";
import { Future } from "./future.ts";
import type { Operation } from "./operation.ts";
import { markOperationIterator } from "./operation-iterator.ts";

/** The part of a DOM/Web `EventTarget` that `on` and `once` use. */
export interface EventTargetLike<E> {
  addEventListener(type: string, listener: (event: E) => void): void;
  removeEventListener(type: string, listener: (event: E) => void): void;
}

/** The part of a Node `EventEmitter` that `on` and `once` use. */
export interface EventEmitterLike {
  on(name: string | symbol, listener: (...args: unknown[]) => void): unknown;
  removeListener(name: string | symbol, listener: (...args: unknown[]) => void): unknown;
}

/** Listens on either kind of target; `unlisten()` removes every listener it added. */
interface Listening {
  unlisten(): void;
}

/**
 * Adds the listeners. An object that has both APIs (Node's `MessagePort`
 * and `BroadcastChannel`, the `ws` package's `WebSocket`) is taken as an
 * `EventEmitter`, as Node's `events.once` and `events.on` do: it gives the
 * listener's arguments, and its `error` events are thrown.
 */
function listen(target: unknown, name: string | symbol, api: string, onEvent: (value: unknown) => void, onError: (error: unknown) => void): Listening {
  if (target !== null && typeof target === "object") {
    const t = target as {
      addEventListener?: unknown;
      removeEventListener?: unknown;
      on?: unknown;
      removeListener?: unknown;
    };
    if (typeof t.on === "function" && typeof t.removeListener === "function") {
      const emitter = target as EventEmitterLike;
      const listener = (...args: unknown[]): void => onEvent(args);
      // Node's rule (events.on, events.once): an 'error' event while waiting for another one is thrown.
      const errorListener = (error: unknown): void => onError(error);
      emitter.on(name, listener);
      if (name !== "error") emitter.on("error", errorListener);
      return {
        unlisten() {
          emitter.removeListener(name, listener);
          if (name !== "error") emitter.removeListener("error", errorListener);
        },
      };
    }
    if (typeof t.addEventListener === "function" && typeof t.removeEventListener === "function") {
      if (typeof name !== "string") throw new TypeError(`Cannot ${api}: an EventTarget's event name must be a string, received ${typeof name}`);
      const target_ = target as EventTargetLike<unknown>;
      target_.addEventListener(name, onEvent);
      return { unlisten: () => target_.removeEventListener(name, onEvent) };
    }
  }
  throw new TypeError(
    `Cannot ${api}: expected an EventTarget (addEventListener/removeEventListener) or an EventEmitter (on/removeListener), received ${target === null ? "null" : typeof target}`,
  );
}

/**
 * Waits for the next `name` event of `target` and gives it: the `Event`
 * for an `EventTarget`, the array of the listener's arguments for an
 * `EventEmitter` (as Node's `events.once`). For an emitter, an `error`
 * event while waiting is thrown (unless `name` is `"error"`). An object
 * that is both (Node's `MessagePort` and `BroadcastChannel`, the `ws`
 * package's `WebSocket`) is taken as an `EventEmitter`, as Node's
 * `events.once` does.
 *
 * The listeners are removed at the first event or error, as Node's
 * `events.once` does, not when the task resumes: an `error` emitted right
 * after the event reaches the emitter's other listeners (or, with none,
 * throws from `emit()`) rather than vanishing. They are removed however
 * the wait ends.
 *
 * **Cancellation:** the listeners are removed; an event that comes later is
 * not seen.
 *
 * @param target An `EventTarget` or an `EventEmitter`.
 * @param name The event name.
 * @returns The event (`EventTarget`) or the listener's arguments (`EventEmitter`).
 * @throws {TypeError} for a target of another kind.
 * @example
 * ```ts
 * import { once, run, spawn } from "corio";
 * const target = new EventTarget();
 * const type = await run(function* () {
 *   yield* spawn(function* () { target.dispatchEvent(new Event("ready")); });
 *   const event = yield* once(target, "ready");
 *   return event.type;
 * });
 * console.assert(type === "ready");
 * ```
 */
export const once: {
  <A extends unknown[] = unknown[]>(target: EventEmitterLike, name: string | symbol): Operation<A>;
  <E = Event>(target: EventTargetLike<E>, name: string): Operation<E>;
} = defineOperation(function* once(target: EventTargetLike<unknown> | EventEmitterLike, name: string | symbol): Operation<unknown> {
  const future = new Future<unknown>();
  // The listeners go at the first event or error, as with Node's events.once, not when the task
  // resumes: an 'error' emitted in between reaches the emitter's other listeners (or throws from
  // emit() if there are none) instead of vanishing here.
  let listening: Listening | null = null;
  let settled = false;
  const settle = (): void => {
    settled = true;
    listening?.unlisten();
  };
  listening = listen(
    target,
    name,
    "wait for an event",
    (value) => {
      settle();
      future.resolve(value);
    },
    (error) => {
      settle();
      future.reject(error);
    },
  );
  // Settled while the listeners were being added (once(emitter, "newListener")): remove those added after.
  if (settled) listening.unlisten();
  try {
    return yield* future;
  } finally {
    if (!settled) listening.unlisten();
  }
}) as unknown as never;

/**
 * Listens to every `name` event of `target` and gives them as an
 * `EachIterator` (a `next()` loop, `each`, `forEach`): for an `EventTarget`
 * each item is the `Event`, for an `EventEmitter` the array of the
 * listener's arguments (as Node's `events.on`; an object that is both is
 * taken as an `EventEmitter`, as for `once`). Events are buffered, without
 * bound, from the call on, so none is missed between two `next()`s. For an
 * emitter an `error` event is thrown by `next()` once the events before it
 * are read, and ends the iteration. The iteration never ends otherwise:
 * `yield* it.return()` stops it, and so do cancellation and the end of the
 * task that called `on`, which remove the listeners.
 *
 * Effection's `on(target, name)` gives a `Stream` that each subscriber
 * subscribes to; corio's gives the iterator directly (listening starts at
 * the call), which `each`/`forEach` accept like any source.
 *
 * **Cancellation:** of `next()`, loses nothing (the events stay buffered).
 *
 * @param target An `EventTarget` or an `EventEmitter`.
 * @param name The event name.
 * @returns An iterator over the events, tied to the current task.
 * @throws {TypeError} for a target of another kind.
 * @example
 * ```ts
 * import { forEach, on, run, spawn } from "corio";
 * const target = new EventTarget();
 * const seen = await run(function* () {
 *   const clicks = yield* on(target, "click");
 *   yield* spawn(function* () {
 *     for (let i = 0; i < 3; i++) target.dispatchEvent(new Event("click"));
 *     yield* clicks.return(); // the iteration ends
 *   });
 *   let n = 0;
 *   yield* forEach(clicks, function* () { n++; });
 *   return n;
 * });
 * console.assert(seen === 3);
 * ```
 */
export const on: {
  <A extends unknown[] = unknown[]>(target: EventEmitterLike, name: string | symbol): Operation<EachIterator<A>>;
  <E = Event>(target: EventTargetLike<E>, name: string): Operation<EachIterator<E>>;
} = defineOperation(function* on(target: EventTargetLike<unknown> | EventEmitterLike, name: string | symbol): Operation<EachIterator<unknown>> {
  const events = new EventIterator(target, name);
  events.keeper = adoptResource(`listener of ${String(name)}`, () => events.stop(), "listen to events");
  return events.keeper.returnedAs(events);
}) as unknown as never;

class EventIterator implements EachIterator<unknown> {
  keeper: ResourceKeeper | null = null;
  readonly #buffer = new Fifo<unknown>();
  readonly #listening: Listening;
  #waiting: Future<void> | null = null;
  #failed = false;
  #error: unknown;
  #stopped = false;

  constructor(target: unknown, name: string | symbol) {
    this.#listening = listen(
      target,
      name,
      "listen to events",
      (value) => {
        this.#buffer.push(value);
        this.#wake();
      },
      (error) => {
        this.#failed = true;
        this.#error = error;
        this.stop();
      },
    );
  }

  *next(): Operation<IteratorResult<unknown, undefined>> {
    for (;;) {
      if (this.#buffer.size > 0) return { done: false, value: this.#buffer.shift() };
      if (this.#failed) {
        this.#failed = false;
        throw this.#error;
      }
      if (this.#stopped) return { done: true, value: undefined };
      this.#waiting ??= new Future<void>();
      yield* this.#waiting;
    }
  }

  *return(): Operation<void> {
    this.stop();
  }

  /** Removes the listeners; what is buffered can still be read. Idempotent. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#listening.unlisten();
    this.keeper?.release();
    this.keeper = null;
    this.#wake();
  }

  #wake(): void {
    const waiting = this.#waiting;
    this.#waiting = null;
    waiting?.resolve();
  }
}
markOperationIterator(EventIterator.prototype);
