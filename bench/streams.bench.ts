// StreamReader fast paths: reads whose data is already buffered complete
// without suspending, so they can be driven with a bare `.next()` and no loop.
// These are the paths a change to the reader must not slow down. Then a file
// read by lines against Node's readline, written by lines against a WriteStream, and a child's
// whole output against execFile.
// Run alone: npm run bench -- streams (compiled; through tsx it measures tsx's transform too)
import { execFile, spawn as spawnChild } from "node:child_process";
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { measure } from "mitata";
import { openFile } from "../src/fs/index.ts";
import { type Operation, run, StreamReader } from "../src/index.ts";
import { spawnProcess } from "../src/process/index.ts";
import { printCase } from "./_report.ts";

const execFileAsync = promisify(execFile);
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
    name: "readLine, joined chunks (views of a joined buffer)",
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

// A log file read by lines, and the same from a child's output: what a user porting
// `for line in file` or `async for line in reader` writes.
{
  const LINES = 200_000;
  const dir = mkdtempSync(join(tmpdir(), "corio-bench-"));
  const path = join(dir, "log.txt");
  writeFileSync(
    path,
    Array.from({ length: LINES }, (_, i) => `2026-12-03T02:00:00Z INFO request ${i} served in ${i % 97} ms from 10.0.0.${i % 255}\n`).join(""),
  );
  const readers: Record<string, () => PromiseLike<number>> = {
    "corio file.readLine() (text)": () =>
      run(function* () {
        const file = yield* openFile(path, "r");
        let n = 0;
        while ((yield* file.readLine()) !== "") n++;
        yield* file.close();
        return n;
      }),
    "corio file.reader.readLine() (bytes)": () =>
      run(function* () {
        const file = yield* openFile(path, "r");
        let n = 0;
        while ((yield* file.reader.readLine()).length > 0) n++;
        yield* file.close();
        return n;
      }),
    "corio file.reader.lines() (text, a next() loop)": () =>
      run(function* () {
        const file = yield* openFile(path, "r");
        let n = 0;
        const lines = file.reader.lines();
        for (let line = yield* lines.next(); !line.done; line = yield* lines.next()) n++;
        yield* file.close();
        return n;
      }),
    "node:readline over fs.createReadStream (for await)": async () => {
      let n = 0;
      for await (const _line of createInterface({ input: createReadStream(path), crlfDelay: Number.POSITIVE_INFINITY })) n++;
      return n;
    },
  };
  const pipeReaders: Record<string, () => PromiseLike<number>> = {
    "corio child.stdout.lines() (text, a next() loop)": () =>
      run(function* () {
        const child = yield* spawnProcess("cat", [path], { stdout: "pipe" });
        let n = 0;
        const lines = (child.stdout as StreamReader).lines();
        for (let line = yield* lines.next(); !line.done; line = yield* lines.next()) n++;
        yield* child.wait();
        return n;
      }),
    "node:readline over a child's stdout (for await)": async () => {
      const child = spawnChild("cat", [path], { stdio: ["ignore", "pipe", "inherit"] });
      let n = 0;
      for await (const _line of createInterface({ input: child.stdout, crlfDelay: Number.POSITIVE_INFINITY })) n++;
      return n;
    },
  };
  // The whole file as text at once: Python's `f.read()`.
  const logSize = statSync(path).size;
  const wholeFileReaders: Record<string, () => PromiseLike<number>> = {
    "corio file.read()": () =>
      run(function* () {
        const file = yield* openFile(path, "r");
        const text = yield* file.read();
        yield* file.close();
        return text.length;
      }),
    "node:fs/promises readFile(path, 'utf8')": async () => (await readFile(path, "utf8")).length,
  };
  // A child's whole output at once: what `subprocess.run(..., capture_output=True)` ports to.
  const bigPath = join(dir, "big.bin");
  const BIG = 32 << 20;
  writeFileSync(
    bigPath,
    new Uint8Array(BIG).map((_, i) => i * 31),
  );
  const wholeReaders: Record<string, () => PromiseLike<number>> = {
    "corio child.communicate()": () =>
      run(function* () {
        const child = yield* spawnProcess("cat", [bigPath]);
        return (yield* child.communicate()).stdout.length;
      }),
    "node:child_process execFile (a Buffer)": async () => (await execFileAsync("cat", [bigPath], { encoding: "buffer", maxBuffer: 2 * BIG })).stdout.length,
  };
  // The same log written a line at a time, waiting when the queue is full.
  const logLine = (i: number): string => `2026-12-03T02:00:00Z INFO request ${i} served in ${i % 97} ms from 10.0.0.${i % 255}`;
  const outPath = join(dir, "out.txt");
  const writers: Record<string, () => PromiseLike<number>> = {
    "corio file.writeLine() (a drain() every 256 lines)": () =>
      run(function* () {
        const file = yield* openFile(outPath, "w");
        for (let i = 0; i < LINES; i++) {
          file.writeLine(logLine(i));
          if (i % 256 === 0) yield* file.drain();
        }
        yield* file.close();
        return LINES;
      }),
    "node:fs createWriteStream, write() (waits for 'drain')": async () => {
      const stream = createWriteStream(outPath);
      for (let i = 0; i < LINES; i++) if (!stream.write(`${logLine(i)}\n`)) await new Promise<void>((resolve) => stream.once("drain", () => resolve()));
      await new Promise<void>((resolve, reject) => stream.end((error?: Error | null) => (error ? reject(error) : resolve())));
      return LINES;
    },
  };
  const fileTimes = await interleaved(readers, LINES);
  const pipeTimes = await interleaved(pipeReaders, LINES);
  const writeTimes = await interleaved(writers, LINES);
  const wholeFileTimes = await interleaved(wholeFileReaders, logSize, logSize / 2 ** 20);
  // Per MiB, in ns.
  const wholeTimes = await interleaved(wholeReaders, BIG, BIG >> 20);
  rmSync(dir, { recursive: true, force: true });
  printCase(
    `A ${LINES / 1000}k-line log file read by lines (median of 7 interleaved rounds, per line)`,
    fileTimes,
    "node:readline over fs.createReadStream (for await)",
  );
  printCase(
    `The same file from a child's stdout (cat), by lines (median of 7 interleaved rounds, per line)`,
    pipeTimes,
    "node:readline over a child's stdout (for await)",
  );
  printCase(
    `The same ${LINES / 1000}k lines written to a file a line at a time (median of 7 interleaved rounds, per line)`,
    writeTimes,
    "node:fs createWriteStream, write() (waits for 'drain')",
  );
  printCase(
    `The same file read whole as text, ${(logSize / 2 ** 20).toFixed(1)} MiB (median of 7 interleaved rounds, per MiB)`,
    wholeFileTimes,
    "node:fs/promises readFile(path, 'utf8')",
  );
  printCase(`A child's whole stdout, 32 MiB (cat) (median of 7 interleaved rounds, per MiB)`, wholeTimes, "node:child_process execFile (a Buffer)");
}

/**
 * Runs each reader 7 times, interleaved (this machine's speed drifts between minutes); the median
 * time per unit of each (`units` of them a run, a line by default). Each must give `expected`.
 */
async function interleaved(readers: Record<string, () => PromiseLike<number>>, expected: number, units = expected): Promise<{ name: string; value: number }[]> {
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(readers).map((name) => [name, []]));
  for (let round = 0; round < 7; round++) {
    for (const [name, read] of Object.entries(readers)) {
      const start = performance.now();
      if ((await read()) !== expected) throw new Error(`${name} read a wrong count`);
      times[name]?.push(((performance.now() - start) * 1e6) / units);
    }
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1] as number;
  return Object.entries(times).map(([name, runs]) => ({ name, value: median(runs) }));
}
