// Property tests of random task trees (issue 11): depth <= 4, fan-out <= 4,
// with sleeps, failures in bodies and in cleanup, cleanup that suspends,
// cancels from outside at random times, and timeout/shield/scope wrappers,
// all on the virtual clock. Whatever the tree, structure must hold:
// - every `finally` of a body that started runs exactly once;
// - nothing runs after the root has settled;
// - the root's outcome is the earliest error (or a TaskGroupError holding
//   it), never a bare CancelledError when an error happened;
// - runVirtual settles (a hang fails the test by its timeout).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { CancelledError, currentTask, type Operation, scope, shield, sleep, spawn, type Task, TaskGroupError, TimeoutError, timeout } from "../../src/index.ts";
import { runVirtual } from "../../src/testing/index.ts";
import { checkLeaks } from "../_helpers.ts";

checkLeaks();

type Wrap = "none" | "timeout" | "shield" | "scope";

interface TreeNode {
  sleep: number;
  fail: boolean;
  failInFinally: boolean;
  cleanupSleep: number;
  wrap: Wrap;
  limit: number;
  cancelAt: number | null;
  children: TreeNode[];
}

function nodeArbitrary(depth: number): fc.Arbitrary<TreeNode> {
  return fc.record({
    sleep: fc.integer({ min: 0, max: 20 }),
    fail: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
    failInFinally: fc.integer({ min: 0, max: 14 }).map((n) => n === 0),
    cleanupSleep: fc.constantFrom(0, 0, 1, 5),
    wrap: fc.constantFrom<Wrap>("none", "none", "none", "timeout", "shield", "scope"),
    limit: fc.integer({ min: 0, max: 30 }),
    cancelAt: fc.option(fc.integer({ min: 0, max: 30 }), { freq: 4 }),
    children: depth === 0 ? fc.constant([]) : fc.array(nodeArbitrary(depth - 1), { maxLength: 4 }),
  });
}

/** What one run of a tree did. */
class Trace {
  readonly started = new Set<string>();
  readonly finallies = new Map<string, number>();
  /** Every error thrown, in the order thrown. */
  readonly errors: unknown[] = [];
  readonly tasks = new Map<string, Task<unknown>>();
  settled = false;
  afterSettle: string[] = [];

  step(what: string): void {
    if (this.settled) this.afterSettle.push(what);
  }
}

function* wrapped(node: TreeNode, id: string, trace: Trace): Operation<void> {
  const body = (): Operation<void> => runNode(node, id, trace);
  switch (node.wrap) {
    case "none":
      return yield* body();
    case "shield":
      return yield* shield(body);
    case "scope":
      return yield* scope(body);
    case "timeout":
      try {
        return yield* timeout(node.limit, body);
      } catch (error) {
        if (error instanceof TimeoutError) trace.errors.push(error);
        throw error;
      }
  }
}

function* runNode(node: TreeNode, id: string, trace: Trace): Operation<void> {
  trace.started.add(id);
  trace.step(`start ${id}`);
  let bodyError: unknown;
  try {
    for (const [index, child] of node.children.entries()) {
      const childId = `${id}.${index}`;
      trace.tasks.set(childId, yield* spawn(() => wrapped(child, childId, trace), { name: childId }));
    }
    yield* sleep(node.sleep);
    trace.step(`body ${id}`);
    if (node.fail) {
      const error = new Error(`${id} failed`);
      trace.errors.push(error);
      throw error;
    }
  } catch (error) {
    bodyError = error;
    throw error;
  } finally {
    trace.finallies.set(id, (trace.finallies.get(id) ?? 0) + 1);
    if (node.cleanupSleep > 0) {
      try {
        yield* sleep(node.cleanupSleep);
      } catch (error) {
        // A cancel (a sibling failed) interrupted this cleanup: as with any throw in a finally, the
        // cancellation replaces the error that was on its way out (use shield for cleanup that must finish).
        const replaced = trace.errors.indexOf(bodyError);
        if (replaced >= 0) trace.errors.splice(replaced, 1);
        // biome-ignore lint/correctness/noUnsafeFinally: the cancellation goes on, as it would without the catch
        throw error;
      }
    }
    trace.step(`finally ${id}`);
    if (node.failInFinally) {
      // As in any JavaScript (or Python) function, an error thrown by a finally replaces the one
      // on its way out: it takes that error's place in the order of errors.
      const error = new Error(`${id} cleanup failed`, { cause: bodyError });
      const replaced = trace.errors.indexOf(bodyError);
      if (replaced >= 0) trace.errors[replaced] = error;
      else trace.errors.push(error);
      // biome-ignore lint/correctness/noUnsafeFinally: a cleanup that fails is what is being tested
      throw error;
    }
  }
}

/** All the cancels from outside, in the tree. */
function cancels(node: TreeNode, id: string, list: { id: string; at: number }[] = []): { id: string; at: number }[] {
  if (node.cancelAt !== null) list.push({ id, at: node.cancelAt });
  for (const [index, child] of node.children.entries()) cancels(child, `${id}.${index}`, list);
  return list;
}

/** True if `error` is `wanted` or a TaskGroupError that holds it, at any depth. */
function holds(error: unknown, wanted: unknown): boolean {
  if (error === wanted) return true;
  return error instanceof TaskGroupError && error.errors.some((inner) => holds(inner, wanted));
}

async function runTree(tree: TreeNode): Promise<{ trace: Trace; outcome: { value?: unknown; error?: unknown } }> {
  const trace = new Trace();
  const outside = cancels(tree, "0");
  const run = runVirtual(function* root() {
    trace.tasks.set("0", currentTask());
    for (const cancel of outside) {
      yield* spawn(
        function* canceller() {
          yield* sleep(cancel.at);
          trace.tasks.get(cancel.id)?.cancel("from outside");
        },
        { daemon: true },
      );
    }
    yield* wrapped(tree, "0", trace);
    return "ok";
  });
  const outcome = await run.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  trace.settled = true;
  return { trace, outcome };
}

describe("random task trees", () => {
  it("keep the structured rules whatever fails, sleeps or is cancelled, and when", async () => {
    await fc.assert(
      fc.asyncProperty(nodeArbitrary(3), async (tree) => {
        const { trace, outcome } = await runTree(tree);
        for (const id of trace.started) assert.equal(trace.finallies.get(id), 1, `finally of ${id} ran ${trace.finallies.get(id) ?? 0} times`);
        for (const id of trace.finallies.keys()) assert.ok(trace.started.has(id), `finally of ${id} ran without its body`);
        assert.deepEqual(trace.afterSettle, []);
        const earliest = trace.errors[0];
        if (earliest !== undefined) {
          assert.ok(!(outcome.error instanceof CancelledError), `a bare CancelledError hid ${String(earliest)}`);
          assert.ok(holds(outcome.error, earliest), `the root ended with ${String(outcome.error)}, not the earliest error ${String(earliest)}`);
        } else if (outcome.error !== undefined) {
          assert.ok(outcome.error instanceof CancelledError, `unexpected outcome ${String(outcome.error)}`);
          assert.ok(tree.cancelAt !== null, "the root ended cancelled, but nobody cancelled it");
        } else {
          assert.equal(outcome.value, "ok");
        }
      }),
      { seed: 11, numRuns: 300 },
    );
  });
});
