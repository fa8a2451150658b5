// `npm start`: a short tour of corio on the real clock. It shows tasks,
// priorities, a timeout that really interrupts, a periodic task and
// structured cancellation, prints what happens, and ends by itself.
import { all, currentTime, every, main, sleep, spawn, TimeoutError, timeout } from "../src/index.ts";

const t0 = Date.now();
const log = (message: string): void => console.log(`${String(Date.now() - t0).padStart(5)} ms  ${message}`);

await main(function* tour() {
  log("corio tour: tasks, priorities, timeouts, periodic tasks, structured cancellation");

  // Priorities: ready tasks run most urgent first, FIFO within a priority.
  const order: string[] = [];
  yield* all(
    [
      ["background", 100],
      ["normal", 10],
      ["urgent", 1],
    ].map(([name, priority]) =>
      spawn(
        function* () {
          order.push(name as string);
        },
        { name: name as string, priority: priority as number },
      ),
    ),
  );
  log(`priorities ran in this order: ${order.join(", ")}`);

  // A heartbeat every 100 ms, as a daemon: it stops when the tour is done.
  let beats = 0;
  yield* every(
    100,
    function* () {
      beats++;
    },
    { name: "heartbeat", daemon: true },
  );

  // A timeout that interrupts a slow operation, whose cleanup still runs.
  try {
    yield* timeout(250, function* slowQuery() {
      try {
        yield* sleep(10_000);
      } finally {
        log("slow query: cleanup ran before timeout() threw");
      }
    });
  } catch (error) {
    if (error instanceof TimeoutError) log(`slow query: ${error.message}`);
    else throw error;
  }

  // Three workers at once; the results come back in input order.
  const results = yield* all([300, 100, 200].map((ms) => work(ms)));
  log(`workers finished: ${results.join(", ")} (loop clock: ${Math.round(currentTime())} ms)`);
  log(`the heartbeat beat ${beats} times; the tour ends and cancels it`);
});

function* work(ms: number) {
  yield* sleep(ms);
  log(`worker ${ms} ms done`);
  return `w${ms}`;
}
