/**
 * The `no-generator-in-loop` rule: a `function* () {…}` written where it is
 * evaluated again and again (in a loop, or in the callback of `map`,
 * `forEach`, `filter`, `reduce` and the other per-item array methods,
 * `Array.from`/`Array.fromAsync`, or a `sort` comparator) is a new generator function each time, and in V8 the first
 * call of each new generator function builds a map for it: 1.5–3 µs,
 * against about 0.1 µs for a function declared once. Syntactic: it needs no
 * type information, and uses it when the parser gives it (a `map` that is
 * not an array's, such as an option type's, is then left alone).
 * @module
 */
import type { Rule } from "eslint";
import type * as ESTree from "estree";
import type * as ts from "typescript";

/** Array methods whose callback runs once per item. */
const PER_ITEM = new Set([
  "map",
  "flatMap",
  "forEach",
  "filter",
  "reduce",
  "reduceRight",
  "some",
  "every",
  "find",
  "findIndex",
  "findLast",
  "findLastIndex",
  "from",
  "fromAsync",
  // A comparator runs once per comparison.
  "sort",
  "toSorted",
]);

/** The parser services typescript-eslint's parser gives when it has type information. */
interface ParserServices {
  program: ts.Program | null;
  esTreeNodeToTSNodeMap: { get(node: ESTree.Node): ts.Node };
}

/**
 * Whether `node` is the callback of an array method that runs it once per
 * item (`items.map(cb)`, `Array.from(xs, cb)`, `Array.fromAsync(xs, cb)`) or
 * comparison (`items.sort(cb)`). `standard` tells, when type
 * information is there, whether the method called is the standard
 * library's (an array's, a typed array's, a Set's, an iterator's):
 * `false` for a `map` of one's own, which may run its callback once.
 */
function isPerItemCallback(node: ESTree.Node, parent: ESTree.Node | undefined, standard: (property: ESTree.Node) => boolean): boolean {
  if (parent?.type !== "CallExpression" || parent.callee.type !== "MemberExpression") return false;
  const property = parent.callee.property;
  if (property.type !== "Identifier" || !PER_ITEM.has(property.name)) return false;
  // Array.from(items, mapper) and Array.fromAsync: the mapper is the second argument; the others take the callback first.
  const mapper = property.name === "from" || property.name === "fromAsync";
  if (mapper ? parent.arguments[1] !== node : parent.arguments[0] !== node) return false;
  return standard(property);
}

/**
 * Whether the function `node` is called where it is written, run once each
 * time the code around it runs: `(() => {…})()`, or through its own `call`
 * or `apply` (`(function () {…}).call(this)`).
 */
function isImmediatelyCalled(node: ESTree.Node, parent: ESTree.Node | undefined, grandparent: ESTree.Node | undefined): boolean {
  if (parent?.type === "CallExpression") return parent.callee === node;
  return (
    parent?.type === "MemberExpression" &&
    parent.object === node &&
    !parent.computed &&
    parent.property.type === "Identifier" &&
    (parent.property.name === "call" || parent.property.name === "apply") &&
    grandparent?.type === "CallExpression" &&
    grandparent.callee === parent
  );
}

/**
 * Where a generator function is evaluated repeatedly: the loop or per-item
 * callback around it, before any function boundary that would make it
 * evaluated once per call instead (an immediately called function is no
 * such boundary); `undefined` if none.
 */
function repeatedBy(generator: ESTree.Node, ancestors: ESTree.Node[], standard: (property: ESTree.Node) => boolean): string | undefined {
  // ancestors: outermost first; the last one is the generator's parent.
  for (let i = ancestors.length - 1; i >= 0; i--) {
    const node = ancestors[i] as ESTree.Node;
    // The child of `node` on the way down to the generator.
    const child = ancestors[i + 1] ?? generator;
    switch (node.type) {
      case "ForStatement":
        // Its init runs once; its test, update and body every round.
        if (child !== node.init) return "a loop";
        break;
      case "ForInStatement":
      case "ForOfStatement":
        // The collection is evaluated once; the body every round.
        if (child === node.body) return "a loop";
        break;
      case "WhileStatement":
      case "DoWhileStatement":
        return "a loop";
      case "ArrowFunctionExpression":
      case "FunctionExpression":
        if (isPerItemCallback(node, ancestors[i - 1], standard)) {
          const callee = (ancestors[i - 1] as ESTree.CallExpression).callee as ESTree.MemberExpression;
          return `a ${(callee.property as ESTree.Identifier).name}() callback`;
        }
        if (isImmediatelyCalled(node, ancestors[i - 1], ancestors[i - 2])) break;
        return undefined;
      case "FunctionDeclaration":
        return undefined;
      default:
        break;
    }
  }
  return undefined;
}

/**
 * The rule: reports a generator function (expression, declaration or
 * object method) that is created anew on every round of a loop or per-item
 * callback, including through a function called on the spot there
 * (`(() => {…})()`, `(function () {…}).call(this)`).
 *
 * @example
 * ```ts
 * import { Linter } from "eslint";
 * import { noGeneratorInLoop } from "corio/eslint-plugin";
 * const linter = new Linter({ configType: "flat" });
 * const messages = linter.verify("for (const id of ids) spawn(function* () { yield* get(id); });", {
 *   plugins: { corio: { rules: { "no-generator-in-loop": noGeneratorInLoop } } },
 *   rules: { "corio/no-generator-in-loop": "warn" },
 * });
 * console.assert(messages.length === 1);
 * ```
 */
export const noGeneratorInLoop: Rule.RuleModule = {
  meta: {
    type: "suggestion",
    docs: {
      description: "Declare generator functions once instead of in a loop: each new one costs microseconds on its first call in V8",
      recommended: false,
    },
    messages: {
      repeated:
        "This generator function is created anew on every round of {{where}}, and V8's first call of each new generator function costs 1.5–3 µs (one declared once: about 0.1 µs). Declare it once, outside, and pass what it needs as arguments: `spawn(work(item))`, `limitGather(items, n, work)`.",
    },
    schema: [],
  },
  create(context) {
    const services = context.sourceCode.parserServices as Partial<ParserServices> | undefined;
    const program = services?.program ?? undefined;
    const map = services?.esTreeNodeToTSNodeMap;
    const checker = map === undefined ? undefined : program?.getTypeChecker();
    /** Whether a per-item method name names the standard library's method; without type information, or for an `any`, assumed so (as before types were used). */
    const standard = (property: ESTree.Node): boolean => {
      if (program === undefined || checker === undefined || map === undefined) return true;
      const declarations = checker.getSymbolAtLocation(map.get(property))?.getDeclarations() ?? [];
      return declarations.length === 0 || declarations.some((declaration) => program.isSourceFileDefaultLibrary(declaration.getSourceFile()));
    };
    // A declaration in a loop body is evaluated every round too: `for (…) { function* work() {…} }` makes a new function each time.
    const check = (node: ESTree.FunctionExpression | ESTree.FunctionDeclaration): void => {
      if (!node.generator) return;
      const where = repeatedBy(node, context.sourceCode.getAncestors(node as ESTree.Node), standard);
      if (where !== undefined) context.report({ node, messageId: "repeated", data: { where } });
    };
    return { FunctionExpression: check, FunctionDeclaration: check };
  },
};
