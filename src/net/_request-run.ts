/**
 * The body of one HTTP request's task: run the handler, end the response if
 * the handler did not, and answer what either of them throws. It is the
 * generator below, written out as an explicit iterator:
 *
 * ```ts
 * function* httpRequest(request, response) {
 *   try {
 *     yield* handler(request, response);
 *     if (!response.finished && !response.raw.destroyed) yield* response.end();
 *   } catch (error) {
 *     yield* answerError(request, response, error);
 *   }
 * }
 * ```
 *
 * except that a handler which leaves tasks running has its response ended
 * once they have all ended (a destructor of the request task: what they
 * write is sent first), or answered as a failure if one of them failed.
 *
 * A generator object with a `try` and two delegations keeps a register file
 * of about 380 bytes per request; this object is about 50. The instructions
 * the handler yields pass through unchanged, as `yield*` passes them.
 * @module
 */
import type { Instruction, Operation } from "../core/operation.ts";
import { requireCurrentTask } from "../core/spawn.ts";
import type { TaskImpl } from "../core/task.ts";
import type { HttpRequest } from "./http-request.ts";
import type { HttpResponse } from "./http-response.ts";

/** What one server gives each of its requests. */
export interface RequestHandling {
  handler(request: HttpRequest, response: HttpResponse): Operation<void>;
  /** Answers (or reports) what the handler or the response's end threw; rethrows a cancellation. */
  answerError(request: HttpRequest, response: HttpResponse, error: unknown): Operation<void>;
  /** The end of a response whose handler left tasks running, once they have ended (the task's failure, if any, is the server's to report). */
  endAfterChildren(task: TaskImpl<unknown>, response: HttpResponse): Operation<void>;
}

const HANDLER = 0;
const ENDING = 1;
const ANSWERING = 2;
const FINISHED = 3;

type Step = IteratorResult<Instruction, unknown>;

/** One request's task body (see the module comment). */
export class RequestRun implements Iterator<Instruction, void, unknown> {
  readonly #handling: RequestHandling;
  readonly #request: HttpRequest;
  readonly #response: HttpResponse;
  #phase = HANDLER;
  /** The iterator of the current phase, once started. */
  #inner: Iterator<Instruction, unknown, unknown> | null = null;

  constructor(handling: RequestHandling, request: HttpRequest, response: HttpResponse) {
    this.#handling = handling;
    this.#request = request;
    this.#response = response;
  }

  [Symbol.iterator](): this {
    return this;
  }

  next(value?: unknown): IteratorResult<Instruction, void> {
    return this.#resume(false, value);
  }

  throw(error: unknown): IteratorResult<Instruction, void> {
    return this.#resume(true, error);
  }

  return(value?: unknown): IteratorResult<Instruction, void> {
    const inner = this.#inner;
    this.#inner = null;
    this.#phase = FINISHED;
    inner?.return?.(value);
    return { value: undefined, done: true };
  }

  #resume(isThrow: boolean, value: unknown): IteratorResult<Instruction, void> {
    if (this.#phase === FINISHED) {
      if (isThrow) throw value;
      return { value: undefined, done: true };
    }
    for (;;) {
      let step: Step;
      try {
        let inner = this.#inner;
        if (inner === null) inner = this.#inner = this.#handling.handler(this.#request, this.#response)[Symbol.iterator]();
        step = isThrow ? throwInto(inner, value) : inner.next(value);
      } catch (error) {
        if (this.#phase === ANSWERING) {
          this.#phase = FINISHED;
          this.#inner = null;
          throw error;
        }
        this.#phase = ANSWERING;
        this.#inner = this.#handling.answerError(this.#request, this.#response, error)[Symbol.iterator]();
        isThrow = false;
        value = undefined;
        continue;
      }
      if (step.done !== true) return step as IteratorResult<Instruction, void>;
      const response = this.#response;
      if (this.#phase === HANDLER && !response.finished && !response.raw.destroyed) {
        const task = requireCurrentTask("end a response");
        if (task.hasChildren) {
          // The response is the task's from its start: it ends after the handler's tasks, daemons too, and its resources.
          task.ensureOutermost({ name: "response end", cleanup: () => this.#handling.endAfterChildren(task, response) });
          this.#phase = FINISHED;
          this.#inner = null;
          return { value: undefined, done: true };
        }
        this.#phase = ENDING;
        this.#inner = response.end()[Symbol.iterator]();
        isThrow = false;
        value = undefined;
        continue;
      }
      this.#phase = FINISHED;
      this.#inner = null;
      return { value: undefined, done: true };
    }
  }
}

/** Throws `error` into an iterator, as `yield*` does: through `throw`, or after `return` for one without it. */
function throwInto(it: Iterator<Instruction, unknown, unknown>, error: unknown): Step {
  if (it.throw !== undefined) return it.throw(error);
  it.return?.();
  throw new TypeError("The iterator does not provide a 'throw' method", { cause: error });
}
