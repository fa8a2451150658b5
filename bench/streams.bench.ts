// StreamReader fast paths: reads whose data is already buffered complete
// without suspending, so they can be driven with a bare `.next()` and no loop.
// These are the paths a change to the reader must not slow down.
// Run alone: npm run bench -- streams (compiled; through tsx it measures tsx's transform too)
import { measure } from "mitata";
import { type Operation, StreamReader } from "../src/index.ts";
import { printCase } from "./_report.ts";

const INNER = 1000;
const perOp = async (fn: () => unknown): Promise<number> => (await measure(fn, { min_cpu_time: 500e6 })).p50 / INNER;

const LINE = "a line of some 32 bytes, or so.\n";
const lines = new TextEncoder().encode(LINE.repeat(INNER));
const crlfLines = new TextEncoder().encode(LINE.replace("\n", "\r\n").repeat(INNER));
const smallChunks = Array.from({ length: INNER }, () => new TextEncoder().encode(LINE));

/** Runs an operation that must not suspend; throws if it does (the fast path was missed). */
function runSync(op: Operation<unknown>): void {
  if (op[Symbol.iterator]().next().done !== true) throw new Error("the read suspended: the data was buffered");
}

/** A reader holding `data` as one chunk it was fed (reads return views of it). */
function fed(data: Uint8Array): StreamReader {
  const reader = new StreamReader({ limit: 1 << 20 });
  reader.feed(data);
  return reader;
}

const rows = [
  {
    name: "readLine, one fed chunk (views)",
    value: await perOp(() => {
      const reader = fed(lines);
      runSync(
        (function* () {
          for (let i = 0; i < INNER; i++) yield* reader.readLine();
        })(),
      );
    }),
  },
  {
    name: "readLine, joined chunks (copies)",
    value: await perOp(() => {
      const reader = new StreamReader({ limit: 1 << 20 });
      for (const chunk of smallChunks) reader.feed(chunk);
      runSync(
        (function* () {
          for (let i = 0; i < INNER; i++) yield* reader.readLine();
        })(),
      );
    }),
  },
  {
    name: 'readUntil("\\r\\n")',
    value: await perOp(() => {
      const reader = fed(crlfLines);
      runSync(
        (function* () {
          for (let i = 0; i < INNER; i++) yield* reader.readUntil("\r\n");
        })(),
      );
    }),
  },
  {
    name: "readExactly(32)",
    value: await perOp(() => {
      const reader = fed(lines);
      runSync(
        (function* () {
          for (let i = 0; i < INNER; i++) yield* reader.readExactly(32);
        })(),
      );
    }),
  },
  {
    name: "read(32)",
    value: await perOp(() => {
      const reader = fed(lines);
      runSync(
        (function* () {
          for (let i = 0; i < INNER; i++) yield* reader.read(32);
        })(),
      );
    }),
  },
  {
    name: "feed (32-byte chunks)",
    value: await perOp(() => {
      const reader = new StreamReader({ limit: 1 << 20 });
      for (const chunk of smallChunks) reader.feed(chunk);
    }),
  },
];
printCase("StreamReader, data already buffered (mitata p50 per read)", rows, "readLine, one fed chunk (views)");
