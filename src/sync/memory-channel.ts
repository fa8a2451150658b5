/**
 * Trio's memory channels: a send side and a receive side, each clonable,
 * with a bounded buffer that may be 0 (a rendezvous).
 * @module
 */
import { Park, resume, resumeThrow } from "../core/_park.ts";
import { DONE, defineStepOperations, FINISHED, FRESH, PARKED, ranTwice, StepOperation } from "../core/_step-operation.ts";
import { BrokenResourceError, ClosedResourceError } from "../core/errors.ts";
import type { Instruction, Operation } from "../core/operation.ts";
import { markOperationIterator, toAsyncIterator } from "../core/operation-iterator.ts";
import { requireCurrentTask } from "../core/spawn.ts";
import type { TaskImpl } from "../core/task.ts";
import { GivenBackFifo } from "./_given-back-fifo.ts";
import { WaitQueue } from "./_wait-queue.ts";
import { EndOfChannel, WouldBlock } from "./errors.ts";

/** What `statistics()` reports, the same from every side of one channel (Trio's `MemoryChannelStats`). */
export interface MemoryChannelStatistics {
  /** Messages in the buffer now. */
  readonly currentBufferUsed: number;
  /** The buffer's size, as given to `openMemoryChannel`. */
  readonly maxBufferSize: number;
  /** Send sides not closed yet (the first one and its clones). */
  readonly openSendChannels: number;
  /** Receive sides not closed yet. */
  readonly openReceiveChannels: number;
  /** Tasks waiting in `send`, over all send sides. */
  readonly tasksWaitingSend: number;
  /** Tasks waiting in `receive`, over all receive sides. */
  readonly tasksWaitingReceive: number;
}

/** What every side of one channel shares. */
class Core<T> {
  readonly maxBufferSize: number;
  /** The buffered messages, those given back by cancelled receivers first. */
  readonly buffer = new GivenBackFifo<T>();
  openSendSides = 0;
  openReceiveSides = 0;
  readonly senders = new WaitQueue<SideWait<T>>();
  readonly receivers = new WaitQueue<SideWait<T>>();
  /** Messages handed to receivers that have not run yet: one may come back (its receiver cancelled). */
  handed = 0;
  /** Hand-offs so far: the next one's number, which orders a message given back among others. */
  handOffs = 0;
  constructor(maxBufferSize: number) {
    this.maxBufferSize = maxBufferSize;
  }
}

/** One side (the first, or a clone): what it shares, and the waits made through it, which its `close()` ends. */
class End<T> {
  readonly core: Core<T>;
  readonly sending: boolean;
  closed = false;
  /** Tasks waiting through this side; made at the first wait. */
  waiting: Set<SideWait<T>> | null = null;
  constructor(core: Core<T>, sending: boolean) {
    this.core = core;
    this.sending = sending;
    if (sending) core.openSendSides++;
    else core.openReceiveSides++;
  }
}

/**
 * A task waiting in `send` (with its message) or `receive`, through one side.
 * A sender whose message a receiver took keeps that wake over a cancel that
 * follows in the same turn: the message was delivered, so the send happened
 * (as in Trio). A receiver handed a message and cancelled before it ran
 * gives the message back instead, to the next receiver or the buffer's head
 * (decided case 10): a task that ends right after its receive (a `race`
 * loser, a `for await` left early) would otherwise drop it.
 */
class SideWait<T> extends Park implements IteratorYieldResult<Instruction> {
  declare readonly done: false;
  declare readonly value: Instruction;
  declare readonly end: End<T>;
  declare readonly message: T;
  /** A receiver's hand-off number, once handed a message. */
  declare seq: number;
  constructor(task: TaskImpl<unknown>, end: End<T>, message: T) {
    super(task, "queue", end.sending ? "room in a memory channel (send)" : "a message on a memory channel (receive)");
    this.done = false;
    this.value = this;
    this.end = end;
    this.message = message;
    this.seq = -1;
  }
  override cancelled(woken: boolean, handed: unknown): void {
    const end = this.end;
    if (!woken) {
      (end.sending ? end.core.senders : end.core.receivers).remove(this);
      end.waiting?.delete(this);
      return;
    }
    // A receiver handed a message (a sender's wake is never undone): the message goes on.
    end.core.handed--;
    giveBack(end.core, handed as T, this.seq);
  }
  override givesWakeOverCancel(): boolean {
    return this.end.sending;
  }
}

/** Hands `message` to the first waiting receiver that can take it; `false` if none. */
function handToReceiver<T>(core: Core<T>, message: T, seq: number): boolean {
  for (let receiver = firstWaiter(core.receivers); receiver !== undefined; receiver = firstWaiter(core.receivers)) {
    if (resume(receiver, message)) {
      receiver.seq = seq;
      core.handed++;
      return true;
    }
  }
  return false;
}

/**
 * A message handed to a receiver that was cancelled before it ran: to the
 * next receiver, else back into the buffer before every message sent after
 * it (those in the buffer, and those given back with a later number). The
 * buffer may then hold more than its size until drained. Dropped once every
 * receive side is closed, with the buffer.
 */
function giveBack<T>(core: Core<T>, message: T, seq: number): void {
  if (core.openReceiveSides === 0 || handToReceiver(core, message, seq)) return;
  core.buffer.restore(message, seq);
}

/** A receiver that was handed a message has run and taken it; the end may now be due. */
function handedTaken<T>(core: Core<T>): void {
  if (--core.handed === 0 && core.openSendSides === 0 && core.buffer.size === 0) endWaitingReceivers(core);
}

/** Every send side is closed and nothing is left to receive: the waiting receivers get `EndOfChannel`. */
function endWaitingReceivers<T>(core: Core<T>): void {
  const failed = core.receivers;
  for (let receiver = firstWaiter(failed); receiver !== undefined; receiver = firstWaiter(failed)) resumeThrow(receiver, endOfChannel());
}

function waitThrough<T>(end: End<T>, message: T, api: string): SideWait<T> {
  const wait = new SideWait<T>(requireCurrentTask(api), end, message);
  (end.sending ? end.core.senders : end.core.receivers).push(wait);
  (end.waiting ??= new Set()).add(wait);
  return wait;
}

/** Takes the first waiter of `queue`, forgetting it on its side. */
function firstWaiter<T>(queue: WaitQueue<SideWait<T>>): SideWait<T> | undefined {
  const wait = queue.shift();
  wait?.end.waiting?.delete(wait);
  return wait;
}

/** Sends without waiting if it can (to a waiting receiver, or into the buffer); `false` if it would block. */
function sendNow<T>(end: End<T>, message: T): boolean {
  if (end.closed) throw new ClosedResourceError("Cannot send: this memory channel send side is closed");
  const core = end.core;
  if (core.openReceiveSides === 0) throw new BrokenResourceError("Cannot send: every receive side of the memory channel is closed");
  if (handToReceiver(core, message, core.handOffs++)) return true;
  if (core.buffer.size < core.maxBufferSize) {
    core.buffer.add(message);
    return true;
  }
  return false;
}

/** What `receiveNow` gives when nothing is there. */
const NOTHING: unique symbol = Symbol("nothing");
/** What `receiveNow` gives at the end of the stream (every send side closed, the buffer empty, no message that may come back). */
const ENDED: unique symbol = Symbol("ended");

/**
 * Receives without waiting if it can: the buffer's head, after which the
 * first waiting sender's message takes the room that freed (if there is
 * room: messages given back may hold the buffer over its size); with the
 * buffer empty, a waiting sender's message directly (a rendezvous).
 */
function receiveNow<T>(end: End<T>): T | typeof NOTHING | typeof ENDED {
  if (end.closed) throw new ClosedResourceError("Cannot receive: this memory channel receive side is closed");
  const core = end.core;
  const buffer = core.buffer;
  if (buffer.size > 0) {
    const message = buffer.take();
    if (buffer.size < core.maxBufferSize) {
      const sender = firstSender(core);
      if (sender !== undefined) buffer.add(sender.message);
    }
    return message;
  }
  const sender = firstSender(core);
  if (sender !== undefined) return sender.message;
  return core.openSendSides === 0 && core.handed === 0 ? ENDED : NOTHING;
}

/** Wakes the first waiting sender, whose message is then taken: its send has happened. */
function firstSender<T>(core: Core<T>): SideWait<T> | undefined {
  for (let sender = firstWaiter(core.senders); sender !== undefined; sender = firstWaiter(core.senders)) {
    if (resume(sender, undefined)) return sender;
  }
  return undefined;
}

function endOfChannel(): EndOfChannel {
  return new EndOfChannel("Cannot receive: every send side of the memory channel is closed and its buffer is empty");
}

/** `sendSide.send(message)`: an operation object that is its own iterator (see `_step-operation.ts`). */
class MemorySend<T> extends StepOperation<void> {
  readonly #end: End<T>;
  readonly #message: T;
  constructor(end: End<T>, message: T) {
    super();
    this.state = FRESH;
    this.#end = end;
    this.#message = message;
  }
  next(): IteratorResult<Instruction, void> {
    const state = this.state;
    this.state = FINISHED;
    if (state === FRESH) {
      if (sendNow(this.#end, this.#message)) return DONE;
      const wait = waitThrough(this.#end, this.#message, "send on a memory channel");
      this.state = PARKED;
      return wait;
    }
    if (state === PARKED) return DONE;
    throw ranTwice(this);
  }
}

/** What `next()` finishes with at the end of the stream (one object: nobody mutates results). */
const AT_END: IteratorReturnResult<IteratorReturnResult<undefined>> = { done: true, value: { done: true, value: undefined } };

/** `receiveSide.receive()`, and `next()` (which gives iterator results and ends without an error). */
class MemoryReceive<T> extends StepOperation<unknown> {
  readonly #end: End<T>;
  readonly #asIteratorResult: boolean;
  constructor(end: End<T>, asIteratorResult: boolean) {
    super();
    this.state = FRESH;
    this.#end = end;
    this.#asIteratorResult = asIteratorResult;
  }
  get label(): string {
    return this.#asIteratorResult ? "memoryReceiveChannel.next" : "memoryReceiveChannel.receive";
  }
  next(value?: unknown): IteratorResult<Instruction, unknown> {
    const state = this.state;
    this.state = FINISHED;
    if (state === FRESH) {
      const got = receiveNow(this.#end);
      if (got === NOTHING) {
        const wait = waitThrough(this.#end, undefined as T, "receive from a memory channel");
        this.state = PARKED;
        return wait;
      }
      if (got === ENDED) {
        if (this.#asIteratorResult) return AT_END;
        throw endOfChannel();
      }
      return { done: true, value: this.#asIteratorResult ? { done: false, value: got } : got };
    }
    if (state === PARKED) {
      handedTaken(this.#end.core);
      return { done: true, value: this.#asIteratorResult ? { done: false, value } : value };
    }
    throw ranTwice(this);
  }
  override throw(error: unknown): IteratorResult<Instruction, unknown> {
    const parked = this.state === PARKED;
    this.state = FINISHED;
    if (parked && this.#asIteratorResult && error instanceof EndOfChannel) return AT_END;
    throw error;
  }
}

/**
 * Opens a memory channel (Trio's `open_memory_channel`): a send side and a
 * receive side, `[sendSide, receiveSide]` (data flows left to right).
 * `maxBufferSize` messages wait in the buffer before `send` waits; with 0
 * there is no buffer, and a `send` waits until a receiver takes its
 * message (a rendezvous). Many tasks may send and receive on either side at
 * once; each message goes to one receiver, in order.
 *
 * Each side can be cloned (`clone()`) and closed on its own (`close()`, or
 * `using`): receivers get `EndOfChannel` (and `next()` gives `{ done: true
 * }`) once every send side is closed and the buffer is drained, and senders
 * get `BrokenResourceError` once every receive side is closed (the buffer
 * is then dropped). Give each producer its own clone and close it when
 * done, and the consumers end by themselves when the last producer does.
 *
 * **Cancellation:** no message is lost or sent twice. A `send` whose
 * message a receiver took has happened, even if the sender's cancel
 * arrives before it runs again (as in Trio): it completes, and the cancel
 * is thrown at its next wait. A `receive` handed a message and cancelled
 * before it ran throws the cancel, and the message goes to the next
 * receiver, or back into the buffer ahead of the messages sent after it
 * (corio's rule for every waiter, decided case 10; Trio's receive would
 * return it, and a task that ended right after, a `race` loser, would
 * drop it).
 *
 * Differences from Trio, as everywhere in corio: a `send` or `receive` that
 * need not wait completes without suspending (Trio's always yields once), so
 * a producer sending in a loop into a buffer with room lets no other task
 * run until it waits; waiters are served in task priority order, FIFO
 * within a priority (Trio: FIFO); `close()` is Trio's `aclose()` and its
 * synchronous `close()` alike; `sendNowait`/`receiveNowait` throw
 * `WouldBlock` as Trio's do. corio's own `Channel` is the one-object
 * form, closed by either end with a reason.
 *
 * @param maxBufferSize Messages the buffer holds: a non-negative integer or `Infinity`.
 * @returns The first send side and the first receive side.
 * @throws {TypeError} if `maxBufferSize` is not a number.
 * @throws {RangeError} unless it is a non-negative safe integer or `Infinity`.
 * @example Producers with clones, a consumer that ends when they are done
 * ```ts
 * import { forEach, openMemoryChannel, scope, spawn } from "corio";
 * import { runVirtual } from "corio/testing";
 * await runVirtual(function* () {
 *   const [sendSide, receiveSide] = openMemoryChannel<number>(0);
 *   const got: number[] = [];
 *   yield* scope(function* () {
 *     for (const first of [0, 10]) {
 *       const mine = sendSide.clone();
 *       yield* spawn(function* () {
 *         using _ = mine; // closed when this producer ends
 *         for (let i = first; i < first + 3; i++) yield* mine.send(i);
 *       });
 *     }
 *     sendSide.close(); // only the clones are left
 *     yield* forEach(receiveSide, function* (n) { got.push(n); });
 *   });
 *   console.assert(got.length === 6);
 * });
 * ```
 */
export function openMemoryChannel<T>(maxBufferSize: number): [MemorySendChannel<T>, MemoryReceiveChannel<T>] {
  if (typeof maxBufferSize !== "number")
    throw new TypeError(`Cannot open a memory channel: maxBufferSize must be a number (an integer or Infinity), received ${typeof maxBufferSize}`);
  if (maxBufferSize !== Number.POSITIVE_INFINITY && (!Number.isSafeInteger(maxBufferSize) || maxBufferSize < 0))
    throw new RangeError(
      `Cannot open a memory channel: maxBufferSize must be a non-negative safe integer or Infinity (0: no buffer, a rendezvous), received ${String(maxBufferSize)}`,
    );
  const core = new Core<T>(maxBufferSize + 0); // -0 is 0
  return [newSendSide(core), newReceiveSide(core)];
}

/** Only this module makes sides (the classes' constructors are private). */
let newSendSide: <T>(core: Core<T>) => MemorySendChannel<T>;
let newReceiveSide: <T>(core: Core<T>) => MemoryReceiveChannel<T>;

function statisticsOf(core: Core<unknown>): MemoryChannelStatistics {
  return {
    currentBufferUsed: core.buffer.size,
    maxBufferSize: core.maxBufferSize,
    openSendChannels: core.openSendSides,
    openReceiveChannels: core.openReceiveSides,
    tasksWaitingSend: core.senders.size,
    tasksWaitingReceive: core.receivers.size,
  };
}

/** Closes `end`: its own waiters fail with `ClosedResourceError`; `true` if it was the last open side of its kind. */
function closeEnd(end: End<unknown>): boolean {
  if (end.closed) return false;
  end.closed = true;
  const core = end.core;
  const waiting = end.waiting;
  if (waiting !== null) {
    const queue = end.sending ? core.senders : core.receivers;
    for (const wait of waiting) {
      queue.remove(wait);
      resumeThrow(wait, new ClosedResourceError(`Cannot ${end.sending ? "send" : "receive"}: this memory channel side was closed while waiting`));
    }
    end.waiting = null;
  }
  return end.sending ? --core.openSendSides === 0 : --core.openReceiveSides === 0;
}

/**
 * The send side of a memory channel (see `openMemoryChannel`).
 *
 * @typeParam T The messages.
 * @example
 * ```ts
 * import { openMemoryChannel } from "corio";
 * const [sendSide, receiveSide] = openMemoryChannel<string>(1);
 * sendSide.sendNowait("hello");
 * console.assert(receiveSide.receiveNowait() === "hello");
 * ```
 */
export class MemorySendChannel<T> implements Disposable {
  readonly #end: End<T>;

  /** Made by `openMemoryChannel` and `clone()`. */
  private constructor(end: End<T>) {
    this.#end = end;
  }

  static {
    newSendSide = (core) => new MemorySendChannel(new End(core, true));
  }

  /** True once this side is closed (other clones may still be open). */
  get closed(): boolean {
    return this.#end.closed;
  }

  /**
   * Sends `message`: to a waiting receiver, else into the buffer, else waits
   * for a receiver to take it.
   *
   * **Cancellation:** the message is not sent, unless a receiver took it
   * before the cancel arrived (then it is sent, and the cancel is thrown at
   * the task's next wait).
   *
   * @throws {ClosedResourceError} if this side is closed (also while waiting).
   * @throws {BrokenResourceError} if every receive side is closed (also while waiting).
   */
  send(message: T): Operation<void> {
    return new MemorySend<T>(this.#end, message);
  }

  /**
   * Sends without waiting.
   * @throws {WouldBlock} if the buffer is full and no receiver waits.
   * @throws {ClosedResourceError} if this side is closed.
   * @throws {BrokenResourceError} if every receive side is closed.
   */
  sendNowait(message: T): void {
    if (!sendNow(this.#end, message))
      throw new WouldBlock(
        `Cannot send without waiting: the memory channel's buffer is full (maxBufferSize ${this.#end.core.maxBufferSize}) and no receiver waits`,
      );
  }

  /**
   * A new send side on the same channel, open until it is closed itself:
   * receivers see the end only once every send side is closed.
   * @throws {ClosedResourceError} if this side is closed.
   */
  clone(): MemorySendChannel<T> {
    if (this.#end.closed) throw new ClosedResourceError("Cannot clone: this memory channel send side is closed");
    return newSendSide(this.#end.core);
  }

  /**
   * Closes this side: its waiting senders fail with `ClosedResourceError`.
   * When it was the last open send side, waiting receivers get
   * `EndOfChannel`, and later receives too once the buffer is drained.
   * Idempotent; not a wait (Trio's `close()` and `aclose()` alike).
   */
  close(): void {
    const end = this.#end;
    // While a message handed to a receiver may come back, the receivers waiting wait for it.
    if (closeEnd(end as End<unknown>) && end.core.handed === 0) endWaitingReceivers(end.core);
  }

  /** Closes this side (for `using`). */
  [Symbol.dispose](): void {
    this.close();
  }

  /** The channel's counts, shared by all its sides. */
  statistics(): MemoryChannelStatistics {
    return statisticsOf(this.#end.core as Core<unknown>);
  }

  toString(): string {
    return describeSide("MemorySendChannel", this.#end as End<unknown>);
  }
}

/**
 * The receive side of a memory channel (see `openMemoryChannel`). Iterate
 * it with `forEach(receiveSide, ...)`, `yield* receiveSide.next()`, or `for
 * await` in plain async code: the iteration ends once every send side is
 * closed and the buffer is drained.
 *
 * @typeParam T The messages.
 * @example
 * ```ts
 * import { openMemoryChannel, run } from "corio";
 * const [sendSide, receiveSide] = openMemoryChannel<number>(Infinity);
 * for (let i = 0; i < 3; i++) sendSide.sendNowait(i);
 * sendSide.close();
 * const got = await run(function* () {
 *   const out: number[] = [];
 *   for (let r = yield* receiveSide.next(); !r.done; r = yield* receiveSide.next()) out.push(r.value);
 *   return out;
 * });
 * console.assert(got.join() === "0,1,2");
 * ```
 */
export class MemoryReceiveChannel<T> implements Disposable {
  readonly #end: End<T>;

  /** Made by `openMemoryChannel` and `clone()`. */
  private constructor(end: End<T>) {
    this.#end = end;
  }

  static {
    newReceiveSide = (core) => new MemoryReceiveChannel(new End(core, false));
  }

  /** True once this side is closed (other clones may still be open). */
  get closed(): boolean {
    return this.#end.closed;
  }

  /**
   * Receives the next message, waiting for one. Messages come in the order
   * they were sent, each to one receiver.
   *
   * **Cancellation:** no message is taken: one already handed to this call
   * goes to the next receiver, or back into the buffer ahead of those sent
   * after it (the buffer may then hold more than its size until drained).
   * Messages come in send order, except that one given back comes after
   * those other receives took meanwhile (as with a `Queue`).
   *
   * @throws {EndOfChannel} once every send side is closed and the buffer is
   * drained (while a message handed to a receiver that has not run yet may
   * come back, receivers wait for it).
   * @throws {ClosedResourceError} if this side is closed (also while waiting).
   */
  receive(): Operation<T> {
    return new MemoryReceive<T>(this.#end, false) as Operation<unknown> as Operation<T>;
  }

  /**
   * Receives without waiting.
   * @throws {WouldBlock} if there is no message (and a send side is open, or
   * a message handed to a receiver that has not run yet may come back).
   * @throws {EndOfChannel} once every send side is closed and the buffer is drained.
   * @throws {ClosedResourceError} if this side is closed.
   */
  receiveNowait(): T {
    const got = receiveNow(this.#end);
    if (got === NOTHING) throw new WouldBlock("Cannot receive without waiting: the memory channel has no message and no sender waits");
    if (got === ENDED) throw endOfChannel();
    return got;
  }

  /**
   * The next message as an iterator result: `{ done: true }` at the end
   * (every send side closed, the buffer drained), where `receive` throws
   * `EndOfChannel`. `each` and `forEach` iterate with it.
   *
   * **Cancellation:** as for `receive`.
   * @throws {ClosedResourceError} if this side is closed (also while waiting).
   */
  next(): Operation<IteratorResult<T, undefined>> {
    return new MemoryReceive<T>(this.#end, true) as Operation<unknown> as Operation<IteratorResult<T, undefined>>;
  }

  /** The messages until the end, for `for await` in plain async code (each one waits in a root task). */
  [Symbol.asyncIterator](): AsyncIterator<T, undefined, undefined> {
    return toAsyncIterator(this);
  }

  /**
   * A new receive side on the same channel (receivers share the messages:
   * each goes to one of them, not to every clone). The channel counts as
   * received from until every receive side is closed.
   * @throws {ClosedResourceError} if this side is closed.
   */
  clone(): MemoryReceiveChannel<T> {
    if (this.#end.closed) throw new ClosedResourceError("Cannot clone: this memory channel receive side is closed");
    return newReceiveSide(this.#end.core);
  }

  /**
   * Closes this side: its waiting receivers fail with
   * `ClosedResourceError`. When it was the last open receive side, the
   * buffer is dropped and senders, waiting or later, get
   * `BrokenResourceError`. Idempotent; not a wait.
   */
  close(): void {
    const end = this.#end;
    if (!closeEnd(end as End<unknown>)) return;
    const core = end.core;
    const failed = core.senders;
    for (let sender = firstWaiter(failed); sender !== undefined; sender = firstWaiter(failed))
      resumeThrow(sender, new BrokenResourceError("Cannot send: every receive side of the memory channel was closed while waiting"));
    core.buffer.clear();
  }

  /** Closes this side (for `using`). */
  [Symbol.dispose](): void {
    this.close();
  }

  /** The channel's counts, shared by all its sides. */
  statistics(): MemoryChannelStatistics {
    return statisticsOf(this.#end.core as Core<unknown>);
  }

  toString(): string {
    return describeSide("MemoryReceiveChannel", this.#end as End<unknown>);
  }
}

function describeSide(kind: string, end: End<unknown>): string {
  const core = end.core;
  return `${kind}(${end.closed ? "closed" : "open"}, ${core.buffer.size}/${core.maxBufferSize} buffered, ${core.senders.size} sending, ${core.receivers.size} receiving)`;
}

defineStepOperations(MemorySend, () => "memorySendChannel.send", MemorySendChannel, { send: "memorySendChannel.send" });
defineStepOperations(MemoryReceive, (op) => (op as MemoryReceive<unknown>).label, MemoryReceiveChannel, {
  receive: "memoryReceiveChannel.receive",
  next: "memoryReceiveChannel.next",
});
markOperationIterator(MemoryReceiveChannel.prototype);
