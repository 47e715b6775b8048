/**
 * The member's one view of its cluster: the roster (replicated `member` records) joined with the
 * gossip layer's liveness, metadata and extension lists, and with what the store remembers of
 * members gossip does not know (yet). It is the only subscriber to the gossip layer's events;
 * each change becomes one {@link ViewChange} handed to one consumer, the member, which passes it
 * on to roles, the gate, persistence and its own reactions in that order (see `member.ts`).
 * The changes of one {@link ClusterView.batch} (a joiner taking in the admitting member's whole
 * view) are handed over together, so that work done once per view change is done once for them.
 *
 * @module
 */
import type { MemberVersion } from "../cluster/compat.ts";
import { type MembershipEventName, type MemberState } from "../cluster/membership.ts";
import { type Clock, wallNow } from "../cluster/clock.ts";
import { type ReplicatedRecord } from "../cluster/replicated_record.ts";
import { monotonicClock } from "../cluster/monotonic_clock.ts";
import { hasJoined, MEMBER_RECORD, type RosterEntry, rosterOf } from "../cluster/roster.ts";
import type { Member as StoredMember } from "../store/members.ts";
import type { GossipHandle } from "./gossip_port.ts";

/** One change of the view. */
export type ViewChange =
  | {
    kind: "member";
    event: MembershipEventName;
    name: string;
    /** The member's state before the change, for the `member-*` events. */
    previous?: MemberState;
  }
  | {
    kind: "record";
    record: ReplicatedRecord;
    previous: ReplicatedRecord | undefined;
    /** A member whose join completed with this change. */
    joined?: string;
    /**
     * A member (not this one) whose roster record became a tombstone, or whose certificate a
     * new incarnation under its name replaced (its removal, then the new admission).
     */
    removed?: { name: string; hadJoined: boolean };
    /** This member's own roster record became a tombstone, or names another certificate. */
    selfRemoved?: boolean;
  };

/** Options of {@link ClusterView}. */
export interface ClusterViewOptions {
  name: string;
  gossip: GossipHandle;
  /** The store's member rows at start (last known heartbeats, versions and roles). */
  stored: readonly StoredMember[];
  /** The versions this member announces (what the others count it with). */
  local: MemberVersion;
  /**
   * This member's certificate fingerprint: a record of its name with another certificate (a
   * new incarnation, admitted after a removal this member missed) is its removal.
   */
  fingerprint?: string;
  /**
   * The member's clock: {@link ClusterView.liveness} measures how long a member has been down on
   * its monotonic `now()`, from when this view saw it go down; the view starts (the member's
   * start) when it is made, and a date (a stored heartbeat) only places a member down then.
   * @default monotonicClock
   */
  clock?: Clock;
  /**
   * Called with the changes, after the view has taken them in: one change at a time, or every
   * change of a {@link ClusterView.batch} at once, in the order they happened.
   */
  onChanges(changes: readonly ViewChange[]): void;
  /** Called when the trust set shrank (so open connections of removed members are cut). */
  onTrustShrunk(): void;
}

const MEMBER_EVENTS = [
  "member-join",
  "member-update",
  "member-suspect",
  "member-failed",
  "member-left",
  "extensions-mismatch",
  "extensions-converged",
] as const;

/** The view; see the module docs. */
export class ClusterView {
  readonly name: string;
  readonly gossip: GossipHandle;
  readonly #o: ClusterViewOptions;
  #local: MemberVersion;
  #roster = new Map<string, RosterEntry>();
  #trust = new Set<string>();
  readonly #seenAlive = new Set<string>();
  readonly #storedHeartbeat = new Map<string, number>();
  readonly #storedVersion = new Map<string, MemberVersion>();
  /** Since when each member that is down is down, as this view saw it: the monotonic clock. */
  readonly #seenDown = new Map<string, number>();
  readonly #clock: Clock;
  #unsubscribe: (() => void)[] = [];
  /** The changes of the batch under way, if any (see {@link ClusterView.batch}). */
  #held?: ViewChange[];
  /** A roster record changed since the roster was last built. */
  #stale = false;

  constructor(options: ClusterViewOptions) {
    this.#o = options;
    this.name = options.name;
    this.gossip = options.gossip;
    this.#local = options.local;
    this.#clock = options.clock ?? monotonicClock;
    for (const m of options.stored) {
      this.#storedHeartbeat.set(m.name, m.heartbeat);
      // An empty list was never learned: every member has at least cohort's own extension.
      if (m.extensions.length) {
        this.#storedVersion.set(m.name, {
          schemaInternal: m.schemaInternal,
          schemaExternal: m.schemaExternal,
          extensions: m.extensions,
        });
      }
    }
    this.#seenAlive.add(options.name);
    this.#reloadRoster();
    this.#downAtStart();
  }

  /**
   * The members down when this view starts (the member's start): down since then, or since the
   * date they are down since (a last stored heartbeat, when a view handed over saw them go) when
   * it is later, placed once on the monotonic clock. A member cannot vouch for another's absence
   * before it started: it may have run all along while this one was down.
   */
  #downAtStart(): void {
    const at = this.#clock.now();
    const date = wallNow(this.#clock);
    for (const name of this.#roster.keys()) {
      if (name === this.name) continue;
      const info = this.gossip.member(name);
      if (info && (info.state === "alive" || info.state === "suspect")) continue;
      const since = info?.stateChangedAt ?? this.storedHeartbeat(name);
      this.#seenDown.set(name, at + Math.max(0, since - date));
    }
  }

  /** Subscribes to the gossip layer: the view's only subscription. */
  start(): void {
    const g = this.gossip;
    for (const event of MEMBER_EVENTS) {
      this.#unsubscribe.push(g.on(event, (e) => {
        const { member, previous } = e as {
          member?: { name: string; state: string };
          previous?: MemberState;
        };
        if (member?.state === "alive") this.#seenAlive.add(member.name);
        if (member) this.#noteDown(member.name, member.state);
        this.#emit({
          kind: "member",
          event,
          name: member?.name ?? "",
          ...(previous !== undefined ? { previous } : {}),
        });
      }));
    }
    this.#unsubscribe.push(g.on("record-change", ({ record, previous }) => {
      if (record.kind !== MEMBER_RECORD) {
        this.#emit({ kind: "record", record, previous });
        return;
      }
      // Within a batch the roster is built once, at its end (or when read): a joiner taking in
      // the admitting member's view of N members built it N times (O(N²), on its loop).
      this.#stale = true;
      if (!this.#held) this.#reloadRoster();
      const before = previous?.value as RosterEntry | null | undefined;
      const after = record.value as RosterEntry | null;
      const hadJoined = hasJoined(before);
      // Another certificate under the name: the incarnation held was removed (`roster_rules.ts`).
      const replaced = !!before && !!after && before.fingerprint !== after.fingerprint;
      const change: ViewChange = { kind: "record", record, previous };
      if (hasJoined(after) && (!hadJoined || replaced)) change.joined = record.key;
      if ((after === null && before != null) || replaced) {
        if (record.key === this.name) change.selfRemoved = true;
        else change.removed = { name: record.key, hadJoined };
      }
      this.#emit(change);
    }));
  }

  /**
   * Runs `fn` (which changes the gossip layer's state, e.g. takes in a whole exported view) and
   * hands every change it made to {@link ClusterViewOptions.onChanges} at once when it returns,
   * with the roster built once: the consumers then do their per-view work once, not once per
   * record. Nested batches join the outer one.
   */
  batch<T>(fn: () => T): T {
    if (this.#held) return fn();
    const held: ViewChange[] = this.#held = [];
    try {
      return fn();
    } finally {
      this.#held = undefined;
      if (this.#stale) this.#reloadRoster();
      if (held.length) this.#o.onChanges(held);
    }
  }

  /** Notes when a member went down (dead or left), as this member saw it; forgets it once up. */
  #noteDown(name: string, state: string): void {
    if (state === "alive" || state === "suspect") this.#seenDown.delete(name);
    else if (!this.#seenDown.has(name)) this.#seenDown.set(name, this.#clock.now());
  }

  #emit(change: ViewChange): void {
    if (this.#held) this.#held.push(change);
    else this.#o.onChanges([change]);
  }

  /** Stops listening. */
  stop(): void {
    for (const u of this.#unsubscribe) u();
    this.#unsubscribe = [];
  }

  /** The versions this member announces. */
  get local(): MemberVersion {
    return this.#local;
  }

  /** Changes the versions this member announces (the caller gossips them). */
  setLocal(version: MemberVersion): void {
    this.#local = version;
  }

  /** The live roster, by name. */
  roster(): ReadonlyMap<string, RosterEntry> {
    if (this.#stale) this.#reloadRoster();
    return this.#roster;
  }

  /** Whether a certificate fingerprint belongs to a live roster member. */
  isTrusted(fingerprint: string): boolean {
    if (this.#stale) this.#reloadRoster();
    return this.#trust.has(fingerprint);
  }

  /** Whether this member's own roster record is a tombstone (or names another certificate). */
  selfRemoved(): boolean {
    const own = this.gossip.record(MEMBER_RECORD, this.name);
    if (own?.value === null) return true;
    const fp = this.#o.fingerprint;
    return fp !== undefined && own !== undefined &&
      (own.value as unknown as RosterEntry).fingerprint !== fp;
  }

  /** Whether `name` was seen alive since this member started (this member always was). */
  seenAlive(name: string): boolean {
    return this.#seenAlive.has(name);
  }

  /** The last heartbeat the store remembered at start (ms since the epoch; 0 = never). */
  storedHeartbeat(name: string): number {
    return this.#storedHeartbeat.get(name) ?? 0;
  }

  /** Remembers a member's heartbeat and versions as written to the store. */
  remember(name: string, heartbeat: number, version: MemberVersion | undefined): void {
    if (heartbeat > 0) this.#storedHeartbeat.set(name, heartbeat);
    if (version) this.#storedVersion.set(name, version);
  }

  /**
   * A member's versions as counted: for this member, what it announces; for another, its
   * gossiped metadata (its list once fetched, or ours when the digests match), else what the
   * store last knew; `undefined` when never known.
   */
  versionOf(name: string): MemberVersion | undefined {
    if (name === this.name) return this.#local;
    const meta = this.gossip.member(name)?.meta;
    if (meta) {
      const extensions = meta.extensions ??
        (this.gossip.extensionStatus(name)?.verdict === "equal"
          ? this.#local.extensions
          : undefined);
      if (extensions) {
        return {
          schemaInternal: meta.schemaInternal,
          schemaExternal: meta.schemaExternal,
          extensions,
        };
      }
    }
    return this.#storedVersion.get(name);
  }

  /**
   * Whether a member is up (alive or suspect), and since when it is down if not, on the
   * member's monotonic clock (compare with its `clock.now()`): since this view saw it leave or
   * die, or since the view started for a member down then (see `#downAtStart`), or else since
   * this view first found it down. Dates compared with the wall clock (the start's, a stored
   * heartbeat) excluded a member down for seconds from an upgrade once the clock stepped forwards
   * past the dead grace.
   */
  liveness(name: string): { up: boolean; downSince?: number } {
    if (name === this.name) return { up: true };
    const info = this.gossip.member(name);
    if (info && (info.state === "alive" || info.state === "suspect")) {
      this.#seenDown.delete(name); // up again, whether an event said so or not
      return { up: true };
    }
    let since = this.#seenDown.get(name);
    if (since === undefined) this.#seenDown.set(name, since = this.#clock.now());
    return { up: false, downSince: since };
  }

  /** Addresses of roster members that are up (this one included), for join tokens. */
  liveAddresses(): string[] {
    const out: string[] = [];
    for (const [name, entry] of this.roster()) {
      if (this.liveness(name).up) out.push(entry.address);
    }
    return out;
  }

  /** Addresses of the other roster members. */
  otherAddresses(): string[] {
    return [...this.roster()].filter(([n]) => n !== this.name).map(([, e]) => e.address);
  }

  #reloadRoster(): void {
    this.#stale = false;
    this.#roster = rosterOf(this.gossip);
    const trust = new Set<string>();
    for (const entry of this.#roster.values()) trust.add(entry.fingerprint);
    const shrank = [...this.#trust].some((fp) => !trust.has(fp));
    this.#trust = trust;
    // Only members of the roster are asked about: a removed one's note goes with it.
    for (const name of this.#seenDown.keys()) {
      if (!this.#roster.has(name)) this.#seenDown.delete(name);
    }
    if (shrank) this.#o.onTrustShrunk();
  }
}
