/**
 * The member table and the precedence rules that decide whether an update about a member
 * overrides what we hold (memberlist's, with `left` kept distinct from `dead`).
 *
 * The table is a seam ({@link MemberTable}) with two implementations sharing one contract test
 * (`tests/gossip/member_table_contract.ts`): {@link OwnTable}, a member's own table (the
 * daemon's), and the views of one table shared by every member of a simulation
 * (`shared_members.ts`), which hold only what a member sees differently, so that a simulation's
 * memory grows with N rather than N².
 *
 * @module
 */
import type { MemberInfo, MemberMeta, MemberState } from "../lib/cluster/membership.ts";
import { hash64 } from "./hash.ts";
import type { WireMeta } from "./messages.ts";
import type { Suspicion } from "./suspicion.ts";

/**
 * Reports whether an update of `kind` at incarnation `inc` overrides the `current` record.
 *
 * - `alive` needs a strictly higher incarnation (refutation, metadata change, rejoin); an
 *   unknown member is always accepted alive.
 * - `suspect` needs the same or a higher incarnation of an `alive` member (a suspect member at
 *   the same incarnation only confirms: see {@link Suspicion}); a higher incarnation of a
 *   suspect member restarts the suspicion.
 * - `dead` needs the same or a higher incarnation of a live member.
 * - `left` needs the same or a higher incarnation and wins over `dead` (a graceful leave is
 *   reported as such even when a failure was recorded first).
 * - Nothing about an unknown member but `alive` is accepted.
 */
export function supersedes(
  current: { readonly state: MemberState; readonly incarnation: number } | undefined,
  kind: MemberState,
  inc: number,
): boolean {
  if (!current) return kind === "alive";
  const cur = current.incarnation;
  switch (kind) {
    case "alive":
      return inc > cur;
    case "suspect":
      return current.state === "alive" ? inc >= cur : current.state === "suspect" && inc > cur;
    case "dead":
      return (current.state === "alive" || current.state === "suspect") && inc >= cur;
    case "left":
      return current.state !== "left" ? inc >= cur : false;
  }
}

/**
 * One member as the local member holds it. Mutable, but only through the table: change an entry
 * only as returned by {@link MemberTable.edit}, and read its contact fields through the table
 * (a shared table's entries are shared by members that see them the same way).
 */
export class MemberEntry {
  readonly name: string;
  state: MemberState = "alive";
  incarnation: number;
  wire: WireMeta;
  meta: MemberMeta;
  /**
   * Signature of the member's last claim held (its `left` when `state` is `left`, else its
   * `alive` at `incarnation` with `wire`), relayed with it; `undefined` when it was accepted
   * first-hand unsigned (then only the member itself can pass it on).
   */
  sig: string | undefined;
  /** Who made {@link sig} when not the member itself (the member that admitted it). */
  signer: string | undefined;
  /** Clock ms of the last state change. */
  stateChangedAt: number;
  /**
   * Clock ms of the last direct contact or newer incarnation (0 = never). Read it with
   * {@link MemberTable.lastHeartbeat}.
   */
  lastHeartbeat = 0;
  /**
   * Whether this member has heard from it directly since it was last learned live: only then
   * is a refused connection evidence of a crash (a member announced by another, a joiner
   * admitted there, may not listen yet). Read it with {@link MemberTable.contacted}.
   */
  contacted = false;
  /** The running suspicion while `state === "suspect"`. */
  suspicion: Suspicion | undefined;
  /** Slot in the table ({@link MemberTable.at}). */
  index = -1;
  /** The two lanes of {@link entryHash} while {@link hashed}. */
  hashA = 0;
  hashB = 0;
  /** Whether `hashA`/`hashB` hold the hash of the current fields. */
  hashed = false;
  /** Whether the entry's hash is counted in its table's digest (the table's bookkeeping). */
  summed = false;

  constructor(name: string, incarnation: number, wire: WireMeta, meta: MemberMeta, now: number) {
    this.name = name;
    this.incarnation = incarnation;
    this.wire = wire;
    this.meta = meta;
    this.stateChangedAt = now;
  }

  /** The member's transport address. */
  get address(): string {
    return this.wire.a;
  }

  /** A copy (fresh bookkeeping, no suspicion: a copy is taken of a steady entry). */
  copy(): MemberEntry {
    const e = new MemberEntry(
      this.name,
      this.incarnation,
      this.wire,
      this.meta,
      this.stateChangedAt,
    );
    e.state = this.state;
    e.sig = this.sig;
    e.signer = this.signer;
    e.lastHeartbeat = this.lastHeartbeat;
    e.contacted = this.contacted;
    e.suspicion = this.suspicion;
    e.index = this.index;
    return e;
  }

  /**
   * An immutable snapshot; `extensions` adds the full list to the metadata when known;
   * `lastHeartbeat` as the table holds it.
   */
  snapshot(extensions: readonly string[] | undefined, lastHeartbeat: number): MemberInfo {
    return {
      name: this.name,
      state: this.state,
      incarnation: this.incarnation,
      meta: extensions ? { ...this.meta, extensions } : this.meta,
      lastHeartbeat,
      stateChangedAt: this.stateChangedAt,
    };
  }
}

/** Computes (and caches on `e`) the hash of what a table digest covers of `e`. */
export function entryHash(e: MemberEntry): void {
  if (e.hashed) return;
  const m = e.wire;
  [e.hashA, e.hashB] = hash64(
    `${e.name}\t${e.state}\t${e.incarnation}\t${m.a}\t${m.fp}\t${m.r}\t${m.si}\t${m.se}\t${m.v}\t${m.ec}\t${m.ed}`,
  );
  e.hashed = true;
}

/**
 * The members one member holds, by name and by slot, with running counts (so the retransmit
 * limit and suspicion timeouts never scan it) and a digest kept up to date as entries change.
 */
export interface MemberTable {
  /** Entries held. */
  readonly size: number;
  /** Upper bound (exclusive) of the slots: iterate `at(0)` … `at(slots − 1)`. */
  readonly slots: number;
  /** Members alive or suspect (the local member included). */
  readonly live: number;
  /** Members dead (not left). */
  readonly dead: number;
  get(name: string): MemberEntry | undefined;
  /** The entry in slot `i`, or `undefined` for a slot emptied by {@link remove}. */
  at(i: number): MemberEntry | undefined;
  /** Adds an entry for a name not held, its state already set. */
  add(entry: MemberEntry): void;
  /**
   * The entry to change for `entry`'s member (the same object, or this member's own copy of a
   * shared one). Every change of an entry's fields goes to what this returns, right away.
   */
  edit(entry: MemberEntry): MemberEntry;
  /** Moves an entry (as returned by {@link edit}) to `state`, keeping the counts right. */
  setState(entry: MemberEntry, state: MemberState, now: number): void;
  /** Forgets an entry (reaping). */
  remove(entry: MemberEntry): void;
  /** Records direct contact with `entry`'s member at `now`. */
  heard(entry: MemberEntry, now: number): void;
  /** Whether `entry`'s member was heard from directly since it was last learned live. */
  contacted(entry: MemberEntry): boolean;
  /** Clock ms of the last direct contact with `entry`'s member, or of its last newer claim. */
  lastHeartbeat(entry: MemberEntry): number;
  /**
   * Digest of the table (every member's name, state, incarnation and metadata, in any order):
   * equal tables give equal digests. O(entries changed since the last call).
   */
  digest(): string;
}

/** Formats a table digest from its two 32-bit sums and its size. */
export function formatDigest(a: number, b: number, size: number): string {
  return `${a.toString(16).padStart(8, "0")}${b.toString(16).padStart(8, "0")}.${size}`;
}

/**
 * The digest bookkeeping both tables share: a sum (two 32-bit lanes, wrapping) of the hashes of
 * the entries held, updated lazily: an entry handed out by `edit` leaves the sum and comes back,
 * rehashed, at the next {@link DigestSum.value}.
 */
export class DigestSum {
  a = 0;
  b = 0;
  readonly #dirty = new Set<MemberEntry>();

  /** Adds `e`'s current hash. */
  add(e: MemberEntry): void {
    entryHash(e);
    this.a = (this.a + e.hashA) >>> 0;
    this.b = (this.b + e.hashB) >>> 0;
    e.summed = true;
  }

  /** Takes `e`'s hash out (its fields are about to change, or it leaves the table). */
  take(e: MemberEntry): void {
    if (e.summed) {
      this.a = (this.a - e.hashA) >>> 0;
      this.b = (this.b - e.hashB) >>> 0;
      e.summed = false;
    }
    e.hashed = false;
  }

  /** `e` may change until the next {@link value}: take it out now, add it back then. */
  touch(e: MemberEntry): void {
    if (!e.summed && this.#dirty.has(e)) return;
    this.take(e);
    this.#dirty.add(e);
  }

  /** `e` left the table. */
  drop(e: MemberEntry): void {
    this.take(e);
    this.#dirty.delete(e);
  }

  /** The digest of the entries held (`size` of them). */
  value(size: number): string {
    for (const e of this.#dirty) this.add(e);
    this.#dirty.clear();
    return formatDigest(this.a, this.b, size);
  }
}

/**
 * The running counts both tables keep (members live, members dead) and the one way an entry's
 * state changes in either: the tables differ in where entries live, not in what a state change
 * does to the counts, the entry and the digest.
 */
export class MemberCounts {
  /** Members alive or suspect. */
  live = 0;
  /** Members dead (not left). */
  dead = 0;

  /** Counts `d` (+1 or −1) more members in `state`. */
  count(state: MemberState, d: number): void {
    if (isLiveState(state)) this.live += d;
    else if (state === "dead") this.dead += d;
  }

  /**
   * Moves `entry` to `state` at clock ms `now` (nothing when it is in `state` already), its hash
   * out of `sum` until the next digest, the counts kept right.
   */
  setState(entry: MemberEntry, state: MemberState, now: number, sum: DigestSum): void {
    if (entry.state === state) return;
    sum.touch(entry);
    this.count(entry.state, -1);
    entry.state = state;
    entry.stateChangedAt = now;
    this.count(state, 1);
  }
}

/** A member's own table (the daemon's): every entry its own object. */
export class OwnTable implements MemberTable {
  readonly #byName = new Map<string, MemberEntry>();
  /** Every entry, in no order (swap-removed on reap). */
  readonly #list: MemberEntry[] = [];
  readonly #counts = new MemberCounts();
  readonly #sum = new DigestSum();

  get size(): number {
    return this.#list.length;
  }
  get slots(): number {
    return this.#list.length;
  }
  get live(): number {
    return this.#counts.live;
  }
  get dead(): number {
    return this.#counts.dead;
  }

  get(name: string): MemberEntry | undefined {
    return this.#byName.get(name);
  }

  at(i: number): MemberEntry | undefined {
    return this.#list[i];
  }

  add(entry: MemberEntry): void {
    entry.index = this.#list.length;
    this.#list.push(entry);
    this.#byName.set(entry.name, entry);
    this.#counts.count(entry.state, 1);
    this.#sum.touch(entry);
  }

  edit(entry: MemberEntry): MemberEntry {
    this.#sum.touch(entry);
    return entry;
  }

  setState(entry: MemberEntry, state: MemberState, now: number): void {
    this.#counts.setState(entry, state, now, this.#sum);
  }

  remove(entry: MemberEntry): void {
    if (this.#byName.get(entry.name) !== entry) return;
    const last = this.#list.pop()!;
    if (last !== entry) {
      this.#list[entry.index] = last;
      last.index = entry.index;
    }
    entry.index = -1;
    this.#byName.delete(entry.name);
    this.#counts.count(entry.state, -1);
    this.#sum.drop(entry);
  }

  heard(entry: MemberEntry, now: number): void {
    entry.lastHeartbeat = now;
    entry.contacted = true;
  }

  contacted(entry: MemberEntry): boolean {
    return entry.contacted;
  }

  lastHeartbeat(entry: MemberEntry): number {
    return entry.lastHeartbeat;
  }

  digest(): string {
    return this.#sum.value(this.#list.length);
  }
}

/** Alive or suspect. */
export function isLiveState(state: MemberState): boolean {
  return state === "alive" || state === "suspect";
}
