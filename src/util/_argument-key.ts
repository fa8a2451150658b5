/**
 * The default cache key of `asyncCache` and `redisCache`: an encoding of an
 * argument list that two different lists never share.
 * @module
 */

/**
 * Encodes `args` (primitives other than symbols, arrays, plain objects and
 * `Date`s, nested) so that two different lists never give the same string;
 * throws a `TypeError` naming `api` for anything else (a `Map`, a class
 * instance, a function, a cycle), which could not be compared by value.
 *
 * @example
 * ```ts
 * encodeArgumentsKey(["user", 1], "redisCache"); // "[s4:usern1;]"
 * ```
 */
export function encodeArgumentsKey(args: readonly unknown[], api: string): string {
  return encodeKeyPart(args, -1, [], api);
}

/**
 * A prefix-free encoding of `value`, so that a list of encodings can be read
 * back one way only: `u` undefined, `l` null, `t`/`f`, `n<number>;`,
 * `b<bigint>;`, a string (see `stringPart`), `d<time>;` a Date, `[...]` an
 * array, `{<key><value>...}` a plain object (its own enumerable keys, sorted).
 * `index` is the argument's position (-1 for the list itself), for the error;
 * `open` holds the arrays and objects being encoded, to refuse a cycle.
 */
function encodeKeyPart(value: unknown, index: number, open: object[], api: string): string {
  switch (typeof value) {
    case "undefined":
      return "u";
    case "boolean":
      return value ? "t" : "f";
    case "number":
      return `n${String(value)};`;
    case "bigint":
      return `b${String(value)};`;
    case "string":
      return stringPart(value);
    case "object": {
      if (value === null) return "l";
      if (value instanceof Date) return `d${String(value.getTime())};`;
      const isArray = Array.isArray(value);
      if (!isArray) {
        const proto = Object.getPrototypeOf(value);
        if (proto !== Object.prototype && proto !== null) throw keyError(api, index, describeInstance(value));
        if (Object.getOwnPropertySymbols(value).length > 0) throw keyError(api, index, "an object with symbol keys");
      }
      if (open.includes(value)) throw keyError(api, index, "a structure that contains itself");
      open.push(value);
      let out: string;
      if (isArray) {
        out = "[";
        for (let i = 0; i < value.length; i++) out += encodeKeyPart(value[i], index < 0 ? i : index, open, api);
        out += "]";
      } else {
        out = "{";
        for (const name of Object.keys(value).sort()) {
          out += `${stringPart(name)}${encodeKeyPart((value as Record<string, unknown>)[name], index, open, api)}`;
        }
        out += "}";
      }
      open.pop();
      return out;
    }
  }
  throw keyError(api, index, describeKeyless(value));
}

/** A lone surrogate (half of a UTF-16 pair without its other half). */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * `s<length>:<chars>`; a string with a lone surrogate is `x<UTF-16 units in
 * hex>;` instead: a Redis key goes out as UTF-8, where every lone surrogate
 * becomes the same U+FFFD, so `"\uD800"` and `"\uDBFF"` would share a key.
 */
function stringPart(value: string): string {
  if (!LONE_SURROGATE.test(value)) return `s${value.length}:${value}`;
  let hex = "x";
  for (let i = 0; i < value.length; i++) hex += value.charCodeAt(i).toString(16).padStart(4, "0");
  return `${hex};`;
}

function describeKeyless(value: unknown): string {
  if (typeof value === "function") return "a function";
  if (typeof value === "symbol") return `a symbol (${String(value)})`;
  return typeof value;
}

function describeInstance(value: object): string {
  const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === "string" && name !== "" ? `an instance of ${name}` : "an object with a prototype";
}

function keyError(api: string, index: number, what: string): TypeError {
  return new TypeError(
    `Cannot make ${/^[aeiou]/i.test(api) ? "an" : "a"} ${api} key${index >= 0 ? ` from argument ${index}` : ""}: the default key compares only ` +
      `primitives, arrays, plain objects and Dates by value; pass a \`key\` option to key anything else, received ${what}`,
  );
}
