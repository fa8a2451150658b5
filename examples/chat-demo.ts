// `npm start`: a chat hub showing corio at work, with no outside service.
// People join with `nc` over TCP (one line = one message) or with a web page
// (messages arrive over server-sent events, and are sent with POST); the
// live task inspector shows every task of the program. Ctrl-C stops it.
//
// Ports: CORIO_HTTP_PORT (default 7000) and CORIO_TCP_PORT (default 7001); 0 picks free ones.
//
// `npm start -- --workers 2` serves both ports from 2 worker processes
// (node:cluster): this script runs again in each worker, where the servers
// listen; the primary forks and supervises them, and Ctrl-C closes them all.
// Each worker has its own room in memory, so people connected to different
// workers do not hear each other unless the room is shared between processes:
// that is `createRoom`'s job. `--redis <url>` shares it through Redis
// pub/sub (`npm start -- --workers 2 --redis redis://127.0.0.1:6379`): a line
// typed in an nc client served by one worker reaches the web page served by
// another. corio/redis is loaded only then (it needs ioredis).
import cluster from "node:cluster";
import { parseArgs } from "node:util";
import { Broadcast, main, type Operation, type Subscription, spawn, suspend, until } from "../src/index.ts";
import { createInspector } from "../src/inspect/index.ts";
import { EventSource, serveHttp, startServer } from "../src/net/index.ts";

interface ChatMessage {
  from: string;
  text: string;
}

/** The chat room: everything said is published there, and each listener subscribes. */
interface Room {
  publish(message: ChatMessage): void;
  subscribe(options: { capacity: number }): Subscription<ChatMessage>;
  close(): void;
}

/**
 * Makes the room's publish/subscribe. By default it lives in this process's
 * memory (a `Broadcast`); a backend shared between processes (a Redis
 * channel, say) plugs in here, so that every worker hears the same room.
 */
function* createRoom(redisUrl: string | undefined): Operation<Room> {
  const local = new Broadcast<ChatMessage>();
  if (redisUrl === undefined) return local;
  // Shared through Redis: every message is published there, and every process delivers what Redis sends to its own members.
  const { connectRedis } = yield* until(import("../src/redis/index.ts"));
  const publisher = yield* connectRedis(redisUrl);
  const subscriber = yield* connectRedis(redisUrl); // a subscribed connection can do nothing else
  subscriber.on("message", (_channel: string, text: string) => {
    try {
      local.publish(JSON.parse(text) as ChatMessage);
    } catch {
      // Not one of ours: ignore it.
    }
  });
  yield* until(subscriber.subscribe(ROOM_CHANNEL));
  return {
    publish: (message) => void publisher.publish(ROOM_CHANNEL, JSON.stringify(message)).catch(() => {}),
    subscribe: (options) => local.subscribe(options),
    close: () => local.close(),
  };
}

const ROOM_CHANNEL = "corio-chat-demo";

const { values: flags } = parseArgs({ options: { workers: { type: "string" }, redis: { type: "string" } } });
/** `--workers n`: serve from n worker processes; without it, from this process alone. */
const workers = flags.workers === undefined ? undefined : Number(flags.workers);

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>corio chat</title>
<style>body{font:15px system-ui;max-width:40em;margin:2em auto}#log{border:1px solid #ccc;border-radius:6px;padding:.5em;height:20em;overflow:auto}
.from{color:#06c;font-weight:600}form{display:flex;gap:.5em;margin-top:.5em}input[name=text]{flex:1}</style></head>
<body><h1>corio chat</h1><p>Also on TCP: <code>nc HOST TCP_PORT</code>. <a href="/inspect">Live task inspector</a></p>
<div id="log"></div>
<form id="send"><input name="from" value="web" size="8"><input name="text" autocomplete="off" placeholder="say something"><button>Send</button></form>
<script>
const log = document.getElementById("log");
const source = new EventSource("/events");
source.addEventListener("message", (event) => {
  const message = JSON.parse(event.data);
  const line = document.createElement("div");
  line.className = "message";
  line.innerHTML = '<span class="from"></span>: <span class="text"></span>';
  line.querySelector(".from").textContent = message.from;
  line.querySelector(".text").textContent = message.text;
  log.append(line);
  log.scrollTop = log.scrollHeight;
});
document.getElementById("send").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  await fetch("/send", { method: "POST", body: JSON.stringify({ from: form.get("from"), text: form.get("text") }) });
  event.target.elements.text.value = "";
});
</script></body></html>`;

await main(function* chatDemo() {
  const room = yield* createRoom(flags.redis);
  const web = new EventSource({ heartbeat: 15_000, historySize: 100 });
  const inspector = yield* createInspector();

  // Every message goes to the web clients too.
  const webFeed = room.subscribe({ capacity: 1024 });
  yield* spawn(
    function* webRelay() {
      for (let m = yield* webFeed.next(); !m.done; m = yield* webFeed.next()) web.broadcast(m.value);
    },
    { name: "web relay", daemon: true },
  );

  let nextGuest = 1;
  const tcp = yield* startServer(
    function* chatConnection(_reader, writer, messages) {
      const name = `nc-${nextGuest++}`;
      const inbox = room.subscribe({ capacity: 256 });
      writer.write(`welcome, ${name}: type a line to talk\n`);
      room.publish({ from: "hub", text: `${name} joined` });
      yield* spawn(
        function* deliver() {
          for (let m = yield* inbox.next(); !m.done; m = yield* inbox.next()) {
            if (m.value.from !== name) {
              writer.write(`${m.value.from}: ${m.value.text}\n`);
              yield* writer.drain();
            }
          }
        },
        { name: `${name} inbox`, daemon: true },
      );
      try {
        for (let m = yield* messages.next(); !m.done; m = yield* messages.next()) {
          const text = String(m.value).trim();
          if (text !== "") room.publish({ from: name, text });
        }
      } finally {
        inbox.close();
        room.publish({ from: "hub", text: `${name} left` });
      }
    },
    {
      port: Number(process.env["CORIO_TCP_PORT"] ?? 7001),
      host: "127.0.0.1",
      framing: { mode: "line", delimiter: "\n" },
      ...(workers !== undefined && { workers }),
    },
  );

  const http = yield* serveHttp(
    function* (request, response) {
      if (request.path === "/") yield* response.send(200, PAGE, { "content-type": "text/html; charset=utf-8" });
      else if (request.path === "/events") yield* web.attach(request, response);
      else if (request.path === "/send" && request.method === "POST") {
        const { from, text } = (yield* request.json()) as Partial<ChatMessage>;
        if (typeof text === "string" && text.trim() !== "") room.publish({ from: String(from ?? "web").slice(0, 32), text: text.slice(0, 1000) });
        yield* response.send(204);
      } else if (request.path.startsWith("/inspect")) yield* inspector.handle(request, response);
      else yield* response.send(404, "not found");
    },
    { port: Number(process.env["CORIO_HTTP_PORT"] ?? 7000), host: "127.0.0.1", ...(workers !== undefined && { workers }) },
  );

  // With --workers this runs in every process: the primary speaks for them all.
  if (cluster.isPrimary) {
    console.log(`corio chat hub${workers === undefined ? "" : ` (served by ${workers} worker processes)`}${flags.redis === undefined ? "" : " (room shared through Redis)"}
  web page:   ${http.url}/
  inspector:  ${http.url}/inspect${workers === undefined ? "" : " (of the worker that answers)"}
  TCP chat:   nc 127.0.0.1 ${tcp.address.port}
Ctrl-C stops it.`);
  }
  try {
    yield* suspend(); // until Ctrl-C
  } finally {
    // The servers give in-flight requests and handlers a grace (5 s) when their owner ends: end the
    // event streams now, and the chat connections too (they last as long as their client stays).
    web.close();
    inspector.events.close();
    tcp.close(0);
    yield* tcp.waitClosed(); // each chat connection says it left before the room closes
    room.close();
    yield* http.waitClosed();
    if (cluster.isPrimary) console.log("chat hub stopped");
  }
});
// Ctrl-C is how the demo is meant to end: not an error.
if (process.exitCode === 130 || process.exitCode === 143) process.exitCode = 0;
