/**
 * The states an operating-system crash could leave at the points a member answered
 * (`crash_order_check.ts`), sampled with a seed and written out as state directories to start a
 * member on. At each point: every durable change of names, and each change not yet durable kept
 * or dropped; each file's bytes as last synced, or as written, or (cohort's own files) cut short
 * at a random length; SQLite's files as last synced or as written (its log's checksums tell a
 * torn frame), its shared-memory index left out (rebuilt from the log at the next open).
 * Two states of each point are always among the candidates: the synced prefix (nothing unsynced
 * kept) and everything written (what a `kill -9` leaves).
 *
 * @module
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import type { AckPoint } from "./crash_order_check.ts";
import { sqliteFile } from "./crash_order_check.ts";
import type { EntryOp } from "./crash_model.ts";
import { Replay } from "./crash_model.ts";

/** One crash state: its files (relative path → bytes, or a directory) and how it was chosen. */
export interface CrashState {
  /** Where it was taken: the journey step and the answer after which. */
  point: AckPoint;
  /** How it differs from what a reader saw then, one phrase per difference ("" when none). */
  choices: string[];
  /** Whether the state directory itself is there (a crash may lose one the daemon made). */
  present: boolean;
  files: Map<string, { dir: boolean; data: Buffer; mode: number }>;
}

/** How a state is picked: the synced prefix, everything written, or a random mix. */
export type Pick = "synced" | "written" | "mixed";

/**
 * The crash state of `point` in a member's state directory `dir` that `pick` describes (`rnd`
 * chooses for "mixed"); no files at all when the directory itself is lost.
 */
export function crashState(
  point: AckPoint,
  dir: string,
  pick: Pick,
  rnd: () => number,
): CrashState {
  const choices: string[] = [];
  const rel = (p: string) => relative(dir, p) || ".";
  const kept = new Set<EntryOp>();
  for (const { entry, durable } of point.entries) {
    if (durable) continue;
    const keep = pick === "written" || (pick === "mixed" && rnd() < 0.5);
    if (keep) kept.add(entry);
    else choices.push(`${entry.kind} ${rel(entry.path)} lost`);
  }
  // Replays the names as of the point: the frozen durability, not the entries' current flags.
  const replay = new Replay(dirname(dir));
  replay.entries.push(
    ...point.entries.map(({ entry, durable }) => ({
      ...entry,
      durable: durable || kept.has(entry),
    })),
  );
  const names = replay.namesAfterCrash(new Set());
  const files = new Map<string, { dir: boolean; data: Buffer; mode: number }>();
  for (const [path, inode] of names) {
    const file = relative(dir, path);
    if (file === "" || file.startsWith("..") || file.endsWith("-shm")) continue;
    const now = point.contents.get(inode) ?? { data: inode.data, synced: inode.synced };
    let data = now.data;
    if (!inode.dir && !(now.synced && now.synced.equals(now.data))) {
      const synced = now.synced ?? Buffer.alloc(0);
      const how = pick === "written"
        ? "written"
        : pick === "synced"
        ? "synced"
        : (["synced", "written", "cut"] as const)[Math.floor(rnd() * (sqliteFile(file) ? 2 : 3))];
      if (how === "synced") data = synced;
      if (how === "cut") data = now.data.subarray(0, Math.floor(rnd() * now.data.length));
      if (how !== "written") {
        choices.push(`${file} ${how} (${data.length} of ${now.data.length} bytes)`);
      }
    }
    files.set(file, { dir: inode.dir, data, mode: inode.mode });
  }
  const present = names.has(dir);
  if (!present) files.clear();
  return { point, choices, present, files };
}

/** Writes `state` as the state directory `dir` (which must not exist). */
export function materialize(state: CrashState, dir: string): void {
  if (!state.present) return;
  mkdirSync(dir, { mode: 0o711 });
  const sorted = [...state.files].sort(([a], [b]) => a.localeCompare(b));
  for (const [file, f] of sorted) {
    const path = join(dir, file);
    if (f.dir) mkdirSync(path, { recursive: true, mode: f.mode & 0o777 });
    else writeFileSync(path, f.data, { mode: f.mode & 0o777 });
  }
}

/** A short, stable description of what `state` holds, to tell states apart. */
export function signature(state: CrashState): string {
  return `${state.present}|` + [...state.files].sort(([a], [b]) => a.localeCompare(b))
    .map(([f, v]) => `${f}:${v.dir ? "d" : v.data.toString("base64")}`).join("|");
}
