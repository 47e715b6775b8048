/**
 * The merge of a remote member's full state into the member table (a push-pull's, or the
 * admitting member's view handed at our join), and the local full state a push-pull sends.
 * Moved here from `state.ts`, whose `StateMachine` keeps the rules of single claims
 * (`alive`, `suspect`, `dead`, `left`, refutation) that a merge applies through
 * {@link MergeRules}; what is merged only here is a member held down (`dead` or `left`) that
 * the local member does not hold live ({@link StateMerge}'s `#learnDown`).
 *
 * @module
 */
import type { MembershipEventName, MemberState } from "../lib/cluster/membership.ts";
import type { Clock } from "../lib/cluster/clock.ts";
import { isLive } from "../lib/cluster/membership.ts";
import type { Logger } from "../lib/log.ts";
import type { Claims, Provenance } from "./claims.ts";
import type { GossipConfig } from "./config.ts";
import { stateEntryOf } from "./entry_updates.ts";
import { MemberEntry } from "./members.ts";
import type { MemberTable } from "./members.ts";
import { MERGE_CHECKS, MergeQueue } from "./merge_queue.ts";
import { fromWireMeta, sameWireMeta } from "./wire_meta.ts";
import type { StateEntry, WireMeta } from "./messages.ts";
import type { TableAdmission } from "./table_admission.ts";

/** What a merge asks of the state machine: its table and the rules of single claims. */
export interface MergeRules {
  /** The member table merged into. */
  readonly table: MemberTable;
  /** The local member's entry. */
  readonly self: MemberEntry;
  /** Extension lists by digest (see `StateMachine.lists`). */
  readonly lists: ReadonlyMap<string, readonly string[]>;
  /** An `alive` claim (see `StateMachine.alive`). */
  alive(name: string, inc: number, wire: WireMeta, from: Provenance): boolean;
  /** A `left` claim (see `StateMachine.left`). */
  left(name: string, inc: number, from: Provenance, m?: WireMeta): boolean;
  /** A `suspect` accusation (see `StateMachine.suspect`). */
  suspect(name: string, inc: number, by: string): boolean;
  /** `entry`'s record changed here: settle its extension verdict (fetching an unknown list). */
  recorded(entry: MemberEntry): void;
  /** Emits `event` about `entry`, whose state was `previous` (`undefined`: new to the table). */
  emit(event: MembershipEventName, entry: MemberEntry, previous: MemberState | undefined): void;
}

/** The merges of remote full states into one member table, and the local full state. */
export class StateMerge {
  readonly #clock: Clock;
  readonly #config: GossipConfig;
  readonly #log: Logger;
  readonly #claims: Claims;
  readonly #admission: TableAdmission;
  readonly #counters: { mergesDropped: number };
  readonly #rules: MergeRules;
  /** Set while merging a state that must not be gossiped (see {@link mergeQuietly}). */
  #quiet = false;
  /** Merges waiting for a later turn (see {@link MERGE_CHECKS}). */
  readonly #merging: MergeQueue;

  /** `counters.mergesDropped` counts the rests of merges dropped (too many entries waiting). */
  constructor(
    ctx: {
      clock: Clock;
      config: GossipConfig;
      logger: Logger;
      claims: Claims;
      admission: TableAdmission;
      counters: { mergesDropped: number };
    },
    rules: MergeRules,
  ) {
    this.#clock = ctx.clock;
    this.#config = ctx.config;
    this.#log = ctx.logger;
    this.#claims = ctx.claims;
    this.#admission = ctx.admission;
    this.#counters = ctx.counters;
    this.#rules = rules;
    this.#merging = new MergeQueue(
      ctx.clock,
      (m) => this.merge(m.entries, m.sender, m.trusted, m.start),
    );
  }

  /** Whether a state that must not be gossiped is being merged (see {@link mergeQuietly}). */
  get quiet(): boolean {
    return this.#quiet;
  }

  /**
   * Merges a remote member's full state (memberlist's mergeState): alive and left are applied
   * as such; a remote dead or suspect is never trusted as dead but becomes a local suspicion
   * the accused can refute (accused by us, as memberlist does, so a relayed suspicion never
   * counts as an independent confirmation), unless we heard from it within the last probe
   * interval. `trusted`: the state the admitting member handed us at our join, whose claims we
   * take as it does (unverified: it could lie about anything it hands us), and relay with their
   * signatures for the others to check. `start`: the index of the first entry to merge.
   */
  merge(entries: readonly StateEntry[], sender?: string, trusted = false, start = 0): void {
    const rules = this.#rules;
    const self = rules.self;
    const now = this.#clock.now();
    const fresh = this.#config.probeIntervalMs;
    const verified = this.#claims.verifications;
    for (let i = start; i < entries.length; i++) {
      // A state full of claims new to us (a cluster forming, a joiner's first exchange) costs
      // one signature check each (≈ 0.1 ms under Node, 0.8 ms under Deno): beyond a few, the
      // rest waits for the next turn of the event loop, so probes are answered meanwhile.
      if (this.#claims.verifications - verified >= MERGE_CHECKS && !this.#quiet) {
        return this.#deferMerge(entries, i, sender, trusted);
      }
      const e = entries[i];
      const from: Provenance = { local: trusted, sg: e.sg, sb: e.sb, sender };
      switch (e.k) {
        case "alive":
          rules.alive(e.n, e.i, e.m, from);
          break;
        case "left":
          if (e.n !== self.name && this.#learnDown(e, from)) break;
          if (!rules.table.get(e.n) && e.n !== self.name) break;
          rules.left(e.n, e.i, from, e.m);
          break;
        case "suspect":
        case "dead": {
          // A record of ours held as suspect or dead carries the signature of our `alive` at
          // its incarnation (a claim of an earlier run, e.g. before a kill -9): out-bid that
          // claim at once, as `alive` does, not one step per push-pull. Unsigned, it stays an
          // accusation, refuted one step above our own incarnation.
          if (e.n === self.name) rules.alive(e.n, e.i, e.m, from);
          else if (e.k === "dead" && this.#learnDown(e, from)) break;
          const cur = rules.table.get(e.n);
          if (!cur && e.n !== self.name) {
            if (e.k === "dead") break;
            if (!rules.alive(e.n, e.i, e.m, from)) break;
          } else if (
            cur && cur !== self && now - rules.table.lastHeartbeat(cur) < fresh
          ) break;
          rules.suspect(e.n, e.i, self.name);
          break;
        }
      }
    }
  }

  /**
   * Merges another member's full state without gossiping any of it: a joiner's starting view
   * (see `GossipInit.state`) is news to nobody else.
   */
  mergeQuietly(entries: readonly StateEntry[], sender?: string, trusted = false): void {
    this.#quiet = true;
    try {
      this.merge(entries, sender, trusted);
    } finally {
      this.#quiet = false;
    }
  }

  /**
   * A member the sender holds down (`dead` or `left`) that this member does not hold, or holds
   * down at a lower incarnation: its incarnation and metadata are taken, held down as the sender
   * holds it (not probed, not gossiped), when the metadata is the member's own signed claim.
   * That metadata is the last anyone can know of a member that is down: the versions it last
   * ran, which every member's upgrade gate counts it with. Dropped (as SWIM drops an unknown
   * dead member), a member that restarted while another was down counted that one with its
   * store's older memory of it, and refused a start the others would have let run.
   * Returns whether `e` was such an entry (taken or refused); `false` leaves it to the rules of
   * live members.
   */
  #learnDown(e: StateEntry, from: Provenance): boolean {
    const table = this.#rules.table;
    const cur = table.get(e.n);
    if (cur && (isLive(cur.state) || e.i <= cur.incarnation)) return false;
    if (!cur && !this.#admission.admissible(e.n, () => void this.#learnDown(e, from))) return true;
    // A `left` carries the signature of the leave; a `dead`, that of the member's `alive`.
    if (!this.#claims.accepts(e.k === "left" ? "left" : "alive", e.n, e.i, e.m, from)) return true;
    const now = this.#clock.now();
    const state: MemberState = e.k === "left" ? "left" : "dead";
    const prev = cur?.state;
    let entry: MemberEntry;
    if (!cur) {
      entry = new MemberEntry(e.n, e.i, e.m, fromWireMeta(e.m), now);
      entry.state = state;
      table.add(entry);
    } else {
      entry = table.edit(cur);
      entry.incarnation = e.i;
      if (!sameWireMeta(entry.wire, e.m)) {
        entry.wire = e.m;
        entry.meta = fromWireMeta(e.m);
      }
      if (entry.state !== state) table.setState(entry, state, now);
    }
    entry.sig = from.sg;
    entry.signer = state === "left" ? undefined : from.sb;
    this.#rules.recorded(entry);
    const event = prev === state
      ? "member-update"
      : state === "left"
      ? "member-left"
      : "member-failed";
    this.#rules.emit(event, entry, prev);
    return true;
  }

  /** Continues a merge at `start` on a later turn (after the merges already waiting). */
  #deferMerge(
    entries: readonly StateEntry[],
    start: number,
    sender: string | undefined,
    trusted: boolean,
  ): void {
    if (this.#merging.defer(entries, start, sender, trusted, this.#rules.table.slots)) return;
    this.#counters.mergesDropped++;
    this.#log.debug("Merge dropped: too many entries waiting", {
      sender,
      entries: entries.length - start,
    });
  }

  /** Merges waiting for a later turn (see {@link merge}). */
  get waiting(): number {
    return this.#merging.waiting;
  }

  /** Entries of the merges waiting for a later turn, in all. */
  get entriesWaiting(): number {
    return this.#merging.entriesWaiting;
  }

  /** Drops every merge waiting for a later turn (engine stop). */
  clear(): void {
    this.#merging.clear();
  }

  /** The local full state for a push-pull, plus the lists of every digest it mentions. */
  fullState(): { st: StateEntry[]; x: Record<string, readonly string[]> } {
    const st: StateEntry[] = [];
    const x: Record<string, readonly string[]> = {};
    const table = this.#rules.table;
    for (let i = 0; i < table.slots; i++) {
      const e = table.at(i);
      if (!e) continue;
      st.push(stateEntryOf(e));
      // Down members' lists too: the versions they last ran still count (`#learnDown`).
      const d = e.wire.ed;
      if (!(d in x)) {
        const list = this.#rules.lists.get(d);
        if (list) x[d] = list;
      }
    }
    return { st, x };
  }
}
