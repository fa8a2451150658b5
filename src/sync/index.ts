/**
 * Synchronization and messaging between tasks.
 *
 * Which one do I need?
 * - One task at a time in a critical section: `Lock` (`withLock`, or `using _ = yield* lock.acquire()`).
 * - At most N at a time: `Semaphore` (`BoundedSemaphore` catches extra releases).
 * - At most N tasks (or borrowers) at a time, one token each, limit changeable: `CapacityLimiter`.
 * - Let N tasks meet before any goes on: `Barrier`.
 * - Wait for a one-off flag: `Event`. For a state change under a lock: `Condition`.
 * - Hand work from producers to consumers: `Queue` (`LifoQueue`, `PriorityQueue`), with `join`/`taskDone`.
 * - A closable stream of messages: `Channel`; the same message to every subscriber: `Broadcast`.
 * - Trio's memory channels (separate send and receive sides, clones, a 0 buffer for a rendezvous): `openMemoryChannel`.
 * - Messages addressed to a task: `send`, `receive`, `request`/`reply`.
 * @module
 */
export { Barrier } from "./barrier.ts";
export { CapacityLimiter, type CapacityLimiterStatistics } from "./capacity-limiter.ts";
export { Broadcast, Channel, type Overflow, Subscription, type TryReceive } from "./channel.ts";
export { Condition } from "./condition.ts";
export { BrokenBarrierError, ChannelClosedError, EndOfChannel, QueueEmpty, QueueFull, QueueShutDown, WouldBlock } from "./errors.ts";
export { Event } from "./event.ts";
export { Lock } from "./lock.ts";
export { Request, receive, reply, request, send } from "./mailbox.ts";
export { type MemoryChannelStatistics, MemoryReceiveChannel, MemorySendChannel, openMemoryChannel } from "./memory-channel.ts";
export { LifoQueue, PriorityQueue, Queue, type QueueOptions } from "./queue.ts";
export { BoundedSemaphore, Semaphore } from "./semaphore.ts";
