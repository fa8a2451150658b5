/**
 * What a Calvin object has received and the actor has not pulled yet: a
 * FIFO with a size limit. The internal task waits for room before it reads
 * more, so a slow actor applies backpressure to the socket or file instead
 * of letting memory grow (the original buffered without limit).
 * @module
 */
import { Future, type Operation } from "../../index.ts";

export class Inbox<T> {
  readonly #items: T[] = [];
  readonly #sizeOf: (item: T) => number;
  readonly #limit: number;
  #size = 0;
  #room: Future<void> | null = null;
  #closed = false;

  /** @param limit Room is left while the items' total size is below it. */
  constructor(limit: number, sizeOf: (item: T) => number) {
    this.#limit = limit;
    this.#sizeOf = sizeOf;
  }

  get length(): number {
    return this.#items.length;
  }

  push(item: T): void {
    this.#items.push(item);
    this.#size += this.#sizeOf(item);
  }

  /** The oldest item, or `undefined`. */
  shift(): T | undefined {
    const item = this.#items.shift();
    if (item === undefined) return undefined;
    this.#size -= this.#sizeOf(item);
    if (this.#room !== null && this.#size < this.#limit) {
      this.#room.resolve();
      this.#room = null;
    }
    return item;
  }

  /** Waits while the inbox is full (returns at once after `close()`). */
  *waitForRoom(): Operation<void> {
    while (this.#size >= this.#limit && !this.#closed) {
      this.#room ??= new Future<void>();
      yield* this.#room;
    }
  }

  /** Lets waits for room wait again (the object connects anew); what was received before stays. */
  reopen(): void {
    this.#closed = false;
  }

  /** Stops any wait for room (the object is closing). */
  close(): void {
    this.#closed = true;
    this.#room?.resolve();
    this.#room = null;
  }
}
