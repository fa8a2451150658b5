/**
 * Task mailboxes: the cooperative-scheduler seed's signals between tasks.
 * @module
 */

import { defineOperation } from "../core/_dev.ts";
import { checkMadeByCorio, MADE_BY_CORIO } from "../core/_made-by-corio.ts";
import { resume, resumeThrow } from "../core/_park.ts";
import { Future } from "../core/future.ts";
import type { Operation } from "../core/operation.ts";
import { requireCurrentTask } from "../core/spawn.ts";
import { codeOwner, type Task } from "../core/task.ts";
import { Waiter } from "./_wait-queue.ts";

/**
 * A message sent with `request`, which expects an answer: the receiver
 * answers with `reply(request, value)` (or `request.reply(value)`).
 *
 * @example
 * ```ts
 * import { receive, reply, request, Request, spawn } from "corio";
 * import { runVirtual } from "corio/testing";
 * await runVirtual(function* () {
 *   const doubler = yield* spawn(function* () {
 *     const ask = (yield* receive((m) => m instanceof Request)) as Request<number, number>;
 *     reply(ask, ask.message * 2);
 *   });
 *   console.assert((yield* request<number>(doubler, 21)) === 42);
 * });
 * ```
 */
export class Request<M = unknown, R = unknown> {
  /** What was asked. */
  readonly message: M;
  /** The task that asked. */
  readonly from: Task<unknown>;
  /** @internal */
  readonly answer = new Future<R>();

  /** @internal What `request()` calls: the constructor is private, so that `new Request()` does not type-check. */
  static create<M = unknown, R = unknown>(message: M, from: Task<unknown>): Request<M, R> {
    return new Request<M, R>(MADE_BY_CORIO, message, from);
  }

  private constructor(token: typeof MADE_BY_CORIO, message: M, from: Task<unknown>) {
    checkMadeByCorio(token, "a Request", "a task gets one from yield* receive() after another calls request(task, message)");
    this.message = message;
    this.from = from;
  }

  /** Answers the request (once; later answers are ignored). Returns whether this answer was taken. */
  reply(value: R): boolean {
    return this.answer.resolve(value);
  }

  /** Answers the request with an error, thrown in the requester. */
  fail(error: unknown): boolean {
    return this.answer.reject(error);
  }
}

/** What `Mailbox.take` gives when no message matches. */
const NONE: unique symbol = Symbol("none");

/**
 * A task's queued messages, oldest first. The oldest is taken without
 * moving the others (an array's `splice(0, 1)` moved them all: draining
 * 200,000 messages took 7 s); the slots taken at the front are reclaimed
 * once they are half the array.
 */
class Mailbox {
  /** The messages from `#head` on; the slots before it are taken. */
  readonly #items: unknown[] = [];
  #head = 0;
  waiter: Waiter<((message: unknown) => boolean) | undefined> | null = null;
  /** Where the message handed to the waiter belongs, should its receive be cancelled: behind the older ones. */
  handedAt = 0;
  /** Whether a done callback fails the requests left here when the task finishes. */
  watched = false;

  /** Messages queued. */
  get size(): number {
    return this.#items.length - this.#head;
  }

  push(message: unknown): void {
    this.#items.push(message);
  }

  /** Takes the oldest message that `filter` accepts (any without one); `NONE` if there is none. */
  take(filter: ((message: unknown) => boolean) | undefined): unknown {
    const items = this.#items;
    for (let i = this.#head; i < items.length; i++) {
      const message = items[i];
      if (filter !== undefined && !filter(message)) continue;
      if (i > this.#head) items.splice(i, 1);
      else {
        items[i] = undefined;
        this.#head++;
        this.#reclaim();
      }
      return message;
    }
    return NONE;
  }

  /** Puts `message` back `at` messages from the oldest (behind all of them if there are fewer). */
  insert(at: number, message: unknown): void {
    const position = Math.min(at, this.size);
    if (position === 0 && this.#head > 0) this.#items[--this.#head] = message;
    else this.#items.splice(this.#head + position, 0, message);
  }

  /** Takes every message, oldest first. */
  takeAll(): unknown[] {
    const all = this.#items.slice(this.#head);
    this.#items.length = 0;
    this.#head = 0;
    return all;
  }

  #reclaim(): void {
    const items = this.#items;
    if (this.#head === items.length) {
      items.length = 0;
      this.#head = 0;
    } else if (this.#head >= 64 && this.#head * 2 >= items.length) {
      items.splice(0, this.#head);
      this.#head = 0;
    }
  }
}

const mailboxes = new WeakMap<Task<unknown>, Mailbox>();

function mailboxOf(task: Task<unknown>): Mailbox {
  let mailbox = mailboxes.get(task);
  if (mailbox === undefined) {
    mailbox = new Mailbox();
    mailboxes.set(task, mailbox);
  }
  return mailbox;
}

/**
 * Sends a message to a task's mailbox; never waits. Unlike the seed
 * scheduler's signals, a message sent while nobody waits is kept until the
 * task receives it. Returns `false` (and drops it) if the task has finished.
 *
 * @example
 * ```ts
 * import { currentTask, receive, send, spawn } from "corio";
 * import { runVirtual } from "corio/testing";
 * await runVirtual(function* () {
 *   const me = currentTask();
 *   yield* spawn(function* () { send(me, { hello: "parent" }); });
 *   console.assert(((yield* receive()) as { hello: string }).hello === "parent");
 * });
 * ```
 */
export function send(task: Task<unknown>, message: unknown): boolean {
  if (task.done) return false;
  const mailbox = mailboxOf(task);
  if (message instanceof Request && !mailbox.watched) {
    // A request the task never takes is failed when it finishes, not left for its requester to wait on for ever.
    mailbox.watched = true;
    task.addDoneCallback(() => {
      for (const left of mailbox.takeAll()) {
        if (left instanceof Request) left.fail(new Error(`Cannot get a reply from task ${task.path}: it finished without taking the request`));
      }
    });
  }
  const waiter = mailbox.waiter;
  if (waiter !== null) {
    let matches: boolean;
    try {
      matches = waiter.value === undefined || waiter.value(message);
    } catch (error) {
      // The receiver's filter failed: the receiver gets the error (as when it looks through queued
      // messages itself), not the sender; the message stays.
      mailbox.waiter = null;
      mailbox.push(message);
      resumeThrow(waiter, error);
      return true;
    }
    if (matches) {
      mailbox.waiter = null;
      mailbox.handedAt = mailbox.size;
      if (resume(waiter, message)) return true;
    }
  }
  mailbox.push(message);
  return true;
}

/**
 * Takes the oldest message of the current task's mailbox that matches
 * `filter` (any message without one), waiting until one arrives; others stay
 * queued. Compose with `timeout` for a receive that gives up.
 *
 * **Cancellation:** no message is lost: one already handed to this call goes
 * back where it was sent, behind the older messages still queued. A `filter` that throws fails this call
 * (not a sender); the message it was looking at stays in the mailbox.
 *
 * @example
 * ```ts
 * import { currentTask, receive, send, timeout, TimeoutError } from "corio";
 * import { runVirtual } from "corio/testing";
 * await runVirtual(function* () {
 *   send(currentTask(), "low");
 *   send(currentTask(), "URGENT");
 *   console.assert((yield* receive((m) => m === "URGENT")) === "URGENT");
 *   console.assert((yield* receive()) === "low");
 *   try { yield* timeout(100, receive()); } catch (e) { console.assert(e instanceof TimeoutError); }
 * });
 * ```
 */
export const receive = defineOperation(function* receive<T = unknown>(filter?: (message: unknown) => boolean): Operation<T> {
  const task = requireCurrentTask("receive a message");
  // A `receive` inside timeout() runs in a child task: read the mailbox of the task that owns the code.
  const owner = codeOwner(task);
  const mailbox = mailboxOf(owner);
  const found = mailbox.take(filter);
  if (found !== NONE) return found as T;
  if (mailbox.waiter !== null) throw new Error(`Cannot receive in task ${owner.path}: another receive is already waiting on its mailbox`);
  const waiter = new Waiter<((message: unknown) => boolean) | undefined>(
    task,
    "signal",
    filter,
    (w, woken, handed) => {
      if (!woken) {
        if (mailbox.waiter === w) mailbox.waiter = null;
      } else mailbox.insert(mailbox.handedAt, handed);
    },
    "a message in its mailbox (receive)",
  );
  mailbox.waiter = waiter;
  return (yield waiter) as T;
});

/**
 * Sends `message` to `task` as a `Request` and waits for its reply (the
 * seed's "send a signal and wait for the response").
 *
 * **Cancellation:** the request stays in the task's mailbox; a later reply
 * is ignored.
 *
 * @throws whatever the receiver passes to `request.fail(error)`.
 * @throws {Error} if the task has already finished, or finishes with the
 * request still in its mailbox (never taken: nobody would answer it). A
 * request taken and never answered still waits: use `timeout`.
 * @example
 * ```ts
 * import { receive, reply, request, Request, spawn } from "corio";
 * import { runVirtual } from "corio/testing";
 * await runVirtual(function* () {
 *   const echo = yield* spawn(function* () {
 *     const ask = (yield* receive()) as Request<string, string>;
 *     reply(ask, ask.message.toUpperCase());
 *   });
 *   console.assert((yield* request<string>(echo, "hi")) === "HI");
 * });
 * ```
 */
export const request = defineOperation(function* request<R = unknown, M = unknown>(task: Task<unknown>, message: M): Operation<R> {
  const from = codeOwner(requireCurrentTask("send a request"));
  const envelope = Request.create<M, R>(message, from);
  if (!send(task, envelope)) throw new Error(`Cannot send a request to task ${task.path}: it has finished`);
  return yield* envelope.answer;
});

/**
 * Answers a `Request` received from the mailbox; returns whether this
 * answer was taken (the first one is).
 *
 * @example
 * ```ts
 * import { receive, reply, request, type Request, spawn } from "corio";
 * import { runVirtual } from "corio/testing";
 * await runVirtual(function* () {
 *   const server = yield* spawn(function* () {
 *     const ask = (yield* receive()) as Request<string, number>;
 *     console.assert(reply(ask, ask.message.length) && !reply(ask, 0));
 *   });
 *   console.assert((yield* request<number>(server, "four")) === 4);
 * });
 * ```
 */
export function reply<R>(to: Request<unknown, R>, value: R): boolean {
  return to.reply(value);
}
