// The piscina side of bench/threads.bench.ts: the same jobs as corio's.
import { createHash } from "node:crypto";

let input;
export function trivial(n) {
  return n;
}
export function hash(n) {
  input ??= Buffer.alloc(1 << 20, 7);
  input[0] = n & 255;
  return createHash("sha256").update(input).digest("hex");
}
export function busyFor(ms) {
  const end = performance.now() + ms;
  while (performance.now() < end);
  return ms;
}
export function lengthOf({ bytes }) {
  return bytes.length;
}
export function busyWith({ ms, bytes }) {
  busyFor(ms);
  return bytes.length;
}
export default trivial;
