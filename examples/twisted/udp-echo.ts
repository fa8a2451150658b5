// Twisted's UDP echo server (the DatagramProtocol example of "UDP
// Networking"): each datagram goes back to its sender.
//
//   node --import tsx examples/twisted/udp-echo.ts [port]   (default 9999)
//   then: nc -u 127.0.0.1 9999
import { fileURLToPath } from "node:url";
import { DatagramProtocol, reactor } from "../../src/compat/twisted/index.ts";

/** Sends every datagram back where it came from. */
export class UDPEcho extends DatagramProtocol {
  readonly #print: (line: string) => void;

  constructor(print: (line: string) => void = () => {}) {
    super();
    this.#print = print;
  }

  override datagramReceived(data: Uint8Array, addr: [string, number]): void {
    this.#print(`received ${JSON.stringify(new TextDecoder().decode(data))} from ${addr[0]}:${addr[1]}`);
    this.transport.write(data, addr);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const port = reactor.listenUDP(Number(process.argv[2] ?? 9999), new UDPEcho(console.log), { interface: "127.0.0.1" });
  reactor.callWhenRunning(() => console.log(`UDP echo on port ${port.getHost().port}`));
  process.once("SIGINT", () => reactor.stop());
  await reactor.run();
}
