/**
 * The order rules of durable writes, checked on a member's trace (`crash_trace.ts`) replayed
 * through the crash model (`crash_model.ts`), for the state directory itself and every file in it
 * but SQLite's own (its write-ahead log with `synchronous = NORMAL` is SQLite's business):
 * 1. a file renamed into place had its data synced after its last write and before the rename;
 * 2. at each point the member tells someone a step is done (`crash_acks.ts`: its answer to a
 *    request that changes something, a durable step's log line), every name made, replaced or
 *    linked (a new file, a rename, a new directory, the state directory itself) is durable (its
 *    directory synced), and every file's data is synced: what a CLI command, an API client or a
 *    peer is told is done must survive an operating-system crash;
 * 3. no file in place is rewritten in place (one holding data opened for writing, or truncated):
 *    a crash in the middle leaves it torn.
 *
 * Those points are also where a crash is taken (`crash_states.ts`): each gets a frozen copy of
 * what the model held then.
 *
 * @module
 */
import { basename, dirname, relative } from "node:path";
import { tempWriter } from "../../lib/temp_name.ts";
import { Answers } from "./crash_acks.ts";
import { type EntryOp, type Inode, Replay } from "./crash_model.ts";
import type { Timed } from "./crash_trace.ts";

/** A step of the journey: its name and when it began (s since the epoch, as the trace's times). */
export interface Step {
  name: string;
  at: number;
}

/** One broken rule. */
export interface Violation {
  /** The file, relative to the state directory ("." for the directory itself). */
  file: string;
  /** What was done and what was missing. */
  problem: string;
  /** The journey step it happened in. */
  step: string;
}

/** A point the member told someone a step was done, with what a crash there could leave. */
export interface AckPoint {
  /** The operation's index. */
  at: number;
  step: string;
  /** What it told (`POST /core/control (200)`, `log "Admitted a new member"`). */
  answer: string;
  /** Every change of names so far, with whether it was durable then. */
  entries: { entry: EntryOp; durable: boolean }[];
  /** Each inode's bytes then: as a reader saw them, and as last synced. */
  contents: Map<Inode, { data: Buffer; synced?: Buffer }>;
  /** The names a reader saw then in the state directory (relative path → inode). */
  visible: Map<string, Inode>;
  /** The members it had logged as admitted and not been asked to remove. */
  admitted: string[];
}

/** Whether `file` (relative to the state directory) is SQLite's. */
export function sqliteFile(file: string): boolean {
  return /\.db(-wal|-shm|-journal)?$/.test(file);
}

/**
 * Files a crash may lose or tear by design, each with the reason: rules 2 and 3 do not apply
 * (the crash states still start from every variant of them).
 */
export const TRANSIENT: Record<string, string> = {
  "daemon.pid": "the lock: a crash makes any lock stale, and a start reclaims it",
  "join_view.json": "written unsynced on the join's path by design (lib/daemon/join_view.ts): " +
    "torn or lost, the start takes in the seed daemon.json holds",
};

/** Whether the rules apply to `file` (relative to the state directory; "" is the directory). */
function checked(file: string): boolean {
  if (file.startsWith("..")) return false;
  return !sqliteFile(file) && !(file in TRANSIENT) && tempWriter(basename(file)) === undefined;
}

/** The step under way at `time`. */
function stepAt(steps: readonly Step[], time: number): string {
  let name = "(before the journey)";
  for (const s of steps) if (s.at <= time) name = s.name;
  return name;
}

/**
 * Replays `ops` (a trace of the member whose state directory is `dir`, replayed from its parent,
 * so that the daemon's making of `dir` counts) and returns the rules it broke and the points it
 * told someone a step was done.
 */
export function checkOrder(
  ops: readonly Timed[],
  dir: string,
  steps: readonly Step[],
): { violations: Violation[]; acks: AckPoint[] } {
  const replay = new Replay(dirname(dir));
  const answers = new Answers(dir);
  const violations: Violation[] = [];
  const seen = new Set<string>();
  const rel = (p: string) => relative(dir, p);
  const report = (file: string, problem: string, time: number) => {
    const v = { file: file || ".", problem, step: stepAt(steps, time) };
    const key = `${v.file}|${v.problem}|${v.step}`;
    if (!seen.has(key)) violations.push(v), seen.add(key);
  };
  const acks: AckPoint[] = [];
  ops.forEach((op, i) => {
    if (op.kind === "rename" && replay.inside(op.to) && checked(rel(op.to))) {
      const inode = replay.names.get(op.from);
      if (inode && !inode.dir && !inode.synced?.equals(inode.data)) {
        report(rel(op.to), `renamed into place (from ${basename(op.from)}) unsynced`, op.time);
      }
    }
    if (op.kind === "open" && replay.inside(op.path) && checked(rel(op.path))) {
      const exists = replay.names.get(op.path);
      if (exists && !exists.dir && exists.data.length > 0 && /O_WRONLY|O_RDWR/.test(op.flags)) {
        report(rel(op.path), `rewritten in place (opened ${op.flags})`, op.time);
      }
    }
    if (op.kind === "truncate" && replay.inside(op.path) && checked(rel(op.path))) {
      report(rel(op.path), "rewritten in place (truncated)", op.time);
    }
    replay.apply(op, i);
    const answer = answers.see(op);
    if (!answer) return;
    for (const [path, inode] of replay.names) {
      if (inode.dir || !checked(rel(path)) || inode.synced?.equals(inode.data)) continue;
      report(rel(path), `data not synced at ${answer}`, op.time);
    }
    for (const e of replay.pending()) {
      if (e.kind === "unlink" || e.kind === "rmdir" || !checked(rel(e.path))) continue;
      if (!replay.names.has(e.path)) continue; // replaced or removed since
      const parent = e.path === dir ? "its parent" : relative(dir, dirname(e.path)) || ".";
      report(rel(e.path), `${e.kind} not durable (${parent} unsynced) at ${answer}`, op.time);
    }
    acks.push({
      at: i,
      step: stepAt(steps, op.time),
      answer,
      entries: replay.entries.map((entry) => ({ entry, durable: entry.durable })),
      contents: new Map(
        [...new Set(replay.entries.map((e) => e.inode).filter((x): x is Inode => !!x))]
          .map((n) => [n, { data: n.data, synced: n.synced }]),
      ),
      visible: new Map(
        [...replay.names].filter(([p]) => p.startsWith(dir + "/")).map(([p, n]) => [rel(p), n]),
      ),
      admitted: [...answers.admitted],
    });
  });
  return { violations, acks };
}
