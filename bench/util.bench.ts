// Issue 7 benchmarks (utilities): limitGather against 8 raw async workers,
// p-limit and p-map; asyncCache against bare lru-cache.
// Run alone: npm run bench -- util (compiled; through tsx it measures tsx's transform too)
import { LRUCache } from "lru-cache";
import { measure } from "mitata";
import pLimit from "p-limit";
import pMap from "p-map";
import { all, any, asCompleted, asyncCache, limitGather, type Operation, race, run } from "../src/index.ts";
import { medianPerOp, printCase } from "./_report.ts";

// limitGather over 100k trivial operations, n = 8.
{
  const N = 100_000;
  function* trivial(i: number): Operation<number> {
    return i;
  }
  const corio = await medianPerOp(
    N,
    () =>
      run(function* () {
        const ops = Array.from({ length: N }, (_, i) => () => trivial(i));
        yield* limitGather(ops, 8);
      }),
    3,
  );
  // What users write: a generator closure per item.
  const corioInline = await medianPerOp(
    N,
    () =>
      run(function* () {
        const ops = Array.from(
          { length: N },
          (_, i) =>
            function* (): Operation<number> {
              return i;
            },
        );
        yield* limitGather(ops, 8);
      }),
    3,
  );
  // What the two rows above spend before limitGather starts: building the array of 100k closures.
  const closuresOnly = await medianPerOp(
    N,
    () =>
      run(function* () {
        const ops = Array.from({ length: N }, (_, i) => () => trivial(i));
        for (const op of ops) (op() as Generator<unknown, number>).next();
      }),
    3,
  );
  // The hoisting-friendly form: the items and one generator function, no closure per item.
  const items = Array.from({ length: N }, (_, i) => i);
  const corioItems = await medianPerOp(
    N,
    () =>
      run(function* () {
        yield* limitGather(items, 8, trivial);
      }),
    3,
  );
  const rawWorkers = await medianPerOp(N, async () => {
    const fn = async (i: number): Promise<number> => i;
    const results = new Array<number>(N);
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < N) {
          const i = next++;
          results[i] = await fn(i);
        }
      }),
    );
  });
  const pLimitTime = await medianPerOp(N, async () => {
    const limit = pLimit(8);
    await Promise.all(Array.from({ length: N }, (_, i) => limit(async () => i)));
  });
  const pMapTime = await medianPerOp(N, () =>
    pMap(
      Array.from({ length: N }, (_, i) => i),
      async (i) => i,
      { concurrency: 8 },
    ),
  );
  printCase(
    "limitGather over 100k trivial operations, n = 8, per operation",
    [
      { name: "corio limitGather (hoisted generator)", value: corio },
      { name: "corio limitGather (an inline closure per item)", value: corioInline },
      { name: "corio limitGather (items and one generator function)", value: corioItems },
      { name: "building and calling the 100k closures alone (no limitGather)", value: closuresOnly },
      { name: "8 raw async workers (floor)", value: rawWorkers },
      { name: "p-limit", value: pLimitTime },
      { name: "p-map", value: pMapTime },
    ],
    "8 raw async workers (floor)",
    "within 2x of 8 raw workers, ≥ 15x faster than p-limit and p-map",
  );
}

// The list combinators over operations that finish at once, per operation: each starts a task per
// operation; any and asCompleted wrap each one (a generator object of one function, not a closure each).
// At 50k the finished tasks outgrow the young generation: the difference is the collector's.
for (const N of [5_000, 50_000]) {
  function* trivial(i: number): Operation<number> {
    return i;
  }
  const operations = (): Operation<number>[] => Array.from({ length: N }, (_, i) => trivial(i));
  const allTime = await medianPerOp(N, () => run(() => all(operations())));
  const raceTime = await medianPerOp(N, () => run(() => race(operations())));
  const anyTime = await medianPerOp(N, () => run(() => any(operations())));
  const asCompletedTime = await medianPerOp(N, () =>
    run(function* () {
      let sum = 0;
      for (const next of yield* asCompleted(operations())) sum += yield* next;
      return sum;
    }),
  );
  printCase(
    `all / race / any / asCompleted over ${N / 1000}k operations that finish at once, per operation`,
    [
      { name: "all", value: allTime },
      { name: "race", value: raceTime },
      { name: "any (the first wins)", value: anyTime },
      { name: "asCompleted, every result taken", value: asCompletedTime },
    ],
    "all",
    "no closure per operation: within a few times all's cost",
  );
}

// asyncCache: a hit, and a set that evicts, against bare lru-cache.
{
  const INNER = 1000;
  const perOp = async (fn: () => unknown): Promise<number> => (await measure(fn, { min_cpu_time: 500e6 })).p50 / INNER;
  const lru = new LRUCache<number, { value: number }>({ max: 128 });
  lru.set(1, { value: 1 });
  const cached = asyncCache(
    function* (i: number): Operation<number> {
      return i;
    },
    { maxSize: 128 },
  );
  await run(() => cached(1));
  function* hits(): Generator<unknown, number, unknown> {
    let sum = 0;
    for (let i = 0; i < INNER; i++) sum += yield* cached(1);
    return sum;
  }
  const corioHit = await perOp(() => hits().next());
  const lruHit = await perOp(() => {
    let sum = 0;
    for (let i = 0; i < INNER; i++) sum += (lru.get(1) as { value: number }).value;
    return sum;
  });
  let k = 1_000_000;
  const corioSet = await medianPerOp(20_000, () =>
    run(function* () {
      for (let i = 0; i < 20_000; i++) yield* cached(k++);
    }),
  );
  const lruSet = await perOp(() => {
    for (let i = 0; i < INNER; i++) lru.set(k++, { value: i });
  });
  printCase(
    "asyncCache: hit, and evicting miss (the miss runs the function as a task)",
    [
      { name: "corio asyncCache hit", value: corioHit },
      { name: "lru-cache get (floor)", value: lruHit },
      { name: "corio asyncCache evicting miss", value: corioSet },
      { name: "lru-cache set with eviction", value: lruSet },
    ],
    "lru-cache get (floor)",
    "hit and evicting set within 1.2x of bare lru-cache",
  );
  // 100 concurrent misses of one key run the loader once.
  let loads = 0;
  const shared = asyncCache(function* (key: string): Operation<string> {
    loads++;
    return key;
  });
  await Promise.all(Array.from({ length: 100 }, () => run(() => shared("same"))));
  console.log(`100 concurrent misses of one key ran the loader ${loads} time(s)`);
}
