/**
 * The program each pool worker runs, as source text (`new Worker(source,
 * { eval: true })`): it needs no file next to the built package, so it works
 * the same from `src/` under tsx and from `dist/`.
 *
 * The worker reads batches of records (see `_protocol.ts`), runs each job
 * with a `ThreadContext` as `this`, and sends results back in batches: after
 * every batch, after every `SLICE_MS` (4 ms) of synchronous jobs, and when
 * async jobs settle. After such a slice it yields to its event loop before
 * the next job, so that replies to `callFromThread` can arrive.
 *
 * Aborts do not wait for the event loop: the main thread posts the job id on
 * a dedicated port and bumps a shared counter, so `this.aborted` in a busy
 * synchronous loop costs one atomic read until something was aborted, and
 * then drains the port with `receiveMessageOnPort`.
 *
 * The same shared array tells the pool which job the worker began last (one
 * atomic compare-and-exchange per job): if the worker dies, the jobs after it
 * had not started and can run elsewhere; and while it is busy, the pool can
 * take back the jobs it has not begun for a worker that ran dry, which this
 * worker then skips (see `STARTED`).
 * @module
 */
import { ABORTS, CALL, CALL_RESULT, CRASHED, DEFINE, DONE, FAILED, RUN_EXPORT, RUN_FUNCTION, SEND_BARE, STARTED } from "./_protocol.ts";
import { deserializeError, isCloneable, serializeError } from "./_serialize-error.ts";
import { DETACHED, findTransferMarker, isDetached } from "./transfer.ts";

/**
 * How long (ms) a worker runs synchronous jobs before it sends their results
 * and turns its event loop once. Each batch of results wakes the main
 * thread, which on a machine with no spare core takes CPU from a worker: on
 * 2 cores, 1k jobs of 0.65 ms ran 5% faster with 4 ms than with 1 ms (median
 * of 12 interleaved runs each; 2 ms gained half of that).
 */
const SLICE_MS = 4;

export const WORKER_SOURCE = `"use strict";
const { workerData, receiveMessageOnPort } = require("node:worker_threads");
const { performance } = require("node:perf_hooks");
// Functions sent as source are compiled in the global scope: give them require().
globalThis.require = require;
// Under tsx (esbuild's keepNames), the source of a function calls __name() for each named function or class inside it.
globalThis.__name ??= (target, value) => Object.defineProperty(target, "name", { value, configurable: true });
const isCloneable = ${isCloneable.toString()};
const serializeError = ${serializeError.toString()};
const deserializeError = ${deserializeError.toString()};
const isDetached = ${isDetached.toString()};
const findTransferMarker = ${findTransferMarker.toString()};
const functions = new Map();
const modules = new Map();
/** Async jobs not settled yet, by id. */
const running = new Map();
/** The synchronous job running now. */
let current = null;
/** Aborts of jobs not started yet (queued behind a long job). */
const aborted = new Set();
/** The id of the job begun last; ids grow in the order jobs begin. */
let lastStarted = 0;
/** The pool's channel (see _protocol.ts): parentPort is left to the jobs' own code, whose messages there the pool does not read. */
const port = workerData.port;
delete workerData.port;
const abortPort = workerData.abortPort;
const shared = new Int32Array(workerData.shared);
let abortsSeen = 0;
const pendingCalls = new Map();
let nextCallId = 1;
let outbox = [];
let transfers = [];
/** What each result of the outbox moves (null: none does), for a batch that must go record by record. */
let transfersOf = null;
let flushQueued = false;
/** Where in \`outbox\` the DONE record pushed last starts, and where it ends (-1: none since the last flush). */
let doneAt = 0;
let doneEnd = -1;
// A then on a settled promise: Node's queueMicrotask builds an AsyncResource and a bound function per call.
const settled = Promise.resolve();
const backlog = [];

function applyAbort(jobId) {
  abortsSeen++;
  if (current !== null && current.jobId === jobId) current.abort();
  else if (running.has(jobId)) running.get(jobId).abort();
  // A job begun before the last one has ended: the abort came too late.
  else if (jobId > lastStarted) aborted.add(jobId);
}
function pollAborts() {
  if (Atomics.load(shared, ${ABORTS}) <= abortsSeen) return;
  let entry;
  while ((entry = receiveMessageOnPort(abortPort)) !== undefined) applyAbort(entry.message);
}
abortPort.on("message", applyAbort);

// As transferMarker in transfer.ts: a marker nested in a result makes postMessage throw, instead of arriving as this wrapper.
function transferMarker() {
  throw new TypeError("a this.transfer() marker is not a value: return it as the job's whole result");
}
class Transfer {
  constructor(value, list) { this.value = value; this.list = list; this.cannotBeCopied = transferMarker; }
}
function transferList(value) {
  if (value instanceof ArrayBuffer) return [value];
  if (ArrayBuffer.isView(value)) return [value.buffer];
  return [value];
}
// A view that is only part of its buffer is copied, as transfer() does (see ownedView in transfer.ts).
function ownedView(view) {
  const buffer = view.buffer;
  if (!(buffer instanceof ArrayBuffer) || (view.byteOffset === 0 && view.byteLength === buffer.byteLength)) return view;
  const bytes = buffer.slice(view.byteOffset, view.byteOffset + view.byteLength);
  if (view instanceof DataView) return new DataView(bytes);
  return new (Buffer.isBuffer(view) ? Uint8Array : view.constructor)(bytes);
}
class ThreadContext {
  constructor(jobId) { this.jobId = jobId; this.controller = undefined; this.isAborted = false; }
  get aborted() {
    pollAborts();
    return this.isAborted;
  }
  get signal() {
    pollAborts();
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.isAborted) this.controller.abort(new Error("the job was cancelled"));
    }
    return this.controller.signal;
  }
  abort() {
    this.isAborted = true;
    if (this.controller !== undefined) this.controller.abort(new Error("the job was cancelled"));
  }
  callFromThread(name, ...args) { return callMain(this.jobId, name, args); }
  transfer(value, list) {
    if (list !== undefined) return new Transfer(value, list);
    const moved = ArrayBuffer.isView(value) ? ownedView(value) : value;
    return new Transfer(moved, transferList(moved));
  }
}
function callMain(jobId, name, args) {
  const callId = nextCallId++;
  return new Promise((resolve, reject) => {
    pendingCalls.set(callId, { resolve, reject });
    outbox.push(${CALL}, callId, jobId, name, args);
    flushSoon();
  });
}
globalThis[Symbol.for("corio.thread")] = {
  callFromThread(name, ...args) { return callMain(0, name, args); },
  // For corio's tests, which make the port fail as Node would.
  port,
};

function finish(jobId, value) {
  if (value instanceof Transfer) {
    // Node would drop the whole batch of results without a word.
    if (value.list.some(isDetached)) {
      fail(jobId, new TypeError("Cannot return the job's result: ${DETACHED.replace("transfer()", "this.transfer()")}"));
      return;
    }
    for (const item of value.list) transfers.push(item);
    (transfersOf ??= new Map()).set(jobId, value.list);
    value = value.value;
  }
  // The result after the last one pushed, with nothing between: it joins that record (see DONE in _protocol.ts).
  if (doneEnd === outbox.length && jobId === outbox[doneAt + 1] + outbox[doneAt + 2]) {
    outbox[doneAt + 2]++;
  } else {
    doneAt = outbox.length;
    outbox.push(${DONE}, jobId, 1);
  }
  outbox.push(value);
  doneEnd = outbox.length;
}
function fail(jobId, error) {
  outbox.push(${FAILED}, jobId, serializeError(error));
}
function flush() {
  flushQueued = false;
  if (outbox.length === 0) return;
  const batch = outbox;
  const list = transfers;
  const lists = transfersOf;
  outbox = [];
  transfers = [];
  transfersOf = null;
  doneEnd = -1;
  // The result of the only job still open here goes alone, not in a record: the pool knows which job it answers (see bare messages in _protocol.ts).
  const message = ${SEND_BARE} && batch.length === 4 && batch[0] === ${DONE} && running.size === 0 && !Array.isArray(batch[3]) ? batch[3] : batch;
  try {
    port.postMessage(message, list);
  } catch {
    postOneByOne(batch, lists);
  }
}
function flushSoon() {
  if (!flushQueued) {
    flushQueued = true;
    settled.then(flush);
  }
}
/**
 * A batch that would not clone: send record by record (a result per record, with what it moves:
 * a MessagePort not listed could not be sent at all), failing the ones at fault.
 */
function postOneByOne(batch, lists) {
  const records = [];
  for (let i = 0; i < batch.length; ) {
    const tag = batch[i];
    if (tag === ${DONE}) {
      for (let k = 0; k < batch[i + 2]; k++) records.push([${DONE}, batch[i + 1] + k, 1, batch[i + 3 + k]]);
      i += 3 + batch[i + 2];
    } else {
      const size = tag === ${CALL} ? 5 : 3;
      records.push(batch.slice(i, i + size));
      i += size;
    }
  }
  for (const record of records) {
    try {
      port.postMessage(record, (record[0] === ${DONE} && lists !== null && lists.get(record[1])) || []);
    } catch (error) {
      const message = nestedTransfer(record) ?? "the value cannot be copied to the main thread: " + error.message;
      if (record[0] === ${CALL}) {
        const call = pendingCalls.get(record[1]);
        pendingCalls.delete(record[1]);
        call.reject(new TypeError("callFromThread: " + message));
      } else {
        port.postMessage([${FAILED}, record[1], serializeError(new TypeError("Cannot return the job's result: " + message))]);
      }
    }
  }
}
/** Why \`record\` (a result, or a callFromThread's arguments) would not clone, if a transfer marker inside it is the cause. */
function nestedTransfer(record) {
  let at;
  try {
    at = record[0] === ${DONE} ? findTransferMarker(record[3], "result") : findTransferMarker(record[4], "args");
  } catch {
    return undefined;
  }
  if (at === undefined) return undefined;
  if (record[0] !== ${DONE}) return "this.transfer() does not apply to callFromThread's arguments, and " + at + " is one: they are copied, pass the value itself";
  // The worker unwraps this.transfer() of the whole result: one there now is corio's main-thread transfer() (imported by the job's module), or a marker in a marker.
  if (at === "result") return "the result is a transfer() marker of the main thread's kind; a job moves its result with this.transfer(value)";
  return "this.transfer() marks the whole result only, and " + at + " is one inside it (nothing was moved). Return it as the result, or mark the whole result and list what to move: this.transfer({ data: bytes }, [bytes.buffer])";
}
function settle(jobId, context, result, explain = (error) => error) {
  if (result !== null && (typeof result === "object" || typeof result === "function") && typeof result.then === "function") {
    running.set(jobId, context);
    result.then(
      (value) => { running.delete(jobId); finish(jobId, value); flushSoon(); },
      (error) => { running.delete(jobId); fail(jobId, explain(error)); flushSoon(); },
    );
  } else {
    finish(jobId, result);
  }
}
/** The last id this worker claimed, or that the pool stored when it took jobs back (an Int32 value). */
let claimed = 0;
/**
 * Whether this worker runs the job \`id\` (an Int32 value): it claims it in the shared array,
 * unless the pool took it back for another worker (then it stored an id at least as new).
 */
function claim(id) {
  for (;;) {
    // At or before the id the pool stored: taken back (the ids of one worker grow).
    if (((id - claimed) | 0) <= 0) return false;
    const seen = Atomics.compareExchange(shared, ${STARTED}, claimed, id);
    if (seen === claimed) {
      claimed = id;
      return true;
    }
    claimed = seen;
  }
}
/**
 * Claims the job and marks it begun (the pool reads that if this worker dies); false if it
 * was cancelled before (answered as such) or taken back by the pool (not answered: it runs elsewhere).
 */
function begin(jobId) {
  pollAborts();
  if (!claim(jobId | 0)) {
    aborted.delete(jobId);
    return false;
  }
  let cancelled = false;
  if (aborted.size > 0) {
    cancelled = aborted.delete(jobId);
    // Ids grow in the order jobs begin: an abort for a smaller id was for a job that never came (it could not be sent).
    for (const id of aborted) if (id < jobId) aborted.delete(id);
  }
  lastStarted = jobId;
  if (cancelled) {
    fail(jobId, new Error("the job was cancelled before it started"));
    // Sent now, not after the batch: a long job next in it would hold the answer, and the pool would take the dropped job for stuck.
    flush();
  }
  return !cancelled;
}
/** Runs function \`fnId\` on the \`argc\` arguments at \`batch[start]\` (a record holds them inline). */
function runFunction(jobId, fnId, batch, start, argc) {
  if (!begin(jobId)) return;
  const fn = functions.get(fnId);
  const context = new ThreadContext(jobId);
  current = context;
  let result;
  try {
    result =
      argc === 0 ? fn.call(context)
      : argc === 1 ? fn.call(context, batch[start])
      : argc === 2 ? fn.call(context, batch[start], batch[start + 1])
      : fn.apply(context, batch.slice(start, start + argc));
  } catch (error) {
    current = null;
    fail(jobId, explainSourceScope(error));
    return;
  }
  current = null;
  settle(jobId, context, result, explainSourceScope);
}
/** A ReferenceError in a function sent as source: say why, and what to do instead. */
function explainSourceScope(error) {
  if (error instanceof ReferenceError && !error.message.includes("sent as source")) {
    error.message += " (a function run in a thread is sent as source text and compiled in the worker, so it cannot use variables, functions or imports from where it was written: pass what it needs as arguments, import modules inside it with await import(), or export it from a module and run it with pool.run(moduleUrl, exportName, ...args))";
    if (typeof error.stack === "string") error.stack = error.name + ": " + error.message + error.stack.slice(error.stack.indexOf("\\n"));
  }
  return error;
}
/** Under tsx, workers do not inherit its loader: register it here before the first TypeScript module. */
let typescriptReady = null;
function loadModule(url) {
  let loading = modules.get(url);
  if (loading === undefined) {
    if (workerData.tsxApi !== null && /.[mc]?tsx?$/.test(url)) {
      typescriptReady ??= import(workerData.tsxApi).then((api) => api.register());
      loading = typescriptReady.then(() => import(url));
    } else {
      loading = import(url);
    }
    modules.set(url, loading);
    // A module that failed to load is tried again by the next job (as import() does: one not found may be there by then).
    loading.catch(() => {
      if (modules.get(url) === loading) modules.delete(url);
    });
  }
  return loading;
}
function runExport(jobId, url, name, args) {
  // Begun now, before its module loads: a module that kills the worker must not be sent to the next one.
  if (!begin(jobId)) return;
  const context = new ThreadContext(jobId);
  const result = loadModule(url).then((module) => {
    const fn = module[name];
    if (typeof fn !== "function") throw new TypeError("Cannot run " + name + " from " + url + ": it exports no function of that name");
    current = context;
    try {
      return fn.apply(context, args);
    } finally {
      current = null;
    }
  });
  settle(jobId, context, result);
}
function compile(fnId, source) {
  let fn;
  try {
    fn = (0, eval)("(" + source + ")");
  } catch (error) {
    try {
      // A method written in shorthand ("name(a) { ... }") is not an expression on its own.
      fn = (0, eval)("({" + source + "})")[source.slice(0, source.indexOf("(")).replace(/^async\\s+|\\*/g, "").trim()];
    } catch {
      fn = undefined;
    }
    if (typeof fn !== "function") {
      const message = "Cannot compile the function for the thread: " + error.message;
      fn = () => { throw new SyntaxError(message); };
    }
  }
  functions.set(fnId, fn);
}
/** Runs records from \`start\`; returns false if it stopped after a slice of work (the rest is in the backlog). */
function handle(batch, start) {
  let last = performance.now();
  for (let i = start; i < batch.length; ) {
    const tag = batch[i];
    if (tag === ${RUN_FUNCTION}) {
      const jobId = batch[i + 1];
      const fnId = batch[i + 2];
      const argc = batch[i + 3];
      const count = batch[i + 4];
      runFunction(jobId, fnId, batch, i + 5, argc);
      if (count === 1) i += 5 + argc;
      else {
        // The jobs after it are a record of their own, written over this job's header and arguments.
        i += argc;
        batch[i] = ${RUN_FUNCTION};
        batch[i + 1] = jobId + 1;
        batch[i + 2] = fnId;
        batch[i + 3] = argc;
        batch[i + 4] = count - 1;
      }
    } else if (tag === ${RUN_EXPORT}) {
      const argc = batch[i + 4];
      runExport(batch[i + 1], batch[i + 2], batch[i + 3], batch.slice(i + 5, i + 5 + argc));
      i += 5 + argc;
    } else {
      i = handleControl(batch, i, tag);
      continue;
    }
    const now = performance.now();
    if (now - last > ${SLICE_MS}) {
      // A slice of work done: send its results now, and let replies in before the next job.
      flush();
      if (i < batch.length) {
        backlog.unshift([batch, i]);
        setImmediate(drain);
        return false;
      }
      last = now;
    }
  }
  return true;
}
/** Handles a record that is not a job (a function definition, a callFromThread answer); returns the next record's index. */
function handleControl(batch, i, tag) {
  if (tag === ${DEFINE}) {
    compile(batch[i + 1], batch[i + 2]);
    return i + 3;
  }
  if (tag === ${CALL_RESULT}) {
    const call = pendingCalls.get(batch[i + 1]);
    pendingCalls.delete(batch[i + 1]);
    if (call !== undefined) {
      if (batch[i + 2]) call.resolve(batch[i + 3]);
      else call.reject(deserializeError(batch[i + 3]));
    }
    return i + 4;
  }
  throw new Error("corio thread: unknown record " + tag);
}
function drain() {
  while (backlog.length > 0) {
    const [batch, start] = backlog.shift();
    if (!handle(batch, start)) return;
  }
  flush();
}
// An error thrown outside any job still ends the worker (the jobs running may be broken), but the pool
// hears it after the results sent before it: Node's own 'error' event may overtake them.
process.on("uncaughtException", (error) => {
  outbox.push(${CRASHED}, 0, serializeError(error));
  flush();
  process.exit(1);
});
// A message from the pool that could not be read held jobs, or was a bare job whose id comes from the
// one before: the worker cannot go on. Thrown, it ends the worker as any uncaught error does (CRASHED).
port.on("messageerror", (error) => {
  throw new Error("a message from the pool could not be read (" + error.message + ")", { cause: error });
});
/** The id and function of the lone job of the last message (-1: none): a bare message is the next job (see bare messages in _protocol.ts). */
let lastJobId = 0;
let lastFnId = -1;
port.on("message", (message) => {
  let batch;
  if (Array.isArray(message)) {
    batch = message;
    // As the pool notes what it sends (noteSent in _batches.ts).
    const lone = batch[0] === ${RUN_FUNCTION} && batch[4] === 1 && batch.length === 5 + batch[3];
    lastJobId = lone ? batch[1] : 0;
    lastFnId = lone ? batch[2] : -1;
  } else batch = [${RUN_FUNCTION}, ++lastJobId, lastFnId, 1, 1, message];
  if (backlog.length > 0) {
    // Replies go first; jobs wait behind the ones already queued.
    const jobs = [];
    for (let i = 0; i < batch.length; ) {
      const tag = batch[i];
      // As toWorkerRecordSize in _protocol.ts.
      const size = tag === ${RUN_FUNCTION} ? 5 + batch[i + 3] * batch[i + 4] : tag === ${RUN_EXPORT} ? 5 + batch[i + 4] : tag === ${DEFINE} ? 3 : 4;
      if (tag === ${CALL_RESULT}) handle(batch.slice(i, i + size), 0);
      else for (let j = i; j < i + size; j++) jobs.push(batch[j]);
      i += size;
    }
    if (jobs.length > 0) backlog.push([jobs, 0]);
    flush();
    return;
  }
  if (handle(batch, 0)) flush();
});
`;
