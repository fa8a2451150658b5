/**
 * The outcomes of a BullMQ queue's jobs, as a corio iterator.
 * @module
 */

import type { QueueEvents } from "bullmq";
import { defineOperationMethods } from "../core/_dev.ts";
import { checkMadeByCorio, MADE_BY_CORIO } from "../core/_made-by-corio.ts";
import type { Destructor } from "../core/_scope.ts";
import { until } from "../core/call.ts";
import type { Operation } from "../core/operation.ts";
import { requireCurrentTask } from "../core/spawn.ts";
import type { TaskImpl } from "../core/task.ts";
import { QueueShutDown } from "../sync/errors.ts";
import { Queue } from "../sync/queue.ts";
import type { RedisClient } from "./connection.ts";

/** One job's outcome: its value, or its failure reason (a message: errors cross processes as text). */
export type JobOutcome<R> =
  | { readonly id: string; readonly status: "completed"; readonly value: R }
  | { readonly id: string; readonly status: "failed"; readonly error: string };

/**
 * Outcomes of a job queue's jobs from every process, in the order Redis
 * recorded them (`JobQueue.completions()`). Read with `yield* next()`; ends
 * (`done: true`) after `close()` or when the owning task ends. A job that
 * is retried reports once, when it completes or finally fails; a job put
 * back by a stopping worker reports nothing until another worker ends it.
 *
 * @example Wait for one job's outcome, from any process
 * ```ts
 * import { run, spawn } from "corio";
 * import { openJobQueue } from "corio/redis";
 * const outcome = await run(function* () {
 *   const jobs = yield* openJobQueue<number, number>(`double-${process.pid}`, { redis: process.env.REDIS_URL ?? "redis://127.0.0.1:6379" });
 *   const completions = yield* jobs.completions(); // before adding, so nothing is missed
 *   const workers = yield* spawn(() => jobs.process(1, function* (n) { return n * 2; }));
 *   const id = yield* jobs.add(21);
 *   for (;;) {
 *     const next = yield* completions.next();
 *     if (next.done || next.value.id === id) {
 *       workers.cancel();
 *       return next.value;
 *     }
 *   }
 * });
 * console.assert(outcome?.status === "completed" && outcome.value === 42);
 * ```
 */
export class JobCompletions<R> {
  readonly #outcomes = new Queue<JobOutcome<R>>();
  readonly #events: QueueEvents;
  /** The close of BullMQ's listener (and its Redis connection), once begun. */
  #closing: Promise<void> | null = null;
  /** The owner's cleanup of this listener, taken off once `close()` has closed it (no entry left per call). */
  #registration: { owner: TaskImpl<unknown>; destructor: Destructor } | null = null;

  private constructor(token: typeof MADE_BY_CORIO, events: QueueEvents) {
    checkMadeByCorio(token, "a JobCompletions", "use yield* queue.completions()");
    this.#events = events;
  }

  /** @internal Starts listening from the current end of the queue's event stream. */
  static *start<R>(events: QueueEvents, client: RedisClient, streamKey: string): Operation<JobCompletions<R>> {
    const completions = new JobCompletions<R>(MADE_BY_CORIO, events);
    const outcomes = completions.#outcomes;
    events.on("completed", ({ jobId, returnvalue }: { jobId: string; returnvalue: unknown }) => {
      if (!outcomes.isShutdown) outcomes.putNowait({ id: jobId, status: "completed", value: parseValue(returnvalue) as R });
    });
    events.on("failed", ({ jobId, failedReason }: { jobId: string; failedReason: string }) => {
      if (!outcomes.isShutdown) outcomes.putNowait({ id: jobId, status: "failed", error: failedReason });
    });
    events.on("error", () => {
      // Connection errors: ioredis reconnects and BullMQ resumes reading where it stopped.
    });
    // Start at the stream's current end, read now: BullMQ's default ("$") would miss what happens before its first read.
    const last = (yield* until(client.xrevrange(streamKey, "+", "-", "COUNT", 1))) as [string, string[]][];
    const from = last[0]?.[0] ?? "0-0";
    const owner = requireCurrentTask("watch job outcomes");
    const destructor: Destructor = { name: "job outcomes", cleanup: () => completions.#stop(), handle: completions };
    owner.ensure(destructor);
    completions.#registration = { owner, destructor };
    (events.opts as { lastEventId?: string }).lastEventId = from;
    events.run().catch(() => {});
    yield* until(events.waitUntilReady());
    return completions;
  }

  /** The next outcome, waiting for one; `done: true` once closed. */
  *next(): Operation<IteratorResult<JobOutcome<R>, undefined>> {
    try {
      return { done: false, value: yield* this.#outcomes.get() };
    } catch (error) {
      if (error instanceof QueueShutDown) return { done: true, value: undefined };
      throw error;
    }
  }

  /** Stops listening, and closes the Redis connection it listened on; outcomes already received can still be read. */
  close(): void {
    this.#outcomes.shutdown();
    // Taken off the owner once closed, not before: an owner that ends meanwhile still waits for the close.
    // (While the owner runs its cleanups its list is already taken, so this is a no-op then.)
    this.#closing ??= this.#events
      .close()
      .catch(() => undefined)
      .then(() => {
        const registration = this.#registration;
        this.#registration = null;
        registration?.owner.unensure(registration.destructor);
      });
  }

  *#stop(): Operation<void> {
    this.close();
    yield* until(this.#closing as Promise<void>);
  }
}

/** BullMQ's events carry return values as JSON text. */
function parseValue(value: unknown): unknown {
  if (typeof value !== "string") return value;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

defineOperationMethods(JobCompletions);
