// The path and query of an HTTP request target (`HttpRequest.path` and `.query`).

/** A request's parsed target: its query kept as the string (from its `?`) until it is read. */
export interface RequestTarget {
  path: string;
  query: URLSearchParams | string;
}

/**
 * An origin-form path the URL parser returns unchanged and `decodeURIComponent` too: unreserved
 * characters, sub-delimiters, `:`, `@` and `/` (no `%` escape, `\`, bracket, space or control
 * character); with no `/.` (dot segments) it needs no resolving either.
 */
const PLAIN_PATH = /^\/[\w\-.~!$&'()*+,;=:@/]*$/;
/** A query of printable ASCII without `#`: parsed alone, it gives the parameters the URL parser's would. */
const PLAIN_QUERY = /^[!"$-~]*$/;

/**
 * Parses a request target; a string is the reason it cannot be (the caller answers 400).
 * Most targets are a plain path and a query without a fragment: those skip the URL parser,
 * which cost 18% of a hello-world server's instructions, and their query is parsed only if read.
 *
 * @example
 * ```ts
 * import { parseRequestTarget } from "./_request-target.ts";
 *
 * const target = parseRequestTarget("/a/../b%20c?x=1");
 * console.log(typeof target === "string" ? target : target.path); // "/b c"
 * ```
 */
export function parseRequestTarget(url: string): RequestTarget | string {
  const queryAt = url.indexOf("?");
  const path = queryAt < 0 ? url : url.slice(0, queryAt);
  if (PLAIN_PATH.test(path) && !path.includes("/.") && (queryAt < 0 || PLAIN_QUERY.test(url.slice(queryAt + 1)))) {
    // With its `?`, which URLSearchParams drops: a query that starts with another `?` keeps it.
    return { path, query: queryAt < 0 ? "" : url.slice(queryAt) };
  }
  return parseWithUrlParser(url);
}

/**
 * The general case of `parseRequestTarget`, through the WHATWG URL parser (the test of the plain
 * targets' shortcut checks it against this).
 *
 * @example
 * ```ts
 * import { parseWithUrlParser } from "./_request-target.ts";
 *
 * console.log(parseWithUrlParser("/static/..%2f..%2fetc")); // { path: "/etc", query: URLSearchParams {} }
 * ```
 */
export function parseWithUrlParser(url: string): RequestTarget | string {
  try {
    let parsed: URL;
    if (url.startsWith("/")) {
      // Brackets belong in a host (RFC 3986); the URL parser would keep them in a path.
      const pathEnd = url.search(/[?#]/);
      if (/[[\]]/.test(pathEnd < 0 ? url : url.slice(0, pathEnd))) throw new URIError("'[' and ']' are not allowed in a path");
      // An origin-form target is a path even when it starts with `//`, which as a relative URL would name a host.
      parsed = new URL(`http://localhost${url}`);
    } else parsed = new URL(url, "http://localhost");
    const path = decodeURIComponent(parsed.pathname);
    if (path.includes("\0")) throw new URIError("a NUL byte (%00) is not allowed in a path");
    // The URL parser resolved `.` and `..` before decoding: an escaped `/` (`..%2f`) made new ones.
    return { path: path.includes("/.") ? withoutDotSegments(path) : path, query: parsed.searchParams };
  } catch (error) {
    const shown = JSON.stringify(url.length > 200 ? `${url.slice(0, 200)}...` : url);
    return `Cannot parse the request target: it must be a URL whose path has no '[' or ']' and whose %-escapes encode UTF-8 (${(error as Error).message}), received ${shown}; percent-encode the path as UTF-8`;
  }
}

/** Resolves the `.` and `..` segments of an absolute path (RFC 3986's remove_dot_segments): `..` at the root stays at the root. */
function withoutDotSegments(path: string): string {
  const segments: string[] = [];
  const parts = path.split("/");
  for (let i = 1; i < parts.length; i++) {
    const part = parts[i] as string;
    if (part === "..") segments.pop();
    else if (part !== ".") segments.push(part);
    // A path ending in `.` or `..` names a directory: it keeps its trailing slash.
    if ((part === "." || part === "..") && i === parts.length - 1) segments.push("");
  }
  return `/${segments.join("/")}`;
}
