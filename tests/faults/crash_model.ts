/**
 * What an operating-system crash may leave of a state directory, replayed from a trace
 * (`crash_trace.ts`), in the model of ALICE ("All File Systems Are Not Created Equal", OSDI
 * 2014), kept POSIX-strict: a file's data is on disk as of its last `fsync` (later writes may be
 * there whole, cut short, or not at all); a name made, replaced or removed in a directory is on
 * disk once that directory was synced (until then it may or may not be, each independently).
 * The state directory's files are replayed byte for byte, SQLite's included (its writes are in
 * the trace too; its shared-memory index is left out: SQLite rebuilds it from its log).
 *
 * @module
 */
import { dirname } from "node:path";
import type { Timed } from "./crash_trace.ts";

/** A file or directory of the model. */
export interface Inode {
  id: number;
  dir: boolean;
  /** The bytes written so far (what a reader sees). */
  data: Buffer;
  /** The bytes as of its last sync (`undefined`: never synced). */
  synced?: Buffer;
  /** Its mode as made. */
  mode: number;
}

/** A change of a directory's entries, not yet durable until that directory is synced. */
export interface EntryOp {
  /** Its index in the operations (for the journey step it belongs to). */
  at: number;
  kind: "create" | "rename" | "link" | "unlink" | "mkdir" | "rmdir";
  path: string;
  from?: string;
  inode?: Inode;
  /** Whether a sync of every directory it changed came after it. */
  durable: boolean;
}

/** The state of a directory tree while a trace replays. */
export class Replay {
  /** What a reader sees now: path → inode, for paths under {@link root}. */
  readonly names = new Map<string, Inode>();
  /** Every change of names so far, in order. */
  readonly entries: EntryOp[] = [];
  private ids = 0;
  private offsets = new Map<string, number>();

  constructor(readonly root: string) {
    this.names.set(root, { id: this.ids++, dir: true, data: Buffer.alloc(0), mode: 0o711 });
  }

  /** Whether `path` is under the tree. */
  inside(path: string): boolean {
    return path === this.root || path.startsWith(this.root + "/");
  }

  private entry(op: Omit<EntryOp, "durable">): void {
    this.entries.push({ ...op, durable: false });
  }

  /** Applies operation `i` of the trace. */
  apply(op: Timed, i: number): void {
    switch (op.kind) {
      case "open": {
        if (!this.inside(op.path)) return;
        let inode = this.names.get(op.path);
        if (!inode && op.flags.includes("O_CREAT")) {
          inode = { id: this.ids++, dir: false, data: Buffer.alloc(0), mode: op.mode ?? 0o644 };
          this.names.set(op.path, inode);
          this.entry({ at: i, kind: "create", path: op.path, inode });
        }
        if (inode && op.flags.includes("O_TRUNC")) inode.data = Buffer.alloc(0);
        const key = `${op.fd}:${op.path}`;
        this.offsets.set(key, op.flags.includes("O_APPEND") ? inode?.data.length ?? 0 : 0);
        return;
      }
      case "write": {
        const inode = this.names.get(op.path);
        if (!inode || !this.inside(op.path)) return;
        const key = `${op.fd}:${op.path}`;
        const at = op.offset ?? this.offsets.get(key) ?? inode.data.length;
        const end = at + op.data.length;
        const next = Buffer.alloc(Math.max(end, inode.data.length));
        inode.data.copy(next);
        op.data.copy(next, at);
        inode.data = next;
        if (op.offset === undefined) this.offsets.set(key, end);
        return;
      }
      case "truncate": {
        const inode = this.names.get(op.path);
        if (!inode || !this.inside(op.path)) return;
        const next = Buffer.alloc(op.length);
        inode.data.copy(next, 0, 0, Math.min(op.length, inode.data.length));
        inode.data = next;
        return;
      }
      case "sync": {
        const inode = this.names.get(op.path);
        if (!inode || !this.inside(op.path)) return;
        if (!inode.dir) {
          inode.synced = Buffer.from(inode.data);
          return;
        }
        for (const e of this.entries) {
          if (dirname(e.path) === op.path && (!e.from || dirname(e.from) === op.path)) {
            e.durable = true;
          }
        }
        return;
      }
      case "rename":
      case "link": {
        if (!this.inside(op.to)) return;
        const inode = this.names.get(op.from);
        if (!inode) return;
        if (op.kind === "rename") this.names.delete(op.from);
        this.names.set(op.to, inode);
        this.entry({ at: i, kind: op.kind, path: op.to, from: op.from, inode });
        return;
      }
      case "unlink":
      case "rmdir":
        if (!this.inside(op.path) || !this.names.has(op.path)) return;
        this.names.delete(op.path);
        this.entry({ at: i, kind: op.kind, path: op.path });
        return;
      case "mkdir": {
        if (!this.inside(op.path) || this.names.has(op.path)) return;
        const inode = { id: this.ids++, dir: true, data: Buffer.alloc(0), mode: op.mode };
        this.names.set(op.path, inode);
        this.entry({ at: i, kind: "mkdir", path: op.path, inode });
        return;
      }
    }
  }

  /** The changes of names not yet durable. */
  pending(): EntryOp[] {
    return this.entries.filter((e) => !e.durable);
  }

  /**
   * The names a crash now leaves when exactly the pending changes `kept` reached the disk: every
   * durable change and those, replayed in order (a change whose source is gone is skipped).
   */
  namesAfterCrash(kept: ReadonlySet<EntryOp>): Map<string, Inode> {
    const names = new Map<string, Inode>([[this.root, this.names.get(this.root)!]]);
    for (const e of this.entries) {
      if (!e.durable && !kept.has(e)) continue;
      if (!names.has(dirname(e.path))) continue;
      if (e.kind === "create" || e.kind === "mkdir") names.set(e.path, e.inode!);
      else if (e.kind === "unlink" || e.kind === "rmdir") names.delete(e.path);
      else if (names.get(e.from!) === e.inode) {
        if (e.kind === "rename") names.delete(e.from!);
        names.set(e.path, e.inode!);
      }
    }
    return names;
  }
}
