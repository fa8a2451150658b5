// The `npm start` demo end to end: start it, connect two `nc` clients and a
// web (SSE) client, exchange messages both ways, Ctrl-C, and check that it
// exits 0 with its cleanup done.
import assert from "node:assert/strict";
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { once } from "node:events";
import { connect } from "node:net";
import { resolve } from "node:path";
import { describe, it } from "node:test";
import { checkLeaks, needsOpenBsdNc } from "../_helpers.ts";
import { needsRedisServer, startRedisServer } from "../_redis.ts";

const redisMissing = needsRedisServer();

checkLeaks();

/** Collects a child's stdout and lets a test wait for a pattern in it. */
class Output {
  text = "";
  readonly #waiters: (() => void)[] = [];
  constructor(stream: NodeJS.ReadableStream) {
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => {
      this.text += chunk;
      for (const wake of this.#waiters.splice(0)) wake();
    });
  }
  async waitFor(pattern: RegExp): Promise<RegExpMatchArray> {
    for (;;) {
      const match = this.text.match(pattern);
      if (match) return match;
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }
}

function nc(port: string): { child: ChildProcessWithoutNullStreams; out: Output } {
  // -N: shut the connection down when stdin ends, so the server sees the client leave.
  const child = spawn("nc", ["-N", "127.0.0.1", port]);
  return { child, out: new Output(child.stdout) };
}

/** Starts `npm start`'s demo with `args` on free ports; its stdout and stderr are collected. */
function startDemo(...args: string[]): { demo: ChildProcessWithoutNullStreams; out: Output; stderr: () => string } {
  const demo = spawn(process.execPath, ["--import", "tsx", "examples/chat-demo.ts", ...args], {
    cwd: resolve(import.meta.dirname, "../.."),
    env: { ...process.env, CORIO_HTTP_PORT: "0", CORIO_TCP_PORT: "0" },
  });
  let stderr = "";
  demo.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return { demo, out: new Output(demo.stdout), stderr: () => stderr };
}

describe("npm start: the chat demo", () => {
  it("relays messages between nc clients and the web, and stops cleanly on Ctrl-C", { skip: needsOpenBsdNc() }, async () => {
    const { demo, out, stderr } = startDemo();
    try {
      const [, url] = (await out.waitFor(/web page: +(http:\/\/[\d.:]+)\//)) as RegExpMatchArray;
      const [, tcpPort] = (await out.waitFor(/nc 127\.0\.0\.1 (\d+)/)) as RegExpMatchArray;

      // A web client listening to the event stream.
      const controller = new AbortController();
      const events = await fetch(`${url}/events`, { signal: controller.signal });
      const reader = (events.body as ReadableStream<Uint8Array>).getReader();
      let webText = "";
      const webSaw = async (needle: string): Promise<void> => {
        while (!webText.includes(needle)) webText += new TextDecoder().decode((await reader.read()).value);
      };

      const alice = nc(tcpPort as string);
      await alice.out.waitFor(/welcome, (nc-\d+)/);
      const bob = nc(tcpPort as string);
      const [, bobName] = (await bob.out.waitFor(/welcome, (nc-\d+)/)) as RegExpMatchArray;
      await alice.out.waitFor(new RegExp(`hub: ${bobName} joined`));

      alice.child.stdin.write("hello from alice\n");
      await bob.out.waitFor(/: hello from alice/);
      await webSaw('"text":"hello from alice"');

      const posted = await fetch(`${url}/send`, { method: "POST", body: JSON.stringify({ from: "browser", text: "hi from the web" }) });
      assert.equal(posted.status, 204);
      await alice.out.waitFor(/browser: hi from the web/);
      await bob.out.waitFor(/browser: hi from the web/);

      const inspector = await fetch(`${url}/inspect`).then((r) => r.text());
      assert.match(inspector, /<title>corio inspector<\/title>/);

      controller.abort();
      await reader.cancel().catch(() => {});
      alice.child.stdin.end();
      bob.child.stdin.end();
      await Promise.all([once(alice.child, "exit"), once(bob.child, "exit")]);

      demo.kill("SIGINT");
      const [code] = (await once(demo, "exit")) as [number | null];
      assert.equal(code, 0, stderr());
      assert.match(out.text, /chat hub stopped/);
      assert.equal(stderr(), "");
    } finally {
      if (demo.exitCode === null) demo.kill("SIGKILL");
    }
  });

  it("--workers 2 serves the page and the TCP chat from worker processes, and Ctrl-C stops them all", { timeout: 60_000 }, async () => {
    const { demo, out, stderr } = startDemo("--workers", "2");
    try {
      await out.waitFor(/served by 2 worker processes/);
      const [, url] = (await out.waitFor(/web page: +(http:\/\/[\d.:]+)\//)) as RegExpMatchArray;
      const [, tcpPort] = (await out.waitFor(/nc 127\.0\.0\.1 (\d+)/)) as RegExpMatchArray;
      const page = await fetch(`${url}/`, { headers: { connection: "close" } });
      assert.equal(page.status, 200);
      assert.match(await page.text(), /corio chat/);
      // A TCP client is welcomed by one of the workers.
      const socket = connect(Number(tcpPort), "127.0.0.1");
      const welcome = new Output(socket);
      await welcome.waitFor(/welcome, nc-1/);
      socket.end();
      await once(socket, "close");

      demo.kill("SIGINT");
      const [code] = (await once(demo, "exit")) as [number | null];
      assert.equal(code, 0, stderr());
      assert.equal(out.text.match(/chat hub stopped/g)?.length, 1, "only the primary says it");
      assert.equal(stderr(), "");
    } finally {
      if (demo.exitCode === null) demo.kill("SIGKILL");
    }
  });

  it("--workers 2 --redis: a line sent over TCP to one worker reaches web pages served by every worker", { skip: redisMissing, timeout: 60_000 }, async () => {
    const redis = await startRedisServer();
    const { demo, out, stderr } = startDemo("--workers", "2", "--redis", redis.url);
    const controller = new AbortController();
    try {
      const [, url] = (await out.waitFor(/web page: +(http:\/\/[\d.:]+)\//)) as RegExpMatchArray;
      const [, tcpPort] = (await out.waitFor(/nc 127\.0\.0\.1 (\d+)/)) as RegExpMatchArray;
      // Four event streams: the cluster hands connections to the workers in turn, so both serve some.
      const pages = await Promise.all(
        [1, 2, 3, 4].map(async () => {
          const events = await fetch(`${url}/events`, { signal: controller.signal });
          const reader = (events.body as ReadableStream<Uint8Array>).getReader();
          const page = { text: "", pid: events.headers.get("x-worker-pid") };
          const sees = async (needle: string): Promise<void> => {
            while (!page.text.includes(needle)) page.text += new TextDecoder().decode((await reader.read()).value);
          };
          return { page, sees };
        }),
      );
      const socket = connect(Number(tcpPort), "127.0.0.1");
      const chat = new Output(socket);
      await chat.waitFor(/welcome, nc-\d+/);
      socket.write("hello across processes\n");
      await Promise.all(pages.map(({ sees }) => sees('"text":"hello across processes"')));
      socket.end();
      await once(socket, "close");
      controller.abort();
      demo.kill("SIGINT");
      const [code] = (await once(demo, "exit")) as [number | null];
      assert.equal(code, 0, stderr());
      assert.equal(stderr(), "");
    } finally {
      controller.abort();
      if (demo.exitCode === null) demo.kill("SIGKILL");
      await redis.stop();
    }
  });
});
