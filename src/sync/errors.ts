/**
 * The errors of queues, channels and barriers.
 * @module
 */
import { registerErrorClasses } from "../core/_error-registry.ts";
import { describe } from "../core/errors.ts";

/**
 * Thrown by `getNowait()` on an empty queue.
 *
 * @example
 * ```ts
 * import { Queue, QueueEmpty } from "corio";
 * try { new Queue<number>().getNowait(); } catch (e) { console.assert(e instanceof QueueEmpty); }
 * ```
 */
export class QueueEmpty extends Error {
  override name = "QueueEmpty";
}

/**
 * Thrown by `putNowait()` on a full queue.
 *
 * @example
 * ```ts
 * import { Queue, QueueFull } from "corio";
 * const queue = new Queue<number>({ maxsize: 1 });
 * queue.putNowait(1);
 * try { queue.putNowait(2); } catch (e) { console.assert(e instanceof QueueFull); }
 * ```
 */
export class QueueFull extends Error {
  override name = "QueueFull";
}

/**
 * Thrown by a queue after `shutdown()`: by any put, and by gets once the
 * queue is empty (at once after `shutdown(true)`).
 *
 * @example
 * ```ts
 * import { Queue, QueueShutDown } from "corio";
 * const queue = new Queue<number>();
 * queue.shutdown();
 * try { queue.putNowait(1); } catch (e) { console.assert(e instanceof QueueShutDown); }
 * ```
 */
export class QueueShutDown extends Error {
  override name = "QueueShutDown";
}

/**
 * Thrown when sending to, or receiving from a drained, closed channel. It
 * carries the reason given to `close(reason)`.
 *
 * @example
 * ```ts
 * import { Channel, ChannelClosedError } from "corio";
 * const channel = new Channel<number>();
 * channel.close("done");
 * try { channel.trySend(1); } catch (e) { console.assert(e instanceof ChannelClosedError && e.reason === "done"); }
 * ```
 */
export class ChannelClosedError extends Error {
  override name = "ChannelClosedError";
  /** What was given to `close(reason)`. */
  readonly reason: unknown;
  constructor(message: string, reason?: unknown) {
    super(reason === undefined ? message : `${message} (reason: ${describe(reason)})`);
    this.reason = reason;
  }
}

/**
 * Thrown by a memory channel's `sendNowait()` when the buffer is full and no
 * receiver waits, and by `receiveNowait()` when nothing is there to take
 * (Trio's `WouldBlock`).
 *
 * @example
 * ```ts
 * import { openMemoryChannel, WouldBlock } from "corio";
 * const [, receiveSide] = openMemoryChannel<number>(1);
 * try { receiveSide.receiveNowait(); } catch (e) { console.assert(e instanceof WouldBlock); }
 * ```
 */
export class WouldBlock extends Error {
  override name = "WouldBlock";
}

/**
 * Thrown by a memory channel's `receive()` once every send side is closed
 * and the buffer is empty: the normal end of the stream (Trio's
 * `EndOfChannel`). `next()` gives `{ done: true }` instead.
 *
 * @example
 * ```ts
 * import { EndOfChannel, openMemoryChannel } from "corio";
 * const [sendSide, receiveSide] = openMemoryChannel<number>(1);
 * sendSide.close();
 * try { receiveSide.receiveNowait(); } catch (e) { console.assert(e instanceof EndOfChannel); }
 * ```
 */
export class EndOfChannel extends Error {
  override name = "EndOfChannel";
}

/**
 * Thrown by `Barrier.wait()` when the barrier is broken (`abort()`), or is
 * broken or `reset()` while the task waits.
 *
 * @example
 * ```ts
 * import { Barrier, BrokenBarrierError } from "corio";
 * import { runVirtual } from "corio/testing";
 * await runVirtual(function* () {
 *   const barrier = new Barrier(2);
 *   barrier.abort();
 *   try { yield* barrier.wait(); } catch (e) { console.assert(e instanceof BrokenBarrierError); }
 * });
 * ```
 */
export class BrokenBarrierError extends Error {
  override name = "BrokenBarrierError";
}

// An error crossing to or from a worker thread is rebuilt as its class there (see threads/_serialize-error.ts).
registerErrorClasses({ QueueEmpty, QueueFull, QueueShutDown, ChannelClosedError, BrokenBarrierError, WouldBlock, EndOfChannel });
