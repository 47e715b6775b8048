/**
 * The view a joiner was handed, kept durably in `DIR/join_view.json` until its store holds it.
 * A join answers once committed (`daemon.json`), without waiting for the store to take in the
 * admitting member's view: on a loaded machine writing its ~150 rows (in parts of
 * `ROWS_PER_TURN`, one part a turn, while the listener takes every member's first connection)
 * was most of what `cohort init --token` waited for after its admission at N = 50 (up to 1.7 s).
 * A member killed between the commit and that write restarts from this file: it takes the view
 * in as the join did (its roster is its trust, its members its seeds) and writes it to its store.
 * The file is written before the commit and removed once a batch holding the view is written
 * whole.
 *
 * That file is not synced (its ~100 KB at N = 50 would wait for the disk on the join's path), so
 * an operating-system crash may tear it. `daemon.json`, synced as the join's commit, also holds
 * the seed of the view (`join_seed`: the admitting member's and this member's entries and roster
 * records, a few KB) until the store holds the view. A restart that finds the view torn or gone
 * takes the seed in instead: it trusts the admitting member and asks it first, whose push-pull
 * brings the rest. The admitting member's address alone would not do: with no roster the
 * restarted member trusts nobody, so no member's answer reaches it.
 *
 * @module
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { JsonValue } from "../json_value.ts";
import { MEMBER_RECORD } from "../cluster/roster.ts";
import { files } from "../files.ts";
import { forgetJoinSeed, type JoinSeed, readJoinSeed } from "./join_config.ts";
import type { StatePaths } from "./state_dir.ts";
import { syncDirAsync } from "../write_durably.ts";

/** What a joiner keeps of its admission until its store holds the view. */
export interface JoinView {
  /** The address of the member that admitted this one (asked first after a restart). */
  via: string;
  /**
   * The admitting member's exported view (`GossipHandle.exportState`), or only its seed (see the
   * module docs) when the view's file was torn or lost.
   */
  state: JsonValue;
}

/** The view's path in a state directory. */
export function joinViewPath(paths: StatePaths): string {
  return join(paths.dir, "join_view.json");
}

/**
 * Writes `view` at once (into the page cache: ~100 KB at N = 50, under a millisecond); the
 * caller syncs the directory. Neither a temporary file nor an fsync: the file is written before
 * the commit, and a join killed before it is undone with the file, so no restart after a kill
 * reads a torn one; one an operating-system crash tore is replaced by its seed (see the module
 * docs). It stands in for the store's write of the view, which a `synchronous = NORMAL` commit
 * does not make durable against an operating-system crash either (an fsync on the joiner's
 * path waits for whatever the file system has queued).
 */
export function writeJoinView(paths: StatePaths, view: JoinView): void {
  writeFileSync(joinViewPath(paths), JSON.stringify(view), { mode: 0o600 });
}

/**
 * The seed of `view` for member `own` (see the module docs): of the exported view (a push-pull
 * answer: `f` its sender, `st` member entries, `x` extension lists, `rc` records), what names
 * the sender and `own`.
 */
export function joinSeed(view: JoinView, own: string): JoinSeed {
  const pp = view.state as { [k: string]: JsonValue };
  const names = new Set([String(pp.f), own]);
  const st = Array.isArray(pp.st) ? pp.st : [];
  const rc = Array.isArray(pp.rc) ? pp.rc : [];
  const x = pp.x !== null && typeof pp.x === "object" && !Array.isArray(pp.x) ? pp.x : {};
  const state = {
    ...pp,
    x: Object.fromEntries(Object.entries(x).filter(([name]) => names.has(name))),
    st: st.filter((e) => names.has((e as { n?: string }).n ?? "")),
    rc: rc.filter((r) => {
      const { kind, key } = r as { kind?: string; key?: string };
      return kind === MEMBER_RECORD && names.has(key ?? "");
    }),
  } as JsonValue;
  return { via: view.via, state };
}

/** The `JoinView` in file `path`, or `undefined` (none, or torn). */
async function readKept(path: string): Promise<JoinView | undefined> {
  let text: string;
  try {
    text = await files().readFile(path);
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

/**
 * The view kept by a join whose store did not take it in yet, or `undefined` (none). A view an
 * operating-system crash tore or lost leaves its seed (see the module docs); without that
 * either, the store holds what the member knew.
 */
export async function readJoinView(paths: StatePaths): Promise<JoinView | undefined> {
  return await readKept(joinViewPath(paths)) ?? readJoinSeed(paths);
}

/**
 * Removes the seed from `daemon.json`, then the view (the store holds the view, or the member
 * leaves its cluster).
 */
export async function removeJoinView(paths: StatePaths): Promise<void> {
  await forgetJoinSeed(paths);
  await files().rm(joinViewPath(paths), { force: true });
  await syncDirAsync(paths.dir);
}
