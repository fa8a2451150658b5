/**
 * The body of one TCP connection's task: the handler's own generator, with
 * the connection's close as a destructor of the task. As a generator it
 * would read:
 *
 * ```ts
 * function* serveConnection(handler, reader, writer, messages) {
 *   try {
 *     yield* handler(reader, writer, messages);
 *   } finally {
 *     // once the tasks the handler started have ended too:
 *     if (failed) writer.abort();
 *     else yield* server.closeConnection(writer);
 *   }
 * }
 * ```
 *
 * but a wrapping generator is resumed at every step of the handler, and
 * every `yield*` level costs a generator resume (about 300 instructions per
 * line of a line echo). Here the task drives the handler's generator
 * directly; the close runs when the task's body and children have ended,
 * as every destructor does (`Scope.ensure`).
 *
 * The handler's failure is the task's: the tasks it started are cancelled,
 * then the connection is reset, and the server reports the failure (kind
 * `peer-gone` with the peer's address for a peer that went away, under
 * `FAILS_ALONE`).
 * @module
 */
import type { Destructor } from "../core/_scope.ts";
import { type Instruction, iteratorOf, type Operation } from "../core/operation.ts";
import { requireCurrentTask } from "../core/spawn.ts";
import type { TaskImpl } from "../core/task.ts";
import type { StreamReader } from "../streams/stream-reader.ts";
import type { StreamWriter } from "../streams/stream-writer.ts";
import type { ServerCore } from "./_server.ts";
import type { MessageReader } from "./framing.ts";

/** `startServer`'s `ConnectionHandler`, restated (tcp.ts imports this file; its public types must not lead here). */
type Handler = (reader: StreamReader, writer: StreamWriter, messages: MessageReader) => Operation<void>;

/** One connection's task body and its close (see the module comment). */
export class ConnectionRun implements Operation<void>, Destructor {
  readonly name = "connection close";
  readonly #core: ServerCore;
  readonly #handler: Handler;
  readonly #reader: StreamReader;
  readonly #writer: StreamWriter;
  readonly #messages: MessageReader;
  #task: TaskImpl<unknown> | null = null;

  constructor(core: ServerCore, handler: Handler, reader: StreamReader, writer: StreamWriter, messages: MessageReader) {
    this.#core = core;
    this.#handler = handler;
    this.#reader = reader;
    this.#writer = writer;
    this.#messages = messages;
  }

  /** Called by the task at its first step: registers the close, then opens the handler's operation. */
  [Symbol.iterator](): Iterator<Instruction, void, unknown> {
    const task = requireCurrentTask("serve a connection");
    this.#task = task;
    // Before the handler is called: a handler that throws at once still has its connection reset.
    task.ensure(this);
    return iteratorOf(this.#handler(this.#reader, this.#writer, this.#messages), "serve a connection", true);
  }

  /**
   * The close, once the handler and its tasks have ended: a reset if one of
   * them failed, else the server's clean close (flush, FIN, wait for the
   * socket to close). A peer that leaves during it fails the task as
   * `peer-gone`.
   */
  *cleanup(): Operation<void> {
    if ((this.#task as TaskImpl<unknown>).hasFailures) this.#writer.abort();
    else yield* this.#core.closeConnection(this.#writer);
  }
}
