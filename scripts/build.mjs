// `npm run build`: the package's dist/ from a clean slate.
//
//   - Declarations (`.d.ts` and their maps, one per source file), from tsc.
//   - JavaScript: tsc compiles src/ without comments into a scratch folder,
//     and rollup joins it into one file per entry point of package.json's
//     `exports`, the portable part in one shared chunk and the modules that
//     several other entry points import in a few more (dist/_chunks/). A
//     module still exists once however many entry points a program
//     imports: `corio/net` and `corio` share one loop. Source maps go
//     through both steps back to src/, which the package ships.
//
// Why joined files: Node's ESM loader pays for each file it resolves, reads,
// compiles and links. `import "corio"` loaded about 80 files in about 80 ms
// on the bench machine; joined, it loads two in 24 ms (bench/startup.bench.ts
// measures both, against Effection and Effect).
//
// Why rollup and not esbuild (which the repository also has): esbuild, when
// bundling, renames a named function expression that shares its name with
// the constant it is assigned to (`const sleep = defineOperation(function*
// sleep …)` became `sleep2`) and turns a class that names itself inside its
// body into `var X = class _X`, so `.name` changed for 49 exports, and
// corio's dev-mode labels come from `.name`. rollup renames only a top-level
// binding that two modules share, and the check below fails the build if
// that lands on a class or a function: declared with the `$n`, or a binding
// given an anonymous class, function or arrow, whose `.name` it becomes.
//
// `node scripts/build.mjs --outdir <dir> --no-types` builds only the
// JavaScript, somewhere else (the benches do); `--root <dir>` builds another
// checkout's src/ (its package.json, tsconfig.json and tsconfig.build.json),
// and `--allow-renames` lets an older commit, built only to be measured,
// through the check on renamed declarations.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import { rollup } from "rollup";
import { renamedFunctions } from "./_renamed-bindings.mjs";

const args = process.argv.slice(2);
const rootAt = args.indexOf("--root");
/** The tree to build: this repository, or another checkout of it (the instruction counts build a base commit). */
const ROOT = rootAt >= 0 ? resolve(args[rootAt + 1]) : resolve(import.meta.dirname, "..");
const TSC = join(import.meta.dirname, "..", "node_modules", "typescript", "bin", "tsc");
const outdirAt = args.indexOf("--outdir");
const outdir = outdirAt >= 0 ? resolve(args[outdirAt + 1]) : join(ROOT, "dist");
const withTypes = !args.includes("--no-types");
// The output folder is deleted first: never the checkout, a folder above it, or one inside src/.
if (relative(outdir, ROOT) === "" || !relative(outdir, ROOT).startsWith("..") || !relative(join(ROOT, "src"), outdir).startsWith("..")) {
  console.error(`build: refusing to write to ${outdir}: it holds the checkout or is inside src/`);
  process.exit(2);
}

/** Runs tsc on tsconfig.build.json with extra options; resolves when it succeeds. */
function tsc(options) {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, [TSC, "-p", "tsconfig.build.json", ...options], { cwd: ROOT, stdio: "inherit" });
    child.once("error", reject);
    child.once("exit", (code) => (code === 0 ? resolveRun() : reject(new Error(`tsc ${options.join(" ")} exited with ${code}`))));
  });
}

/** The modules of the portable part, relative to the compiled src/. */
const PORTABLE = /^(?:core|time|sync|streams|util)[/\\]/;

const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
const scratch = mkdtempSync(join(tmpdir(), "corio-build-"));
try {
  rmSync(outdir, { recursive: true, force: true });
  // Both at once; wait for both to end before a failure is thrown (and the scratch folder deleted under the other).
  const compiled = await Promise.allSettled([
    withTypes ? tsc(["--emitDeclarationOnly", "--outDir", outdir]) : undefined,
    tsc(["--outDir", scratch, "--declaration", "false", "--declarationMap", "false", "--removeComments"]),
  ]);
  for (const result of compiled) if (result.status === "rejected") throw result.reason;

  /** `{ "net/index": "<scratch>/net/index.js", … }` for every `./dist/…` the exports map names. */
  const input = {};
  for (const target of Object.values(pkg.exports)) {
    if (typeof target !== "object") continue;
    if (typeof target.default !== "string") throw new Error(`every entry of package.json's exports needs a "default" path, received ${JSON.stringify(target)}`);
    const name = target.default.replace(/^\.\/dist\//, "").replace(/\.js$/, "");
    input[name] = join(scratch, `${name}.js`);
  }
  const warnings = [];
  const bundle = await rollup({
    input,
    // Dependencies (lru-cache, the optional peers) and Node's modules stay imports.
    external: (id) => !id.startsWith(".") && !isAbsolute(id),
    // An entry point exports exactly what its index module does.
    preserveEntrySignatures: "strict",
    plugins: [withInputSourceMaps()],
    onwarn(warning) {
      // core/task.ts and core/_join.ts import each other; ESM order is kept.
      if (warning.code !== "CIRCULAR_DEPENDENCY") warnings.push(warning.message);
    },
  });
  const { output } = await bundle.write({
    dir: outdir,
    format: "es",
    entryFileNames: "[name].js",
    chunkFileNames: "_chunks/[name]-[hash].js",
    // The portable part (what `corio` itself exports) in one chunk: every entry point imports
    // most of it, and one file of it loads faster than its twenty pieces (main entry 0.64x).
    manualChunks: (id) => (PORTABLE.test(relative(scratch, id)) ? "corio" : undefined),
    sourcemap: true,
    sourcemapExcludeSources: true,
  });
  await bundle.close();
  if (warnings.length > 0) throw new Error(`rollup warned:\n  ${warnings.join("\n  ")}`);

  const renamed = [];
  for (const file of output) {
    if (file.type !== "chunk") continue;
    for (const name of renamedFunctions(file.code)) renamed.push(`${file.fileName}: ${name}`);
  }
  if (renamed.length > 0 && !args.includes("--allow-renames")) {
    throw new Error(
      `two modules declare the same top-level name, and rollup renamed a class or function for it (its .name would change): give one of them another name\n  ${renamed.join("\n  ")}`,
    );
  }
  console.log(
    `build: ${relative(ROOT, outdir) || "."}/ has ${Object.keys(input).length} entry points and ${output.filter((file) => file.type === "chunk" && !file.isEntry).length} shared chunks`,
  );
} catch (error) {
  console.error(`build: ${error instanceof Error ? error.message : error}`);
  // No half-built package: a pack after a failed build finds nothing rather than stale or partial files.
  rmSync(outdir, { recursive: true, force: true });
  process.exitCode = 1;
} finally {
  rmSync(scratch, { recursive: true, force: true });
}

/** Reads tsc's source map next to each module, so that rollup's maps lead back to src/. */
function withInputSourceMaps() {
  return {
    name: "input-source-maps",
    load(id) {
      if (!id.endsWith(".js")) return null;
      const code = readFileSync(id, "utf8");
      const mapFile = `${id}.map`;
      if (!existsSync(mapFile)) return code;
      const map = JSON.parse(readFileSync(mapFile, "utf8"));
      // tsc's paths are relative to the module in the scratch folder: make them absolute (rollup writes them relative to dist/).
      map.sources = map.sources.map((source) => resolve(dirname(id), map.sourceRoot ?? "", source));
      map.sourceRoot = undefined;
      return { code: code.replace(/\n\/\/# sourceMappingURL=.*$/, ""), map };
    },
  };
}
