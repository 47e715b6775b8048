/**
 * What makes a simulated run replay exactly under Node: the member's file operations
 * (`node:fs/promises`) complete synchronously, so two members' reads and writes can never finish
 * in a different order from one run to the next (that order decides which timers come first);
 * and `randomBytes` (join token secrets) draws from the seed. Deno's built-in modules cannot be
 * patched: there the world still waits for real I/O before the clock moves, but two members'
 * overlapping file operations may finish in either order, so a Deno run may differ from a Node
 * replay of the same seed (replay with `npx tsx scripts/simulate.ts --seed S`).
 */
import crypto from "node:crypto";
import fs from "node:fs";
import fsp from "node:fs/promises";
import { createRequire } from "node:module";
import { createRandom } from "../../gossip/random.ts";
import type { Random } from "../../lib/cluster/membership.ts";

let random: Random = createRandom(1);
let installed = false;

/** Seeds `randomBytes` for the next world. */
export function seedRandomBytes(seed: number): void {
  random = createRandom(seed ^ 0x2545f491);
}

/** Installs the patches (once; Node only: see the module docs). Returns whether they apply. */
export function installDeterminism(): boolean {
  if (installed) return true;
  if ("Deno" in globalThis) return false;
  installed = true;
  const p = fsp as unknown as Record<string, unknown>;
  const sync = <A extends unknown[], R>(f: (...a: A) => R) => (...a: A) => {
    try {
      return Promise.resolve(f(...a));
    } catch (err) {
      return Promise.reject(err);
    }
  };
  p.readFile = sync(fs.readFileSync as (...a: unknown[]) => unknown);
  p.writeFile = sync(fs.writeFileSync as (...a: unknown[]) => unknown);
  p.rm = sync(fs.rmSync as (...a: unknown[]) => unknown);
  p.mkdir = sync(fs.mkdirSync as (...a: unknown[]) => unknown);
  p.rename = sync(fs.renameSync as (...a: unknown[]) => unknown);
  p.chmod = sync(fs.chmodSync as (...a: unknown[]) => unknown);
  p.unlink = sync(fs.unlinkSync as (...a: unknown[]) => unknown);
  p.lstat = sync(fs.lstatSync as (...a: unknown[]) => unknown);
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
