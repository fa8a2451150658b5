// A base class (one another class in src/ extends) must not define instance
// fields or `#private` members: V8 (Node 20–24) does not inline such a base
// constructor into `super()`, which cost every spawn, wait and timeout 17–27 ns
// (docs/performance.md, "Base classes"). Its fields are `declare`d and set in
// the constructor instead. The bases listed in COLD are built once per
// primitive, connection or failure, where the cost does not show.
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { describe, it } from "node:test";
import ts from "typescript";

const root = resolve(import.meta.dirname, "..");

const COLD = new Map<string, string>([
  ["Queue", "one per queue (LifoQueue, PriorityQueue)"],
  ["Future", "HandOffFuture: one per wait(), per load shared by a cache, per asCompleted result waited for (each beside a task)"],
  ["Semaphore", "one per semaphore (BoundedSemaphore)"],
  ["PromisedRead", "one per each() over a promise-based source"],
  ["GenericFileDescriptor", "compat: one per open file"],
  ["Protocol", "compat: one per connection, subclassed by users"],
  ["Factory", "compat: one per server"],
  ["ListeningPort", "compat: one per listening port"],
  ["Deferred", "compat: one per Deferred, a callback chain (DeferredList extends it)"],
  ["ConnectionClosed", "an error"],
  ["ConnectionLost", "an error"],
  ["ConnectError", "an error"],
  ["UserError", "an error"],
  ["BrokenResourceError", "an error"],
]);

interface ClassInfo {
  readonly file: string;
  /** Instance fields written as class fields, and `#private` instance members. */
  readonly slowMembers: string[];
}

/** Every class of `sources` (path → text), and the names of the classes extended among them. */
function scan(sources: Map<string, string>): { classes: Map<string, ClassInfo>; bases: Set<string> } {
  const classes = new Map<string, ClassInfo>();
  const bases = new Set<string>();
  for (const [file, text] of sources) {
    const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
    const visit = (node: ts.Node): void => {
      if (ts.isClassDeclaration(node) && node.name !== undefined) {
        const heritage = node.heritageClauses?.find((clause) => clause.token === ts.SyntaxKind.ExtendsKeyword);
        if (heritage !== undefined) bases.add((heritage.types[0] as ts.ExpressionWithTypeArguments).expression.getText(source));
        const slowMembers: string[] = [];
        for (const member of node.members) {
          const modifiers = ts.canHaveModifiers(member) ? (ts.getModifiers(member) ?? []) : [];
          if (modifiers.some((m) => m.kind === ts.SyntaxKind.StaticKeyword)) continue;
          const declared = modifiers.some((m) => m.kind === ts.SyntaxKind.DeclareKeyword);
          if (ts.isPropertyDeclaration(member) && !declared) slowMembers.push(member.name.getText(source));
          else if ((ts.isMethodDeclaration(member) || ts.isAccessor(member)) && ts.isPrivateIdentifier(member.name)) {
            slowMembers.push(`${member.name.getText(source)}()`);
          }
        }
        classes.set(node.name.text, { file, slowMembers });
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return { classes, bases };
}

/** The base classes with slow members, as `Name (file): members`. */
function slowBases(sources: Map<string, string>, allowed: ReadonlyMap<string, string>): string[] {
  const { classes, bases } = scan(sources);
  const found: string[] = [];
  for (const base of bases) {
    const info = classes.get(base);
    if (info === undefined || info.slowMembers.length === 0 || allowed.has(base)) continue;
    found.push(`${base} (${info.file}): ${info.slowMembers.join(", ")}`);
  }
  return found.sort();
}

function sourcesUnder(dir: string): Map<string, string> {
  const sources = new Map<string, string>();
  const walk = (path: string): void => {
    for (const entry of readdirSync(path)) {
      const child = join(path, entry);
      if (statSync(child).isDirectory()) walk(child);
      else if (child.endsWith(".ts") && !child.endsWith(".d.ts")) sources.set(relative(root, child), readFileSync(child, "utf8"));
    }
  };
  walk(dir);
  return sources;
}

describe("base classes", () => {
  it("no base class in src/ defines instance fields or #private members (but the cold ones listed)", () => {
    assert.deepEqual(slowBases(sourcesUnder(join(root, "src")), COLD), []);
  });

  it("every class listed as cold is still a base class with such members", () => {
    const { classes, bases } = scan(sourcesUnder(join(root, "src")));
    const stale = [...COLD.keys()].filter((name) => !bases.has(name) || (classes.get(name)?.slowMembers.length ?? 0) === 0);
    assert.deepEqual(stale, []);
  });

  it("finds fields, #private members and accessors, and accepts declared fields and statics", () => {
    const text = `
      class Slow { a = 1; b; #c = 2; #m() {} get #g() { return 1; } static s = 1; }
      class Fast { declare a: number; private declare b: number; static #t = 1; constructor() { this.a = 1; this.b = 2; } }
      class Leaf { x = 1; #y = 2; }
      class A extends Slow {}
      class B extends Fast {}
    `;
    assert.deepEqual(slowBases(new Map([["fixture.ts", text]]), new Map()), ["Slow (fixture.ts): a, b, #c, #m(), #g()"]);
    assert.deepEqual(slowBases(new Map([["fixture.ts", text]]), new Map([["Slow", "allowed"]])), []);
  });
});
