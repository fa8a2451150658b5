// Ownership of what a Calvin object's callbacks, triggers and DelayedCall functions create (review of 7936d7c, stop 40).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DelayedCall, TCPClient, UDPClient, UDPServer } from "../../../src/compat/calvin/index.ts";
import { Future, type Operation, run, sleep, spawn, type Task, timeout } from "../../../src/index.ts";
import { openDatagram, startServer } from "../../../src/net/index.ts";
import { runVirtual } from "../../../src/testing/index.ts";
import { checkLeaks, collectReports } from "../../_helpers.ts";

checkLeaks();

/** Waits up to 2 s for `owner` to end; on a timeout, cancels it (so the test does not leak) and says so. */
function* endsWithin(owner: Task<void>): Operation<string> {
  try {
    yield* timeout(2000, owner);
    return "owner ended";
  } catch (error) {
    owner.cancel();
    return `owner still running after 2 s (${(error as Error).name})`;
  }
}

describe("what Calvin callbacks create, and who owns it (src/compat/calvin/_trigger.ts)", () => {
  it("UDPClient: a reconnect from connectionLost while the owner is returning does not keep the owner running for ever", async () => {
    const { onError } = collectReports();
    let outcome = "";
    await run(
      function* () {
        const a = yield* openDatagram({ bind: { host: "127.0.0.1", port: 0 } });
        const b = yield* openDatagram({ bind: { host: "127.0.0.1", port: 0 } });
        let losses = 0;
        const owner = yield* spawn(function* () {
          const up = new Future<void>();
          const client: UDPClient = new UDPClient({
            callbacks: {
              connected: () => up.resolve(),
              // A reconnecting client: connect again on any loss (may throw, may be cancelled: either is fine).
              connectionLost: () => {
                if (losses++ === 0) client.connect("127.0.0.1", b.address.port);
              },
            },
          });
          client.connect("127.0.0.1", a.address.port);
          yield* up;
          client.disconnect();
          // returns: its daemons are cancelled, but the one connect() starts now is linked after that
        });
        outcome = yield* endsWithin(owner);
        a.close();
        b.close();
      },
      { onError },
    );
    assert.equal(outcome, "owner ended");
  });

  it("TCPClient: a reconnect from connectionFailed while the owner is returning does not keep the owner running for ever", async () => {
    const { onError } = collectReports();
    let outcome = "";
    await run(
      function* () {
        const hold = new Future<void>();
        const server = yield* startServer(function* () {
          yield* hold;
        });
        let failures = 0;
        const owner = yield* spawn(function* () {
          const client: TCPClient = new TCPClient("raw", {
            callbacks: {
              connectionFailed: () => {
                if (failures++ === 0) client.connect("127.0.0.1", server.address.port);
              },
            },
          });
          client.connect("127.0.0.1", server.address.port);
          client.disconnect(); // abandons the attempt: connectionFailed follows, as the owner ends
        });
        outcome = yield* endsWithin(owner);
        hold.resolve();
        server.close();
      },
      { onError },
    );
    assert.equal(outcome, "owner ended");
  });

  it("an object a callback creates while the owner is returning does not keep the owner running for ever", async () => {
    const { onError } = collectReports();
    let outcome = "";
    await run(
      function* () {
        const a = yield* openDatagram({ bind: { host: "127.0.0.1", port: 0 } });
        const owner = yield* spawn(function* () {
          const up = new Future<void>();
          const client: UDPClient = new UDPClient({
            callbacks: {
              connected: () => up.resolve(),
              connectionLost: () => new UDPServer(() => {}).start("127.0.0.1", 0), // now the owner's, not the connection task's
            },
          });
          client.connect("127.0.0.1", a.address.port);
          yield* up;
          client.disconnect();
        });
        outcome = yield* endsWithin(owner);
        a.close();
      },
      { onError },
    );
    assert.equal(outcome, "owner ended");
  });

  it("a DelayedCall made in a callback of a client owned by a timeout() boundary belongs to that boundary, as one made in its trigger does", async () => {
    const { reports, onError } = collectReports();
    const events: string[] = [];
    // On the virtual clock: the wait after the boundary shows that neither call fires, without real time.
    await runVirtual(
      function* () {
        const server = yield* startServer(function* (_reader, writer) {
          writer.close();
        });
        let fromCallback: DelayedCall | undefined;
        let fromTrigger: DelayedCall | undefined;
        yield* timeout(5000, function* () {
          const lost = new Future<void>();
          const client = new TCPClient("raw", {
            trigger: () => {
              fromTrigger ??= new DelayedCall(0.05, () => events.push("trigger's call fired after the boundary"));
            },
            callbacks: {
              connectionLost: () => {
                fromCallback = new DelayedCall(0.05, () => events.push("callback's call fired after the boundary"));
                lost.resolve();
              },
            },
          });
          client.connect("127.0.0.1", server.address.port);
          yield* lost;
          yield* sleep(0); // the trigger runs
        });
        events.push(`after the boundary: trigger's active ${fromTrigger?.active()}, callback's active ${fromCallback?.active()}`);
        yield* sleep(150);
        server.close();
      },
      { onError },
    );
    assert.deepEqual(reports, []);
    assert.deepEqual(events, ["after the boundary: trigger's active false, callback's active false"]);
  });
});
