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
  tsNodeToESTreeNodeMap?: { get(node: ts.Node): ESTree.Node | undefined };
}

const MAX_TEXT = 40;
/** Array methods that take items out or reorder them in place: a statement of one is made for that, not for its value. */
const EDITS_ARRAY = new Set(["pop", "shift", "splice", "sort", "reverse", "fill", "copyWithin"]);
/** Promise's combinators, each with corio's operation of the same meaning. */
const COMBINATORS = new Map([
  ["all", "all"],
  ["allSettled", "allSettled"],
  ["race", "race"],
  ["any", "any"],
]);
/**
 * The kinds of call argument that may be a function making an operation (a
 * reference to one, a `function*`, a call that returns one): literals,
 * object and array literals, `this`, `new`, `await`, unary and binary
 * expressions and the rest cannot, and spreads and arrows are judged
 * elsewhere, so checkCallbacks asks the type checker about none of them.
 */
const MAY_BE_FUNCTION = new Set([
  "Identifier",
  "MemberExpression",
  "ChainExpression",
  "CallExpression",
  "FunctionExpression",
  "ConditionalExpression",
  "LogicalExpression",
  "TSAsExpression",
  "TSSatisfiesExpression",
  "TSNonNullExpression",
  "TSTypeAssertion",
  // `forEach(yield* pick())`, `forEach(await pick())`: a value got from an operation or a promise.
  "YieldExpression",
  "AwaitExpression",
]);
/** What else may initialise a variable that holds a function (besides MAY_BE_FUNCTION's kinds). */
const MAYBE_INITIALISES_FUNCTION = new Set(["ArrowFunctionExpression", "SequenceExpression", "AssignmentExpression"]);
// ts.TypeFlags, by value: the rule imports only TypeScript's types (typescript is the parser's peer, not corio's).
const ANY = 1;
const VOID = 16384;
const UNDEFINED = 32768;
const NULL = 65536;
const NEVER = 131072;
// ts.SymbolFlags, by value: Variable (function- or block-scoped), Property, Function, Method, Alias (an import).
const VARIABLE = 3;
const PROPERTY = 4;
const FUNCTION = 16;
const METHOD = 8192;
const ALIAS = 2097152;

/** Whether `symbol` is declared in corio's `core/operation` module (its sources or its built `.d.ts`). */
function declaredByCorio(symbol: ts.Symbol | undefined): boolean {
  return (symbol?.getDeclarations() ?? []).some((declaration) => /core[\\/]operation\.(d\.)?[cm]?[tj]s$/.test(declaration.getSourceFile().fileName));
}

/** The interface or class a type is an instance of: `Operation` for `Operation<void>`, `Job` for `Job`. */
function declaredType(type: ts.Type): ts.InterfaceType | undefined {
  // ts.ObjectFlags.Class | Interface (3) and Reference (4), by value.
  const flags = (type as ts.ObjectType).objectFlags ?? 0;
  if ((flags & 4) !== 0) return (type as ts.TypeReference).target;
  return (flags & 3) !== 0 ? (type as ts.InterfaceType) : undefined;
}

/**
 * What the rule asks of the type checker, cached per type. An operation is
 * recognised by the type itself, not the name it is written with: an alias
 * (`type Op<T> = Operation<T>`) names corio's `Operation` all the same, and
 * an interface that extends it (`interface Job extends Operation<void>`) is
 * one. A class that implements `Operation` is not counted: such a class is
 * usually a handle on work that goes on without being run (Twisted's
 * `Deferred` fires its callbacks by itself; dropping the one `addCallback`
 * returns is how Twisted code reads).
 *
 * A generator object counts when what it yields fits corio's instructions:
 * `function* work() { yield* sleep(1); }` has the type
 * `Generator<Suspension | undefined, void>`, not `Operation<void>`, and
 * `work();` must still be flagged. A generator that yields values of its
 * own (`Generator<number>`, a generator of generators) is a plain lazy
 * sequence, not an operation.
 */
class OperationTypes {
  readonly #checker: ts.TypeChecker;
  readonly #program: ts.Program;
  readonly #operation = new Map<ts.Type, boolean>();
  readonly #interfaces = new Map<ts.InterfaceType, boolean>();
  constructor(program: ts.Program) {
    this.#program = program;
    this.#checker = program.getTypeChecker();
  }

  /** Whether `type` is a corio operation (or a generator object that yields corio's instructions) that is not also a promise (a `Task` is). */
  isOperation(type: ts.Type): boolean {
    let known = this.#operation.get(type);
    if (known === undefined) {
      // A recursive type comes back here through its own parts: not an operation until shown to be one.
      this.#operation.set(type, false);
      known = this.#compute(type);
      this.#operation.set(type, known);
    }
    return known;
  }

  #compute(type: ts.Type): boolean {
    if (type.isUnion()) {
      const parts = type.types.filter((part) => (part.flags & (UNDEFINED | NULL)) === 0);
      return parts.length > 0 && parts.every((part) => this.isOperation(part));
    }
    if (this.#checker.getPropertyOfType(type, "then") !== undefined) return false;
    if (type.isIntersection()) return type.types.some((part) => this.isOperation(part));
    if (this.#isGenerator(type)) {
      // Generator<T, TReturn, TNext>: T is what it yields. `any` keeps untyped code flagged as before;
      // never, undefined and void are what a generator that never suspends, or ends a round with a bare `yield`, yields.
      const yielded = this.#checker.getTypeArguments(type as ts.TypeReference)[0];
      if (yielded === undefined) return false;
      return (yielded.isUnion() ? yielded.types : [yielded]).every(
        (part) => (part.flags & (ANY | VOID | UNDEFINED | NEVER)) !== 0 || (part.getSymbol()?.getName() === "Suspension" && declaredByCorio(part.getSymbol())),
      );
    }
    const declared = declaredType(type);
    return declared !== undefined && this.#extendsOperation(declared);
  }

  /**
   * What the iterator of `type` yields and returns (`T` and `R` of
   * `Iterator<T, R>`), each split into its union's parts: for
   * `Operation<string>`, `[Suspension, undefined]` and `[string]`.
   * `undefined` if `type` is neither an iterator nor an iterable.
   */
  iteration(type: ts.Type): { yields: ts.Type[]; returns: ts.Type[] } | undefined {
    const checker = this.#checker;
    let iterator: ts.Type | undefined = type;
    if (checker.getPropertyOfType(type, "next") === undefined) {
      // Symbol-keyed members are named __@iterator@<id> in the checker.
      const method = checker.getPropertiesOfType(type).find((property) => String(property.escapedName).startsWith("__@iterator@"));
      const signature = method === undefined ? undefined : checker.getTypeOfSymbol(method).getCallSignatures()[0];
      iterator = signature === undefined ? undefined : checker.getReturnTypeOfSignature(signature);
    }
    const next = iterator === undefined ? undefined : checker.getPropertyOfType(iterator, "next");
    const signature = next === undefined ? undefined : checker.getTypeOfSymbol(next).getCallSignatures()[0];
    if (signature === undefined) return undefined;
    // next() gives IteratorYieldResult<T> | IteratorReturnResult<R>: R is the value of the results marked `done: true`.
    const results = checker.getReturnTypeOfSignature(signature);
    const yields: ts.Type[] = [];
    const returns: ts.Type[] = [];
    for (const result of results.isUnion() ? results.types : [results]) {
      const done = checker.getPropertyOfType(result, "done");
      const value = checker.getPropertyOfType(result, "value");
      if (value === undefined) continue;
      const valueType = checker.getTypeOfSymbol(value);
      const into = done !== undefined && checker.getTypeOfSymbol(done) === checker.getTrueType() ? returns : yields;
      into.push(...(valueType.isUnion() ? valueType.types : [valueType]));
    }
    return { yields, returns };
  }

  /**
   * Whether `type` is an array or a tuple with an operation among its items
   * (`Operation<void>[]`, what `ids.map(fetchOne)` gives), or a union of
   * such (typescript-eslint's `no-floating-promises` reports promise arrays
   * the same way).
   */
  isOperationArray(type: ts.Type): boolean {
    const parts = (type.isUnion() ? type.types : [type]).filter((part) => (part.flags & (UNDEFINED | NULL)) === 0);
    return parts.some((part) => (this.items(part) ?? []).some((item) => this.isOperation(item)));
  }

  /** The item types of an array (`[T]`) or a tuple (each element's), or `undefined` for any other type. */
  items(type: ts.Type): readonly ts.Type[] | undefined {
    const declared = declaredType(type);
    if (declared === undefined || declared === type) return undefined;
    // ts.ObjectFlags.Tuple (8), by value.
    if (((declared.objectFlags ?? 0) & 8) !== 0) return this.#checker.getTypeArguments(type as ts.TypeReference);
    const name = declared.getSymbol()?.getName();
    if (name !== "Array" && name !== "ReadonlyArray") return undefined;
    if (!(declared.getSymbol()?.getDeclarations() ?? []).some((declaration) => this.#program.isSourceFileDefaultLibrary(declaration.getSourceFile())))
      return undefined;
    return this.#checker.getTypeArguments(type as ts.TypeReference).slice(0, 1);
  }

  /** Whether `type` is the standard library's `Generator`. */
  #isGenerator(type: ts.Type): boolean {
    const symbol = type.getSymbol();
    if (symbol?.getName() !== "Generator") return false;
    return (symbol.getDeclarations() ?? []).some((declaration) => this.#program.isSourceFileDefaultLibrary(declaration.getSourceFile()));
  }

  /** Whether the interface is corio's `Operation` or extends it (classes do not count: see the class comment). */
  #extendsOperation(declared: ts.InterfaceType): boolean {
    let known = this.#interfaces.get(declared);
    if (known === undefined) {
      this.#interfaces.set(declared, false);
      const symbol = declared.getSymbol();
      if (symbol?.getName() === "Operation" && declaredByCorio(symbol)) known = true;
      else if (((declared.objectFlags ?? 0) & 2) === 0) known = false;
      else {
        known = (this.#checker.getBaseTypes(declared) ?? []).some((base) => {
          const baseDeclared = declaredType(base);
          return baseDeclared !== undefined && this.#extendsOperation(baseDeclared);
        });
      }
      this.#interfaces.set(declared, known);
    }
    return known;
  }
}

function textOf(source: Rule.RuleContext["sourceCode"], node: ESTree.Node): string {
  const text = source.getText(node).replace(/\s+/g, " ");
  return text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT - 1)}…` : text;
}

/**
 * The rule: reports an expression statement that only creates an operation
 * or an array of them, `await` on an operation, `yield` (without `*`) of one
 * or of an array of them and `yield*` of an array of them, `return` of one
 * from a generator function (a plain function that returns one is an
 * operation factory, and is left alone), one returned by a callback whose
 * caller ignores its value (`ids.forEach((id) => fetchOne(id))`), a
 * generator function passed to such a caller (`ids.forEach(fetchOne)`),
 * and operations passed to `Promise.all` and the other combinators of
 * `Promise`. Storing an operation (`(ops[id] = fetchOne(id))`) is not
 * dropping it; a generator declared (on itself, or by the type of what it
 * initialises) to yield or return operations does so on purpose; an async
 * generator hands what it yields to its consumer, not to corio.
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
      floatingArray:
        "`{{text}}` creates operations and never runs them, so they do nothing. Write `yield* all({{text}})` inside an operation to run them (prefix `void` to discard them on purpose).",
      yieldArray: "`yield {{text}}` hands an array of operations to the runtime, which runs none of them. Write `yield* all({{text}})` to run them together.",
      delegatedArray:
        "`yield* {{text}}` hands each operation in the array to the runtime, bare, as `yield` would, and none of them runs. Write `yield* all({{text}})` to run them together.",
      discarded:
        "The callback returns `{{text}}` to a caller that ignores its value (as forEach does), so the operation never runs. Inside an operation, loop with `for (… of …)` and `yield*` each one, or run them together with `yield* all(items.map(…))`.",
      generatorDiscarded:
        "`{{text}}` makes an operation each time it is called, and its caller ignores what it returns (as forEach does), so none of them runs. Inside an operation, loop with `for (… of …)` and `yield*` each one, or run them together with `yield* all(items.map(…))`.",
      promiseOfOperations:
        "`Promise.{{method}}` waits for promises, and an operation is not one: those in `{{text}}` never run. Write `yield* {{corio}}({{text}})` inside an operation.",
      returned:
        "`return {{text}}` in a generator function makes the operation its result without running it. Write `return yield* {{text}}` to run it and return its value (or declare the return type, `Operation<Operation<T>>`, if returning it unrun is meant).",
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
    const types = new OperationTypes(program);
    const map = services.esTreeNodeToTSNodeMap;
    const operation = (node: ESTree.Node): boolean => types.isOperation(checker.getTypeAtLocation(map.get(node)));

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

    /** The sub-expressions whose value `return node` may return. */
    const returned = (node: ESTree.Expression): ESTree.Expression[] => {
      switch (node.type) {
        case "ConditionalExpression":
          return [...returned(node.consequent), ...returned(node.alternate)];
        case "LogicalExpression":
          return [...returned(node.left), ...returned(node.right)];
        case "SequenceExpression":
          return returned(node.expressions.at(-1) as ESTree.Expression);
        case "AssignmentExpression":
          // `(ops[id] = fetchOne(id))` stores the operation for later: not dropped (as a statement, an assignment is not either).
          return [];
        default:
          return [node];
      }
    };

    /** The innermost function around `node`, if any. */
    const functionOf = (node: ESTree.Node): (ESTree.Function & Rule.NodeParentExtension) | undefined =>
      context.sourceCode
        .getAncestors(node)
        .findLast(
          (ancestor) => ancestor.type === "FunctionDeclaration" || ancestor.type === "FunctionExpression" || ancestor.type === "ArrowFunctionExpression",
        ) as (ESTree.Function & Rule.NodeParentExtension) | undefined;

    /**
     * The type a declaration gives the value `node` (a function or an object
     * literal): the type written on the variable, class property or
     * assignment target it initialises, on an `as`/`satisfies`, or on the
     * function that returns it (`function jobs(): Iterable<Operation<void>> { return {…}; }`,
     * an arrow's body too); for a member of an object literal, that member of
     * the object's declared type (`const jobs: Iterable<Operation<void>> = { *[Symbol.iterator]() {…} }`);
     * for a member of a class, that member of what the class implements or
     * extends (`class Jobs implements Iterable<Operation<void>>`: TypeScript
     * gives class members no contextual type).
     * An argument of a call has none here: its contextual type is inferred
     * from the very function being checked (`spawn(function* () { return sleep(1); })`
     * makes `T` an operation), so it says nothing of intent; nor has what a
     * function returns if nothing declares that function's return type (it
     * is inferred from the returned value itself, or from a call it is an
     * argument of).
     */
    const declaredContext = (node: ESTree.Node & Rule.NodeParentExtension): ts.Type | undefined => {
      const parent = node.parent;
      switch (parent.type) {
        case "VariableDeclarator":
        case "AssignmentExpression":
        case "AssignmentPattern":
        case "TSAsExpression" as string:
        case "TSSatisfiesExpression" as string:
          return checker.getContextualType(map.get(node) as ts.Expression);
        case "ReturnStatement": {
          const fn = functionOf(parent);
          return fn !== undefined && returnTypeDeclared(fn) ? checker.getContextualType(map.get(node) as ts.Expression) : undefined;
        }
        case "ArrowFunctionExpression":
          return parent.body === node && returnTypeDeclared(parent) ? checker.getContextualType(map.get(node) as ts.Expression) : undefined;
        case "PropertyDefinition":
          if (parent.value !== node) return undefined;
          return checker.getContextualType(map.get(node) as ts.Expression) ?? (parent.static ? undefined : inheritedMember(parent));
        case "MethodDefinition":
          return parent.value === node && parent.kind === "method" && !parent.static ? inheritedMember(parent) : undefined;
        case "Property": {
          if (parent.value !== node || parent.parent.type !== "ObjectExpression") return undefined;
          const object = declaredContext(parent.parent as ESTree.ObjectExpression & Rule.NodeParentExtension);
          if (object === undefined) return undefined;
          // The member's own symbol gives its name, a symbol's too (`[Symbol.iterator]` is `__@iterator@<id>` in the checker).
          const member = map.get(parent);
          const own = checker
            .getTypeAtLocation(map.get(parent.parent))
            .getProperties()
            .find((property) => property.getDeclarations()?.includes(member as ts.Declaration));
          const declared = own === undefined ? undefined : checker.getPropertiesOfType(object).find((property) => property.escapedName === own.escapedName);
          return declared === undefined ? undefined : checker.getTypeOfSymbol(declared);
        }
        default:
          return undefined;
      }
    };

    /** Whether the return type of `fn` is declared: written on it, or given by a declaration (`declaredContext`). */
    const returnTypeDeclared = (fn: ESTree.Function & Rule.NodeParentExtension): boolean =>
      (fn as { returnType?: unknown }).returnType != null || declaredContext(fn) !== undefined;

    /**
     * The type of the member of the same name in the types a class
     * implements or extends (`[Symbol.iterator]` matched by the checker's
     * name for it, `__@iterator@<id>`), for an instance member of the class.
     */
    const inheritedMember = (member: ESTree.MethodDefinition | ESTree.PropertyDefinition): ts.Type | undefined => {
      const name = checker.getSymbolAtLocation((map.get(member) as ts.ClassElement).name as ts.Node)?.escapedName;
      // A member's parent is the class body, whose parent is the class.
      const owner = map.get((member as ESTree.MethodDefinition & Rule.NodeParentExtension).parent.parent as ESTree.Node) as ts.ClassLikeDeclaration;
      if (name === undefined) return undefined;
      for (const clause of owner.heritageClauses ?? []) {
        for (const heritage of clause.types) {
          // An `extends` clause gives the base class's instance type, an `implements` clause the interface.
          const declared = checker.getPropertiesOfType(checker.getTypeAtLocation(heritage)).find((property) => property.escapedName === name);
          if (declared !== undefined) return checker.getTypeOfSymbol(declared);
        }
      }
      return undefined;
    };

    /**
     * What a generator function says it yields and returns: the iteration
     * types of its return type, written on it or given by a declaration
     * (`declaredContext`: `const f: () => Operation<Operation<void>> = function* () {…}`).
     * `undefined` when nothing is declared: inferred types come from the very
     * `yield` or `return` being checked, and say nothing of intent.
     */
    const declaredIteration = (fn: ESTree.Function & Rule.NodeParentExtension): { yields: ts.Type[]; returns: ts.Type[] } | undefined => {
      const written = (fn as { returnType?: { typeAnnotation: ESTree.Node } }).returnType?.typeAnnotation;
      let declared = written === undefined ? undefined : checker.getTypeFromTypeNode(map.get(written) as ts.TypeNode);
      if (declared === undefined) {
        const context = declaredContext(fn);
        const signature = context === undefined ? undefined : (context.isUnion() ? context.types : [context]).flatMap((part) => part.getCallSignatures())[0];
        declared = signature === undefined ? undefined : checker.getReturnTypeOfSignature(signature);
      }
      return declared === undefined ? undefined : types.iteration(declared);
    };

    /** Whether a generator function says it returns an operation (`Operation<Operation<T>>`, `Generator<never, Operation<T>>`). */
    const returnsOperationOnPurpose = (fn: ESTree.Function & Rule.NodeParentExtension): boolean =>
      (declaredIteration(fn)?.returns ?? []).some((part) => types.isOperation(part));

    /**
     * Whether the generator function `fn` says it yields operations (or
     * arrays of them): `function* jobs(): Generator<Operation<string>>` is a
     * lazy sequence of operations for its caller to run, not an operation.
     */
    const yieldsOperationsOnPurpose = (fn: ESTree.Function & Rule.NodeParentExtension, array: boolean): boolean =>
      (declaredIteration(fn)?.yields ?? []).some((part) => (array ? types.isOperationArray(part) : types.isOperation(part)));

    /**
     * Whether `node` is a call of an array's own method that takes items out
     * or reorders them in place (`queue.shift()`, `ops.splice(i, 1)`): such a
     * statement is made for what it does to the array, and what it returns
     * is dropped on purpose.
     */
    const editsArray = (node: ESTree.Expression): boolean => {
      if (node.type !== "CallExpression" || node.callee.type !== "MemberExpression" || node.callee.property.type !== "Identifier") return false;
      if (!EDITS_ARRAY.has(node.callee.property.name)) return false;
      return types.items(checker.getTypeAtLocation(map.get(node.callee.object))) !== undefined;
    };

    /**
     * Whether the caller of the callback `fn` (a function, or a reference to
     * one) ignores what it returns: the type it is passed as (`forEach`'s
     * `(value, index, array) => void`, an event listener's) returns `void`.
     */
    const returnIgnored = (fn: ESTree.Expression): boolean => {
      const contextual = checker.getContextualType(map.get(fn) as ts.Expression);
      if (contextual === undefined) return false;
      const signatures = (contextual.isUnion() ? contextual.types : [contextual]).flatMap((part) => part.getCallSignatures());
      return (
        signatures.length > 0 &&
        signatures.every((signature) => {
          const result = checker.getReturnTypeOfSignature(signature);
          const parts = result.isUnion() ? result.types : [result];
          return parts.some((part) => (part.flags & VOID) !== 0) && parts.every((part) => (part.flags & (VOID | UNDEFINED)) !== 0);
        })
      );
    };

    /** Reports an operation (or an array of them) that the callback `fn` returns to a caller that ignores it. */
    const checkDiscarded = (fn: ESTree.ArrowFunctionExpression | ESTree.FunctionExpression, value: ESTree.Expression): void => {
      const values = returned(value).filter((part) => {
        const type = checker.getTypeAtLocation(map.get(part));
        return types.isOperation(type) || types.isOperationArray(type);
      });
      if (values.length === 0 || !returnIgnored(fn)) return;
      for (const part of values) context.report({ node: part, messageId: "discarded", data: { text: textOf(context.sourceCode, part) } });
    };

    /**
     * Reports a function that makes an operation when called (a `function*`,
     * or a reference to one: `ids.forEach(fetchOne)`) passed where its
     * caller ignores what it returns. Arrows and plain function expressions
     * are judged by what they return (`checkDiscarded`); corio's own
     * functions that take one (`spawn`, `run`, `scope`) want an operation
     * back, not `void`.
     */
    const checkCallbacks = (args: (ESTree.Expression | ESTree.SpreadElement)[]): void => {
      for (const argument of args) {
        if (argument.type === "SpreadElement") continue;
        let discarded: boolean;
        if (argument.type === "FunctionExpression") {
          // corio's spawn and run take most of them, and their call is resolved already (the yield* or statement around
          // it asked): what the caller wants is cheaper to learn than what the generator's body yields.
          discarded =
            argument.generator === true && !argument.async && returnIgnored(argument) && makesOperations(checker.getTypeAtLocation(map.get(argument)));
        } else {
          const type = callbackType(argument);
          discarded = type !== undefined && (makesOperations(type) || (mayNarrow(type) && makesOperations(narrowedType(argument)))) && returnIgnored(argument);
        }
        if (discarded) context.report({ node: argument, messageId: "generatorDiscarded", data: { text: textOf(context.sourceCode, argument) } });
      }
    };

    /**
     * Whether the type at the argument may be a function where the declared
     * one is not: an untyped `let` (`any`) assigned a `function*` later, or a
     * union narrowed by a test (`let cb: (() => Operation<void>) | false`,
     * passed inside `if (cb)`). Only then is the flow analysis paid for.
     */
    const mayNarrow = (type: ts.Type): boolean => (type.flags & ANY) !== 0 || type.isUnion();
    const narrowedType = (argument: ESTree.Expression): ts.Type => checker.getTypeAtLocation(map.get(argument));

    /** Whether every call signature of `type` returns an operation (and it has one). */
    const makesOperations = (type: ts.Type): boolean => {
      const signatures = type.getCallSignatures();
      return signatures.length > 0 && signatures.every((signature) => types.isOperation(checker.getReturnTypeOfSignature(signature)));
    };

    /**
     * The type of a call argument other than a function expression, if it
     * may be a function, found as cheaply as can be: the checker is not
     * asked about an argument whose syntax cannot be a function (a literal,
     * `this`, `new`, `await`, an operator's result), nor about a variable
     * that such an expression initialises or a class; a variable or
     * parameter gets its declared type (the type at its declaration), not
     * the one narrowed at the argument, whose flow analysis made the rule
     * half as slow again.
     */
    const callbackType = (argument: ESTree.Expression): ts.Type | undefined => {
      if (!MAY_BE_FUNCTION.has(argument.type)) return undefined;
      if (argument.type !== "Identifier") return checker.getTypeAtLocation(map.get(argument));
      let symbol = checker.getSymbolAtLocation(map.get(argument));
      if (symbol !== undefined && (symbol.flags & ALIAS) !== 0) symbol = checker.getAliasedSymbol(symbol);
      if (symbol === undefined || (symbol.flags & (FUNCTION | METHOD | VARIABLE | PROPERTY)) === 0) return undefined;
      const declaration = symbol.valueDeclaration === undefined ? undefined : services.tsNodeToESTreeNodeMap?.get(symbol.valueDeclaration);
      if (declaration?.type === "VariableDeclarator" && (declaration.id as { typeAnnotation?: unknown }).typeAnnotation == null) {
        const init = declaration.init;
        if (init != null && !MAY_BE_FUNCTION.has(init.type) && !MAYBE_INITIALISES_FUNCTION.has(init.type)) return undefined;
      }
      // `f?: () => Operation<void>` passed inside `if (f)`: the declared type's undefined is no function's.
      return checker.getNonNullableType(checker.getTypeOfSymbol(symbol));
    };

    /** Whether `node` is the standard library's `Promise` (the constructor, with its combinators). */
    const isPromiseConstructor = (node: ESTree.Node): boolean => {
      const symbol = checker.getTypeAtLocation(map.get(node)).getSymbol();
      return (
        symbol?.getName() === "PromiseConstructor" &&
        (symbol.getDeclarations() ?? []).some((declaration) => program.isSourceFileDefaultLibrary(declaration.getSourceFile()))
      );
    };

    return {
      NewExpression(node) {
        checkCallbacks(node.arguments);
      },
      CallExpression(node) {
        checkCallbacks(node.arguments);
        // Promise.all(ids.map(fetchOne)) resolves at once to the generator objects: until(Promise.all(…)) and await Promise.all(…) run nothing.
        const callee = node.callee;
        if (callee.type !== "MemberExpression" || callee.property.type !== "Identifier" || callee.computed) return;
        const corio = COMBINATORS.get(callee.property.name);
        const argument = node.arguments[0];
        if (corio === undefined || argument === undefined || argument.type === "SpreadElement" || !isPromiseConstructor(callee.object)) return;
        const items = types.iteration(checker.getTypeAtLocation(map.get(argument)))?.yields ?? [];
        if (items.some((item) => types.isOperation(item))) {
          context.report({ node, messageId: "promiseOfOperations", data: { method: callee.property.name, corio, text: textOf(context.sourceCode, argument) } });
        }
      },
      ReturnStatement(node) {
        if (node.argument == null) return;
        const fn = functionOf(node);
        if (fn === undefined) return;
        if (fn.type !== "ArrowFunctionExpression" && fn.generator) {
          // An async generator returns its value to its consumer (`for await`), never to corio (see YieldExpression).
          if (fn.async) return;
          for (const value of returned(node.argument)) {
            if (operation(value) && !returnsOperationOnPurpose(fn)) {
              context.report({ node: value, messageId: "returned", data: { text: textOf(context.sourceCode, value) } });
            }
          }
        } else if (fn.type !== "FunctionDeclaration") {
          // A plain function that returns an operation is an operation factory, unless its caller drops what it returns.
          checkDiscarded(fn, node.argument);
        }
      },
      ArrowFunctionExpression(node) {
        if (node.body.type !== "BlockStatement") checkDiscarded(node, node.body);
      },
      ExpressionStatement(node) {
        for (const expression of dropped(node.expression)) {
          if (expression.type === "AwaitExpression" || expression.type === "YieldExpression" || expression.type === "AssignmentExpression") continue;
          if (editsArray(expression)) continue;
          const type = checker.getTypeAtLocation(map.get(expression));
          if (types.isOperation(type)) context.report({ node: expression, messageId: "floating", data: { text: textOf(context.sourceCode, expression) } });
          else if (types.isOperationArray(type))
            context.report({ node: expression, messageId: "floatingArray", data: { text: textOf(context.sourceCode, expression) } });
        }
      },
      AwaitExpression(node) {
        if (operation(node.argument)) context.report({ node, messageId: "awaited", data: { text: textOf(context.sourceCode, node.argument) } });
      },
      YieldExpression(node) {
        const fn = functionOf(node);
        // corio runs only sync generators: an async generator yields its values to its consumer (`for await`), so
        // `yield op` there hands the operation on as a value (as a `Generator<Operation<T>>` does), and the
        // `yield* op` this rule would advise would yield corio's instructions to that consumer instead.
        if (node.argument == null || fn === undefined || fn.async) return;
        const type = checker.getTypeAtLocation(map.get(node.argument));
        if (node.delegate) {
          // yield* of an array yields each operation in it, bare, to the runtime (which throws on it).
          if (!types.isOperation(type) && types.isOperationArray(type) && !yieldsOperationsOnPurpose(fn, false))
            context.report({ node, messageId: "delegatedArray", data: { text: textOf(context.sourceCode, node.argument) } });
          return;
        }
        if (types.isOperation(type)) {
          if (!yieldsOperationsOnPurpose(fn, false))
            context.report({ node, messageId: "yieldWithoutStar", data: { text: textOf(context.sourceCode, node.argument) } });
        } else if (types.isOperationArray(type) && !yieldsOperationsOnPurpose(fn, true)) {
          context.report({ node, messageId: "yieldArray", data: { text: textOf(context.sourceCode, node.argument) } });
        }
      },
    };
  },
};
