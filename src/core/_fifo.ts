/**
 * A growable ring buffer: O(1) push, shift and unshift with no per-item
 * allocation. Used by the ready queue, callbacks and the sync primitives.
 * @module
 */
export class Fifo<T> {
  #items: (T | undefined)[];
  #head = 0;
  #size = 0;
  #mask: number;

  constructor(capacity = 16) {
    let cap = 16;
    while (cap < capacity) cap *= 2;
    this.#items = new Array<T | undefined>(cap);
    this.#mask = cap - 1;
  }

  get size(): number {
    return this.#size;
  }

  push(item: T): void {
    if (this.#size > this.#mask) this.#grow();
    this.#items[(this.#head + this.#size) & this.#mask] = item;
    this.#size++;
  }

  /** Puts `item` at the front (a waiter handing back what it was given). */
  unshift(item: T): void {
    if (this.#size > this.#mask) this.#grow();
    this.#head = (this.#head - 1) & this.#mask;
    this.#items[this.#head] = item;
    this.#size++;
  }

  shift(): T | undefined {
    if (this.#size === 0) return undefined;
    const head = this.#head;
    const item = this.#items[head];
    this.#items[head] = undefined;
    this.#head = (head + 1) & this.#mask;
    this.#size--;
    return item;
  }

  /** Removes and returns the newest item (for LIFO use). */
  pop(): T | undefined {
    if (this.#size === 0) return undefined;
    this.#size--;
    const index = (this.#head + this.#size) & this.#mask;
    const item = this.#items[index];
    this.#items[index] = undefined;
    return item;
  }

  peek(): T | undefined {
    return this.#size === 0 ? undefined : this.#items[this.#head];
  }

  /**
   * Removes `item` (for a cancelled waiter). Looks from both ends and closes
   * the gap from the nearer one, so removing from either end is O(1): many
   * waiters cancelled oldest (or newest) first took quadratic time when the
   * whole rest moved each time (80k waiters: 5.5 s).
   */
  remove(item: T): boolean {
    const items = this.#items;
    const mask = this.#mask;
    const head = this.#head;
    const size = this.#size;
    for (let front = 0, back = size - 1; front <= back; front++, back--) {
      if (items[(head + front) & mask] === item) {
        // Move the items before it one place back, and the head with them.
        for (let j = front; j > 0; j--) items[(head + j) & mask] = items[(head + j - 1) & mask];
        items[head] = undefined;
        this.#head = (head + 1) & mask;
        this.#size--;
        return true;
      }
      if (items[(head + back) & mask] === item) {
        // Move the items after it one place forward.
        for (let j = back; j < size - 1; j++) items[(head + j) & mask] = items[(head + j + 1) & mask];
        items[(head + size - 1) & mask] = undefined;
        this.#size--;
        return true;
      }
    }
    return false;
  }

  *[Symbol.iterator](): Iterator<T> {
    for (let i = 0; i < this.#size; i++) yield this.#items[(this.#head + i) & this.#mask] as T;
  }

  clear(): void {
    this.#items.fill(undefined);
    this.#head = 0;
    this.#size = 0;
  }

  #grow(): void {
    const old = this.#items;
    const cap = old.length * 2;
    const items = new Array<T | undefined>(cap);
    for (let i = 0; i < this.#size; i++) items[i] = old[(this.#head + i) & this.#mask];
    this.#items = items;
    this.#head = 0;
    this.#mask = cap - 1;
  }
}
