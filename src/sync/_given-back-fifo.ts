/**
 * The buffer of a queue or memory channel: first in, first out, plus the
 * items a cancelled waiter gives back.
 * @module
 */
import { Fifo } from "../core/_fifo.ts";

/** A given-back item and its number, which orders it among the others. */
interface Numbered<T> {
  readonly item: T;
  readonly seq: number;
}

/**
 * A FIFO buffer into which an item handed to a waiter that was cancelled
 * before it ran comes back where it would be had it been buffered: ahead of
 * every buffered item (a waiter was handed an item only while the buffer
 * was empty, so those came after it), and among the other given-back items
 * by its number (put or hand-off order). These wait in a binary heap by
 * number, so giving back n items costs n log n however their waiters'
 * cancels are ordered: putting each in place by lifting the ones ahead of it
 * off the front cost n² (20,000 receivers cancelled after a burst of sends:
 * 13 s).
 *
 * It is a FIFO `Queue`'s store itself (`add`, `take`, `restore`), not
 * wrapped in one: the wrapper's calls cost the queue-16 case 3%.
 *
 * @example
 * ```ts
 * const buffer = new GivenBackFifo<string>();
 * buffer.add("c");
 * buffer.restore("b", 1);
 * buffer.restore("a", 0);
 * console.assert(buffer.take() === "a" && buffer.take() === "b" && buffer.take() === "c");
 * ```
 */
export class GivenBackFifo<T> {
  readonly #items = new Fifo<T>();
  /** The given-back items, a min-heap by number; they come out before `#items`. */
  readonly #givenBack: Numbered<T>[] = [];

  /** The given-back items plus the added ones: read on every put and get of a queue, so kept in a field. */
  #size = 0;

  get size(): number {
    return this.#size;
  }

  /** Adds `item` behind the others. */
  add(item: T): void {
    this.#items.push(item);
    this.#size++;
  }

  /** The first item, removed (only while `size > 0`). */
  take(): T {
    this.#size--;
    return (this.#givenBack.length > 0 ? this.#takeGivenBack() : this.#items.shift()) as T;
  }

  /** Puts back `item`, numbered `seq`, which was handed out while the buffer was empty. */
  restore(item: T, seq: number): void {
    this.#size++;
    const heap = this.#givenBack;
    let i = heap.length;
    heap.push({ item, seq });
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const above = heap[parent] as Numbered<T>;
      if (above.seq <= seq) break;
      heap[i] = above;
      i = parent;
    }
    heap[i] = { item, seq };
  }

  /** Drops every item. */
  clear(): void {
    this.#items.clear();
    this.#givenBack.length = 0;
    this.#size = 0;
  }

  #takeGivenBack(): T {
    const heap = this.#givenBack;
    const top = heap[0] as Numbered<T>;
    const last = heap.pop() as Numbered<T>;
    const size = heap.length;
    if (size > 0) {
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        if (left >= size) break;
        const right = left + 1;
        const child = right < size && (heap[right] as Numbered<T>).seq < (heap[left] as Numbered<T>).seq ? right : left;
        if ((heap[child] as Numbered<T>).seq >= last.seq) break;
        heap[i] = heap[child] as Numbered<T>;
        i = child;
      }
      heap[i] = last;
    }
    return top.item;
  }
}
