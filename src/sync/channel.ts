/**
 * Channels: many producers, many consumers, closable; and a broadcast form.
 * @module
 */

import { defineOperationMethods } from "../core/_dev.ts";
import { checkMadeByCorio, MADE_BY_CORIO } from "../core/_made-by-corio.ts";
import { DONE, defineStepOperations, FINISHED, FRESH, PARKED, ranTwice, StepOperation } from "../core/_step-operation.ts";
import { describe } from "../core/errors.ts";
import type { Instruction, Operation } from "../core/operation.ts";
import { markOperationIterator, toAsyncIterator } from "../core/operation-iterator.ts";
import { ChannelClosedError, QueueShutDown } from "./errors.ts";
import { isDrained, Queue } from "./queue.ts";

/** The outcome of a non-blocking receive. */
export type TryReceive<T> = { state: "ok"; value: T } | { state: "empty" } | { state: "closed"; reason: unknown };

let queueOf: <T>(channel: Channel<T>) => Queue<T>;
let takeBuffered: <T>(channel: Channel<T>) => T;
let translate: (channel: Channel<unknown>, error: unknown, action: "send" | "receive") => unknown;

/**
 * `channel.send(message)` and `channel.receive()`: the queue's own `put` or
 * `get` run in place, with a shut-down queue's error turned into
 * `ChannelClosedError`. Step operations, not generators around the queue's:
 * a message through a channel cost twice one through the queue.
 */
class ChannelStep<T> extends StepOperation<T> {
  readonly #channel: Channel<T>;
  readonly #sending: boolean;
  readonly #message: T | undefined;
  #queueStep: Iterator<Instruction, unknown, unknown> | null;
  constructor(channel: Channel<T>, sending: boolean, message: T | undefined) {
    super();
    this.state = FRESH;
    this.#channel = channel;
    this.#sending = sending;
    this.#message = message;
    this.#queueStep = null;
  }
  /** The operation's name in messages (`channel.send(…) was created but never run`). */
  get label(): string {
    return this.#sending ? "channel.send" : "channel.receive";
  }
  next(value?: unknown): IteratorResult<Instruction, T> {
    const state = this.state;
    if (state === FINISHED) throw ranTwice(this);
    const channel = this.#channel;
    const queue = queueOf(channel);
    let step = this.#queueStep;
    if (state === FRESH) {
      // Room for the message, or a buffered one: no wait, no queue operation object.
      if (this.#sending ? !queue.full : queue.size > 0) {
        this.state = FINISHED;
        if (!this.#sending) return { done: true, value: takeBuffered(channel) };
        try {
          queue.putNowait(this.#message as T);
        } catch (error) {
          throw translate(channel as Channel<unknown>, error, "send");
        }
        return DONE as IteratorReturnResult<never>;
      }
      step = this.#queueStep = (this.#sending ? queue.put(this.#message as T) : queue.get())[Symbol.iterator]();
      this.state = PARKED;
    }
    try {
      const result = (step as Iterator<Instruction, unknown, unknown>).next(value);
      if (result.done !== true) return result as IteratorYieldResult<Instruction>;
      this.state = FINISHED;
      if (this.#sending) return DONE as IteratorReturnResult<never>;
      queue.taskDone();
      return result as IteratorReturnResult<T>;
    } catch (error) {
      this.state = FINISHED;
      throw translate(channel as Channel<unknown>, error, this.#sending ? "send" : "receive");
    }
  }
  override throw(error: unknown): IteratorResult<Instruction, T> {
    this.state = FINISHED;
    const step = this.#queueStep;
    if (step === null) throw error;
    try {
      return (step.throw as (error: unknown) => IteratorResult<Instruction, T>).call(step, error);
    } catch (thrown) {
      throw translate(this.#channel as Channel<unknown>, thrown, this.#sending ? "send" : "receive");
    }
  }
}

/**
 * A channel between tasks: many producers `send`, many consumers `receive`,
 * each message to exactly one consumer, in order. `close(reason)` stops it:
 * sends fail at once, receivers get what is buffered, then
 * `ChannelClosedError` carrying the reason. `yield* channel.next()` gives
 * iterator-style results for loops; `forEach(channel, function* (m) {...})`
 * is that loop, and `for await (const m of channel)` works in plain async
 * code.
 *
 * Not a Trio memory channel (that is `openMemoryChannel`, with separate
 * sides, clones, `statistics()` and a rendezvous at 0): `capacity: 0`
 * means unbounded here (as asyncio's `Queue(maxsize=0)`), and `close()`
 * closes the channel for everyone at once. A `send` that has room
 * completes without suspending, so a producer looping over sends into an
 * unbounded channel lets no other task run until it waits on something.
 *
 * @typeParam T The messages.
 * @example
 * ```ts
 * import { Channel, spawn } from "corio";
 * import { runVirtual } from "corio/testing";
 * await runVirtual(function* () {
 *   const channel = new Channel<string>({ capacity: 4 });
 *   const consumer = yield* spawn(function* () {
 *     const got: string[] = [];
 *     for (let m = yield* channel.next(); !m.done; m = yield* channel.next()) got.push(m.value);
 *     return got;
 *   });
 *   yield* channel.send("a");
 *   yield* channel.send("b");
 *   channel.close("finished");
 *   console.assert((yield* consumer).join() === "a,b");
 * });
 * ```
 */
export class Channel<T> {
  readonly #queue: Queue<T>;
  #closed = false;
  #reason: unknown;

  /**
   * @param options `capacity`: messages buffered before `send` waits (0 or `Infinity`: unbounded; for a rendezvous, use `openMemoryChannel(0)`). @default 16
   * @throws {RangeError} unless `capacity` is `Infinity` or a non-negative
   * integer no greater than `Number.MAX_SAFE_INTEGER`.
   */
  constructor(options: { capacity?: number } = {}) {
    const capacity = options.capacity ?? 16;
    if (capacity !== Number.POSITIVE_INFINITY && (!Number.isSafeInteger(capacity) || capacity < 0))
      throw new RangeError(
        `Cannot create a channel: capacity must be a non-negative safe integer or Infinity (0 and Infinity mean unbounded), received ${String(capacity)}`,
      );
    this.#queue = new Queue<T>({ maxsize: capacity });
  }

  /** True once closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Messages buffered now. */
  get size(): number {
    return this.#queue.size;
  }

  /**
   * Sends a message, waiting while the buffer is full.
   *
   * **Cancellation:** the message is not sent.
   *
   * @throws {ChannelClosedError} once the channel is closed.
   */
  send(message: T): Operation<void> {
    return new ChannelStep<T>(this, true, message) as Operation<unknown> as Operation<void>;
  }

  /** Sends without waiting; returns `false` if the buffer is full. @throws {ChannelClosedError} once closed. */
  trySend(message: T): boolean {
    if (this.#closed) throw new ChannelClosedError("Cannot send on the channel: it is closed", this.#reason);
    if (this.#queue.full) return false;
    this.#queue.putNowait(message);
    return true;
  }

  /**
   * Receives the next message, waiting for one.
   *
   * **Cancellation:** no message is lost: one already handed to this call
   * goes back, ahead of the messages sent after it, for the next receiver.
   *
   * @throws {ChannelClosedError} once closed and drained.
   */
  receive(): Operation<T> {
    return new ChannelStep<T>(this, false, undefined);
  }

  /**
   * Receives without waiting: `closed` once the channel is closed and
   * drained, `empty` while a message handed to a receiver that has not run
   * yet may still come back (if that receiver is cancelled).
   */
  tryReceive(): TryReceive<T> {
    if (this.#queue.size > 0) return { state: "ok", value: this.#takeBuffered() };
    return isDrained(this.#queue) ? { state: "closed", reason: this.#reason } : { state: "empty" };
  }

  /**
   * The next message as an iterator result: `{ done: true }` once the
   * channel is closed and drained. **Cancellation:** as for `receive`.
   */
  *next(): Operation<IteratorResult<T, unknown>> {
    // Without a wait when none is needed: a buffered message, or the end (no errors built for it).
    // Closed is not the end while a message handed to a receiver may come back: receive() waits for it.
    if (this.#queue.size > 0) return { done: false, value: this.#takeBuffered() };
    if (isDrained(this.#queue)) return { done: true, value: this.#reason };
    try {
      return { done: false, value: yield* this.receive() };
    } catch (error) {
      if (error instanceof ChannelClosedError) return { done: true, value: this.#reason };
      throw error;
    }
  }

  /** The messages until the channel is closed and drained, for `for await` in plain async code (each one waits in a root task). */
  [Symbol.asyncIterator](): AsyncIterator<T, unknown, undefined> {
    return toAsyncIterator(this);
  }

  /** Closes the channel; buffered messages can still be received. Idempotent. */
  close(reason?: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#reason = reason;
    this.#queue.shutdown(false);
  }

  static {
    queueOf = (channel) => channel.#queue;
    takeBuffered = (channel) => channel.#takeBuffered();
    translate = (channel, error, action) => channel.#translate(error, action);
  }

  /** Takes a buffered message (there is one) and marks it done in the queue. */
  #takeBuffered(): T {
    const message = this.#queue.getNowait();
    this.#queue.taskDone();
    return message;
  }

  #translate(error: unknown, action: string): unknown {
    if (!(error instanceof QueueShutDown)) return error;
    return new ChannelClosedError(
      action === "send" ? "Cannot send on the channel: it is closed" : "Cannot receive from the channel: it is closed and drained",
      this.#reason,
    );
  }
}
defineOperationMethods(Channel);
defineStepOperations(ChannelStep, (op) => (op as ChannelStep<unknown>).label, Channel, { send: "channel.send", receive: "channel.receive" });

/** How a broadcast subscriber that falls behind is handled. */
export type Overflow = "drop-oldest" | "error";

/**
 * A subscription to a `Broadcast`: its own bounded buffer of messages.
 *
 * @example
 * ```ts
 * import { Broadcast } from "corio";
 * const news = new Broadcast<string>();
 * const subscription = news.subscribe();
 * news.publish("hello");
 * console.assert(subscription.tryReceive().state === "ok");
 * ```
 */
export class Subscription<T> {
  readonly #channel: Channel<T>;
  readonly #overflow: Overflow;
  readonly #onClose: (subscription: Subscription<T>) => void;
  #dropped = 0;

  /** @internal What `broadcast.subscribe()` calls: the constructor is private, so that `new Subscription()` does not type-check. */
  static create<T>(capacity: number, overflow: Overflow, onClose: (subscription: Subscription<T>) => void): Subscription<T> {
    return new Subscription<T>(MADE_BY_CORIO, capacity, overflow, onClose);
  }

  private constructor(token: typeof MADE_BY_CORIO, capacity: number, overflow: Overflow, onClose: (subscription: Subscription<T>) => void) {
    checkMadeByCorio(token, "a Subscription", "use broadcast.subscribe()");
    this.#channel = new Channel<T>({ capacity });
    this.#overflow = overflow;
    this.#onClose = onClose;
  }

  /** Messages dropped because this subscriber fell behind (with `overflow: "drop-oldest"`). */
  get dropped(): number {
    return this.#dropped;
  }

  /** Receives the next message. **Cancellation:** nothing is lost. @throws {ChannelClosedError} once closed and drained. */
  receive(): Operation<T> {
    return this.#channel.receive();
  }

  /** Receives without waiting. */
  tryReceive(): TryReceive<T> {
    return this.#channel.tryReceive();
  }

  /** The next message as an iterator result (`done` once closed and drained). **Cancellation:** nothing is lost. */
  next(): Operation<IteratorResult<T, unknown>> {
    return this.#channel.next();
  }

  /** The messages until the subscription is closed and drained, for `for await` in plain async code (leaving the loop does not unsubscribe: `close()` does). */
  [Symbol.asyncIterator](): AsyncIterator<T, unknown, undefined> {
    return toAsyncIterator(this);
  }

  /** Stops receiving (unsubscribes). */
  close(reason?: unknown): void {
    this.#channel.close(reason);
    this.#onClose(this);
  }

  /** @internal */
  deliver(message: T): void {
    if (this.#channel.closed) return;
    if (this.#channel.trySend(message)) return;
    if (this.#overflow === "error") {
      this.#channel.close(new Error("Subscriber fell behind: its buffer was full (overflow: error)"));
      this.#onClose(this);
      return;
    }
    // Drop the oldest until the new message fits: more than one when a cancelled receiver gave a
    // message back, leaving the buffer over capacity. The newest is always kept, and each loss counted.
    while (this.#channel.tryReceive().state === "ok") {
      this.#dropped++;
      if (this.#channel.trySend(message)) return;
    }
  }
}
defineOperationMethods(Subscription);

/**
 * A broadcast channel: every subscriber sees every message published after
 * it subscribed (fan-out, such as pushing state to many clients).
 * `publish` never waits: each subscriber has its own bounded buffer, and one
 * that falls behind loses its oldest messages (counted in `dropped`) or, with
 * `overflow: "error"`, is closed with an error; either way a slow subscriber
 * cannot make the publisher buffer without bound.
 *
 * @example
 * ```ts
 * import { Broadcast, spawn } from "corio";
 * import { runVirtual } from "corio/testing";
 * await runVirtual(function* () {
 *   const updates = new Broadcast<number>();
 *   const a = updates.subscribe();
 *   const b = updates.subscribe();
 *   updates.publish(1);
 *   console.assert((yield* a.receive()) === 1 && (yield* b.receive()) === 1);
 *   updates.close();
 * });
 * ```
 */
export class Broadcast<T> {
  readonly #subscribers = new Set<Subscription<T>>();
  #closed = false;
  #reason: unknown;

  /** The number of subscribers. */
  get subscribers(): number {
    return this.#subscribers.size;
  }

  /**
   * Subscribes: the subscription gets every message published from now on.
   * @param options `capacity` of its buffer (default 64) and `overflow` policy (default `"drop-oldest"`).
   * @throws {RangeError} unless `capacity` is a positive integer no greater
   * than `Number.MAX_SAFE_INTEGER`: a subscription's buffer is always
   * bounded (unlike a `Channel`'s, 0 does not mean unbounded).
   * @throws {TypeError} for an `overflow` other than `"drop-oldest"` and
   * `"error"` (a typo would otherwise drop messages where it meant to fail).
   */
  subscribe(options: { capacity?: number; overflow?: Overflow } = {}): Subscription<T> {
    const capacity = options.capacity ?? 64;
    if (!Number.isSafeInteger(capacity) || capacity < 1)
      throw new RangeError(
        `Cannot subscribe to the broadcast: capacity must be a positive safe integer (a subscriber's buffer is bounded), received ${String(capacity)}`,
      );
    const overflow = options.overflow ?? "drop-oldest";
    if (overflow !== "drop-oldest" && overflow !== "error")
      throw new TypeError(`Cannot subscribe to the broadcast: overflow must be "drop-oldest" or "error", received ${describe(overflow)}`);
    const subscription = Subscription.create<T>(capacity, overflow, (s) => this.#subscribers.delete(s));
    if (this.#closed) subscription.close(this.#reason);
    else this.#subscribers.add(subscription);
    return subscription;
  }

  /**
   * Delivers `message` to every subscriber, without waiting; returns how
   * many got it. @throws {ChannelClosedError} once closed.
   */
  publish(message: T): number {
    if (this.#closed) throw new ChannelClosedError("Cannot publish on the broadcast: it is closed", this.#reason);
    for (const subscription of this.#subscribers) subscription.deliver(message);
    return this.#subscribers.size;
  }

  /** Closes every subscription (they drain what they have, then end). */
  close(reason?: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#reason = reason;
    for (const subscription of [...this.#subscribers]) subscription.close(reason);
  }
}

markOperationIterator(Channel.prototype);
markOperationIterator(Subscription.prototype);
