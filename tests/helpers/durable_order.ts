/**
 * Watches a member's file operations through the `files()` seam (`lib/files.ts`) and says
 * whether a file was replaced durably: written to a temporary, the temporary synced, renamed
 * onto the target, the directory synced; in that order. Without the first sync a rename can
 * reach the disk before the data it names, and an operating-system crash leaves the target
 * empty (a `daemon.json` of zeros once).
 *
 * @module
 */
import { dirname } from "node:path";
import { asyncFiles, type Files, useFiles } from "../../lib/files.ts";

/** One file operation seen: its name and its paths. */
export interface FileOp {
  op: "writeFile" | "sync" | "rename" | "rm" | "chmod" | "mkdir" | "readFile";
  paths: string[];
}

/**
 * Installs a `Files` that does what {@link asyncFiles} does and records each operation; returns
 * the log and a function putting back the implementation used before.
 */
export function recordFiles(): { ops: FileOp[]; restore: () => void } {
  const ops: FileOp[] = [];
  const seen = <T>(op: FileOp["op"], paths: string[], run: () => Promise<T>): Promise<T> => {
    ops.push({ op, paths });
    return run();
  };
  const recording: Files = {
    readFile: (p) => seen("readFile", [p], () => asyncFiles.readFile(p)),
    writeFile: (p, d, o) => seen("writeFile", [p], () => asyncFiles.writeFile(p, d, o)),
    rm: (p, o) => seen("rm", [p], () => asyncFiles.rm(p, o)),
    mkdir: (p, o) => seen("mkdir", [p], () => asyncFiles.mkdir(p, o)),
    rename: (a, b) => seen("rename", [a, b], () => asyncFiles.rename(a, b)),
    chmod: (p, m) => seen("chmod", [p], () => asyncFiles.chmod(p, m)),
    sync: (p) => seen("sync", [p], () => asyncFiles.sync(p)),
  };
  const previous = useFiles(recording);
  return { ops, restore: () => void useFiles(previous) };
}

/**
 * What is wrong with how `target` was last replaced in `ops`, or `undefined` when it was
 * replaced durably (see the module docs). A target never renamed onto (written in place, or not
 * written at all) is named as such.
 */
export function durableProblem(ops: readonly FileOp[], target: string): string | undefined {
  const at = ops.findLastIndex((o) => o.op === "rename" && o.paths[1] === target);
  if (at < 0) {
    return ops.some((o) => o.op === "writeFile" && o.paths[0] === target)
      ? `${target} written in place`
      : `${target} never renamed onto`;
  }
  const tmp = ops[at].paths[0];
  const wrote = ops.findLastIndex((o, i) => i < at && o.op === "writeFile" && o.paths[0] === tmp);
  if (wrote < 0) return `${tmp} renamed onto ${target} without being written`;
  const synced = ops.findIndex((o, i) =>
    i > wrote && i < at && o.op === "sync" &&
    o.paths[0] === tmp
  );
  if (synced < 0) return `${tmp} renamed onto ${target} unsynced`;
  const dirSynced = ops.some((o, i) => i > at && o.op === "sync" && o.paths[0] === dirname(target));
  if (!dirSynced) return `the directory of ${target} not synced after its rename`;
  return undefined;
}
