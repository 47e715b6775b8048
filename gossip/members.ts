/**
 * The member table and the precedence rules that decide whether an update about a member
 * overrides what we hold (memberlist's, with `left` kept distinct from `dead`).
 *
 * @module
 */
import type {
  ExtensionStatus,
  MemberInfo,
  MemberMeta,
  MemberState,
} from "../lib/cluster/membership.ts";
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

/** One member as the local member holds it. Mutable; hand out {@link snapshot}s. */
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
  /** Clock ms of the last direct contact or newer incarnation (0 = never). */
  lastHeartbeat = 0;
  /**
   * Whether this member has heard from it directly since it was last learned live: only then
   * is a refused connection evidence of a crash (a member announced by another, a joiner
   * admitted there, may not listen yet).
   */
  contacted = false;
  /** The running suspicion while `state === "suspect"`. */
  suspicion: Suspicion | undefined;
  /** Extension verdict against the local member (recomputed when the digest changes). */
  ext: ExtensionStatus | undefined;
  /** Position in {@link MemberTable.list}; -1 once reaped. */
  index = -1;

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

  /** An immutable snapshot; `extensions` adds the full list to the metadata when known. */
  snapshot(extensions?: readonly string[]): MemberInfo {
    return {
      name: this.name,
      state: this.state,
      incarnation: this.incarnation,
      meta: extensions ? { ...this.meta, extensions } : this.meta,
      lastHeartbeat: this.lastHeartbeat,
      stateChangedAt: this.stateChangedAt,
    };
  }
}

/**
 * Members by name plus a dense array for O(1) random picks, with running counts so the
 * retransmit limit and suspicion timeouts never scan the table.
 */
export class MemberTable {
  readonly #byName = new Map<string, MemberEntry>();
  /** Every entry, in no order (swap-removed on reap). */
  readonly list: MemberEntry[] = [];
  #live = 0;
  #dead = 0;

  /** Number of entries. */
  get size(): number {
    return this.list.length;
  }
  /** Members alive or suspect (the local member included). */
  get live(): number {
    return this.#live;
  }
  /** Members dead (not left). */
  get dead(): number {
    return this.#dead;
  }

  get(name: string): MemberEntry | undefined {
    return this.#byName.get(name);
  }

  /** Adds a new entry (state already set). */
  add(entry: MemberEntry): void {
    entry.index = this.list.length;
    this.list.push(entry);
    this.#byName.set(entry.name, entry);
    this.#count(entry.state, 1);
  }

  /** Moves an entry to `state`, keeping the counts right. */
  setState(entry: MemberEntry, state: MemberState, now: number): void {
    if (entry.state === state) return;
    this.#count(entry.state, -1);
    entry.state = state;
    entry.stateChangedAt = now;
    this.#count(state, 1);
  }

  /** Forgets an entry (reaping). */
  remove(entry: MemberEntry): void {
    if (entry.index < 0) return;
    const last = this.list.pop()!;
    if (last !== entry) {
      this.list[entry.index] = last;
      last.index = entry.index;
    }
    entry.index = -1;
    this.#byName.delete(entry.name);
    this.#count(entry.state, -1);
  }

  #count(state: MemberState, d: number): void {
    if (state === "alive" || state === "suspect") this.#live += d;
    else if (state === "dead") this.#dead += d;
  }
}
