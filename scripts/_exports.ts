// Shared by check-docs and the doc-example test: the public entry points and
// the TSDoc of everything they export.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { relative, resolve } from "node:path";
import ts from "typescript";

export interface ExportedDoc {
  entry: string;
  name: string;
  kind: "function" | "class" | "type" | "variable";
  docs: string;
  file: string;
  /** The TSDoc of a class's or interface's members (methods, properties, accessors), by name. */
  members: { name: string; docs: string }[];
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
      const docs = docsOf(declaration);
      const members: { name: string; docs: string }[] = [];
      if (ts.isClassDeclaration(declaration) || ts.isInterfaceDeclaration(declaration)) {
        for (const member of declaration.members) {
          if (member.name === undefined) continue;
          members.push({ name: member.name.getText(), docs: docsOf(member) });
        }
      }
      result.push({ entry, name: exported.name, kind, docs, file, members });
    }
  }
  return result;
}

function docsOf(node: ts.Node): string {
  return ts
    .getJSDocCommentsAndTags(node)
    .map((comment) => comment.getText())
    .join("\n");
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

/** The package's entry points, as examples import them, and the source file each stands for. */
export const MODULES: Record<string, string> = {
  corio: "src/index.ts",
  "corio/testing": "src/testing/index.ts",
  "corio/net": "src/net/index.ts",
  "corio/fs": "src/fs/index.ts",
  "corio/process": "src/process/index.ts",
  "corio/threads": "src/threads/index.ts",
  "corio/inspect": "src/inspect/index.ts",
  "corio/compat/twisted": "src/compat/twisted/index.ts",
  "corio/compat/calvin": "src/compat/calvin/index.ts",
  "corio/otel": "src/otel/index.ts",
  "corio/redis": "src/redis/index.ts",
  "corio/eslint-plugin": "src/eslint-plugin/index.ts",
};

/** Every example of the documentation: the TSDoc of public exports, the README, and docs/*.md. */
export function docExamples(root: string): { name: string; code: string }[] {
  const examples: { name: string; code: string }[] = [];
  for (const doc of exportedDocs()) {
    examplesIn(doc.docs).forEach((code, index) => {
      examples.push({ name: `${doc.name}${index > 0 ? ` #${index + 1}` : ""} (${doc.file.replace(`${root}/`, "")})`, code });
    });
    // A member's example (`LoopingCall.reset`) runs as well as the export's own.
    for (const member of doc.members) {
      examplesIn(member.docs).forEach((code, index) => {
        examples.push({ name: `${doc.name}.${member.name}${index > 0 ? ` #${index + 1}` : ""} (${doc.file.replace(`${root}/`, "")})`, code });
      });
    }
  }
  examplesIn(readFileSync(resolve(root, "README.md"), "utf8")).forEach((code, index) => {
    examples.push({ name: `README example ${index + 1}`, code });
  });
  // The walk-throughs in docs/ are programs too.
  for (const file of readdirSync(resolve(root, "docs"))
    .filter((name) => name.endsWith(".md"))
    .sort()) {
    examplesIn(readFileSync(resolve(root, "docs", file), "utf8")).forEach((code, index) => {
      examples.push({ name: `docs/${file} example ${index + 1}`, code });
    });
  }
  return examples;
}

const PRELUDE = `const console = { ...globalThis.console, assert(condition: unknown, ...message: unknown[]) { if (!condition) throw new Error(\`example assertion failed\${message.length ? ": " + message.join(" ") : ""}\`); } };\n`;

/**
 * An example as a module in `dir`: its imports of "corio" point at src/
 * (relative, so that both tsx and tsc resolve them), and `console.assert` throws.
 */
export function prepareExample(root: string, dir: string, code: string): string {
  const rewritten = code.replace(/from\s+"(corio(?:\/[a-z/-]+)?)"/g, (match, name: string) => {
    const target = MODULES[name];
    if (target === undefined) return match;
    const path = relative(dir, resolve(root, target));
    return `from ${JSON.stringify(path.startsWith(".") ? path : `./${path}`)}`;
  });
  return `${PRELUDE}${rewritten}\nexport {};\n`;
}

/** Writes every documentation example to `tmp/doc-examples/example-<n>.ts`; returns them with their files. */
export function writeDocExamples(root: string): { name: string; code: string; file: string }[] {
  const dir = resolve(root, "tmp/doc-examples");
  mkdirSync(dir, { recursive: true });
  return docExamples(root).map((example, index) => {
    const file = resolve(dir, `example-${index}.ts`);
    writeFileSync(file, prepareExample(root, dir, example.code));
    return { ...example, file };
  });
}
