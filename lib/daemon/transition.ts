/**
 * The durable mark of a membership change under way, `DIR/transition.json`, so that a member
 * killed in the middle of one finishes or undoes it when it restarts (see `flows/order.ts` for
 * the order of every step). Written atomically (`writeDurablyAsync`) before the first
 * step that others can see, removed after the last; every sync runs off the event loop.
 *
 * @module
 */
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { files } from "../files.ts";
import { syncDirAsync, writeDurablyAsync } from "../write_durably.ts";
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
