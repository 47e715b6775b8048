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
 *   only when none is left;
 * - a write also holds its store's lock (`lib/store/write_lock.ts`, which the store's own
 *   operations wait for) from the moment it is its turn until the world hands its outcome over,
 *   not until it ended on its thread: an operation that waited for it goes on at that same
 *   moment, in the order they waited, however long the thread took. Before, two members' reads
 *   that each waited for a write of their own went on in the order the writes ended (seeds 104,
 *   262, 294 of 1..500 with 4 steps logged lines in another order from run to run on a loaded
 *   machine). The writer is given a lock of its own for what it does by itself: a write waits
 *   for the store's lock before it reaches the writer, and the writer's WAL checkpoint, timed
 *   in real milliseconds, takes only its own, so it can never make the store's operations wait;
 * - a wait for a writer's thread to be idle (`ThreadWriter.idle`, which a stop's `Store.flush`
 *   calls) is held as a write is: a checkpoint its real timer started may run there, which the
 *   world did not count, and moved its clock meanwhile (a stop took the checkpoint's real time in
 *   simulated time, scaled up by the world's pace: seeds 104 and 294 replayed differently at
 *   load 30-60). A checkpoint nobody waits for changes nothing a member reads.
 */
import crypto from "node:crypto";
import { createRequire } from "node:module";
import { createRandom } from "../../gossip/random.ts";
import type { Random } from "../../lib/cluster/random.ts";
import { syncFiles, useFiles } from "../../lib/files.ts";
import { ThreadWriter, type ThreadWriterOptions } from "../../lib/store/thread_writer.ts";
import { WriteLock } from "../../lib/store/write_lock.ts";

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

/** The options each writer was opened with: the lock it shares with its store's connection. */
const shared = new WeakMap<ThreadWriter, ThreadWriterOptions>();

/**
 * Holds the outcome of every {@link ThreadWriter} write until {@link deliverWrite}, and the
 * store's lock with it: writes end on their threads in an order the machine decides, and their
 * callers' next steps (a gossip message, a random draw), like those of the store's operations
 * that waited for the lock, would follow that order. A wait for the writer's thread to be idle
 * is held the same way.
 */
function holdWrites(): void {
  if (holding) return;
  holding = true;
  const open = ThreadWriter.open;
  ThreadWriter.open = (options: ThreadWriterOptions) => {
    const writer = open.call(ThreadWriter, { ...options, lock: new WriteLock() });
    shared.set(writer, options);
    return writer;
  };
  const write = ThreadWriter.prototype.write;
  ThreadWriter.prototype.write = function (this: ThreadWriter, statements) {
    const options = shared.get(this);
    const turn = options ? options.lock.acquire(options.busyTimeoutMs) : Promise.resolve(() => {});
    return hold(turn, () => write.call(this, statements));
  };
  // A stop waits until its writer's thread is idle (`Store.flush`), and a WAL checkpoint may run
  // there then (it comes on a real timer): the world moved its clock while it ran.
  const idle = ThreadWriter.prototype.idle;
  ThreadWriter.prototype.idle = function (this: ThreadWriter) {
    return hold(Promise.resolve(() => {}), () => idle.call(this));
  };
}

/**
 * Runs `work` once `turn` gives the store's lock (or rejects), and holds its outcome, and the
 * lock, until {@link deliverWrite} hands them over in the order of the calls.
 */
function hold(turn: Promise<() => void>, work: () => Promise<void>): Promise<void> {
  let ended!: () => void;
  const entry: HeldWrite = { ended: new Promise<void>((r) => (ended = r)) };
  held.push(entry);
  return new Promise<void>((resolve, reject) => {
    const keep = (release: () => void, outcome: () => void) => {
      entry.deliver = () => {
        release();
        outcome();
      };
      ended();
    };
    turn.then(
      (release) =>
        work().then(
          () => keep(release, resolve),
          (err) => keep(release, () => reject(err)),
        ),
      (err) => keep(() => {}, () => reject(err)),
    );
  });
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
