/**
 * Queues between tasks: FIFO, LIFO and priority, bounded or not, with
 * `join`/`taskDone` and `shutdown`.
 * @module
 */
import { defineOperationMethods } from "../core/_dev.ts";
import { resume, resumeThrow } from "../core/_park.ts";
import { DONE, defineStepOperation, FINISHED, FRESH, PARKED, ranTwice, StepOperation } from "../core/_step-operation.ts";
import type { Instruction, Operation } from "../core/operation.ts";
import { markOperationIterator, toAsyncIterator } from "../core/operation-iterator.ts";
import { requireCurrentTask } from "../core/spawn.ts";
import { GivenBackFifo } from "./_given-back-fifo.ts";
import { Waiter, WaitQueue } from "./_wait-queue.ts";
import { QueueEmpty, QueueFull, QueueShutDown } from "./errors.ts";

/**
 * Where a queue keeps its items: the ordering policy. `seq` numbers every
 * item put on the queue, stored or handed to a getter, in put order.
 */
interface Store<T> {
  readonly size: number;
  add(item: T, seq: number): void;
  take(): T;
  /**
   * Puts back an item a cancelled getter had been handed, where it would be
   * had it been stored when it was put (its `seq`). Every item in the store
   * that was added (not restored) was put after it: a getter waits, and so is
   * handed an item, only while the store is empty.
   */
  restore(item: T, seq: number): void;
}

/**
 * True once `queue` is shut down and nothing is left to get: no item stored,
 * and none handed to a getter that has not run yet (if that getter is
 * cancelled, the item comes back), unless the shutdown was immediate. Until
 * then a get waits. For `Channel`, which reports its end without waiting;
 * kept off the public API.
 */
export let isDrained: <T>(queue: Queue<T>) => boolean;
/** Whether the queue was shut down with `shutdown(true)` (for `processQueueWithLimit`). @internal */
export let wasShutDownImmediately: <T>(queue: Queue<T>) => boolean;

/** Puts `item` now if there is room (`null`), else queues and returns a waiter for the current task. */
let putOrQueue: <T>(queue: Queue<T>, item: T) => Waiter<undefined> | null;
/** A waiting put was woken with a slot: puts its item. */
let putWoken: <T>(queue: Queue<T>, item: T) => void;
/** What `takeNow` returns from an empty queue. */
const NOTHING: unique symbol = Symbol("nothing");
/** Takes an item if there is one... */
let takeNow: <T>(queue: Queue<T>) => T | typeof NOTHING;
/** ...else queues and returns a waiter for the current task (or throws if shut down). */
let queueGetter: <T>(queue: Queue<T>) => Waiter<number>;
/** A woken getter has run and taken the item it was handed. */
let handedItemTaken: <T>(queue: Queue<T>) => void;

/** `queue.put(item)`: an operation object that is its own iterator (see `_step-operation.ts`). */
class QueuePut<T> extends StepOperation<void> {
  readonly #queue: Queue<T>;
  readonly #item: T;
  constructor(queue: Queue<T>, item: T) {
    super();
    this.state = FRESH;
    this.#queue = queue;
    this.#item = item;
  }
  next(): IteratorResult<Instruction, void> {
    const state = this.state;
    this.state = FINISHED;
    if (state === FRESH) {
      const waiter = putOrQueue(this.#queue, this.#item);
      if (waiter === null) return DONE;
      this.state = PARKED;
      return { done: false, value: waiter };
    }
    if (state === PARKED) {
      putWoken(this.#queue, this.#item);
      return DONE;
    }
    throw ranTwice(this);
  }
}

/** `queue.get()`: an operation object that is its own iterator (see `_step-operation.ts`). */
class QueueGet<T> extends StepOperation<T> {
  readonly #queue: Queue<T>;
  constructor(queue: Queue<T>) {
    super();
    this.state = FRESH;
    this.#queue = queue;
  }
  next(value?: unknown): IteratorResult<Instruction, T> {
    const state = this.state;
    this.state = FINISHED;
    if (state === FRESH) {
      const item = takeNow(this.#queue);
      if (item !== NOTHING) return { done: true, value: item };
      const waiter = queueGetter(this.#queue);
      this.state = PARKED;
      return { done: false, value: waiter };
    }
    if (state === PARKED) {
      handedItemTaken(this.#queue);
      return { done: true, value: value as T };
    }
    throw ranTwice(this);
  }
}

/** Options of a queue. */
export interface QueueOptions {
  /**
   * The most items it holds; `put` waits while it is full. 0 or `Infinity`
   * means unbounded. Unlike asyncio's, a negative `maxsize` throws rather
   * than meaning unbounded. @default 0
   */
  maxsize?: number;
}

/**
 * A queue between tasks (asyncio's `Queue`): `put` waits while it is full,
 * `get` waits while it is empty, and both complete without suspending when
 * they can. Every item put is counted until `taskDone()` is called for it,
 * and `join()` waits until that count is zero. `shutdown()` stops it.
 * Waiters are served in priority order, FIFO within a priority, and an item
 * goes straight to a waiting getter.
 *
 * @typeParam T The items.
 * @example Producer and consumer
 * ```ts
 * import { Queue, spawn } from "corio";
 * import { runVirtual } from "corio/testing";
 * await runVirtual(function* () {
 *   const queue = new Queue<number>({ maxsize: 2 });
 *   const seen: number[] = [];
 *   yield* spawn(function* () {
 *     for (;;) { seen.push(yield* queue.get()); queue.taskDone(); }
 *   }, { daemon: true });
 *   for (let i = 0; i < 5; i++) yield* queue.put(i);
 *   yield* queue.join();
 *   console.assert(seen.join() === "0,1,2,3,4");
 * });
 * ```
 */
export class Queue<T> {
  readonly #maxsize: number;
  readonly #store: Store<T>;
  /** Waiting getters; a woken one's `value` is the put sequence number of the item it was handed. */
  readonly #getters = new WaitQueue<Waiter<number>>();
  readonly #putters = new WaitQueue<Waiter<undefined>>();
  readonly #joiners = new WaitQueue<Waiter<undefined>>();
  /** Slots promised to woken putters that have not run yet. */
  #reserved = 0;
  #unfinished = 0;
  #shutdown = false;
  #shutdownImmediately = false;
  /** Items handed to woken getters that have not run yet: one may come back (a getter cancelled before it ran). */
  #handed = 0;
  /** Items put so far: the next item's sequence number, which orders it when a cancelled getter gives it back. */
  #puts = 0;
  readonly #onGetterCancel = (waiter: Waiter<number>, woken: boolean, handed: unknown): void => {
    if (!woken) this.#getters.remove(waiter);
    else {
      // It was handed an item: pass it on (a wake with an error is never undone).
      this.#handed--;
      this.#giveBack(handed as T, waiter.value);
    }
  };
  readonly #onPutterCancel = (waiter: Waiter<undefined>, woken: boolean): void => {
    if (!woken) this.#putters.remove(waiter);
    else {
      // It was promised a slot but never used it: the item is not added; offer the slot to the next putter.
      this.#reserved--;
      this.#wakePutter();
    }
  };
  readonly #onJoinerCancel = (waiter: Waiter<undefined>, woken: boolean): void => {
    if (!woken) this.#joiners.remove(waiter);
  };

  static {
    isDrained = (queue) => queue.#shutdown && queue.#store.size === 0 && (queue.#handed === 0 || queue.#shutdownImmediately);
    wasShutDownImmediately = (queue) => queue.#shutdownImmediately;
    putOrQueue = (queue, item) => {
      if (queue.#shutdown) throw new QueueShutDown("Cannot put on the queue: it has been shut down");
      if (!queue.full) {
        queue.#add(item);
        return null;
      }
      const waiter = new Waiter<undefined>(requireCurrentTask("put on a queue"), "queue", undefined, queue.#onPutterCancel, "room in a full queue (put)");
      queue.#putters.push(waiter);
      return waiter;
    };
    putWoken = (queue, item) => {
      // Woken with a reserved slot.
      queue.#reserved--;
      if (queue.#shutdown) throw new QueueShutDown("Cannot put on the queue: it was shut down while waiting");
      queue.#add(item);
      // If the item went straight to a getter, the slot is still free: offer it on.
      queue.#wakePutter();
    };
    takeNow = (queue) => (queue.#store.size === 0 ? NOTHING : queue.#take());
    queueGetter = (queue) => {
      // While an item handed to another getter may still come back, a getter waits for it.
      if (queue.#shutdown && (queue.#handed === 0 || queue.#shutdownImmediately))
        throw new QueueShutDown("Cannot get from the queue: it has been shut down and is empty");
      const waiter = new Waiter<number>(requireCurrentTask("get from a queue"), "queue", -1, queue.#onGetterCancel, "an item from an empty queue (get)");
      queue.#getters.push(waiter);
      return waiter;
    };
    handedItemTaken = (queue) => {
      queue.#handed--;
      // Handed before an immediate shutdown, which dropped it (asyncio's getter, woken, finds the queue
      // emptied and raises): this get fails like the other waiting ones.
      if (queue.#shutdownImmediately) throw new QueueShutDown("Cannot get from the queue: it was shut down immediately while waiting");
      if (queue.#shutdown) queue.#failGettersIfDrained();
    };
  }

  /**
   * @param options `maxsize` (0 or `Infinity`: unbounded).
   * @throws {RangeError} unless `maxsize` is `Infinity` or a non-negative
   * integer no greater than `Number.MAX_SAFE_INTEGER`. A negative `maxsize`
   * throws too, where asyncio's `Queue` treats any `maxsize <= 0` as
   * unbounded: pass 0 or leave it out.
   */
  constructor(options?: QueueOptions);
  /** @internal `LifoQueue` and `PriorityQueue` pass the store that orders their items. */
  constructor(options: QueueOptions, store: Store<T>);
  constructor(options: QueueOptions = {}, store?: Store<T>) {
    const maxsize = options.maxsize ?? 0;
    // Infinity needs no case of its own: `full` compares the size with it, and that is never true.
    if (maxsize !== Number.POSITIVE_INFINITY && (!Number.isSafeInteger(maxsize) || maxsize < 0))
      throw new RangeError(
        `Cannot create a queue: maxsize must be a non-negative safe integer or Infinity (0 and Infinity mean unbounded), received ${String(maxsize)}`,
      );
    this.#maxsize = maxsize;
    this.#store = store ?? new GivenBackFifo<T>();
  }

  /** Items in the queue. */
  get size(): number {
    return this.#store.size;
  }
  /** True when there is no item. */
  get empty(): boolean {
    return this.#store.size === 0;
  }
  /** True when `put` would wait. */
  get full(): boolean {
    return this.#maxsize > 0 && this.#store.size + this.#reserved >= this.#maxsize;
  }
  /** The bound (0 or `Infinity`: unbounded). */
  get maxsize(): number {
    return this.#maxsize;
  }
  /** True once `shutdown()` was called. */
  get isShutdown(): boolean {
    return this.#shutdown;
  }

  /**
   * Puts an item, waiting while the queue is full.
   *
   * **Cancellation:** the item is not added (even if a slot had just been
   * promised to this call: it goes to the next putter).
   *
   * @throws {QueueShutDown} if the queue is shut down (also while waiting).
   */
  put(item: T): Operation<void> {
    return new QueuePut(this, item);
  }

  /**
   * Puts an item without waiting.
   * @throws {QueueFull} if the queue is full.
   * @throws {QueueShutDown} if it is shut down.
   */
  putNowait(item: T): void {
    if (this.#shutdown) throw new QueueShutDown("Cannot put on the queue: it has been shut down");
    if (this.full) throw new QueueFull(`Cannot put on the queue: it is full (maxsize ${this.#maxsize})`);
    this.#add(item);
  }

  /**
   * Takes the next item, waiting while the queue is empty.
   *
   * **Cancellation:** no item is lost: one already handed to this call goes
   * to the next getter, or back into the queue where it would be had it been
   * stored when it was put, so the queue's order holds (several given back
   * keep their put order, and a `PriorityQueue` keeps equal items in put
   * order). A bounded queue then holds more than `maxsize` until drained, if
   * puts filled it since; after `shutdown(true)` the item is dropped like
   * the others.
   *
   * @throws {QueueShutDown} once the queue is shut down and empty.
   */
  get(): Operation<T> {
    return new QueueGet(this);
  }

  /**
   * The next item as an iterator result: `{ done: true }` once the queue is
   * shut down and empty. `each(queue)` and `forEach(queue, ...)` iterate
   * with it, and `for await (const item of queue)` works in plain async
   * code. Iterating does not call `taskDone()`: call it after each item if
   * something `join()`s the queue.
   *
   * **Cancellation:** as for `get`: no item is lost.
   *
   * @example
   * ```ts
   * import { forEach, Queue, run } from "corio";
   * const seen = await run(function* () {
   *   const queue = new Queue<number>();
   *   queue.putNowait(1);
   *   queue.putNowait(2);
   *   queue.shutdown();
   *   const out: number[] = [];
   *   yield* forEach(queue, function* (n) { out.push(n); });
   *   return out;
   * });
   * console.assert(seen.join() === "1,2");
   * ```
   */
  *next(): Operation<IteratorResult<T, undefined>> {
    if (this.#store.size > 0) return { done: false, value: this.#take() };
    // Shut down and empty: the end, without building the error a get would throw.
    if (this.#shutdown && (this.#handed === 0 || this.#shutdownImmediately)) return { done: true, value: undefined };
    try {
      return { done: false, value: yield* this.get() };
    } catch (error) {
      if (error instanceof QueueShutDown) return { done: true, value: undefined };
      throw error;
    }
  }

  /** The items until the queue is shut down, for `for await` in plain async code (each one waits in a root task). */
  [Symbol.asyncIterator](): AsyncIterator<T, undefined, undefined> {
    return toAsyncIterator(this);
  }

  /**
   * Takes the next item without waiting.
   * @throws {QueueEmpty} if there is none (also once shut down, while an
   * item handed to a getter that has not run yet may come back: `get` would
   * wait for it).
   * @throws {QueueShutDown} if it is shut down and empty.
   */
  getNowait(): T {
    if (this.#store.size > 0) return this.#take();
    if (isDrained(this)) throw new QueueShutDown("Cannot get from the queue: it has been shut down and is empty");
    if (this.#shutdown)
      throw new QueueEmpty("Cannot get from the queue: it is empty (shut down, but an item handed to a getter that has not run yet may come back)");
    throw new QueueEmpty("Cannot get from the queue: it is empty");
  }

  /**
   * Marks one item taken from the queue as processed.
   * @throws {Error} if called more times than there were items.
   */
  taskDone(): void {
    if (this.#unfinished <= 0) throw new Error("Cannot mark a task done: taskDone() was called more times than there were items put");
    this.#unfinished--;
    if (this.#unfinished === 0) for (const waiter of this.#joiners.drain()) resume(waiter, undefined);
  }

  /**
   * Waits until every item put has been marked done with `taskDone()`.
   *
   * **Cancellation:** the task stops waiting; the queue is unaffected.
   */
  *join(): Operation<void> {
    if (this.#unfinished === 0) return;
    const waiter = new Waiter<undefined>(requireCurrentTask("join a queue"), "queue", undefined, this.#onJoinerCancel, "every queued item to be done (join)");
    this.#joiners.push(waiter);
    yield waiter;
  }

  /**
   * Shuts the queue down (Python 3.13's `Queue.shutdown`): puts fail with
   * `QueueShutDown` from now on, waiting putters too. Gets go on while items
   * remain, then fail. With `immediate`, the remaining items are dropped
   * (and counted as done, releasing `join`) and waiting getters fail at once,
   * as asyncio's: an item already handed to a getter that has not run yet is
   * dropped too, and that get fails.
   */
  shutdown(immediate = false): void {
    this.#shutdown = true;
    if (immediate && !this.#shutdownImmediately) {
      this.#shutdownImmediately = true;
      while (this.#store.size > 0) {
        this.#store.take();
        if (this.#unfinished > 0) this.#unfinished--;
      }
      // The items handed to getters that have not run yet are dropped too: those gets fail.
      this.#unfinished = Math.max(0, this.#unfinished - this.#handed);
      if (this.#unfinished === 0) for (const waiter of this.#joiners.drain()) resume(waiter, undefined);
    }
    for (const waiter of this.#putters.drain()) resumeThrow(waiter, new QueueShutDown("Cannot put on the queue: it was shut down while waiting"));
    this.#failGettersIfDrained();
  }

  /**
   * Once shut down, waiting getters fail when nothing is left for them: no
   * item stored and, unless the shutdown is immediate, none handed to a
   * getter that has not run yet (if that getter is cancelled, its item goes
   * to the next one, as asyncio's getters all see an item left in the queue).
   */
  #failGettersIfDrained(): void {
    if (this.#store.size > 0 || (this.#handed > 0 && !this.#shutdownImmediately)) return;
    for (const waiter of this.#getters.drain()) resumeThrow(waiter, new QueueShutDown("Cannot get from the queue: it was shut down while waiting"));
  }

  #add(item: T): void {
    const seq = this.#puts++;
    this.#unfinished++;
    if (!this.#handToGetter(item, seq)) this.#store.add(item, seq);
  }

  /** Gives `item` (put as number `seq`) to the first waiting getter, if one is left. */
  #handToGetter(item: T, seq: number): boolean {
    for (let getter = this.#getters.shift(); getter !== undefined; getter = this.#getters.shift()) {
      if (resume(getter, item)) {
        getter.value = seq;
        this.#handed++;
        return true;
      }
    }
    return false;
  }

  #take(): T {
    const item = this.#store.take();
    this.#wakePutter();
    return item;
  }

  /**
   * An item a cancelled getter had been handed (put as number `seq`): to the
   * next getter, else back into the queue where it would be had it been
   * stored when put (in a FIFO queue: behind the items put before it and
   * ahead of those put after it). The queue may then hold more than
   * `maxsize` until it is drained: the puts since the hand-off took its
   * place. After an immediate shutdown it is dropped, as the queue's other
   * items were.
   */
  #giveBack(item: T, seq: number): void {
    if (this.#shutdownImmediately) {
      // Handed before the shutdown, which counted it as dropped.
      this.#failGettersIfDrained();
      return;
    }
    if (this.#handToGetter(item, seq)) return;
    this.#store.restore(item, seq);
  }

  /** A slot freed up: promise it to the next waiting putter. */
  #wakePutter(): void {
    if (this.#shutdown || this.full) return;
    for (let putter = this.#putters.shift(); putter !== undefined; putter = this.#putters.shift()) {
      if (resume(putter, undefined)) {
        this.#reserved++;
        return;
      }
    }
  }
}
defineOperationMethods(Queue);
defineStepOperation(QueuePut, "queue.put", Queue, "put");
defineStepOperation(QueueGet, "queue.get", Queue, "get");

markOperationIterator(Queue.prototype);

/**
 * Last in, first out. Items given back sit at the bottom, under every added
 * item (put after them), in put order among themselves (the latest put
 * comes out first): in a heap by put number, negated so that the latest is
 * on top (inserting each at its place in the stack moved the rest).
 */
class LifoStore<T> implements Store<T> {
  readonly #items: T[] = [];
  /** The given-back items by negated put number; `null` until one is given back. */
  #restored: HeapStore<T> | null = null;
  get size(): number {
    const restored = this.#restored;
    return restored === null ? this.#items.length : this.#items.length + restored.size;
  }
  add(item: T): void {
    this.#items.push(item);
  }
  take(): T {
    const restored = this.#restored;
    if (this.#items.length === 0 && restored !== null) return restored.take();
    return this.#items.pop() as T;
  }
  restore(item: T, seq: number): void {
    (this.#restored ??= new HeapStore<T>(inPutOrder)).add(item, -seq);
  }
}

/** Equal: a heap of given-back items orders them by put number alone. */
function inPutOrder(): number {
  return 0;
}

/** A binary heap ordered by `compare`, stable for equal items (insertion order). */
class HeapStore<T> implements Store<T> {
  readonly #heap: { item: T; seq: number }[] = [];
  readonly #compare: (a: T, b: T) => number;
  constructor(compare: (a: T, b: T) => number) {
    this.#compare = compare;
  }
  get size(): number {
    return this.#heap.length;
  }
  add(item: T, seq: number): void {
    const heap = this.#heap;
    heap.push({ item, seq });
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#less(i, parent)) break;
      [heap[i], heap[parent]] = [heap[parent] as { item: T; seq: number }, heap[i] as { item: T; seq: number }];
      i = parent;
    }
  }
  take(): T {
    const heap = this.#heap;
    const top = heap[0] as { item: T; seq: number };
    const last = heap.pop() as { item: T; seq: number };
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let smallest = i;
        if (left < heap.length && this.#less(left, smallest)) smallest = left;
        if (right < heap.length && this.#less(right, smallest)) smallest = right;
        if (smallest === i) break;
        [heap[i], heap[smallest]] = [heap[smallest] as { item: T; seq: number }, heap[i] as { item: T; seq: number }];
        i = smallest;
      }
    }
    return top.item;
  }
  /** In its place by `compare` and, among equal items, by its put sequence number `seq`. */
  restore(item: T, seq: number): void {
    this.add(item, seq);
  }
  #less(i: number, j: number): boolean {
    const a = this.#heap[i] as { item: T; seq: number };
    const b = this.#heap[j] as { item: T; seq: number };
    const order = this.#compare(a.item, b.item);
    return order < 0 || (order === 0 && a.seq < b.seq);
  }
}

/**
 * A queue that gives the most recently put item first (asyncio's `LifoQueue`).
 *
 * @example
 * ```ts
 * import { LifoQueue } from "corio";
 * const stack = new LifoQueue<number>();
 * stack.putNowait(1); stack.putNowait(2);
 * console.assert(stack.getNowait() === 2);
 * ```
 */
export class LifoQueue<T> extends Queue<T> {
  constructor(options: QueueOptions = {}) {
    super(options, new LifoStore<T>());
  }
}

/**
 * A queue that gives the smallest item first by `compare` (asyncio's
 * `PriorityQueue`), and equal items in the order they were put.
 *
 * @example
 * ```ts
 * import { PriorityQueue } from "corio";
 * const jobs = new PriorityQueue<{ priority: number; name: string }>({ compare: (a, b) => a.priority - b.priority });
 * jobs.putNowait({ priority: 5, name: "later" });
 * jobs.putNowait({ priority: 1, name: "first" });
 * console.assert(jobs.getNowait().name === "first");
 * ```
 */
export class PriorityQueue<T> extends Queue<T> {
  /** @param options `maxsize`, and `compare` (default: `<` on the items themselves). */
  constructor(options: QueueOptions & { compare?: (a: T, b: T) => number } = {}) {
    super(options, new HeapStore<T>(options.compare ?? ((a, b) => (a < b ? -1 : a > b ? 1 : 0))));
  }
}
