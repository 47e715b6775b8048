/**
 * One member table shared by every member of a simulation: each member gets a
 * {@link SharedMembers.view} that holds only what it sees differently (its own entry, members
 * whose state or claim changed in its eyes, one bit per member it heard from and the times of
 * its recent contacts), and reads the rest from the shared entries. A simulated cluster restored
 * from one view of itself then costs memory in proportion to N plus the changes, where N own
 * tables cost N² entries (≈ 400 bytes each).
 *
 * Shared entries are never changed: a view copies one the first time its member changes it
 * ({@link MemberTable.edit}). The contract is {@link MemberTable}'s, tested on both tables by
 * `tests/gossip/member_table_contract.ts`.
 *
 * @module
 */
import type { MemberState } from "../lib/cluster/membership.ts";
import { DigestSum, entryHash, formatDigest, MemberCounts, MemberEntry } from "./members.ts";
import type { MemberTable } from "./members.ts";

/** The entries every view starts from. */
export class SharedMembers {
  readonly #list: readonly MemberEntry[];
  readonly #byName: ReadonlyMap<string, number>;
  readonly #live: number;
  readonly #dead: number;
  readonly #a: number;
  readonly #b: number;
  readonly #views: SharedView[] = [];

  /** `entries`: distinct names, their states set; the table takes them over (do not change them). */
  constructor(entries: readonly MemberEntry[]) {
    const byName = new Map<string, number>();
    const counts = new MemberCounts();
    let a = 0;
    let b = 0;
    entries.forEach((e, i) => {
      if (byName.has(e.name)) throw new Error(`Duplicate member "${e.name}"`);
      e.index = i;
      byName.set(e.name, i);
      counts.count(e.state, 1);
      entryHash(e);
      a = (a + e.hashA) >>> 0;
      b = (b + e.hashB) >>> 0;
    });
    this.#list = entries;
    this.#byName = byName;
    this.#live = counts.live;
    this.#dead = counts.dead;
    this.#a = a;
    this.#b = b;
  }

  /** Number of shared entries. */
  get size(): number {
    return this.#list.length;
  }

  /**
   * What every view made so far holds of its own: entries copied or added, and contact times
   * kept (diagnostics: this, not N², is what a simulation's tables cost beyond the shared N).
   */
  footprint(): number {
    let sum = 0;
    for (const v of this.#views) sum += v.footprint;
    return sum;
  }

  /** A member's table over the shared entries. */
  view(): MemberTable {
    return this.#track(
      new SharedView(this.#list, this.#byName, {
        live: this.#live,
        dead: this.#dead,
        a: this.#a,
        b: this.#b,
      }),
    );
  }

  #track(view: SharedView): SharedView {
    this.#views.push(view);
    return view;
  }
}

/**
 * Contact times a view keeps of members still read from the shared entries: those of the last
 * {@link RECENT_MS}, at most {@link RECENT} (the engine reads them only to tell contact within
 * the last probe interval, at most a few seconds).
 */
export const RECENT = 256;
/** @see RECENT */
export const RECENT_MS = 5000;

/** Marks a shared slot whose entry this view forgot (reaped). */
const GONE = null;

class SharedView implements MemberTable {
  readonly #base: readonly MemberEntry[];
  readonly #baseIndex: ReadonlyMap<string, number>;
  /** This view's own entries in shared slots (`GONE`: reaped). */
  readonly #own = new Map<number, MemberEntry | typeof GONE>();
  /** Entries of members the shared table does not hold, in slots after the shared ones. */
  readonly #extra: (MemberEntry | undefined)[] = [];
  readonly #extraByName = new Map<string, MemberEntry>();
  /**
   * Members of shared slots (still read from the shared entry) heard from directly, one bit
   * each (allocated at the first contact): N bits per member, not N entries.
   */
  #contacted: Uint8Array | undefined;
  /**
   * When they were last heard from, for recent contacts only ({@link RECENT}; oldest first). An
   * older one reads as the shared entry's time (earlier than the truth: never "fresh" by
   * mistake).
   */
  readonly #beats = new Map<number, number>();
  #size: number;
  readonly #counts = new MemberCounts();
  /** The shared sum, less the shared entries this view replaced or forgot. */
  #a: number;
  #b: number;
  /** The sum of this view's own entries. */
  readonly #sum = new DigestSum();

  constructor(
    base: readonly MemberEntry[],
    index: ReadonlyMap<string, number>,
    start: { live: number; dead: number; a: number; b: number },
  ) {
    this.#base = base;
    this.#baseIndex = index;
    this.#size = base.length;
    this.#counts.live = start.live;
    this.#counts.dead = start.dead;
    this.#a = start.a;
    this.#b = start.b;
  }

  get size(): number {
    return this.#size;
  }
  /** Entries of its own (copied or added) plus contact times kept. */
  get footprint(): number {
    return this.#own.size + this.#extraByName.size + this.#beats.size;
  }
  get slots(): number {
    return this.#base.length + this.#extra.length;
  }
  get live(): number {
    return this.#counts.live;
  }
  get dead(): number {
    return this.#counts.dead;
  }

  get(name: string): MemberEntry | undefined {
    const slot = this.#baseIndex.get(name);
    if (slot === undefined) return this.#extraByName.get(name);
    const own = this.#own.get(slot);
    return own === undefined ? this.#base[slot] : own ?? undefined;
  }

  at(i: number): MemberEntry | undefined {
    const base = this.#base;
    if (i >= base.length) return this.#extra[i - base.length];
    const own = this.#own.get(i);
    return own === undefined ? base[i] : own ?? undefined;
  }

  add(entry: MemberEntry): void {
    const slot = this.#baseIndex.get(entry.name);
    if (slot !== undefined) {
      // A name of the shared table (the local member's own entry, or one reaped and back).
      const own = this.#own.get(slot);
      if (own === undefined) {
        // The local member's entry replaces what the shared table says of it.
        this.#forget(slot);
        this.#size--;
        this.#counts.count(this.#base[slot].state, -1);
      } else if (own !== GONE) throw new Error(`Member "${entry.name}" is already held`);
      entry.index = slot;
      this.#own.set(slot, entry);
    } else {
      if (this.#extraByName.has(entry.name)) {
        throw new Error(`Member "${entry.name}" is already held`);
      }
      entry.index = this.#base.length + this.#extra.length;
      this.#extra.push(entry);
      this.#extraByName.set(entry.name, entry);
    }
    this.#size++;
    this.#counts.count(entry.state, 1);
    this.#sum.touch(entry);
  }

  edit(entry: MemberEntry): MemberEntry {
    const i = entry.index;
    const base = this.#base;
    if (i < base.length && i >= 0 && base[i].name === entry.name) {
      const own = this.#own.get(i);
      if (own === undefined) {
        // First change of a shared entry: copy it (with what this view recorded of contact).
        const copy = base[i].copy();
        if (this.#isContacted(i)) {
          copy.lastHeartbeat = this.#beats.get(i) ?? copy.lastHeartbeat;
          copy.contacted = true;
          this.#forgetContact(i);
        }
        this.#take(base[i]);
        this.#own.set(i, copy);
        this.#sum.touch(copy);
        return copy;
      }
      if (own === GONE) throw new Error(`Member "${entry.name}" is not held`);
      this.#sum.touch(own);
      return own;
    }
    this.#sum.touch(entry);
    return entry;
  }

  setState(entry: MemberEntry, state: MemberState, now: number): void {
    this.#counts.setState(entry, state, now, this.#sum);
  }

  remove(entry: MemberEntry): void {
    const held = this.get(entry.name);
    if (held === undefined) return;
    const i = held.index;
    if (i < this.#base.length) {
      if (this.#own.get(i) === undefined) this.#forget(i);
      else this.#sum.drop(held);
      this.#own.set(i, GONE);
    } else {
      this.#sum.drop(held);
      this.#extra[i - this.#base.length] = undefined;
      this.#extraByName.delete(held.name);
    }
    this.#size--;
    this.#counts.count(held.state, -1);
  }

  heard(entry: MemberEntry, now: number): void {
    const i = entry.index;
    if (i < this.#base.length && this.#own.get(i) === undefined) {
      const bits = this.#contacted ??= new Uint8Array((this.#base.length + 7) >> 3);
      bits[i >> 3] |= 1 << (i & 7);
      const beats = this.#beats;
      beats.delete(i);
      beats.set(i, now);
      for (const [slot, at] of beats) {
        if (beats.size <= RECENT && at > now - RECENT_MS) break;
        beats.delete(slot);
      }
      return;
    }
    const held = this.get(entry.name);
    if (held) {
      held.lastHeartbeat = now;
      held.contacted = true;
    }
  }

  contacted(entry: MemberEntry): boolean {
    const i = entry.index;
    if (i < this.#base.length && this.#own.get(i) === undefined) return this.#isContacted(i);
    return this.get(entry.name)?.contacted ?? false;
  }

  lastHeartbeat(entry: MemberEntry): number {
    const i = entry.index;
    if (i < this.#base.length && this.#own.get(i) === undefined) {
      return this.#beats.get(i) ?? this.#base[i].lastHeartbeat;
    }
    return this.get(entry.name)?.lastHeartbeat ?? 0;
  }

  digest(): string {
    this.#sum.value(0);
    return formatDigest((this.#a + this.#sum.a) >>> 0, (this.#b + this.#sum.b) >>> 0, this.#size);
  }

  /** The shared entry of slot `i` leaves this view (replaced or reaped). */
  #forget(i: number): void {
    this.#take(this.#base[i]);
    this.#forgetContact(i);
  }

  #isContacted(i: number): boolean {
    const bits = this.#contacted;
    return bits !== undefined && (bits[i >> 3] & (1 << (i & 7))) !== 0;
  }

  #forgetContact(i: number): void {
    if (this.#contacted) this.#contacted[i >> 3] &= ~(1 << (i & 7));
    this.#beats.delete(i);
  }

  /** Takes a shared entry's hash out of the shared part of the sum. */
  #take(e: MemberEntry): void {
    this.#a = (this.#a - e.hashA) >>> 0;
    this.#b = (this.#b - e.hashB) >>> 0;
  }
}
