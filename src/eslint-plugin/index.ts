/**
 * An ESLint plugin for code that uses corio, with two rules.
 * `no-floating-operation` (type-aware): an operation created and never run
 * does nothing (`sleep(200);` without `yield*`, `await sleep(300)`,
 * `yield sleep(1)`, `yield* [sleep(1), sleep(2)]`, `return sleep(1)` from a
 * generator, `ids.forEach((id) => fetchOne(id))`, `ids.forEach(fetchOne)`,
 * `Promise.all` of operations), the analogue of typescript-eslint's
 * `no-floating-promises`. It needs ESLint 9 or later and typescript-eslint's
 * parser with type information (optional peer dependencies: corio itself
 * does not need them). `no-generator-in-loop` (syntactic, opt-in): a
 * `function*` written in a loop or a per-item callback (`map`, `forEach`,
 * `filter`, `Array.from`, …) is a new function every round, and V8's first
 * call of each costs microseconds.
 *
 * ```js ignore
 * // eslint.config.js
 * import tsParser from "@typescript-eslint/parser";
 * import corio from "corio/eslint-plugin";
 *
 * export default [
 *   {
 *     files: ["**\/*.ts"],
 *     languageOptions: { parser: tsParser, parserOptions: { projectService: true } },
 *     plugins: { corio },
 *     rules: { "corio/no-floating-operation": "error" },
 *   },
 * ];
 * ```
 * @module
 */
import type { ESLint, Linter } from "eslint";
import { noFloatingOperation } from "./no-floating-operation.ts";
import { noGeneratorInLoop } from "./no-generator-in-loop.ts";

/**
 * The plugin: register it under the name `corio` (`plugins: { corio }`) and
 * turn on `corio/no-floating-operation`, or spread `configs.recommended`
 * (its `files` are the TypeScript files, `.ts`, `.tsx`, `.mts` and `.cts`:
 * the rule needs type information, and a `.js` file such as
 * `eslint.config.js` has none); `corio/no-generator-in-loop` is a
 * performance hint, not in `recommended`.
 *
 * @example
 * ```ts
 * import corio from "corio/eslint-plugin";
 * console.assert(typeof corio.rules["no-floating-operation"].create === "function");
 * console.assert(typeof corio.rules["no-generator-in-loop"].create === "function");
 * console.assert(corio.configs.recommended.rules["corio/no-floating-operation"] === "error");
 * console.assert(corio.configs.recommended.files.includes("**\/*.ts"));
 * ```
 */
const plugin = {
  meta: { name: "corio", version: "0.1.0" },
  rules: { "no-floating-operation": noFloatingOperation, "no-generator-in-loop": noGeneratorInLoop },
  configs: {
    /**
     * The rule as an error, on TypeScript files only (a type-aware rule
     * throws on a file without type information); add `languageOptions`
     * with typescript-eslint's parser and type information.
     */
    recommended: {
      files: ["**/*.ts", "**/*.tsx", "**/*.mts", "**/*.cts"],
      plugins: {} as Record<string, ESLint.Plugin>,
      rules: { "corio/no-floating-operation": "error" },
    } satisfies Linter.Config,
  },
} satisfies ESLint.Plugin;
plugin.configs.recommended.plugins = { corio: plugin };

export default plugin;
export { noFloatingOperation, noGeneratorInLoop };
