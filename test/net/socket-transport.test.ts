// The transport between a Node socket and a reader/writer pair (src/net/_socket-transport.ts), over a
// Duplex that fails its writes as a socket does: deterministic where a real peer's reset is a race.
import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { Duplex } from "node:stream";
import { describe, it } from "node:test";
import { BrokenResourceError, run } from "../../src/index.ts";
import { wrapSocket } from "../../src/net/_socket-transport.ts";
import { checkLeaks, rejectsOp } from "../_helpers.ts";

checkLeaks();

/** A Duplex whose every write fails as a socket's write to a peer that has reset fails: EPIPE, syscall "write". */
function socketWhoseWritesFail(): Duplex {
  return new Duplex({
    read() {},
    write(_chunk, _encoding, callback) {
      callback(Object.assign(new Error("write EPIPE"), { code: "EPIPE", errno: -32, syscall: "write" }));
    },
  });
}

describe("wrapSocket", () => {
  it("a write the socket fails after close() is counted as lost: waitClosed() throws, though Node no longer counts its bytes", async () => {
    // Node's Writable takes a failed write's bytes off writableLength before it emits the error, so a count of
    // what is still queued says nothing was lost (seen on a real connection: EPIPE after the peer's RST).
    const socket = socketWhoseWritesFail();
    await run(function* () {
      const { writer } = wrapSocket(socket as unknown as Socket);
      writer.write("bytes the peer never gets");
      writer.close();
      const error = yield* rejectsOp(writer.waitClosed(), BrokenResourceError);
      assert.match(error.message, /EPIPE/);
    });
    assert.equal(socket.destroyed, true);
  });
});
