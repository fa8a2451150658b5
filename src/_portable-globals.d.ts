/**
 * The web-platform globals the portable modules use, declared for the
 * portability check (`tsconfig.portable.json`, no `@types/node`). Node, Deno,
 * Bun and browsers all provide them.
 */
interface ErrorConstructor {
  /** V8's stack depth; other engines ignore it. */
  stackTraceLimit: number;
}
interface AbortSignal {
  readonly aborted: boolean;
  readonly reason: unknown;
  addEventListener(type: "abort", listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: "abort", listener: () => void): void;
  throwIfAborted(): void;
}
declare var AbortSignal: { prototype: AbortSignal };
interface AbortController {
  readonly signal: AbortSignal;
  abort(reason?: unknown): void;
}
declare var AbortController: { prototype: AbortController; new (): AbortController };
interface TextEncoder {
  encode(input?: string): Uint8Array;
}
declare var TextEncoder: { prototype: TextEncoder; new (): TextEncoder };
interface TextDecoder {
  decode(input?: Uint8Array, options?: { stream?: boolean }): string;
}
declare var TextDecoder: { prototype: TextDecoder; new (label?: string, options?: { fatal?: boolean; ignoreBOM?: boolean }): TextDecoder };
interface Event {
  readonly type: string;
}
// biome-ignore lint/suspicious/noExplicitAny: the same parameters as the host's declaration, to merge with it
interface ReadableStream<R = any> {
  readonly locked: boolean;
}
// biome-ignore lint/suspicious/noExplicitAny: the same parameters as the host's declaration, to merge with it
interface WritableStream<W = any> {
  readonly locked: boolean;
}
