// The browser bundle's entry (esbuild bundles it with corio's core and
// corio/testing for scripts/test-runtimes.mjs): runs the smoke suite in the
// page and leaves the outcome on `globalThis.corioSmoke`.
import { runSmoke, type SmokeResult } from "./portable-smoke.ts";

const page = globalThis as typeof globalThis & { corioSmoke?: SmokeResult | { crashed: string } };
runSmoke((line) => console.log(line)).then(
  (result) => {
    page.corioSmoke = result;
  },
  (error: unknown) => {
    page.corioSmoke = { crashed: String(error) };
  },
);
