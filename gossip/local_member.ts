/**
 * The claims only the local member makes: its own `alive`, signed at every change of its
 * incarnation or metadata; a change of its metadata (a new incarnation, gossiped as news); its
 * leave (a signed `left`, after which accusations against it are no longer refuted); and the
 * `alive` it signs for a joiner it admits (vouched for by it, see `lib/cluster/trust.ts`).
 *
 * Separate from the state machine's rules (state.ts and the files it names), which judge what
 * others claim: these are the claims that carry this member's signature.
 *
 * @module
 */
import type { Clock } from "../lib/cluster/clock.ts";
import type { MemberMeta } from "../lib/cluster/membership.ts";
import { NEWS_WEIGHT } from "./broadcast.ts";
import type { ClaimKind, Claims, Provenance } from "./claims.ts";
import { aliveUpdateOf, leftUpdateOf } from "./entry_updates.ts";
import { type MemberExtensions, normalizeMeta } from "./member_extensions.ts";
import type { MemberEntry, MemberTable } from "./members.ts";
import { MAX_INCARNATION } from "./messages.ts";
import type { Update, WireMeta } from "./messages.ts";
import { fromWireMeta, toWireMeta } from "./wire_meta.ts";

/** What the local member's claims go through in the state machine around it. */
export interface LocalRules {
  /** Queues an update about member `name` for gossip. */
  queue(name: string, u: Update, weight?: number): void;
  /** Applies an `alive` claim by the `alive` rule. */
  alive(name: string, inc: number, wire: WireMeta, from: Provenance): boolean;
}

/** The local member's own claims (see the module comment). */
export class LocalMember {
  /** Set once {@link startLeave} ran: accusations are no longer refuted. */
  leaving = false;
  readonly #self: MemberEntry;
  readonly #table: MemberTable;
  readonly #claims: Claims;
  readonly #clock: Clock;
  readonly #ext: MemberExtensions;
  readonly #rules: LocalRules;

  constructor(
    self: MemberEntry,
    ctx: { table: MemberTable; claims: Claims; clock: Clock; ext: MemberExtensions },
    rules: LocalRules,
  ) {
    this.#self = self;
    this.#table = ctx.table;
    this.#claims = ctx.claims;
    this.#clock = ctx.clock;
    this.#ext = ctx.ext;
    this.#rules = rules;
  }

  /** Signs the local member's current claim of `kind`. */
  sign(kind: ClaimKind): void {
    const self = this.#table.edit(this.#self);
    self.sig = this.#claims.sign(kind, self.name, self.incarnation, self.wire);
    self.signer = undefined;
  }

  /** Changes the local metadata: bumps the incarnation and gossips it. */
  setMeta(meta: MemberMeta): void {
    const self = this.#table.edit(this.#self);
    const full = normalizeMeta({ ...meta, extensions: meta.extensions ?? this.#ext.localList });
    const wire = toWireMeta(full);
    const listChanged = full.extensionDigest !== self.wire.ed;
    self.wire = wire;
    self.meta = fromWireMeta(wire);
    self.incarnation = Math.min(self.incarnation + 1, MAX_INCARNATION);
    this.sign("alive");
    if (listChanged) this.#ext.setLocal(full.extensions!, full.extensionDigest);
    this.#rules.queue(self.name, aliveUpdateOf(self), NEWS_WEIGHT);
  }

  /** Marks the local member as leaving and queues the (signed) `left` update. */
  startLeave(): void {
    this.leaving = true;
    const self = this.#table.edit(this.#self);
    this.#table.setState(self, "left", this.#clock.now());
    this.sign("left");
    this.#rules.queue(self.name, leftUpdateOf(self));
  }

  /**
   * Admits member `name` with `meta` (normalized: its list given): vouched for by us, its
   * admitting member, so the others accept it at incarnation 0 while its join is pending, and
   * the joiner refutes any difference.
   */
  vouch(name: string, meta: MemberMeta): void {
    // Known first, so the verdict is settled at once and no fetch is started for it.
    this.#ext.learn(meta.extensionDigest, meta.extensions ?? []);
    const wire = toWireMeta(meta);
    const sg = this.#claims.sign("alive", name, 0, wire);
    this.#rules.alive(name, 0, wire, { local: true, sg, sb: this.#self.name });
  }
}
