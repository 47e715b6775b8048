/**
 * The state machine over the member table: applies alive/suspect/dead/left updates by the
 * precedence rules, refutes accusations against the local member, runs suspicion timers,
 * queues accepted updates for re-gossip, keeps extension verdicts and emits events.
 *
 * The `alive` and `left` rules (what is accepted from the network, and from whom) are in
 * `state_claims.ts` ({@link ClaimRules}); the `suspect` and `dead` rules, the suspicion timers
 * and their timeouts, and the local member's refutation of an accusation in
 * `state_accusations.ts` ({@link Accusations}), with what an accusation may do; the merge of a
 * remote member's full state (a push-pull's, or the view handed at our join) and the local full
 * state a push-pull sends in `state_merge.ts` ({@link StateMerge}), which applies those rules
 * through its `MergeRules`.
 * What each member's extension list means against ours, and the events about it, are
 * `member_extensions.ts` ({@link MemberExtensions}).
 * The claims only the local member makes (its own `alive`, its metadata, its leave, the
 * joiners it vouches for) are `local_member.ts` ({@link LocalMember}).
 * What stays here: the table and its wiring, and the membership events.
 *
 * @module
 */
import type {
  MemberInfo,
  MemberMeta,
  MembershipEventName,
  MemberState,
} from "../lib/cluster/membership.ts";
import type { Clock } from "../lib/cluster/clock.ts";
import { wallTime } from "../lib/cluster/clock.ts";
import type { Logger } from "../lib/log.ts";
import type { Awareness } from "./awareness.ts";
import { BroadcastQueue } from "./broadcast.ts";
import type { GossipConfig } from "./config.ts";
import type { Emitter } from "./events.ts";
import { MemberEntry, OwnTable } from "./members.ts";
import type { MemberTable } from "./members.ts";
import { MAX_INCARNATION } from "./messages.ts";
import { fromWireMeta, toWireMeta } from "./wire_meta.ts";
import type { MemberUpdate, StateEntry, Update, WireMeta } from "./messages.ts";
import type { Claims, Provenance } from "./claims.ts";
import { Accusations } from "./state_accusations.ts";
import { ClaimRules } from "./state_claims.ts";
import { StateMerge } from "./state_merge.ts";
import { TableAdmission } from "./table_admission.ts";
import { ExtensionVerdicts } from "./extension_verdicts.ts";
import { MemberExtensions, normalizeMeta } from "./member_extensions.ts";
import { LocalMember } from "./local_member.ts";

/** What the state machine asks of the engine around it. */
export interface StateHooks {
  /** An update about member `name` was queued for gossip (the engine may push at once). */
  queued(name: string): void;
  /** A member became live (new, or back from dead/left): add it to the probe order. */
  becameLive(entry: MemberEntry): void;
  /** The extension list for `entry`'s digest is unknown: fetch it. */
  listMissing(entry: MemberEntry): void;
}

/** The member table plus every rule that changes it. */
export class StateMachine {
  readonly table: MemberTable;
  readonly queue: BroadcastQueue = new BroadcastQueue();
  readonly events: Emitter;
  readonly self: MemberEntry;
  /** The claims only the local member makes (see local_member.ts). */
  readonly local: LocalMember;
  readonly #clock: Clock;
  readonly #hooks: StateHooks;
  /** The extension lists known and what they mean against ours (see member_extensions.ts). */
  readonly extensions: MemberExtensions;
  readonly #claims: Claims;
  /** The `alive` and `left` rules. */
  readonly #claimRules: ClaimRules;
  /** The `suspect` and `dead` rules, their timers, and our refutations. */
  readonly #accusations: Accusations;
  /** Which names may enter the table, and the claims waiting for their evidence. */
  readonly #admission: TableAdmission;
  /** The merges of remote full states (see {@link merge}). */
  readonly #merge: StateMerge;
  /** Counters for benchmarks and diagnostics. */
  readonly counters = {
    refutations: 0,
    suspicions: 0,
    deaths: 0,
    notMembers: 0,
    /** Rests of merges dropped: too many entries waiting (see `MERGE_WAITING_MIN`, merge_queue.ts). */
    mergesDropped: 0,
  };

  constructor(
    name: string,
    meta: MemberMeta,
    incarnation: number,
    ctx: {
      clock: Clock;
      config: GossipConfig;
      logger: Logger;
      awareness: Awareness;
      claims: Claims;
      events: Emitter;
      /** The table to start from (default: an empty own table). */
      table?: MemberTable;
    },
    hooks: StateHooks,
  ) {
    this.table = ctx.table ?? new OwnTable();
    this.#clock = ctx.clock;
    this.#claims = ctx.claims;
    this.#hooks = hooks;
    this.events = ctx.events;
    this.#admission = new TableAdmission({
      clock: ctx.clock,
      logger: ctx.logger,
      claims: ctx.claims,
      table: this.table,
      maxMembers: ctx.config.maxMembers,
      counters: this.counters,
    });
    const full = normalizeMeta({ ...meta, extensions: meta.extensions ?? [] });
    const verdicts = new ExtensionVerdicts(
      full.extensions!,
      full.extensionDigest,
      () => this.localDigest,
    );
    const wire = toWireMeta(full);
    this.self = new MemberEntry(name, incarnation, wire, fromWireMeta(wire), ctx.clock.now());
    this.self.lastHeartbeat = ctx.clock.now();
    this.table.add(this.self);
    this.extensions = new MemberExtensions(verdicts, this.table, this.self, this.events, {
      listMissing: (entry) => this.#hooks.listMissing(entry),
      info: (entry) => this.info(entry),
    });
    this.local = new LocalMember(this.self, {
      table: this.table,
      claims: ctx.claims,
      clock: ctx.clock,
      ext: this.extensions,
    }, {
      queue: (name, u, weight) => this.#queue(name, u, weight),
      alive: (name, inc, wire, from) => this.alive(name, inc, wire, from),
    });
    this.#merge = new StateMerge({
      clock: ctx.clock,
      config: ctx.config,
      logger: ctx.logger,
      claims: ctx.claims,
      admission: this.#admission,
      counters: this.counters,
    }, {
      table: this.table,
      self: this.self,
      lists: this.extensions.lists,
      alive: (name, inc, wire, from) => this.alive(name, inc, wire, from),
      left: (name, inc, from, m) => this.left(name, inc, from, m),
      suspect: (name, inc, by) => this.suspect(name, inc, by),
      recorded: (entry) => this.extensions.recorded(entry),
      emit: (event, entry, previous) => this.#emit(event, entry, previous),
    });
    this.#accusations = new Accusations({
      clock: ctx.clock,
      config: ctx.config,
      logger: ctx.logger,
      awareness: ctx.awareness,
      claims: ctx.claims,
      counters: this.counters,
    }, {
      table: this.table,
      self: this.self,
      broadcast: this.queue,
      leaving: () => this.local.leaving,
      queue: (name, u, weight) => this.#queue(name, u, weight),
      signAlive: () => this.local.sign("alive"),
      stateChanged: (entry) => this.extensions.stateChanged(entry),
      emit: (event, entry, previous) => this.#emit(event, entry, previous),
    });
    this.#claimRules = new ClaimRules({
      clock: ctx.clock,
      logger: ctx.logger,
      claims: ctx.claims,
      admission: this.#admission,
    }, {
      table: this.table,
      self: this.self,
      leaving: () => this.local.leaving,
      queue: (name, u, weight) => this.#queue(name, u, weight),
      becameLive: (entry) => this.#hooks.becameLive(entry),
      recorded: (entry) => this.extensions.recorded(entry),
      stateChanged: (entry) => this.extensions.stateChanged(entry),
      emit: (event, entry, previous) => this.#emit(event, entry, previous),
      refute: (accused, penalize) => this.refute(accused, penalize),
      refuted: (name, now) => this.#accusations.refuted(name, now),
    });
    this.local.sign("alive");
    this.extensions.recorded(this.self);
    // A table given with members in it: their verdicts, and the lists to fetch (a member that
    // runs our list has nothing to report).
    const local = this.localDigest;
    for (let i = 0; i < this.table.slots; i++) {
      const e = this.table.at(i);
      if (e && e !== this.self && e.wire.ed !== local) this.extensions.recorded(e);
    }
  }

  /** Claims refused (unsigned, badly signed, or vouched by a member that may not). */
  get refusedClaims(): number {
    return this.#claims.refused;
  }

  /** Whether `name` is a member now (see {@link Claims.isMember}). */
  isMember(name: string): boolean {
    return this.#claims.isMember(name);
  }

  /**
   * Whether `entry` is about a former identity of its name: a member removed, and a new one
   * admitted under the name since (see {@link Claims.isFormer}).
   */
  isFormer(entry: MemberEntry): boolean {
    return this.#claims.isFormer(entry.name, entry.wire);
  }

  /** The local member's extension digest. */
  get localDigest(): string {
    return this.self.wire.ed;
  }

  /**
   * Applies one gossiped member update; `sender`: the member the transport authenticated for
   * the frame, if any. Returns `true` when it changed the table.
   */
  apply(u: MemberUpdate, sender?: string): boolean {
    switch (u.k) {
      case "alive":
        return this.alive(u.n, u.i, u.m, { sg: u.sg, sb: u.sb, sender }, u);
      case "suspect":
        return this.suspect(u.n, u.i, u.by, u);
      case "dead":
        return this.dead(u.n, u.i, u.by, u);
      case "left":
        return this.left(u.n, u.i, { sg: u.sg, sender }, u.m);
    }
  }

  /** An `alive` claim about `name` at `inc`, accepted only as `name`'s own ({@link ClaimRules}). */
  alive(name: string, inc: number, wire: WireMeta, from: Provenance, u?: Update): boolean {
    return this.#claimRules.alive(name, inc, wire, from, u);
  }

  /** A `suspect` accusation against `name` at `inc`, made by `by` (see {@link Accusations}). */
  suspect(name: string, inc: number, by: string, u?: Update): boolean {
    return this.#accusations.suspect(name, inc, by, u);
  }

  /**
   * A `dead` verdict about `name` at `inc`, ours or gossiped (`by`: whoever it says reached it);
   * what a forged one can and cannot do: {@link Accusations.dead}.
   */
  dead(name: string, inc: number, by: string, u?: Update): boolean {
    return this.#accusations.dead(name, inc, by, u);
  }

  /** A graceful leave of `name` at `inc`, accepted only as `name`'s own ({@link ClaimRules}). */
  left(name: string, inc: number, from: Provenance, m?: WireMeta): boolean {
    return this.#claimRules.left(name, inc, from, m);
  }

  /**
   * Out-bids an accusation made at incarnation `accused` with a fresh `alive` about ourselves
   * (see {@link Accusations.refute}).
   */
  refute(accused: number, penalize: boolean): void {
    this.#accusations.refute(accused, penalize);
  }

  /** Adds members known from a previous run as alive, silently (no events, no gossip). */
  restore(peers: readonly { name: string; incarnation: number; meta: MemberMeta }[]): void {
    const now = this.#clock.now();
    for (const p of peers) {
      if (p.name === this.self.name || this.table.get(p.name)) continue;
      if (!(p.incarnation >= 0 && p.incarnation <= MAX_INCARNATION)) continue;
      const wire = toWireMeta(p.meta);
      const entry = new MemberEntry(p.name, p.incarnation, wire, fromWireMeta(wire), now);
      this.table.add(entry);
      this.#hooks.becameLive(entry);
      this.extensions.recorded(entry);
    }
  }

  /**
   * Applies again the claims kept for names that were not members then (call it when the
   * evidence of membership changed, e.g. a roster record arrived). Claims older than 30 s are
   * dropped: gossip or a push-pull brings them again.
   */
  retryWaiting(): void {
    this.#admission.retryWaiting();
  }

  /**
   * Merges a remote member's full state (memberlist's mergeState; see {@link StateMerge.merge}).
   * `trusted`: the state the admitting member handed us at our join.
   */
  merge(entries: readonly StateEntry[], sender?: string, trusted = false): void {
    this.#merge.merge(entries, sender, trusted);
  }

  /** Merges waiting for a later turn (see {@link merge}). */
  get mergesWaiting(): number {
    return this.#merge.waiting;
  }

  /** Entries of the merges waiting for a later turn, in all. */
  get mergeEntriesWaiting(): number {
    return this.#merge.entriesWaiting;
  }

  /** The local full state for a push-pull, plus the lists of every digest it mentions. */
  fullState(): { st: StateEntry[]; x: Record<string, readonly string[]> } {
    return this.#merge.fullState();
  }

  /**
   * Digest of the member table (every member's name, state, incarnation and metadata, in any
   * order): two members with equal digests hold the same table, so a periodic push-pull
   * between them can skip the full state.
   */
  digest(): string {
    return this.table.digest();
  }

  /** Records direct contact with `name`; returns its entry, if held. */
  heard(name: string): MemberEntry | undefined {
    const e = this.table.get(name);
    if (e) this.table.heard(e, this.#clock.now());
    return e;
  }

  /** A snapshot of `entry` with its extension list when known. */
  info(entry: MemberEntry): MemberInfo {
    // Reported as dates of the wall clock: the engine measures on a monotonic one.
    const info = entry.snapshot(
      this.extensions.lists.get(entry.wire.ed),
      wallTime(this.#clock, this.table.lastHeartbeat(entry)),
    );
    return this.#clock.wallOffset
      ? { ...info, stateChangedAt: wallTime(this.#clock, info.stateChangedAt) }
      : info;
  }

  /** Calls `fn` for every entry held. */
  #forEach(fn: (e: MemberEntry) => void): void {
    const table = this.table;
    for (let i = 0; i < table.slots; i++) {
      const e = table.at(i);
      if (e) fn(e);
    }
  }

  /** Cancels every suspicion timer and waiting merge (engine stop). */
  stopTimers(): void {
    this.#merge.clear();
    this.#forEach((e) => {
      if (!e.suspicion) return;
      e.suspicion.cancel();
      this.table.edit(e).suspicion = undefined;
    });
  }

  #queue(name: string, u: Update, weight?: number): void {
    // Quiet merging never silences our own refutation.
    if (this.#merge.quiet && name !== this.self.name) return;
    this.queue.queue(name, u, weight);
    this.#hooks.queued(name);
  }

  /**
   * Merges another member's full state without gossiping any of it: a joiner's starting view
   * (see `GossipInit.state`) is news to nobody else.
   */
  mergeQuietly(entries: readonly StateEntry[], sender?: string, trusted = false): void {
    this.#merge.mergeQuietly(entries, sender, trusted);
  }

  #emit(event: MembershipEventName, entry: MemberEntry, previous: MemberState | undefined): void {
    if (!this.events.has(event)) return;
    this.events.emit(event as "member-join", { member: this.info(entry), previous });
  }
}
