/**
 * The view a joiner was handed, kept durably in `DIR/join_view.json` until its store holds it.
 * A join answers once committed (`daemon.json`), without waiting for the store to take in the
 * admitting member's view: on a loaded machine writing its ~150 rows (in parts of
 * `ROWS_PER_TURN`, one part a turn, while the listener takes every member's first connection)
 * was most of what `cohort init --token` waited for after its admission at N = 50 (up to 1.7 s).
 * A member killed between the commit and that write restarts from this file: it takes the view
 * in as the join did (its roster is its trust, its members its seeds) and writes it to its store.
 * The file is written (on the thread pool) before the commit and removed once a batch holding
 * the view is written whole.
 *
 * @module
 */
import { join } from "node:path";
import type { JsonValue } from "../cluster/membership.ts";
import { files } from "../files.ts";
import type { StatePaths } from "./state_dir.ts";
import { syncDirAsync } from "./transition.ts";

/** What a joiner keeps of its admission until its store holds the view. */
export interface JoinView {
  /** The address of the member that admitted this one (asked first after a restart). */
  via: string;
  /** The admitting member's exported view (`GossipHandle.exportState`). */
  state: JsonValue;
}

/** The file's path in a state directory. */
export function joinViewPath(paths: StatePaths): string {
  return join(paths.dir, "join_view.json");
}

/**
 * Writes `view`, off the event loop; the caller syncs the directory. Neither a temporary file
 * nor an fsync: the file is awaited before the commit, and a join killed before it is undone
 * with the file, so no member reads a torn one; and it stands in for the store's write of the
 * view, which a `synchronous = NORMAL` commit does not make durable against an operating-system
 * crash either (an fsync on the joiner's path waits for whatever the file system has queued).
 */
export async function writeJoinView(paths: StatePaths, view: JoinView): Promise<void> {
  await files().writeFile(joinViewPath(paths), JSON.stringify(view), { mode: 0o600 });
}

/**
 * The view kept by a join whose store did not take it in yet, or `undefined` (none, or one an
 * operating-system crash cut short: the store then holds what the member knew, gossip the rest).
 */
export async function readJoinView(paths: StatePaths): Promise<JoinView | undefined> {
  let text: string;
  try {
    text = await files().readFile(joinViewPath(paths));
  } catch (err) {
    if ((err as { code?: string }).code === "ENOENT") return undefined;
    throw err;
  }
  try {
    const v = JSON.parse(text) as Partial<JoinView>;
    if (typeof v.via === "string" && v.state !== undefined && v.state !== null) {
      return { via: v.via, state: v.state };
    }
  } catch { /* cut short by an operating-system crash (see writeJoinView) */ }
  return undefined;
}

/** Removes the file (the store holds the view, or the member leaves its cluster). */
export async function removeJoinView(paths: StatePaths): Promise<void> {
  await files().rm(joinViewPath(paths), { force: true });
  await syncDirAsync(paths.dir);
}
