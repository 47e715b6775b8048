/**
 * The extension lists as the member table sees them: each member's verdict settled as its entry
 * is recorded (its list fetched when unknown), the verdicts settled again when a list arrives or
 * ours changes, lists no member runs forgotten, and `extensions-mismatch` and
 * `extensions-converged` emitted as live members' lists come to differ from ours and agree again.
 *
 * Separate from the state machine (state.ts), which applies the membership rules: this is what
 * an entry's list means against ours, whichever rule recorded the entry; and from the verdict
 * bookkeeping itself (extension_verdicts.ts), which knows no table and no events.
 *
 * @module
 */
import type { ExtensionStatus, MemberInfo, MemberMeta } from "../lib/cluster/membership.ts";
import { isLive } from "../lib/cluster/membership.ts";
import { extensionDigest } from "../lib/cluster/extensions.ts";
import type { Emitter } from "./events.ts";
import { ExtensionVerdicts } from "./extension_verdicts.ts";
import type { MemberEntry, MemberTable } from "./members.ts";

/** Fills in the extension digest and count from the list, when the list is given. */
export function normalizeMeta(meta: MemberMeta): MemberMeta {
  if (!meta.extensions) return meta;
  const list = Object.freeze([...meta.extensions]);
  return {
    ...meta,
    extensions: list,
    extensionCount: list.length,
    extensionDigest: extensionDigest(list),
  };
}

/** What {@link MemberExtensions} asks of the state machine around it. */
export interface ExtensionHooks {
  /** The extension list for `entry`'s digest is unknown: fetch it. */
  listMissing(entry: MemberEntry): void;
  /** A snapshot of `entry`, for an event. */
  info(entry: MemberEntry): MemberInfo;
}

/** One member's extension lists and verdicts over its table (see the module comment). */
export class MemberExtensions {
  readonly #verdicts: ExtensionVerdicts;
  readonly #table: MemberTable;
  readonly #self: MemberEntry;
  readonly #events: Emitter;
  readonly #hooks: ExtensionHooks;

  /** `verdicts`: the lists known (ours among them); `self`: the local member's entry. */
  constructor(
    verdicts: ExtensionVerdicts,
    table: MemberTable,
    self: MemberEntry,
    events: Emitter,
    hooks: ExtensionHooks,
  ) {
    this.#verdicts = verdicts;
    this.#table = table;
    this.#self = self;
    this.#events = events;
    this.#hooks = hooks;
  }

  /** Extension lists by digest (members running the same list share one array). */
  get lists(): Map<string, readonly string[]> {
    return this.#verdicts.lists;
  }

  /** The local member's extension list. */
  get localList(): readonly string[] {
    return this.#verdicts.localList;
  }

  /** `entry`'s extension status against ours (one object per digest, shared). */
  statusOf(entry: MemberEntry): ExtensionStatus {
    return this.#verdicts.statusOf(entry);
  }

  /** Our list changed (its digest `digest`): every member's verdict is settled again. */
  setLocal(list: readonly string[], digest: string): void {
    this.#verdicts.setLocal(list, digest);
    this.#forEach((e) => this.recorded(e));
  }

  /** Stores a fetched extension list and settles the verdicts waiting for it. */
  learn(digest: string, list: readonly string[]): void {
    if (!this.#verdicts.learn(digest, list)) return;
    this.#forEach((e) => {
      if (e.wire.ed === digest) this.recorded(e);
    });
  }

  /** Forgets the extension lists no member in the table runs (the local one is kept). */
  prune(): void {
    if (this.lists.size <= 1) return;
    const used = new Set<string>([this.#self.wire.ed]);
    this.#forEach((e) => used.add(e.wire.ed));
    this.#verdicts.prune(used);
  }

  /** `entry` was recorded (new, or its claim changed): its list fetched when unknown, tracked. */
  recorded(entry: MemberEntry): void {
    const status = this.statusOf(entry);
    if (status.verdict === "unknown" && entry !== this.#self) this.#hooks.listMissing(entry);
    this.stateChanged(entry);
  }

  /** `entry`'s state changed: a mismatch or a convergence is reported once. */
  stateChanged(entry: MemberEntry): void {
    if (entry === this.#self) return;
    const change = this.#verdicts.track(entry, isLive(entry.state));
    if (change === "mismatch") {
      if (this.#events.has("extensions-mismatch")) {
        this.#events.emit("extensions-mismatch", {
          member: this.#hooks.info(entry),
          status: this.statusOf(entry),
        });
      }
    } else if (change === "converged") {
      this.#events.emit("extensions-converged", { members: this.#table.live });
    }
  }

  /** Calls `fn` for every entry held. */
  #forEach(fn: (e: MemberEntry) => void): void {
    const table = this.#table;
    for (let i = 0; i < table.slots; i++) {
      const e = table.at(i);
      if (e) fn(e);
    }
  }
}
