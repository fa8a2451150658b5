// The actor ported in docs/porting-from-calvin.md: calvinsys' TCPServer object
// on the compat layer ("After"), and the same service in native corio ("Native").
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type ServerConnection, type ServerMode, TCPServer } from "../../../src/compat/calvin/index.ts";
import { Event, type Operation, run, spawn, timeout } from "../../../src/index.ts";
import { openConnection, startServer } from "../../../src/net/index.ts";
import { checkLeaks } from "../../_helpers.ts";
import { text } from "./_actor.ts";

checkLeaks();

// ---- After (as in the doc) ----------------------------------------------------

interface Scheduler {
  scheduleCalvinsys(actorId: string): void;
}

class TCPServerObject {
  readonly #actor: { id: string };
  readonly #scheduler: Scheduler;
  readonly #connections = new Map<string, ServerConnection>();
  #server: TCPServer<ServerMode, string> | undefined;

  constructor(actor: { id: string }, scheduler: Scheduler) {
    this.#actor = actor;
    this.#scheduler = scheduler;
  }

  init(host: string, port: number, mode: "line" | "raw", delimiter: string, maxLength: number): void {
    this.#server = new TCPServer((actorId: string) => this.#scheduler.scheduleCalvinsys(actorId), {
      mode,
      delimiter,
      maxLength,
      actorId: this.#actor.id,
    });
    this.#server.start(host, port);
  }

  canRead(): boolean {
    const server = this.#server as TCPServer<ServerMode, string>;
    while (server.pendingConnections.length > 0) {
      const [address, connection] = server.accept();
      this.#connections.set(String(address), connection);
    }
    for (const [handle, connection] of this.#connections) {
      if (connection.dataAvailable) return true;
      if (connection.connectionLost) this.#connections.delete(handle);
    }
    return false;
  }

  read(): { handle: string; data: unknown } | undefined {
    for (const [handle, connection] of this.#connections) {
      if (connection.dataAvailable) return { handle, data: connection.dataGet() };
    }
    return undefined;
  }

  canWrite(): boolean {
    return this.#connections.size > 0;
  }

  write({ handle, data }: { handle: string; data: string | Uint8Array }): void {
    this.#connections.get(handle)?.send(data);
  }

  close(): void {
    this.#server?.stop();
  }

  /** For the test (port 0): where it listens. */
  *address(): Operation<{ port: number }> {
    return yield* (this.#server as TCPServer<ServerMode, string>).ready();
  }
}

/** The actor's action: answer every line in upper case. */
function fire(sys: TCPServerObject): void {
  while (sys.canRead()) {
    const { handle, data } = sys.read() as { handle: string; data: unknown };
    sys.write({ handle, data: String(data).toUpperCase() });
  }
}

// ---- the test -----------------------------------------------------------------

/** Two nc-like clients, each sending two lines, each expecting them back in upper case. */
function* talk(port: number): Operation<string[]> {
  const a = yield* openConnection({ port });
  const b = yield* openConnection({ port });
  a.writer.write("hello\r\n");
  b.writer.write("bonjour\r\n");
  a.writer.write("world\r\n");
  b.writer.write("monde\r\n");
  const lines: string[] = [];
  for (const client of [a, b]) lines.push(text(yield* client.reader.readLine()) + text(yield* client.reader.readLine()));
  return lines;
}

describe("porting a Calvin actor (docs/porting-from-calvin.md)", () => {
  it("after: the calvinsys TCPServer object on the compat layer, woken through the scheduler", async () => {
    const scheduled: string[] = [];
    const lines = await run(function* () {
      const wakeup = new Event();
      const scheduler: Scheduler = {
        scheduleCalvinsys(actorId) {
          scheduled.push(actorId);
          wakeup.set();
        },
      };
      const sys = new TCPServerObject({ id: "actor-7" }, scheduler);
      sys.init("127.0.0.1", 0, "line", "\r\n", 8192);
      // The scheduler runs the actor once per wake-up.
      yield* spawn(
        function* scheduler() {
          for (;;) {
            yield* wakeup.wait();
            wakeup.clear();
            fire(sys);
          }
        },
        { daemon: true },
      );
      const lines = yield* timeout(5000, talk((yield* sys.address()).port));
      assert.equal(sys.canWrite(), true);
      sys.close();
      return lines;
    });
    assert.deepEqual(lines, ["HELLO\r\nWORLD\r\n", "BONJOUR\r\nMONDE\r\n"]);
    assert.ok(scheduled.length > 0 && scheduled.every((id) => id === "actor-7"));
  });

  it("native: the same service as a task per connection", async () => {
    const lines = await run(function* () {
      const server = yield* startServer(
        function* (_reader, writer, messages) {
          for (let m = yield* messages.next(); !m.done; m = yield* messages.next()) writer.write(`${String(m.value).toUpperCase()}\r\n`);
        },
        { host: "127.0.0.1", port: 0, framing: { mode: "line", delimiter: "\r\n" } },
      );
      const lines = yield* timeout(5000, talk(server.address.port));
      server.close();
      return lines;
    });
    assert.deepEqual(lines, ["HELLO\r\nWORLD\r\n", "BONJOUR\r\nMONDE\r\n"]);
  });
});
