/**
 * The durable mark of a membership change under way, `DIR/transition.json`, so that a member
 * killed in the middle of one finishes or undoes it when it restarts (see `flows/order.ts` for
 * the order of every step). Written atomically (temporary file, fsync, rename) before the first
 * step that others can see, removed after the last; every sync runs off the event loop.
 *
 * @module
 */
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { files } from "../files.ts";
import { tempName } from "../temp_name.ts";
import type { StatePaths } from "./state_dir.ts";

/** A membership change under way. */
export interface Transition {
  /**
   * `join`: this member asked to join and may have been admitted; a restart withdraws it.
   * `leave`: this member agreed to leave (or learnt it was removed); a restart finishes the reset.
   */
  step: "join" | "leave";
  /** This member's name in the cluster. */
  name: string;
  /** Members to ask to take this member out of the roster (`host:port`). */
  peers: string[];
  /** Fingerprint of the cluster certificate those members present. */
  fingerprint: string;
  /** When the change started (ms since the epoch). */
  at: number;
}

function path(paths: StatePaths): string {
  return join(paths.dir, "transition.json");
}

/** The change under way, or `undefined` (a file that cannot be read counts as a `leave`). */
export function readTransition(paths: StatePaths): Transition | undefined {
  let text: string;
  try {
    text = readFileSync(path(paths), "utf8");
  } catch (err) {
    if ((err as { code?: string }).code === "ENOENT") return undefined;
    throw err;
  }
  try {
    const v = JSON.parse(text) as Partial<Transition>;
    if (
      (v.step === "join" || v.step === "leave") && typeof v.name === "string" &&
      Array.isArray(v.peers) && v.peers.every((p) => typeof p === "string") &&
      typeof v.fingerprint === "string" && typeof v.at === "number"
    ) return v as Transition;
  } catch { /* torn or edited: handled below */ }
  // Only a crash mid-write leaves a bad file, and the safe way out of any change is a clean reset.
  return { step: "leave", name: "", peers: [], fingerprint: "", at: 0 };
}

/**
 * Writes the mark durably (see {@link writeDurablyAsync}): off the event loop, so that a disk
 * that holds its sync (seconds under a loaded disk, tens of seconds when stalled) never holds
 * the member's answers, its timers or its deadlines. Resolves once the mark is on disk.
 * Concurrent calls for one member must be serialised by the caller.
 */
export function writeTransition(paths: StatePaths, t: Transition): Promise<void> {
  return writeDurablyAsync(paths.dir, path(paths), JSON.stringify(t) + "\n");
}

/**
 * Replaces file `target` in directory `dir` with `text` atomically and durably, off the event
 * loop: temporary file ({@link tempName}), fsync, rename, fsync of the directory, each on the
 * thread pool. Without the first fsync a rename can reach the disk before the data it names, and
 * an operating-system crash leaves `target` empty. A failed write removes its temporary file and
 * leaves `target` as it was. Concurrent calls for one `target` must be serialised by the caller:
 * each lands whole, but the last rename wins, whichever call began first.
 *
 * `mode`: the file's mode (0o600 by default); one given is set exactly, whatever the umask.
 */
export async function writeDurablyAsync(
  dir: string,
  target: string,
  text: string,
  mode?: number,
): Promise<void> {
  const tmp = tempName(target);
  try {
    await files().writeFile(tmp, text, { mode: mode ?? 0o600 });
    // The umask may have narrowed it (a certificate others read). Only when asked: each step off
    // the loop waits for a turn of it, and the default's 0o600 a umask cannot widen.
    if (mode !== undefined) await files().chmod(tmp, mode);
    await files().sync(tmp);
    await files().rename(tmp, target);
  } catch (err) {
    await files().rm(tmp, { force: true }).catch(() => {});
    throw err;
  }
  await syncDirAsync(dir);
}

/**
 * Flushes a directory's entries (a rename or unlink in it) to disk, off the event loop; best
 * effort (not supported on every platform: the rename itself is still atomic).
 */
export async function syncDirAsync(dir: string): Promise<void> {
  try {
    await files().sync(dir);
  } catch { /* see above */ }
}

/**
 * Removes the mark of a change that has committed, without syncing the directory: a mark an
 * operating-system crash brings back beside the commit is cleared at the next start
 * (`flows/start.ts`), so no answer need wait for that sync (each fsync waits for whatever the
 * file system has queued: a join's commit took up to 1.3 s under a loaded disk). At once: one
 * unlink, where a step off the loop waits for a turn of it (a join's answer, issue 15).
 */
export function removeTransition(paths: StatePaths): void {
  rmSync(path(paths), { force: true });
}

/** Removes the mark and syncs the directory (off the event loop): the change is complete. */
export async function clearTransition(paths: StatePaths): Promise<void> {
  await files().rm(path(paths), { force: true });
  await syncDirAsync(paths.dir);
}
