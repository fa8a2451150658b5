/**
 * The live inspector page: the task tree, updated over server-sent events.
 * @module
 */
import { defineOperation } from "../core/_dev.ts";
import type { Operation } from "../core/operation.ts";
import { spawn } from "../core/spawn.ts";
import { EventSource } from "../net/event-source.ts";
import type { HttpRequest } from "../net/http-request.ts";
import type { HttpResponse } from "../net/http-response.ts";
import { sleep } from "../time/sleep.ts";
import { formatTaskTree } from "./format.ts";
import { snapshotTasks } from "./snapshot.ts";

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>corio inspector</title>
<style>body{font:14px system-ui;margin:2em}pre{background:#111;color:#d7f7d7;padding:1em;border-radius:6px;overflow:auto}</style></head>
<body><h1>corio tasks</h1><p id="status">connecting…</p><pre id="tree"></pre>
<script>
const source = new EventSource(location.pathname.replace(/\\/$/, "") + "/events");
source.addEventListener("tree", (event) => {
  const tree = JSON.parse(event.data);
  document.getElementById("status").textContent = tree.count + " tasks at " + Math.round(tree.time) + " ms";
  document.getElementById("tree").textContent = tree.text;
});
source.onerror = () => { document.getElementById("status").textContent = "reconnecting…"; };
</script></body></html>`;

/**
 * Serves the live inspector: `handle(request, response)` answers the page at
 * its path and the snapshot stream at `<path>/events`; mount it inside a
 * `serveHttp` handler. Snapshots are pushed every `intervalMs`.
 *
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
  options: { intervalMs?: number } = {},
): Operation<{ handle(request: HttpRequest, response: HttpResponse): Operation<void>; events: EventSource }> {
  const events = new EventSource({ heartbeat: 15_000, historySize: 1 });
  const interval = options.intervalMs ?? 500;
  yield* spawn(
    function* inspectorFeed() {
      for (;;) {
        if (events.clients.length > 0) {
          const tree = snapshotTasks();
          events.broadcast({ time: tree.time, count: tree.count, text: formatTaskTree(tree), roots: tree.roots }, { event: "tree" });
        }
        yield* sleep(interval);
      }
    },
    { name: "inspector feed", daemon: true },
  );
  return {
    events,
    *handle(request, response) {
      if (request.path.endsWith("/events")) yield* events.attach(request, response);
      else yield* response.send(200, PAGE, { "content-type": "text/html; charset=utf-8" });
    },
  };
});
