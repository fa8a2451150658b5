/**
 * The loop's timers: a binary min-heap on (deadline, sequence number), so
 * timers with equal deadlines fire in the order they were set. Each entry
 * knows its index, so removing a cancelled timer is O(log n) and leaves
 * nothing behind.
 * @module
 */

/** An entry in the timer heap. */
export interface TimerEntry {
  deadline: number;
  /** Tie-breaker: the order in which timers were set. */
  seq: number;
  /** Position in the heap, or -1 when not scheduled. */
  heapIndex: number;
  /** Called by the loop when the deadline has passed. */
  fire(): void;
}

export class TimerHeap {
  readonly #heap: TimerEntry[] = [];
  #seq = 0;

  get size(): number {
    return this.#heap.length;
  }

  peek(): TimerEntry | undefined {
    return this.#heap[0];
  }

  insert(entry: TimerEntry, deadline: number): void {
    entry.deadline = deadline;
    entry.seq = this.#seq++;
    const heap = this.#heap;
    entry.heapIndex = heap.length;
    heap.push(entry);
    this.#up(entry.heapIndex);
  }

  remove(entry: TimerEntry): boolean {
    const index = entry.heapIndex;
    if (index < 0) return false;
    const heap = this.#heap;
    const last = heap.pop() as TimerEntry;
    entry.heapIndex = -1;
    if (last !== entry) {
      heap[index] = last;
      last.heapIndex = index;
      this.#down(index);
      this.#up(last.heapIndex);
    }
    return true;
  }

  /** The sequence number the next entry inserted gets. */
  get nextSeq(): number {
    return this.#seq;
  }

  /** Removes and returns the earliest entry if its deadline is at or before `now` and it was inserted before `nextSeq` was `before`. */
  popDue(now: number, before = Number.POSITIVE_INFINITY): TimerEntry | undefined {
    const first = this.#heap[0];
    // Among entries due at the same time the older come first: a newer one first means no older one is due.
    if (first === undefined || first.deadline > now || first.seq >= before) return undefined;
    this.remove(first);
    return first;
  }

  *[Symbol.iterator](): Iterator<TimerEntry> {
    yield* this.#heap;
  }

  #less(a: TimerEntry, b: TimerEntry): boolean {
    return a.deadline < b.deadline || (a.deadline === b.deadline && a.seq < b.seq);
  }

  #up(index: number): void {
    const heap = this.#heap;
    const entry = heap[index] as TimerEntry;
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = heap[parentIndex] as TimerEntry;
      if (!this.#less(entry, parent)) break;
      heap[index] = parent;
      parent.heapIndex = index;
      index = parentIndex;
    }
    heap[index] = entry;
    entry.heapIndex = index;
  }

  #down(index: number): void {
    const heap = this.#heap;
    const size = heap.length;
    const entry = heap[index] as TimerEntry;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= size) break;
      const right = left + 1;
      let child = left;
      if (right < size && this.#less(heap[right] as TimerEntry, heap[left] as TimerEntry)) child = right;
      const childEntry = heap[child] as TimerEntry;
      if (!this.#less(childEntry, entry)) break;
      heap[index] = childEntry;
      childEntry.heapIndex = index;
      index = child;
    }
    heap[index] = entry;
    entry.heapIndex = index;
  }
}
