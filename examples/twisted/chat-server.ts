// The chat server of Twisted's "Writing Servers" guide: a LineReceiver that
// asks for a name, then relays each line to everyone else. The factory keeps
// the users, shared by all the connections.
//
//   node --import tsx examples/twisted/chat-server.ts [port]   (default 8123)
//   then, from several terminals: nc 127.0.0.1 8123
import { fileURLToPath } from "node:url";
import { type Address, Factory, type Failure, LineReceiver, reactor } from "../../src/compat/twisted/index.ts";

/** One user's connection. */
export class Chat extends LineReceiver {
  readonly users: Map<string, Chat>;
  name: string | null = null;
  state: "GETNAME" | "CHAT" = "GETNAME";

  constructor(users: Map<string, Chat>) {
    super();
    this.users = users;
  }

  override connectionMade(): void {
    this.sendLine("What's your name?");
  }

  override connectionLost(_reason: Failure): void {
    if (this.name !== null && this.users.get(this.name) === this) this.users.delete(this.name);
  }

  override lineReceived(line: string): void {
    if (this.state === "GETNAME") this.handleGetName(line);
    else this.handleChat(line);
  }

  handleGetName(name: string): void {
    if (this.users.has(name)) {
      this.sendLine("Name taken, please choose another.");
      return;
    }
    this.sendLine(`Welcome, ${name}!`);
    this.name = name;
    this.users.set(name, this);
    this.state = "CHAT";
  }

  handleChat(message: string): void {
    const line = `<${this.name}> ${message}`;
    for (const protocol of this.users.values()) if (protocol !== this) protocol.sendLine(line);
  }
}

/** Holds the users; builds a `Chat` sharing them for each connection. */
export class ChatFactory extends Factory {
  readonly users = new Map<string, Chat>();

  override buildProtocol(_addr: Address): Chat {
    return new Chat(this.users);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const port = reactor.listenTCP(Number(process.argv[2] ?? 8123), new ChatFactory(), { interface: "127.0.0.1" });
  reactor.callWhenRunning(() => console.log(`chat server on port ${port.getHost().port}`));
  process.once("SIGINT", () => reactor.stop());
  await reactor.run();
}
