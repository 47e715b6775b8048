/**
 * What makes a simulated run replay exactly, under Node and Deno alike (the same seed plays the
 * same run under both):
 * - the member's file operations (`lib/files.ts`) are the synchronous ones, so two members'
 *   reads and writes can never finish in a different order from one run to the next (that
 *   order decides which timers come first); the store (libSQL) works synchronously already;
 * - under Node, `randomBytes` (join token secrets) draws from the seed. Deno's built-in modules
 *   cannot be patched: there a token's secret differs from run to run, which changes no
 *   decision (nothing orders or sizes anything by a secret's value);
 * - the store's writes run on libSQL's threads (`lib/store/thread_writer.ts`), which neither
 *   runtime lists as active and which end in an order the machine decides: each write's outcome
 *   is held, and the world hands them to their callers one at a time, in the order they were
 *   called, each once nothing else is left to run ({@link deliverWrite}), and moves its clock
 *   only when none is left.
 */
import crypto from "node:crypto";
import { createRequire } from "node:module";
import { createRandom } from "../../gossip/random.ts";
import type { Random } from "../../lib/cluster/membership.ts";
import { syncFiles, useFiles } from "../../lib/files.ts";
import { ThreadWriter } from "../../lib/store/thread_writer.ts";

let random: Random = createRandom(1);
let installed = false;

/** Seeds `randomBytes` for the next world. */
export function seedRandomBytes(seed: number): void {
  random = createRandom(seed ^ 0x2545f491);
}

/** A store write called in a world: its outcome, held until the world lets it through. */
interface HeldWrite {
  /** Set once the write ended on its thread: hands its outcome to its caller. */
  deliver?: () => void;
  /** Settles once the write ended on its thread ({@link HeldWrite.deliver} is set by then). */
  ended: Promise<void>;
}

/** Every world's store writes not yet handed to their callers, in the order they were called. */
const held: HeldWrite[] = [];
let holding = false;

/** Store writes on libSQL's threads not yet handed to their callers, in every world. */
export function writesInFlight(): number {
  return held.length;
}

/**
 * Settles once the earliest called write not yet handed to its caller ended on its thread (at
 * once when there is none): what a world waits for when nothing else is left to run.
 */
export function earliestWriteEnded(): Promise<void> {
  return held[0]?.ended ?? Promise.resolve();
}

/**
 * Hands the earliest called write's outcome to its caller, once that write ended on its thread.
 * Returns false when it is still running.
 */
export function deliverWrite(): boolean {
  const first = held[0];
  if (!first?.deliver) return false;
  held.shift();
  first.deliver();
  return true;
}

/**
 * Holds the outcome of every {@link ThreadWriter} write until {@link deliverWrite}: writes end
 * on their threads in an order the machine decides, and their callers' next steps (a gossip
 * message, a random draw) would follow that order.
 */
function holdWrites(): void {
  if (holding) return;
  holding = true;
  const write = ThreadWriter.prototype.write;
  ThreadWriter.prototype.write = function (this: ThreadWriter, statements) {
    const run = write.call(this, statements);
    let ended!: () => void;
    const entry: HeldWrite = { ended: new Promise<void>((r) => (ended = r)) };
    held.push(entry);
    return new Promise<void>((resolve, reject) => {
      run.then(
        () => {
          entry.deliver = resolve;
          ended();
        },
        (err) => {
          entry.deliver = () => reject(err);
          ended();
        },
      );
    });
  };
}

/**
 * Installs the synchronous file operations, the held store writes and (Node only) the seeded
 * `randomBytes`, once. Returns whether `randomBytes` is seeded.
 */
export function installDeterminism(): boolean {
  holdWrites();
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
