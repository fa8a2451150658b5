// Shared by check-docs and the doc-example test: the public entry points and
// the TSDoc of everything they export.
import { existsSync, readdirSync } from "node:fs";
import ts from "typescript";

export interface ExportedDoc {
  entry: string;
  name: string;
  kind: "function" | "class" | "type" | "variable";
  docs: string;
  file: string;
}

/** `src/index.ts` and every `src/<module>/index.ts` that a package export points at. */
export function publicEntries(): string[] {
  const entries = ["src/index.ts"];
  for (const dir of readdirSync("src", { withFileTypes: true })) {
    if (dir.isDirectory() && existsSync(`src/${dir.name}/index.ts`)) entries.push(`src/${dir.name}/index.ts`);
    if (dir.isDirectory() && dir.name === "compat") {
      for (const sub of readdirSync("src/compat", { withFileTypes: true })) {
        if (sub.isDirectory() && existsSync(`src/compat/${sub.name}/index.ts`)) entries.push(`src/compat/${sub.name}/index.ts`);
      }
    }
  }
  return entries;
}

export function exportedDocs(): ExportedDoc[] {
  const entries = publicEntries();
  const program = ts.createProgram(entries, {
    allowImportingTsExtensions: true,
    noEmit: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2023,
  });
  const checker = program.getTypeChecker();
  const seen = new Set<string>();
  const result: ExportedDoc[] = [];
  for (const entry of entries) {
    const source = program.getSourceFile(entry);
    if (source === undefined) continue;
    const moduleSymbol = checker.getSymbolAtLocation(source);
    if (moduleSymbol === undefined) continue;
    for (const exported of checker.getExportsOfModule(moduleSymbol)) {
      const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
      const declaration = symbol.declarations?.[0];
      if (declaration === undefined) continue;
      const file = declaration.getSourceFile().fileName;
      const key = `${file}:${symbol.name}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const kind = ts.isFunctionDeclaration(declaration)
        ? "function"
        : ts.isClassDeclaration(declaration)
          ? "class"
          : ts.isVariableDeclaration(declaration)
            ? "variable"
            : "type";
      const docs = ts
        .getJSDocCommentsAndTags(declaration)
        .map((node) => node.getText())
        .join("\n");
      result.push({ entry, name: exported.name, kind, docs, file });
    }
  }
  return result;
}

/** The fenced ```ts blocks of a TSDoc comment or markdown text, without `ignore` ones. */
export function examplesIn(text: string): string[] {
  const blocks: string[] = [];
  const cleaned = text
    .split("\n")
    .map((line) => line.replace(/^\s*\/?\*+\/?\s?/, ""))
    .join("\n");
  for (const match of cleaned.matchAll(/```ts([^\n]*)\n([\s\S]*?)```/g)) {
    if (!(match[1] ?? "").includes("ignore")) blocks.push(match[2] ?? "");
  }
  return blocks;
}
