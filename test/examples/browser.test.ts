// Real-browser tests (headless Chromium from Debian, driven by
// playwright-core): the demo page and the inspector page, and a browser's
// own EventSource reconnecting with Last-Event-ID after the server dropped it.
// Screenshots go to test-output/ (not in git).
import assert from "node:assert/strict";
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { type Browser, chromium } from "playwright-core";
import { Future, run } from "../../src/index.ts";
import { EventSource, serveHttp } from "../../src/net/index.ts";
import { checkLeaks, needsChromium, needsOpenBsdNc } from "../_helpers.ts";

checkLeaks();

const CHROMIUM = "/usr/bin/chromium";
const skip = needsChromium(CHROMIUM);
const root = resolve(import.meta.dirname, "../..");
const OUTPUT = resolve(root, "test-output");
let browser: Browser | undefined;

before(async () => {
  if (skip) return;
  mkdirSync(OUTPUT, { recursive: true });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  await browser?.close();
});

/** Collects everything a child prints (from the start, so nothing is missed between waits). */
function collectOutput(child: ChildProcessWithoutNullStreams): { waitFor(pattern: RegExp): Promise<RegExpMatchArray> } {
  let text = "";
  child.stdout.on("data", (chunk: Buffer) => {
    text += chunk.toString();
  });
  return {
    async waitFor(pattern) {
      for (;;) {
        const match = text.match(pattern);
        if (match) return match;
        await once(child.stdout, "data");
      }
    },
  };
}

describe("in a real browser", { skip }, () => {
  it("the demo page receives nc messages over SSE and sends its own; the inspector page shows the task tree", {
    timeout: 60_000,
    skip: needsOpenBsdNc(),
  }, async () => {
    const demo = spawn(process.execPath, ["--import", "tsx", "examples/chat-demo.ts"], {
      cwd: root,
      env: { ...process.env, CORIO_HTTP_PORT: "0", CORIO_TCP_PORT: "0" },
    });
    const out = collectOutput(demo);
    const page = await (browser as Browser).newPage();
    let nc: ChildProcessWithoutNullStreams | undefined;
    try {
      const [, url] = (await out.waitFor(/web page: +(http:\/\/[\d.:]+)\//)) as RegExpMatchArray;
      const [, tcpPort] = (await out.waitFor(/nc 127\.0\.0\.1 (\d+)/)) as RegExpMatchArray;
      await page.goto(`${url}/`);
      // The page's EventSource connects after the load: a broadcast before it is open would not reach
      // it (a first connection gets no history). The page's script declares it as \`source\`.
      await page.waitForFunction("source.readyState === EventSource.OPEN");
      nc = spawn("nc", ["-N", "127.0.0.1", tcpPort as string]);
      const ncOut = collectOutput(nc);
      await ncOut.waitFor(/welcome, nc-\d+/);
      nc.stdin.write("hello, browser\n");
      await page.locator(".message", { hasText: "hello, browser" }).waitFor();
      await page.fill("input[name=text]", "hello, terminal");
      await page.click("button");
      await ncOut.waitFor(/web: hello, terminal/);
      await page.screenshot({ path: resolve(OUTPUT, "chat-demo.png") });

      await page.goto(`${url}/inspect`);
      await page.locator("#tree", { hasText: /connection \d+/ }).waitFor();
      const tree = await page.textContent("#tree");
      assert.match(tree ?? "", /tcp server/);
      assert.match(tree ?? "", /waits on/);
      await page.screenshot({ path: resolve(OUTPUT, "inspector.png") });

      nc.stdin.end();
      await once(nc, "exit");
      demo.kill("SIGINT");
      const [code] = (await once(demo, "exit")) as [number | null];
      assert.equal(code, 0);
    } finally {
      await page.close();
      if (nc !== undefined && nc.exitCode === null) nc.kill("SIGKILL");
      if (demo.exitCode === null) demo.kill("SIGKILL");
    }
  });

  it("the browser's EventSource reconnects with Last-Event-ID and gets what it missed", { timeout: 60_000 }, async () => {
    const page = await (browser as Browser).newPage();
    const ready = new Future<string>();
    const done = new Future<void>();
    const events = new EventSource({ heartbeat: 0, retry: 100 });
    const attempts: (string | undefined)[] = [];
    const server = run(function* () {
      const http = yield* serveHttp(function* (request, response) {
        if (request.path === "/events") {
          attempts.push(request.headers["last-event-id"] as string | undefined);
          yield* events.attach(request, response, "page");
        } else {
          yield* response.send(
            200,
            `<!doctype html><ul id="log"></ul><script>
              const source = new EventSource("/events");
              source.onmessage = (e) => { const li = document.createElement("li"); li.textContent = e.lastEventId + ":" + e.data; document.getElementById("log").append(li); };
            </script>`,
            { "content-type": "text/html" },
          );
        }
      });
      ready.resolve(http.url);
      yield* done;
      events.close();
      http.close(0);
      yield* http.waitClosed();
    });
    try {
      const url = await run(() => ready);
      await page.goto(url);
      // The page's EventSource connects by itself; wait for it on the server side.
      while (events.clients.length === 0) await new Promise((resolve) => setImmediate(resolve));
      events.broadcast("one");
      events.broadcast("two");
      await page.locator("#log li", { hasText: "2:two" }).waitFor();
      // The server drops the stream; two events are sent while the browser is away.
      events.close();
      events.broadcast("three");
      events.broadcast("four");
      await page.locator("#log li", { hasText: "4:four" }).waitFor();
      const items = await page.locator("#log li").allTextContents();
      assert.deepEqual(items, ["1:one", "2:two", "3:three", "4:four"]);
      assert.deepEqual(attempts, [undefined, "2"]);
    } finally {
      await page.close();
      done.resolve();
      await server;
    }
  });
});
