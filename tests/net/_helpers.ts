/**
 * Shared fixtures for the network tests: temporary directories, cached key pairs and a logger
 * that keeps its lines.
 *
 * @module
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "../../lib/log.ts";
import type { Logger } from "../../lib/log.ts";
import { generateCertificate } from "../../lib/net/certificates.ts";
import type { KeyPair } from "../../lib/net/certificates.ts";

/** A fresh directory under the OS temp dir and a function removing it. */
export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "cohort-net-"));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

const pairs = new Map<string, Promise<KeyPair>>();

/** A key pair for `name` dialled at 127.0.0.1, generated once per process. */
export function keyPair(name: string): Promise<KeyPair> {
  let pair = pairs.get(name);
  if (!pair) {
    pair = generateCertificate({ name, addresses: ["127.0.0.1", "localhost"] });
    pairs.set(name, pair);
  }
  return pair;
}

/** A debug-level logger whose parsed lines end up in `lines`. */
export function memoryLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({
    level: "debug",
    write: (line) => void lines.push(JSON.parse(line)),
  });
  return { logger, lines };
}
