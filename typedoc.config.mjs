// TypeDoc: `npm run docs` writes the API reference to docs/api/ (gitignored);
// `npm run check:api` (part of `npm test`) builds it without writing and fails
// on any warning. Entry points and source links come from package.json, so a
// new export subpath is documented (and checked) without touching this file.
import { readFileSync } from "node:fs";

const pkg = JSON.parse(readFileSync(new URL("./package.json", import.meta.url), "utf8"));

// "./dist/net/index.d.ts" -> "src/net/index.ts": document the source of each export.
const entryPoints = Object.values(pkg.exports)
  .filter((target) => typeof target === "object")
  .map((target) => target.types.replace(/^\.\/dist\//, "src/").replace(/\.d\.ts$/, ".ts"));

const repository = pkg.repository.url.replace(/^git\+/, "").replace(/\.git$/, "");

/** @type {import("typedoc").TypeDocOptions} */
export default {
  name: pkg.name,
  entryPoints,
  // The build's config: `stripInternal` there makes TypeDoc leave out `@internal` members too.
  tsconfig: "tsconfig.build.json",
  out: "docs/api",
  // The README links to tests and folders, which TypeDoc cannot copy; the reference starts at the modules.
  readme: "none",
  // Source links without asking git (a fresh worktree has no remote).
  disableGit: true,
  // {path} is relative to src/, the entry points' common folder.
  sourceLinkTemplate: `${repository}/blob/main/src/{path}#L{line}`,
  // A public type that references an unexported one, a broken {@link} or a wrong @param is a failure.
  treatWarningsAsErrors: true,
  validation: { notExported: true, invalidLink: true, rewrittenLink: true, unusedMergeModuleWith: true },
};
