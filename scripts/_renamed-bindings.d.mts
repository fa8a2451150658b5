/** The renamed bindings in `code` (rollup's output) whose value is a class or a function, each described in one line. */
export function renamedFunctions(code: string): string[];
