// Shared by the bench files: time a batch several times and keep the median,
// and print each case as rows side by side, with ratios, from one run.

/** One measured row: a name and a median time per operation in nanoseconds (or another unit). */
export interface Row {
  name: string;
  value: number;
  unit?: string;
}

/** A full garbage collection, if the runtime offers one (Node with --expose-gc, or Bun). */
export function collectGarbage(): void {
  const g = globalThis as { gc?: () => void; Bun?: { gc(force: boolean): void } };
  if (g.gc !== undefined) g.gc();
  else g.Bun?.gc(true);
}

/** The runtime, for the line under the results: `node v20.20.2` or `bun 1.x`. */
export function runtimeName(): string {
  const bun = (globalThis as { Bun?: { version: string } }).Bun;
  return bun === undefined ? `node ${process.version}` : `bun ${bun.version}`;
}

/**
 * Runs `fn` (which does `count` operations) `runs` times after a warm-up; returns the median ns per operation.
 *
 * One full collection before the warm-up, none between samples: a forced
 * mark-compact deoptimizes every function whose optimized code embeds a map
 * that died (here, the map of the previous batch's generator closure), so
 * collecting before each sample measured the JIT re-optimizing the scheduler
 * (a first batch after `gc()` took 2x as long as the next ones), not the
 * steady state a running program is in.
 */
export async function medianPerOp(count: number, fn: () => unknown | Promise<unknown>, runs = 5): Promise<number> {
  collectGarbage();
  await fn();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    await fn();
    samples.push(Number(process.hrtime.bigint() - start) / count);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)] as number;
}

/** Formats nanoseconds for humans. */
export function formatNs(ns: number): string {
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(2)} µs`;
  return `${ns.toFixed(1)} ns`;
}

/** Prints a case: every row with its value and its ratio to the `reference` row (by name). */
export function printCase(title: string, rows: Row[], reference: string, goal?: string): string {
  const ref = rows.find((row) => row.name === reference)?.value ?? Number.NaN;
  const lines = [`\n## ${title}`, goal ? `goal: ${goal}` : "", "| implementation | median | ratio to " + reference + " |", "| --- | --- | --- |"].filter(
    (line) => line !== "",
  );
  for (const row of rows) {
    const shown = row.unit === undefined ? formatNs(row.value) : `${row.value.toFixed(0)} ${row.unit}`;
    lines.push(`| ${row.name} | ${shown} | ${(row.value / ref).toFixed(2)}x |`);
  }
  const text = lines.join("\n");
  console.log(text);
  return text;
}

/** The median of a list of numbers (NaN for none). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

/**
 * Measures each contestant once per round, after one warm-up each, rotating
 * the order every round so none always runs first: on a shared machine the
 * load moves between runs, and only figures from the same round compare.
 * Gives each contestant's samples, round by round.
 */
export async function interleavedRounds(rounds: number, contestants: { name: string; measure: () => Promise<number> }[]): Promise<Map<string, number[]>> {
  const samples = new Map(contestants.map(({ name }) => [name, [] as number[]]));
  for (const contestant of contestants) await contestant.measure();
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < contestants.length; i++) {
      const { name, measure } = contestants[(i + round) % contestants.length] as (typeof contestants)[number];
      (samples.get(name) as number[]).push(await measure());
    }
  }
  return samples;
}

/** `a[i] / b[i]` for each round. */
export function roundRatios(a: readonly number[], b: readonly number[]): number[] {
  return a.map((value, i) => value / (b[i] as number));
}
