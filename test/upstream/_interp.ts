// corio's interpreter of the upstream-comparison program language (see
// test/upstream/README.md). The same JSON programs run here, on corio's
// virtual clock (`runVirtual`), and in asyncio_interp.py (CPython asyncio on a
// virtual-time loop) or trio_interp.py (Trio with MockClock); each prints a
// trace of what happened when, and asyncio.test.ts / trio.test.ts compare the
// traces. The programs follow CPython's test_taskgroups, test_timeouts,
// test_tasks, test_locks and test_queues, and Trio's test_run, test_timeouts,
// test_sync and test_channel.
//
// The trace format is shared by the three interpreters: `TIME WHO WHAT`, then
// one `RESULT ...` line. Change it in all three at once.
import { spawn as spawnProcess, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import {
  all,
  allSettled,
  asCompleted,
  Barrier,
  BoundedSemaphore,
  BrokenBarrierError,
  BrokenResourceError,
  CapacityLimiter,
  Channel,
  ChannelClosedError,
  ClosedResourceError,
  Condition,
  currentTask,
  currentTime,
  EndOfChannel,
  Event,
  isCancellation,
  LifoQueue,
  Lock,
  type MemoryReceiveChannel,
  type MemorySendChannel,
  moveOnAfter,
  type Operation,
  openMemoryChannel,
  PriorityQueue,
  Queue,
  QueueEmpty,
  QueueFull,
  Semaphore,
  scope,
  shield,
  sleep,
  spawn,
  start,
  type Task,
  TaskGroupError,
  type TimeLimit,
  TimeoutError,
  timeout,
  WouldBlock,
  wait,
} from "../../src/index.ts";
import { runVirtual } from "../../src/testing/index.ts";

/** A catch clause of a `try` step: `match` is `Cancelled`, `Timeout`, `Exception` (any error but a cancel) or an error name. */
export interface Handler {
  match: string;
  body: Step[];
  /** Rethrow after the handler's steps (a Trio handler of `Cancelled` must). */
  reraise?: boolean;
}

/** One step of a program. Which fields a step uses depends on its `op` (see README.md). */
export interface Step {
  op: string;
  m?: string;
  t?: number | null;
  v?: number;
  err?: string;
  name?: string;
  body?: Step[];
  catch?: Handler[];
  fin?: Step[];
  bodies?: Step[][];
  re?: boolean;
  ev?: string;
  lk?: string;
  q?: string;
  c?: string;
  k?: string;
  n?: number;
  s?: string;
  b?: string;
  p?: string;
  ch?: string;
  scope?: string;
  who?: string;
  /** `clone`: which side (`s` or `r`) and the name of the new pair. */
  side?: string;
  as?: string;
  mode?: string;
  then?: string;
  timeout?: number | null;
  take?: number;
}

/** A primitive a program declares (`Lock`, `Event` and `Condition` are made on first use when not declared). */
export interface PrimSpec {
  type: "lock" | "event" | "cond" | "sem" | "limiter" | "chan" | "mchan" | "queue" | "lifo" | "prio" | "barrier";
  /** Semaphore value, limiter tokens, barrier parties. */
  n?: number;
  /** A bounded semaphore (asyncio's BoundedSemaphore; Trio's Semaphore(n, max_value=n)). */
  bounded?: boolean;
  /** Queue maxsize, channel capacity (`chan`: 0 is unbounded; `mchan`: 0 is a rendezvous). */
  max?: number;
}

export interface Program {
  name: string;
  /** The upstream test the program follows, or the fix it pins. */
  from: string;
  expect: "same" | "differs";
  /** For `differs`: the documented difference (a decided case, a porting note). */
  why?: string;
  /** For `differs`: the trace corio must keep producing. */
  corio?: string[];
  prims?: Record<string, PrimSpec>;
  body: Step[];
}

class ProgramError extends Error {}

function userError(name: string): Error {
  const error = new ProgramError(name);
  error.name = name;
  return error;
}

function leaves(error: unknown): unknown[] {
  return error instanceof TaskGroupError ? error.errors.flatMap(leaves) : [error];
}

/**
 * The name an error has in a trace. A group is written by its distinct
 * leaves, sorted, and a group of one is its member: asyncio's `TaskGroup`
 * wraps even one error in an `ExceptionGroup` where corio's boundaries throw
 * it as is, and which of two same-instant failures comes first is the
 * scheduler's choice (both Python interpreters write groups the same way).
 */
export function errorName(error: unknown): string {
  if (error instanceof TaskGroupError) {
    const names = [...new Set(leaves(error).map(errorName))].sort();
    return names.length === 1 ? names[0]! : `Group(${names.join(",")})`;
  }
  if (isCancellation(error)) return "Cancelled";
  if (error instanceof TimeoutError) return "Timeout";
  if (error instanceof ProgramError) return error.name;
  if (error instanceof ChannelClosedError) return error.message.startsWith("Cannot send") ? "SendClosed" : "RecvEnd";
  if (error instanceof ClosedResourceError) return "SendClosed";
  if (error instanceof EndOfChannel) return "RecvEnd";
  if (error instanceof WouldBlock) return "WouldBlock";
  if (error instanceof BrokenResourceError) return "Broken";
  if (error instanceof BrokenBarrierError) return "BrokenBarrier";
  // A misuse (a release too many, a borrower acquiring twice): Python's RuntimeError or ValueError.
  if (error instanceof Error && (error.constructor === Error || error.constructor === RangeError)) return "RtErr";
  return `?${String(error)}`;
}

function matches(error: unknown, match: string): boolean {
  if (match === "Cancelled") return isCancellation(error);
  return leaves(error).every((leaf) => {
    if (isCancellation(leaf)) return false;
    if (match === "Exception") return true;
    return errorName(leaf) === match;
  });
}

const fmt = (v: unknown): string => (v === undefined || v === null ? "None" : Array.isArray(v) ? `[${v.map(fmt).join(",")}]` : String(v));
const bool = (b: boolean): string => (b ? "True" : "False");

/** A memory channel as a program names it: a send side and a receive side (`clone` replaces one by its clone). */
class MemoryPair {
  readonly send: MemorySendChannel<number>;
  readonly receive: MemoryReceiveChannel<number>;
  constructor(send: MemorySendChannel<number>, receive: MemoryReceiveChannel<number>) {
    this.send = send;
    this.receive = receive;
  }
}

type Prim = Lock | Event | Condition | Semaphore | CapacityLimiter | Channel<number> | MemoryPair | Queue<number> | Barrier;

/** One run's state: the trace, the named tasks, limits and primitives, the counters `cwaitFor` reads. */
class Run {
  readonly trace: string[] = [];
  readonly tasks = new Map<string, Task<unknown>>();
  readonly limits = new Map<string, TimeLimit>();
  readonly prims = new Map<string, Prim>();
  readonly counters = new Map<string, number>();
  /** The `started` of each task begun with `start`, by task name. */
  readonly starters = new Map<string, (value: unknown) => void>();

  readonly program: Program;

  constructor(program: Program) {
    this.program = program;
  }

  log(who: string, what: string): void {
    this.trace.push(`${currentTime()} ${who} ${what}`);
  }

  prim<T extends Prim>(name: string, kind: abstract new (...args: never[]) => T): T {
    let p = this.prims.get(name);
    if (p === undefined) {
      if (kind === (Lock as unknown)) p = new Lock();
      else if (kind === (Event as unknown)) p = new Event();
      else if (kind === (Condition as unknown)) p = new Condition();
      else throw userError("HARNESS");
      this.prims.set(name, p);
    }
    if (!(p instanceof kind)) throw userError("HARNESS");
    return p;
  }

  makePrims(): void {
    for (const [name, spec] of Object.entries(this.program.prims ?? {})) {
      const n = spec.n ?? 1;
      const maxsize = spec.max ?? 0;
      let p: Prim;
      switch (spec.type) {
        case "lock":
          p = new Lock();
          break;
        case "event":
          p = new Event();
          break;
        case "cond":
          p = new Condition();
          break;
        case "sem":
          p = spec.bounded ? new BoundedSemaphore(n) : new Semaphore(n);
          break;
        case "limiter":
          p = new CapacityLimiter(n);
          break;
        case "chan":
          p = new Channel<number>({ capacity: maxsize });
          break;
        case "mchan": {
          const [send, receive] = openMemoryChannel<number>(spec.max ?? 0);
          p = new MemoryPair(send, receive);
          break;
        }
        case "queue":
          p = new Queue<number>({ maxsize });
          break;
        case "lifo":
          p = new LifoQueue<number>({ maxsize });
          break;
        case "prio":
          // Priority v // 10; equal priorities in put order (asyncio_interp.py numbers the puts).
          p = new PriorityQueue<number>({ maxsize, compare: (a, b) => Math.floor(a / 10) - Math.floor(b / 10) });
          break;
        case "barrier":
          p = new Barrier(n);
          break;
      }
      this.prims.set(name, p);
    }
  }

  queue(name: string): Queue<number> {
    const p = this.prims.get(name);
    if (!(p instanceof Queue)) throw userError("HARNESS");
    return p as Queue<number>;
  }

  chan(name: string): Channel<number> {
    const p = this.prims.get(name);
    if (!(p instanceof Channel)) throw userError("HARNESS");
    return p as Channel<number>;
  }

  memoryChannel(name: string): MemoryPair {
    const p = this.prims.get(name);
    if (!(p instanceof MemoryPair)) throw userError("HARNESS");
    return p;
  }

  /** The `final` lines: what limiters, semaphores and channels hold once the program ended. */
  finals(): void {
    for (const [name, spec] of Object.entries(this.program.prims ?? {})) {
      const p = this.prims.get(name);
      if (spec.type === "limiter" && p instanceof CapacityLimiter) this.log("main", `final ${name} borrowed=${p.borrowedTokens} total=${p.totalTokens}`);
      else if (spec.type === "sem" && p instanceof Semaphore) this.log("main", `final ${name} value=${p.value}`);
      else if (spec.type === "chan" && p instanceof Channel) this.log("main", `final ${name} buffered=${p.size}`);
      else if (spec.type === "mchan" && p instanceof MemoryPair) this.log("main", `final ${name} buffered=${p.send.statistics().currentBufferUsed}`);
    }
  }
}

function* runTask(run: Run, name: string, body: Step[]): Operation<unknown> {
  run.log(name, "start");
  try {
    const v = yield* exec(run, name, body);
    run.log(name, `done ${fmt(v)}`);
    return v;
  } catch (error) {
    run.log(name, `exit ${errorName(error)}`);
    throw error;
  }
}

/** Runs steps in order; returns the value of a `ret` step (which ends the enclosing task), else undefined. */
function* exec(run: Run, who: string, steps: Step[]): Operation<unknown> {
  for (const s of steps) {
    const v = yield* step(run, who, s);
    if (v !== undefined) return v;
  }
  return undefined;
}

/** Runs a step's body inside a limit, naming the limit for `cancelScope` and `deadline` steps. */
function limited(run: Run, who: string, s: Step): (limit: TimeLimit) => Operation<unknown> {
  return function* (limit) {
    if (s.name !== undefined) run.limits.set(s.name, limit);
    return yield* exec(run, who, s.body!);
  };
}

function* step(run: Run, who: string, s: Step): Operation<unknown> {
  switch (s.op) {
    case "log":
      run.log(who, s.m!);
      return undefined;
    case "sleep":
      yield* sleep(s.t!);
      return undefined;
    case "ckpt":
      yield* sleep(0);
      return undefined;
    case "ret":
      return s.v;
    case "raise":
      throw userError(s.err!);
    case "group": {
      const v = yield* scope(() => exec(run, who, s.body!));
      run.log(who, `group-> ${fmt(v)}`);
      return undefined;
    }
    case "spawn":
      run.tasks.set(s.name!, yield* spawn(() => runTask(run, s.name!, s.body!), { name: s.name! }));
      return undefined;
    case "start": {
      const { value, task } = yield* start(
        (started: (value: unknown) => void) => {
          run.starters.set(s.name!, started);
          return runTask(run, s.name!, s.body!);
        },
        { name: s.name! },
      );
      run.tasks.set(s.name!, task);
      run.log(who, `start-> ${fmt(value)}`);
      return undefined;
    }
    case "started":
      run.log(who, `started ${fmt(s.v)}`);
      (run.starters.get(who) as (value: unknown) => void)(s.v);
      return undefined;
    case "await": {
      const task = run.tasks.get(s.name!);
      if (task === undefined) throw userError("HARNESS");
      const v = yield* task;
      run.log(who, `awaited ${s.name} ${fmt(v)}`);
      return undefined;
    }
    case "cancel": {
      const task = run.tasks.get(s.name!);
      if (task === undefined) throw userError("HARNESS");
      run.log(who, `cancel ${s.name} ${bool(task.cancel())}`);
      return undefined;
    }
    case "selfCancel":
      currentTask().cancel();
      run.log(who, "selfcancel");
      return undefined;
    case "try": {
      try {
        return yield* exec(run, who, s.body!);
      } catch (error) {
        const handler = (s.catch ?? []).find((h) => matches(error, h.match));
        if (handler === undefined) throw error;
        run.log(who, `caught ${errorName(error)}`);
        const v = yield* exec(run, who, handler.body);
        if (handler.reraise) throw error;
        return v;
      } finally {
        if (s.fin !== undefined) {
          run.log(who, "finally");
          yield* exec(run, who, s.fin);
        }
      }
    }
    case "timeout":
    case "waitFor": {
      const v = yield* timeout(s.t ?? Number.POSITIVE_INFINITY, limited(run, who, s));
      run.log(who, `${s.op}-> ${fmt(v)}`);
      return undefined;
    }
    case "moveOn": {
      const r = yield* moveOnAfter(s.t ?? Number.POSITIVE_INFINITY, limited(run, who, s));
      run.log(who, r.cancelled ? "moved on" : `moveOn-> ${fmt(r.value)}`);
      return undefined;
    }
    case "cancelScope":
      run.limits.get(s.scope!)!.cancel();
      return undefined;
    case "deadline":
      run.limits.get(s.scope!)!.deadline = currentTime() + s.t!;
      return undefined;
    case "shield": {
      const v = yield* shield(() => exec(run, who, s.body!));
      run.log(who, `shield-> ${fmt(v)}`);
      return undefined;
    }
    case "gather": {
      const ops = s.bodies!.map((body, i) => () => runTask(run, `${who}.g${i}`, body));
      if (s.re) {
        const rs = yield* allSettled(ops);
        run.log(who, `gather-> [${rs.map((r) => (r.status === "fulfilled" ? fmt(r.value) : errorName(r.reason))).join(",")}]`);
      } else {
        run.log(who, `gather-> ${fmt(yield* all(ops))}`);
      }
      return undefined;
    }
    case "evSet":
      run.prim(s.ev!, Event).set();
      run.log(who, `set ${s.ev}`);
      return undefined;
    case "evWait":
      yield* run.prim(s.ev!, Event).wait();
      run.log(who, `woke ${s.ev}`);
      return undefined;
    case "acquire": {
      const p = run.prims.get(s.p!) ?? run.prim(s.p!, Lock);
      if (!(p instanceof Lock || p instanceof Condition || p instanceof Semaphore || p instanceof CapacityLimiter)) throw userError("HARNESS");
      yield* p.acquire();
      run.log(who, `acquired ${s.p}`);
      try {
        return yield* exec(run, who, s.body!);
      } finally {
        p.release();
        run.log(who, `released ${s.p}`);
      }
    }
    case "put": {
      yield* run.queue(s.q!).put(s.v!);
      run.log(who, `put ${s.q} ${s.v}`);
      return undefined;
    }
    case "get": {
      const v = yield* run.queue(s.q!).get();
      run.log(who, `got ${s.q} ${fmt(v)}`);
      return undefined;
    }
    case "putNw":
      try {
        run.queue(s.q!).putNowait(s.v!);
        run.log(who, `putnw ${s.q} ${s.v}`);
      } catch (error) {
        if (!(error instanceof QueueFull)) throw error;
        run.log(who, `full ${s.q}`);
      }
      return undefined;
    case "getNw":
      try {
        const v = run.queue(s.q!).getNowait();
        run.log(who, `gotnw ${s.q} ${fmt(v)}`);
      } catch (error) {
        if (!(error instanceof QueueEmpty)) throw error;
        run.log(who, `empty ${s.q}`);
      }
      return undefined;
    case "taskDone":
      try {
        run.queue(s.q!).taskDone();
        run.log(who, `tdone ${s.q}`);
      } catch {
        run.log(who, `tdone-err ${s.q}`);
      }
      return undefined;
    case "join":
      yield* run.queue(s.q!).join();
      run.log(who, `joined ${s.q}`);
      return undefined;
    case "qsize": {
      const q = run.queue(s.q!);
      run.log(who, `qsize ${s.q} ${q.size} ${bool(q.full)}`);
      return undefined;
    }
    case "drain": {
      const q = run.queue(s.q!);
      const out: number[] = [];
      while (!q.empty) out.push(q.getNowait());
      run.log(who, `drain ${s.q} ${fmt(out)}`);
      return undefined;
    }
    case "inc": {
      const n = (run.counters.get(s.k!) ?? 0) + 1;
      run.counters.set(s.k!, n);
      run.log(who, `inc ${s.k} ${n}`);
      return undefined;
    }
    case "cwait":
      yield* run.prim(s.c!, Condition).wait();
      run.log(who, `cwoke ${s.c}`);
      return undefined;
    case "cwaitFor":
      yield* run.prim(s.c!, Condition).waitFor(() => (run.counters.get(s.k!) ?? 0) >= s.n!);
      run.log(who, `cwf ${s.c} ${s.k}=${run.counters.get(s.k!) ?? 0}`);
      return undefined;
    case "notify":
      run.prim(s.c!, Condition).notify(s.n ?? 1);
      run.log(who, `notify ${s.c} ${s.n ?? 1}`);
      return undefined;
    case "notifyAll":
      run.prim(s.c!, Condition).notifyAll();
      run.log(who, `notifyAll ${s.c}`);
      return undefined;
    case "release":
      // A release too many is logged, not thrown (asyncio's BoundedSemaphore raises ValueError, Trio's Semaphore with max_value too).
      try {
        run.prim(s.p!, Semaphore).release();
        run.log(who, `release+ ${s.p}`);
      } catch (error) {
        if (errorName(error) !== "RtErr") throw error;
        run.log(who, `release-err ${s.p}`);
      }
      return undefined;
    case "semAcquire":
      yield* run.prim(s.p!, Semaphore).acquire();
      run.log(who, `semacquired ${s.p}`);
      return undefined;
    case "semVal": {
      const sem = run.prim(s.p!, Semaphore);
      run.log(who, `sval ${s.p} ${sem.value} ${bool(sem.locked)}`);
      return undefined;
    }
    case "bwait":
      run.log(who, `bidx ${s.b} ${yield* run.prim(s.b!, Barrier).wait()}`);
      return undefined;
    case "babort":
      run.prim(s.b!, Barrier).abort();
      run.log(who, `babort ${s.b}`);
      return undefined;
    case "breset":
      run.prim(s.b!, Barrier).reset();
      run.log(who, `breset ${s.b}`);
      return undefined;
    case "bstate": {
      const b = run.prim(s.b!, Barrier);
      run.log(who, `bstate ${s.b} ${b.nWaiting} ${bool(b.broken)}`);
      return undefined;
    }
    case "wait":
      yield* waitStep(run, who, s);
      return undefined;
    case "asComp": {
      const ops = s.bodies!.map((body, i) => () => runTask(run, `${who}.a${i}`, body));
      const taken = yield* scope(function* () {
        let taken = 0;
        for (const next of yield* asCompleted(ops)) {
          if (taken === s.take) break;
          try {
            run.log(who, `ac ${fmt(yield* next)}`);
          } catch (error) {
            if (isCancellation(error)) throw error;
            run.log(who, `ac-err ${errorName(error)}`);
          }
          taken++;
        }
        return taken;
      });
      run.log(who, `asComp-> ${taken}`);
      return undefined;
    }
    case "send":
      if (run.prims.get(s.ch!) instanceof MemoryPair) yield* run.memoryChannel(s.ch!).send.send(s.v!);
      else yield* run.chan(s.ch!).send(s.v!);
      run.log(who, `sent ${s.ch} ${s.v}`);
      return undefined;
    case "recv":
      run.log(
        who,
        `got ${s.ch} ${run.prims.get(s.ch!) instanceof MemoryPair ? yield* run.memoryChannel(s.ch!).receive.receive() : yield* run.chan(s.ch!).receive()}`,
      );
      return undefined;
    case "sendNw":
      run.memoryChannel(s.ch!).send.sendNowait(s.v!);
      run.log(who, `sent ${s.ch} ${s.v}`);
      return undefined;
    case "recvNw":
      run.log(who, `got ${s.ch} ${run.memoryChannel(s.ch!).receive.receiveNowait()}`);
      return undefined;
    case "clone": {
      const pair = run.memoryChannel(s.ch!);
      run.prims.set(s.as!, s.side === "s" ? new MemoryPair(pair.send.clone(), pair.receive) : new MemoryPair(pair.send, pair.receive.clone()));
      return undefined;
    }
    case "close":
    case "rclose": {
      const p = run.prims.get(s.ch!);
      if (p instanceof MemoryPair) (s.op === "close" ? p.send : p.receive).close();
      // corio's Channel is one object: closing it closes both sides (README's Trio paragraph).
      else run.chan(s.ch!).close();
      return undefined;
    }
    case "setTotal":
      run.prim(s.p!, CapacityLimiter).totalTokens = s.n!;
      return undefined;
    case "acquireFor":
      yield* run.prim(s.p!, CapacityLimiter).acquireOnBehalfOf(s.who!);
      run.log(who, `acquired ${s.p} for ${s.who}`);
      return undefined;
    case "releaseFor":
      run.prim(s.p!, CapacityLimiter).releaseOnBehalfOf(s.who!);
      run.log(who, `released ${s.p} for ${s.who}`);
      return undefined;
    case "stats": {
      const p = run.prims.get(s.p!);
      if (p instanceof CapacityLimiter) run.log(who, `stats ${s.p} borrowed=${p.borrowedTokens} total=${p.totalTokens} waiting=${p.statistics().tasksWaiting}`);
      else if (p instanceof Semaphore) run.log(who, `stats ${s.p} value=${p.value}`);
      else if (p instanceof Channel) run.log(who, `stats ${s.p} buffered=${p.size}`);
      else if (p instanceof MemoryPair) {
        const st = p.send.statistics();
        run.log(
          who,
          `stats ${s.p} buffered=${st.currentBufferUsed} senders=${st.openSendChannels} receivers=${st.openReceiveChannels} sending=${st.tasksWaitingSend} receiving=${st.tasksWaitingReceive}`,
        );
      } else throw userError("HARNESS");
      return undefined;
    }
    default:
      throw userError("HARNESS");
  }
}

/** asyncio.wait: start the bodies as tasks, wait by `mode`, log done and pending, then cancel or await the pending ones. */
function* waitStep(run: Run, who: string, s: Step): Operation<void> {
  const modes = { FIRST_COMPLETED: "first-completed", FIRST_EXCEPTION: "first-error", ALL_COMPLETED: "all" } as const;
  const mode = modes[s.mode as keyof typeof modes];
  const index = new Map<Task<unknown>, number>();
  const ops = s.bodies!.map(
    (body, i) =>
      function* () {
        index.set(currentTask(), i);
        return yield* runTask(run, `${who}.w${i}`, body);
      },
  );
  const { done, pending } = yield* wait(ops, s.timeout == null ? { return: mode } : { return: mode, timeout: s.timeout });
  const outcome = (t: Task<unknown>) => (t.state === "cancelled" ? "C" : t.state === "failed" ? errorName(t.error) : fmt(t.result()));
  run.log(who, `wait-> done=[${done.map((t) => `${index.get(t)}:${outcome(t)}`).join(",")}] pending=[${pending.map((t) => index.get(t)).join(",")}]`);
  for (const t of pending) {
    const i = index.get(t);
    if (s.then === "cancel") t.cancel();
    try {
      run.log(who, `${s.then === "cancel" ? "wcancelled" : "wawait"} ${i} ${fmt(yield* t)}`);
    } catch (error) {
      if (s.then !== "cancel" && isCancellation(error)) throw error;
      run.log(who, `${s.then === "cancel" ? "wcancelled" : "wawait"} ${i} ${errorName(error)}`);
    }
  }
}

/** Runs one program on a fresh virtual clock and returns its trace. */
export async function runProgram(program: Program): Promise<string[]> {
  const run = new Run(program);
  let result: string;
  try {
    const v = await runVirtual(
      function* () {
        run.makePrims();
        const v = yield* runTask(run, "main", program.body);
        run.finals();
        return v;
      },
      {
        name: "main",
        onError: (error, context) => {
          run.trace.push(`report ${context.kind} ${errorName(error)}`);
        },
      },
    );
    result = `RESULT value ${fmt(v)}`;
  } catch (error) {
    result = error instanceof Error && error.name === "VirtualTestError" ? "RESULT deadlock" : `RESULT error ${errorName(error)}`;
  }
  run.trace.push(result);
  return run.trace;
}

/**
 * What both traces go through before they are compared: corio reports a task
 * that swallowed its cancel (decided case 1), which neither upstream does.
 */
export function normalise(trace: string[]): string[] {
  return trace.filter((line) => !line.startsWith("report swallowed-cancel"));
}

/**
 * Runs a corpus through a Python interpreter in one child process (the
 * programs as JSON lines on stdin, one JSON trace a line back) and resolves
 * once the child has exited and its pipes are closed.
 */
export function runUpstream(script: string, programs: Program[]): Promise<string[][]> {
  return new Promise((resolve, reject) => {
    const child = spawnProcess(PYTHON, [script], { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      out += chunk;
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      err += chunk;
    });
    child.on("error", reject);
    child.on("close", (code) => {
      const lines = out.split("\n").filter((line) => line !== "");
      if (code !== 0 || lines.length !== programs.length) {
        reject(new Error(`${script} exited with ${code} after ${lines.length} of ${programs.length} programs:\n${lines.at(-1) ?? ""}\n${err.slice(-3000)}`));
        return;
      }
      resolve(lines.map((line) => JSON.parse(line) as string[]));
    });
    child.stdin.end(programs.map((p) => JSON.stringify(p)).join("\n") + "\n");
  });
}

/** The Python the check runs: the system's (Debian's python3-trio and python3 3.11), never a pyenv shim on PATH. */
export const PYTHON = "/usr/bin/python3";

/** `false` when /usr/bin/python3 can import `module`, else what is missing. */
export function missingPython(module: string): string | false {
  if (!existsSync(PYTHON)) return PYTHON;
  const check = spawnSync(PYTHON, ["-c", `import ${module}`], { stdio: "ignore" });
  return check.status === 0 ? false : `${module} for ${PYTHON}`;
}

/** Reads a corpus file (a JSON array of programs). */
export function readCorpus(path: string): Program[] {
  return JSON.parse(readFileSync(path, "utf8")) as Program[];
}

/** The failure message: both traces side by side, differing lines marked. */
export function sideBySide(upstream: string, a: string[], b: string[]): string {
  const width = Math.max(upstream.length, ...a.map((line) => line.length));
  const rows = [`   ${upstream.padEnd(width)} | corio`];
  for (let i = 0; i < Math.max(a.length, b.length); i++) rows.push(`${a[i] === b[i] ? "  " : "!!"} ${(a[i] ?? "").padEnd(width)} | ${b[i] ?? ""}`);
  return rows.join("\n");
}
