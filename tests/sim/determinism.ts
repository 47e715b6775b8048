/**
 * What makes a simulated run replay exactly, under Node and Deno alike (the same seed plays the
 * same run under both):
 * - the member's file operations (`lib/files.ts`) are the synchronous ones, so two members'
 *   reads and writes can never finish in a different order from one run to the next (that
 *   order decides which timers come first); the store (libSQL) works synchronously already;
 * - under Node, `randomBytes` (join token secrets) draws from the seed. Deno's built-in modules
 *   cannot be patched: there a token's secret differs from run to run, which changes no
 *   decision (nothing orders or sizes anything by a secret's value).
 */
import crypto from "node:crypto";
import { createRequire } from "node:module";
import { createRandom } from "../../gossip/random.ts";
import type { Random } from "../../lib/cluster/membership.ts";
import { syncFiles, useFiles } from "../../lib/files.ts";

let random: Random = createRandom(1);
let installed = false;

/** Seeds `randomBytes` for the next world. */
export function seedRandomBytes(seed: number): void {
  random = createRandom(seed ^ 0x2545f491);
}

/**
 * Installs the synchronous file operations and (Node only) the seeded `randomBytes`, once.
 * Returns whether `randomBytes` is seeded.
 */
export function installDeterminism(): boolean {
  if (installed) return true;
  useFiles(syncFiles);
  if ("Deno" in globalThis) return false;
  installed = true;
  const c = crypto as unknown as Record<string, unknown>;
  const real = crypto.randomBytes;
  c.randomBytes = (size: number, cb?: unknown) => {
    if (cb !== undefined) return (real as (...a: unknown[]) => unknown)(size, cb);
    const out = Buffer.alloc(size);
    for (let i = 0; i < size; i++) out[i] = Math.floor(random.next() * 256);
    return out;
  };
  // Named imports of built-in modules are live bindings, refreshed from the default export.
  const { syncBuiltinESMExports } = createRequire(import.meta.url)("node:module");
  syncBuiltinESMExports();
  return true;
}
