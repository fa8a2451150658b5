/**
 * The `no-floating-operation` rule: an operation that is created and never
 * run does nothing (`sleep(200);` without `yield*`), the analogue of
 * typescript-eslint's `no-floating-promises`. Type-aware: it needs
 * typescript-eslint's parser with type information.
 * @module
 */
import type { Rule } from "eslint";
import type * as ESTree from "estree";
import type * as ts from "typescript";

/** The parser services typescript-eslint's parser gives a type-aware rule. */
interface ParserServices {
  program: ts.Program | null;
  esTreeNodeToTSNodeMap: { get(node: ESTree.Node): ts.Node };
}

const MAX_TEXT = 40;

/** Whether `type` is a corio operation (or any generator object) that is not also a promise (a `Task` is). */
function isOperation(checker: ts.TypeChecker, type: ts.Type): boolean {
  if (type.isUnion()) {
    const parts = type.types.filter((part) => (part.flags & (32768 /* Undefined */ | 65536)) /* Null */ === 0);
    return parts.length > 0 && parts.every((part) => isOperation(checker, part));
  }
  if (checker.getPropertyOfType(type, "then") !== undefined) return false;
  const symbol = type.aliasSymbol ?? type.getSymbol();
  if (symbol === undefined) return false;
  const name = symbol.getName();
  if (name === "Generator") return true;
  if (name !== "Operation") return false;
  return (symbol.getDeclarations() ?? []).some((declaration) => /core[\\/]operation\.(d\.)?[cm]?[tj]s$/.test(declaration.getSourceFile().fileName));
}

function textOf(source: Rule.RuleContext["sourceCode"], node: ESTree.Node): string {
  const text = source.getText(node).replace(/\s+/g, " ");
  return text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT - 1)}…` : text;
}

/**
 * The rule: reports an expression statement that only creates an operation,
 * `await` on an operation, and `yield` (without `*`) of one.
 */
export const noFloatingOperation: Rule.RuleModule = {
  meta: {
    type: "problem",
    docs: {
      description: "Require every corio operation that is created to be run: yield*-ed, returned, assigned or passed on",
      recommended: true,
    },
    messages: {
      floating:
        "`{{text}}` creates an operation and never runs it, so it does nothing. Write `yield* {{text}}` inside an operation, or pass it to run() or spawn() (prefix `void` to discard it on purpose).",
      awaited:
        "`await` on an operation returns at once and runs nothing. Write `yield* {{text}}` inside an operation, or `await run(function* () { yield* {{text}}; })` from async code.",
      yieldWithoutStar: "`yield {{text}}` hands the operation to the runtime instead of running it. Write `yield* {{text}}` (with the star).",
    },
    schema: [],
  },
  create(context) {
    const services = context.sourceCode.parserServices as Partial<ParserServices> | undefined;
    const program = services?.program;
    if (program === undefined || program === null || services?.esTreeNodeToTSNodeMap === undefined) {
      throw new Error("corio/no-floating-operation needs type information: use typescript-eslint's parser with parserOptions.projectService (or project) set");
    }
    const checker = program.getTypeChecker();
    const map = services.esTreeNodeToTSNodeMap;
    const operation = (node: ESTree.Node): boolean => isOperation(checker, checker.getTypeAtLocation(map.get(node)));

    /** The sub-expressions whose value is dropped by a statement made of `node`. */
    const dropped = (node: ESTree.Expression): ESTree.Expression[] => {
      switch (node.type) {
        case "ConditionalExpression":
          return [...dropped(node.consequent), ...dropped(node.alternate)];
        case "LogicalExpression":
          return dropped(node.right);
        case "SequenceExpression":
          return node.expressions.flatMap(dropped);
        case "ChainExpression":
          return [node.expression];
        case "UnaryExpression":
          // `void op` discards on purpose.
          return node.operator === "void" ? [] : [node];
        default:
          return [node];
      }
    };

    return {
      ExpressionStatement(node) {
        for (const expression of dropped(node.expression)) {
          if (expression.type === "AwaitExpression" || expression.type === "YieldExpression" || expression.type === "AssignmentExpression") continue;
          if (operation(expression)) context.report({ node: expression, messageId: "floating", data: { text: textOf(context.sourceCode, expression) } });
        }
      },
      AwaitExpression(node) {
        if (operation(node.argument)) context.report({ node, messageId: "awaited", data: { text: textOf(context.sourceCode, node.argument) } });
      },
      YieldExpression(node) {
        if (!node.delegate && node.argument != null && operation(node.argument)) {
          context.report({ node, messageId: "yieldWithoutStar", data: { text: textOf(context.sourceCode, node.argument) } });
        }
      },
    };
  },
};
