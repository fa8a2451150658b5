// One sample of the startup bench (startup.bench.ts): imports the module named
// by the argument (a package name or a file URL; none: nothing) and prints how
// many milliseconds the import took, from the first line of this process's code.
const specifier = process.argv[2];
const start = performance.now();
if (specifier) await import(specifier);
console.log(performance.now() - start);
