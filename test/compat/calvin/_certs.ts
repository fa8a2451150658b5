// A node certificate in the Calvin security layout, made with openssl for a test file.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface SecurityDir {
  dir: string;
  /** The node's certificate (self-signed: also the CA a client trusts). */
  cert: string;
  remove(): void;
}

/** Makes `<dir>/runtimes/<node>/mine/<node>.pem` and `.../private/private.key` for 127.0.0.1. */
export function makeSecurityDir(node: string): SecurityDir {
  const dir = mkdtempSync(join(tmpdir(), "corio-calvin-tls-"));
  const nodeDir = join(dir, "runtimes", node);
  mkdirSync(join(nodeDir, "mine"), { recursive: true });
  mkdirSync(join(nodeDir, "private"), { recursive: true });
  const certPath = join(nodeDir, "mine", `${node}.pem`);
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      join(nodeDir, "private", "private.key"),
      "-out",
      certPath,
      "-days",
      "2",
      "-subj",
      `/CN=${node}`,
      "-addext",
      `subjectAltName=DNS:${node},IP:127.0.0.1`,
    ],
    { stdio: "ignore" },
  );
  return { dir, cert: readFileSync(certPath, "utf8"), remove: () => rmSync(dir, { recursive: true, force: true }) };
}
