/**
 * The extension lists a member knows (by digest) and its verdicts on them against its own list:
 * one status per digest (members running the same list share it), and which live members run a
 * list that differs from ours, so that a mismatch and the convergence after it are reported
 * once each.
 *
 * @module
 */
import type { ExtensionStatus } from "../lib/cluster/membership.ts";
import { extensionStatusOf } from "../lib/cluster/membership.ts";
import type { MemberEntry } from "./members.ts";

/** What {@link ExtensionVerdicts.track} changed: a new mismatch, or the last one gone. */
export type VerdictChange = "mismatch" | "converged" | undefined;

/** Extension lists by digest and the verdicts on them against the local list. */
export class ExtensionVerdicts {
  /** Extension lists by digest (members running the same list share one array). */
  readonly lists: Map<string, readonly string[]> = new Map();
  #localList: readonly string[];
  readonly #localDigest: () => string;
  /** Live members whose list differs from ours, with the digest the mismatch was reported for. */
  readonly #mismatched = new Map<string, string>();
  /** Extension statuses against ours, by digest (one per list members run, not per member). */
  #statuses = new Map<string, ExtensionStatus>();

  /**
   * `localList` (its digest `digest`): the local member's list; `localDigest`: the local
   * member's digest as its entry holds it, read at each verdict.
   */
  constructor(localList: readonly string[], digest: string, localDigest: () => string) {
    this.#localList = localList;
    this.lists.set(digest, localList);
    this.#localDigest = localDigest;
  }

  /** The local member's extension list. */
  get localList(): readonly string[] {
    return this.#localList;
  }

  /** Changes the local list (its digest `digest`): every verdict is to be made again. */
  setLocal(list: readonly string[], digest: string): void {
    this.#localList = list;
    this.lists.set(digest, list);
    this.#statuses = new Map();
  }

  /** `entry`'s extension status against ours (one object per digest, shared). */
  statusOf(entry: MemberEntry): ExtensionStatus {
    const digest = entry.wire.ed;
    let status = this.#statuses.get(digest);
    if (!status) {
      const list = this.lists.get(digest);
      status = extensionStatusOf(this.#localList, this.#localDigest(), entry.meta, list);
      // An unknown verdict is settled by the list's arrival (learnList drops it then).
      this.#statuses.set(digest, status);
    }
    return status;
  }

  /**
   * Stores a fetched extension list; `false` when it was known already. The verdicts of the
   * members that run it are to be made again.
   */
  learn(digest: string, list: readonly string[]): boolean {
    if (this.lists.has(digest)) return false;
    this.lists.set(digest, Object.freeze([...list]));
    this.#statuses.delete(digest);
    return true;
  }

  /** Forgets the lists and verdicts of the digests not in `used`. */
  prune(used: Set<string>): void {
    for (const d of [...this.lists.keys()]) if (!used.has(d)) this.lists.delete(d);
    for (const d of [...this.#statuses.keys()]) if (!used.has(d)) this.#statuses.delete(d);
  }

  /**
   * Records the verdict on `entry` (another member; `live`: whether its state is live, `isLive`):
   * `"mismatch"` when its list newly differs from ours, `"converged"` when the last mismatch
   * went, `undefined` when neither.
   */
  track(entry: MemberEntry, live: boolean): VerdictChange {
    const v = this.statusOf(entry).verdict;
    const bad = live && v !== undefined && v !== "equal" && v !== "unknown";
    const had = this.#mismatched.get(entry.name);
    if (bad) {
      if (had === entry.wire.ed) return undefined;
      this.#mismatched.set(entry.name, entry.wire.ed);
      return "mismatch";
    }
    if (had === undefined) return undefined;
    this.#mismatched.delete(entry.name);
    return this.#mismatched.size === 0 ? "converged" : undefined;
  }
}
