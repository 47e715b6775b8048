/**
 * The rules of the claims a member makes about itself, `alive` and `left`, as the member table
 * applies them: moved here from `state.ts`, whose `StateMachine` applies them (`alive` and
 * `left` delegate to {@link ClaimRules}) and lends them its table, queue and events through
 * {@link ClaimHooks}.
 *
 * What they accept from the network (the rules of `lib/cluster/trust.ts`, checked here):
 * - a name enters the table only when the trust says it joined ({@link Claims.isMember}), and
 *   the table holds at most `maxMembers` entries; a claim about a name not known yet waits a
 *   little in case its evidence (the roster record) is on its way;
 * - `alive` and `left` are accepted only as their member's own claims ({@link Claims.accepts});
 * - a claim of ours that is newer than ours or differs (a record of an earlier run, before a
 *   restart that forgot it) is out-bid at once, one step above it.
 *
 * @module
 */
import type { MembershipEventName, MemberState } from "../lib/cluster/membership.ts";
import type { Clock } from "../lib/cluster/clock.ts";
import { isLive } from "../lib/cluster/membership.ts";
import type { Logger } from "../lib/log.ts";
import { NEWS_WEIGHT } from "./broadcast.ts";
import type { Claims, Provenance } from "./claims.ts";
import { aliveUpdateOf, leftUpdateOf } from "./entry_updates.ts";
import { MemberEntry, supersedes } from "./members.ts";
import type { MemberTable } from "./members.ts";
import { fromWireMeta, sameWireMeta } from "./wire_meta.ts";
import type { Update, WireMeta } from "./messages.ts";
import type { TableAdmission } from "./table_admission.ts";

/** What the claim rules ask of the state machine around them. */
export interface ClaimHooks {
  /** The member table the rules change. */
  readonly table: MemberTable;
  /** The local member's entry. */
  readonly self: MemberEntry;
  /** Whether the local member is leaving (claims of ours are no longer out-bid). */
  leaving(): boolean;
  /** Queues update `u` about `name` for gossip (`weight`: as `BroadcastQueue.queue`'s). */
  queue(name: string, u: Update, weight?: number): void;
  /** `entry` became live (new, or back from dead or left): the engine probes it. */
  becameLive(entry: MemberEntry): void;
  /** `entry`'s record changed: settle its extension verdict (fetching an unknown list). */
  recorded(entry: MemberEntry): void;
  /** `entry` left: track its extension verdict among the live. */
  stateChanged(entry: MemberEntry): void;
  /** Emits `event` about `entry`, whose state was `previous` (`undefined`: new to the table). */
  emit(event: MembershipEventName, entry: MemberEntry, previous: MemberState | undefined): void;
  /** Out-bids a claim of ours made at `accused` (see `Accusations.refute`). */
  refute(accused: number, penalize: boolean): void;
  /** `name`, held as suspect or dead, was found alive at `now` (see `Accusations.refuted`). */
  refuted(name: string, now: number): void;
}

/** The `alive` and `left` rules of one member table. */
export class ClaimRules {
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #claims: Claims;
  readonly #admission: TableAdmission;
  readonly #hooks: ClaimHooks;
  readonly #table: MemberTable;
  readonly #self: MemberEntry;

  /** `admission`: which names may enter the table (and the claims waiting for evidence). */
  constructor(
    ctx: { clock: Clock; logger: Logger; claims: Claims; admission: TableAdmission },
    hooks: ClaimHooks,
  ) {
    this.#clock = ctx.clock;
    this.#log = ctx.logger;
    this.#claims = ctx.claims;
    this.#admission = ctx.admission;
    this.#hooks = hooks;
    this.#table = hooks.table;
    this.#self = hooks.self;
  }

  /**
   * An `alive` claim about `name` at incarnation `inc` with metadata `wire`, accepted only as
   * `name`'s own (see {@link Claims.accepts}; `from` says where it comes from).
   */
  alive(name: string, inc: number, wire: WireMeta, from: Provenance, u?: Update): boolean {
    const self = this.#self;
    if (name === self.name) {
      // Our own echo is fine; a newer or different claim of ours is a record of a previous run
      // (or vouched for by the member that admitted us): out-bid it. A forgery is ignored: no
      // other member would accept it either.
      if (
        !this.#hooks.leaving() && (inc > self.incarnation || (inc === self.incarnation &&
          !sameWireMeta(wire, self.wire))) &&
        this.#claims.accepts("alive", name, inc, wire, from)
      ) this.#hooks.refute(inc, false);
      return false;
    }
    const now = this.#clock.now();
    let cur = this.#table.get(name);
    if (!cur) {
      if (!this.#admission.admissible(name, () => this.alive(name, inc, wire, from, u))) {
        return false;
      }
      if (!this.#claims.accepts("alive", name, inc, wire, from)) return false;
      const entry = new MemberEntry(name, inc, wire, fromWireMeta(wire), now);
      entry.sig = from.sg;
      entry.signer = from.sb;
      entry.lastHeartbeat = now;
      this.#table.add(entry);
      this.#hooks.queue(name, u ?? aliveUpdateOf(entry), NEWS_WEIGHT);
      this.#hooks.becameLive(entry);
      this.#hooks.recorded(entry);
      this.#hooks.emit("member-join", entry, undefined);
      return true;
    }
    // The entry held is about a former identity of the name (removed, and a new member admitted
    // under it since): the new member's claim replaces it whatever the incarnations, as a new
    // member's would (memberlist lets a new address reclaim a name that left; here the roster
    // says which certificate holds the name). Held, the former identity's `left` at a higher
    // incarnation kept the new member out until the tombstone timeout: the new member never
    // out-bids it, since that claim was signed with a key it does not have.
    const former = this.#claims.isFormer(name, cur.wire);
    if (!former) {
      if (wire.fp !== cur.wire.fp) {
        // Another identity than the one held, which the trust does not name yet: the roster
        // record of a new admission under this name may be on its way.
        this.#admission.keep(name, () => this.alive(name, inc, wire, from, u));
        return false;
      }
      if (!supersedes(cur, "alive", inc)) return false;
    }
    if (!this.#claims.accepts("alive", name, inc, wire, from)) return false;
    if (!former && cur.wire.a !== wire.a && isLive(cur.state)) {
      this.#log.warn("Conflicting address for a live member: ignoring the claim", {
        member: name,
        address: cur.wire.a,
        claimed: wire.a,
      });
      return false;
    }
    const prev = cur.state;
    const metaChanged = !sameWireMeta(cur.wire, wire);
    if (!former && (prev === "suspect" || prev === "dead")) this.#hooks.refuted(name, now);
    cur = this.#table.edit(cur);
    cur.suspicion?.cancel();
    cur.suspicion = undefined;
    cur.incarnation = inc;
    if (metaChanged) {
      cur.wire = wire;
      cur.meta = fromWireMeta(wire);
    }
    cur.sig = from.sg;
    cur.signer = from.sb;
    cur.lastHeartbeat = now;
    this.#table.setState(cur, "alive", now);
    const back = prev === "dead" || prev === "left";
    if (back || former) cur.contacted = false;
    this.#hooks.queue(
      name,
      u ?? aliveUpdateOf(cur),
      back || former || metaChanged ? NEWS_WEIGHT : 1,
    );
    if (back) this.#hooks.becameLive(cur);
    if (metaChanged || prev !== "alive") this.#hooks.recorded(cur);
    // A new identity is a new member: joined, from no previous state of its own.
    if (former) this.#hooks.emit("member-join", cur, undefined);
    else if (back) this.#hooks.emit("member-join", cur, prev);
    else if (prev === "suspect" || metaChanged) this.#hooks.emit("member-update", cur, prev);
    return true;
  }

  /**
   * A graceful leave of `name` at `inc`, with the metadata it left with (`m`, default: what we
   * hold), accepted only as `name`'s own claim.
   */
  left(name: string, inc: number, from: Provenance, m?: WireMeta): boolean {
    const self = this.#self;
    if (name === self.name) {
      // A `left` of ours while we run is a record of an earlier run: we are back.
      if (
        !this.#hooks.leaving() && inc >= self.incarnation &&
        this.#claims.accepts("left", name, inc, m ?? self.wire, from)
      ) this.#hooks.refute(inc, false);
      return false;
    }
    let cur = this.#table.get(name);
    if (!cur || !supersedes(cur, "left", inc)) return false;
    const wire = m ?? cur.wire;
    if (!this.#claims.accepts("left", name, inc, wire, from)) return false;
    const prev = cur.state;
    cur = this.#table.edit(cur);
    cur.suspicion?.cancel();
    cur.suspicion = undefined;
    cur.incarnation = inc;
    if (!sameWireMeta(wire, cur.wire)) {
      cur.wire = wire;
      cur.meta = fromWireMeta(wire);
    }
    cur.sig = from.sg;
    cur.signer = undefined;
    this.#table.setState(cur, "left", this.#clock.now());
    this.#hooks.queue(name, leftUpdateOf(cur));
    this.#hooks.stateChanged(cur);
    this.#hooks.emit("member-left", cur, prev);
    return true;
  }
}
