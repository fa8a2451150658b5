/**
 * The live inspector page: the task tree, updated over server-sent events.
 * @module
 */
import { defineOperation } from "../core/_dev.ts";
import { daemonReturnedAs, startDaemon } from "../core/_resource.ts";
import { race } from "../core/all.ts";
import type { Operation } from "../core/operation.ts";
import { currentLoop } from "../core/run.ts";
import { requireCurrentTask } from "../core/spawn.ts";
import { EventSource } from "../net/event-source.ts";
import type { HttpRequest } from "../net/http-request.ts";
import type { HttpResponse } from "../net/http-response.ts";
import { Event } from "../sync/event.ts";
import { sleep } from "../time/sleep.ts";
import { renderTaskTree } from "./format.ts";
import { snapshotTasks } from "./snapshot.ts";

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>corio inspector</title>
<style>body{font:14px system-ui;margin:2em}pre{background:#111;color:#d7f7d7;padding:1em;border-radius:6px;overflow:auto}</style></head>
<body><h1>corio tasks</h1><p id="status">connecting…</p><pre id="tree"></pre>
<script>
const source = new EventSource(location.pathname.replace(/\\/$/, "") + "/events");
source.addEventListener("tree", (event) => {
  const tree = JSON.parse(event.data);
  const partial = tree.shown < tree.count ? " (the first " + tree.shown + " shown)" : "";
  document.getElementById("status").textContent = tree.count + " tasks at " + Math.round(tree.time) + " ms" + partial + (tree.note ? ": " + tree.note : "");
  document.getElementById("tree").textContent = tree.text;
});
source.onerror = () => { document.getElementById("status").textContent = "reconnecting…"; };
</script></body></html>`;

/** Options of `createInspector`. */
export interface InspectorOptions {
  /** How often to push a snapshot to the connected pages, in ms. @default 500 */
  intervalMs?: number;
  /** The most tasks a snapshot shows; the others are counted ("… 7000 more tasks not shown"). @default 1000 */
  maxTasks?: number;
}

/** What the feed sends: the page reads these fields only. */
interface Frame {
  time: number;
  count: number;
  shown: number;
  text: string;
  /** Why the tree is cut short or missing, when it is not only `maxTasks`. */
  note?: string;
}

/**
 * The event stream's own limit on what a client may have waiting (its
 * `maxBuffered`), and the text's share of it: JSON writes a character of
 * the text in at most 6 bytes (a lone surrogate as `\udxxx`), so a frame
 * whose text has at most a sixth of it in characters always fits.
 */
const MAX_BUFFERED = 1024 * 1024;
const TEXT_CHARS = Math.floor(MAX_BUFFERED / 6) - 1024;
/** A task line past this is cut: one huge task name must not crowd out the whole tree. */
const LINE_CHARS = 1000;

/**
 * Serves the live inspector: `handle(request, response)` answers the page at
 * its path and the snapshot stream at `<path>/events`; mount it inside a
 * `serveHttp` handler. While a page is connected, a snapshot is pushed every
 * `intervalMs` (the first page to connect gets one at once); with none, the
 * feed takes no snapshot.
 *
 * The feed bounds its work and its frames whatever the program holds: a
 * snapshot describes at most `maxTasks` tasks (the others are counted, and
 * the page says how many it does not show), and the text is cut to fit the
 * event stream's limit on a frame. Nothing a client does can fail the feed
 * or its caller: should a frame fail anyway, the error is reported once to
 * the loop's `onError` (kind `callback`, path `inspector feed`) and the
 * feed goes on.
 *
 * The feed is a service of the caller, as `serveHttp`'s server is: a
 * daemon that ends with it. Created inside `timeout` (or `moveOnAfter`,
 * `deadline`), it keeps running when the boundary returns the inspector,
 * and stops with the boundary otherwise; inside `scope`, `shield` or an
 * operation of `all`, it ends with them, as a server opened there does.
 *
 * @param options How often to push a snapshot, and how many tasks it shows at most.
 * @returns `handle` to mount in a `serveHttp` handler, and the `EventSource` of the feed.
 * @throws {RangeError} if `intervalMs` is not a finite number from 0, or `maxTasks` not a number from 0.
 * @example
 * ```ts ignore
 * import { main } from "corio";
 * import { createInspector } from "corio/inspect";
 * import { serveHttp } from "corio/net";
 * await main(function* () {
 *   const inspector = yield* createInspector();
 *   const server = yield* serveHttp(function* (request, response) {
 *     if (request.path.startsWith("/inspect")) yield* inspector.handle(request, response);
 *   }, { port: 7000 });
 *   yield* server.serveForever();
 * });
 * ```
 */
export const createInspector = defineOperation(function* createInspector(
  options: InspectorOptions = {},
): Operation<{ handle(request: HttpRequest, response: HttpResponse): Operation<void>; events: EventSource }> {
  const interval = options.intervalMs ?? 500;
  const maxTasks = options.maxTasks ?? 1000;
  if (!(typeof interval === "number" && interval >= 0 && interval !== Number.POSITIVE_INFINITY)) {
    throw new RangeError(`Cannot create the inspector: intervalMs must be a finite number from 0, received ${String(interval)}`);
  }
  if (!(typeof maxTasks === "number" && maxTasks >= 0)) {
    throw new RangeError(`Cannot create the inspector: maxTasks must be a number from 0, received ${String(maxTasks)}`);
  }
  const events = new EventSource({ heartbeat: 15_000, historySize: 1, maxBuffered: MAX_BUFFERED });
  const loop = currentLoop();
  /** Set when a page connects: it gets a snapshot at once instead of at the next tick. */
  const connected = new Event();
  let reported = false;
  const send = (): void => {
    try {
      const tree = snapshotTasks(undefined, { maxTasks });
      const { text, shown } = renderTaskTree(tree, { maxLines: maxTasks, maxChars: TEXT_CHARS, maxLineChars: LINE_CHARS });
      const frame: Frame = { time: tree.time, count: tree.count, shown, text };
      if (shown < tree.shown) frame.note = "the tree is cut short to fit one event";
      try {
        events.broadcast(frame, { event: "tree" });
      } catch (error) {
        // The budget above should make this impossible; if a frame is refused all the same, send the counts.
        if (!(error instanceof RangeError)) throw error;
        events.broadcast({ time: tree.time, count: tree.count, shown: 0, text: "", note: "the tree is too large to send" } satisfies Frame, { event: "tree" });
      }
    } catch (error) {
      // The inspector must never take the program down: say it once, and go on.
      if (!reported) {
        reported = true;
        loop.report(error, { kind: "callback", path: "inspector feed" });
      }
    }
  };
  // A service of the caller's, as a server is (startDaemon): opened inside `timeout`, the feed outlives
  // the boundary that returns the inspector, instead of ending with it while pages still connect.
  const feed = startDaemon(requireCurrentTask("create the inspector"), "inspector feed", function* inspectorFeed() {
    for (;;) {
      if (events.clients.length > 0) {
        send();
        // At most one snapshot per interval, however often pages connect.
        yield* sleep(interval);
      } else {
        // Idle: the first page to connect is sent a snapshot at once (the poll covers a client attached to `events` directly).
        connected.clear();
        yield* race([sleep(interval), connected.wait()]);
      }
    }
  });
  return daemonReturnedAs(feed, {
    events,
    *handle(request: HttpRequest, response: HttpResponse): Operation<void> {
      if (request.path.endsWith("/events")) {
        connected.set();
        yield* events.attach(request, response);
      } else yield* response.send(200, PAGE, { "content-type": "text/html; charset=utf-8" });
    },
  });
});
