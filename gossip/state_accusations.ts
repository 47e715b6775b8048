/**
 * Accusations and their refutation: the `suspect` and `dead` rules of the member table, the
 * suspicion timers, and the local member's answer to an accusation against it. Moved here from
 * `state.ts`, whose `StateMachine` applies them (`suspect`, `dead` and `refute` delegate to
 * {@link Accusations}) and lends them its table, queue and events through
 * {@link AccusationRules}.
 *
 * - an accusation (`suspect`, `dead`) never raises an incarnation: one above the incarnation
 *   held is taken as an accusation of the one held, since only the member raises its own. So a
 *   member always refutes with one step above its own incarnation, which every member accepts.
 *   (A push-pull record of ours held as suspect or dead still carries the signature of our
 *   `alive` at its incarnation, a claim of an earlier run: `state_merge.ts` has it out-bid at
 *   once, one step above it.)
 * - our own suspicion timer waits while the accused keeps talking to us first-hand (up to the
 *   suspicion's longest timeout): it is alive, and has not heard of the suspicion yet or its
 *   refutation is on the way. What a forged accusation can and cannot do:
 *   {@link Accusations.dead}.
 * - our suspicion timeouts (shortest and longest) are multiplied by our local health
 *   (Lifeguard's multiplier, `score + 1`, 1 to `awarenessMaxMultiplier`), as our probe interval
 *   is: a member whose own probes go unanswered, relays' nacks missing, cannot tell a silent
 *   member from its own failing network. Over TCP a lossy path stalls a connection for seconds
 *   (each retransmission timeout doubles: at 30 % loss half of all frames are 3 s late or more),
 *   and a refutation stuck behind such stalls reached healthy members in time while the members
 *   whose own traffic was stalled declared the accused dead. A healthy member (score 0) keeps
 *   its timeouts, so a member that hangs is declared dead as fast as before. They are also
 *   multiplied by one more for each suspicion or verdict of ours the accused refuted lately
 *   ({@link Refutations}: one per refutation, less one per half minute without; the product at
 *   most `awarenessMaxMultiplier`). A member suspected again and again is alive, its
 *   refutations slow to reach us, and a new suspicion of it is likelier one more of those than
 *   a failure; a member that refuted once (a stall while the cluster formed) and then stayed
 *   quiet for half a minute is as likely to have stopped as any other, and keeps the timeouts
 *   of a member nobody suspected.
 *
 * @module
 */
import type { MembershipEventName, MemberState } from "../lib/cluster/membership.ts";
import type { Clock } from "../lib/cluster/clock.ts";
import type { Logger } from "../lib/log.ts";
import type { Awareness } from "./awareness.ts";
import type { BroadcastQueue } from "./broadcast.ts";
import type { Claims } from "./claims.ts";
import type { GossipConfig } from "./config.ts";
import { suspicionTimeout } from "./config.ts";
import { aliveUpdateOf } from "./entry_updates.ts";
import { supersedes } from "./members.ts";
import type { MemberEntry, MemberTable } from "./members.ts";
import { MAX_INCARNATION } from "./messages.ts";
import type { Update } from "./messages.ts";
import { Refutations } from "./refutations.ts";
import { expectedConfirmations, Suspicion } from "./suspicion.ts";

/** What the accusation rules ask of the state machine around them. */
export interface AccusationRules {
  /** The member table the rules change. */
  readonly table: MemberTable;
  /** The local member's entry. */
  readonly self: MemberEntry;
  /** The updates queued for gossip (read only here: is our `alive` queued already?). */
  readonly broadcast: BroadcastQueue;
  /** Whether the local member is leaving (accusations against it are no longer refuted). */
  leaving(): boolean;
  /** Queues update `u` about `name` for gossip (`weight`: as `BroadcastQueue.queue`'s). */
  queue(name: string, u: Update, weight?: number): void;
  /** Signs the local member's current `alive` claim (after its incarnation changed). */
  signAlive(): void;
  /** `entry`'s state changed (suspect to dead): track its extension verdict among the live. */
  stateChanged(entry: MemberEntry): void;
  /** Emits `event` about `entry`, whose state was `previous`. */
  emit(event: MembershipEventName, entry: MemberEntry, previous: MemberState | undefined): void;
}

/** The accusations against members of one table, their timers, and our refutations. */
export class Accusations {
  readonly #clock: Clock;
  readonly #config: GossipConfig;
  readonly #log: Logger;
  readonly #awareness: Awareness;
  readonly #claims: Claims;
  readonly #counters: { suspicions: number; deaths: number; refutations: number };
  readonly #rules: AccusationRules;
  readonly #table: MemberTable;
  readonly #self: MemberEntry;
  /** Members that refuted a suspicion or verdict of ours lately (see {@link #scale}). */
  readonly #refuted: Refutations;

  /**
   * `counters`: the suspicions started, the members declared dead and our refutations, counted
   * for benchmarks and diagnostics.
   */
  constructor(
    ctx: {
      clock: Clock;
      config: GossipConfig;
      logger: Logger;
      awareness: Awareness;
      claims: Claims;
      counters: { suspicions: number; deaths: number; refutations: number };
    },
    rules: AccusationRules,
  ) {
    this.#clock = ctx.clock;
    this.#config = ctx.config;
    this.#log = ctx.logger;
    this.#awareness = ctx.awareness;
    this.#claims = ctx.claims;
    this.#counters = ctx.counters;
    this.#rules = rules;
    this.#table = rules.table;
    this.#self = rules.self;
    this.#refuted = new Refutations(
      ctx.config.maxMembers,
      ctx.config.awarenessMaxMultiplier - 1,
    );
  }

  /**
   * `name`, held as suspect or dead, was found alive at `now` (ms): it refuted our suspicion or
   * verdict, which lengthens the timeouts of the next suspicion of it (see {@link #scale}).
   */
  refuted(name: string, now: number): void {
    this.#refuted.note(name, now);
  }

  /**
   * A `suspect` accusation against `name` at `inc`, made by `by`. One above the incarnation held
   * accuses the incarnation held (nobody but the member raises it).
   */
  suspect(name: string, inc: number, by: string, u?: Update): boolean {
    const target = this.#target(name, inc, u);
    if (!target) return false;
    let cur = target.cur;
    ({ inc, u } = target);
    if (cur.state === "suspect" && inc === cur.incarnation && cur.suspicion) {
      // Same suspicion from someone else: an independent confirmation shortens the timer (only
      // a member's: a name nobody admitted confirms nothing).
      if (this.#claims.isMember(by) && cur.suspicion.confirm(by)) {
        this.#rules.queue(name, u ?? { k: "suspect", n: name, i: inc, by });
        return true;
      }
      return false;
    }
    if (!supersedes(cur, "suspect", inc)) return false;
    const now = this.#clock.now();
    cur = this.#table.edit(cur);
    cur.suspicion?.cancel();
    cur.incarnation = inc;
    this.#table.setState(cur, "suspect", now);
    const n = this.#table.live;
    const k = expectedConfirmations(this.#config.suspicionMult, n);
    // Scaled by our local health and by the accused's recent refutations (see the module doc).
    const min = this.#scale(name, now) *
      suspicionTimeout(this.#config.suspicionMult, n, this.#config.probeIntervalMs);
    const max = this.#config.suspicionMaxTimeoutMult * min;
    const held = cur;
    cur.suspicion = new Suspicion(this.#clock, by, k, min, max, (confirmations) => {
      if (held.state !== "suspect" || held.incarnation !== inc) return;
      // The accused talked to us within the last probe interval (it has not heard of the
      // suspicion yet, or its refutation is on the way): wait until that is a probe interval
      // old, up to the longest timeout, rather than declare it dead.
      const fresh = this.#config.probeIntervalMs -
        (this.#clock.now() - this.#table.lastHeartbeat(held));
      if (fresh > 0 && held.suspicion?.defer(fresh + 1)) return;
      this.#log.info("Suspect timeout reached: declaring the member dead", {
        member: name,
        confirmations,
        // The timeouts it ran with and why: an operator asks why a verdict took so long.
        min_ms: min,
        max_ms: max,
        local_health: this.#awareness.score,
        held_ms: this.#clock.now() - held.stateChangedAt,
      });
      this.dead(name, inc, this.#self.name);
    });
    this.#counters.suspicions++;
    this.#rules.queue(name, u ?? { k: "suspect", n: name, i: inc, by });
    this.#rules.emit("member-suspect", cur, "alive");
    return true;
  }

  /**
   * A `dead` verdict about `name` at `inc`: ours (a suspicion timeout or a confirmed refusal)
   * or gossiped by another member (`by` names whoever it says reached it), applied as memberlist
   * does, so a member killed -9 and refused on the spot is known dead everywhere at once.
   *
   * Accusations are not signed: any member can send one about any other, in any member's name.
   * What a forged accusation (`suspect` or `dead`, from any member's certificate) can do:
   * - make members hold X dead (and emit `member-failed`, then `member-join`) until X's
   *   refutation reaches them: X hears of the verdict through gossip (dead members get gossip
   *   for `gossipToTheDeadMs`) and refutes one incarnation step up, within a gossip round trip
   *   or two when X is reachable (tests/gossip/accusations.test.ts bounds it);
   * - make members suspect X, with forged confirmations (`by` may be any member's name) down
   *   to the shortest suspicion timeout (lan: 4 s × max(1, log10 N)), which X beats the same way;
   * - repeat: each forgery costs X one incarnation of 2^48 ({@link MAX_INCARNATION}).
   * What it cannot do: raise X's incarnation (an accusation above the one held accuses the one
   * held, so X always refutes in one step); assert X's metadata, versions or roles (claims are
   * accepted only from their member: `claims.ts`); keep a reachable X dead, or make members
   * forget X (a dead member is reaped only after `reconnectTimeoutMs`, and any frame from it
   * revives it); remove X from the roster. Cutting X off the network as well does keep it
   * dead, as it would an honest verdict.
   *
   * Taking a gossiped `dead` as a mere suspicion where we heard from X lately would blunt the
   * first point, but members that learn of a kill -9 only from the refusing member's verdict
   * would then wait a suspicion timeout (4 s instead of milliseconds in the simulations).
   */
  dead(name: string, inc: number, by: string, u?: Update): boolean {
    const target = this.#target(name, inc, u);
    if (!target) return false;
    let cur = target.cur;
    ({ inc, u } = target);
    if (!supersedes(cur, "dead", inc)) return false;
    const prev = cur.state;
    cur = this.#table.edit(cur);
    cur.suspicion?.cancel();
    cur.suspicion = undefined;
    cur.incarnation = inc;
    this.#table.setState(cur, "dead", this.#clock.now());
    this.#counters.deaths++;
    this.#rules.queue(name, u ?? { k: "dead", n: name, i: inc, by });
    this.#rules.stateChanged(cur);
    this.#rules.emit("member-failed", cur, prev);
    return true;
  }

  /**
   * Where an accusation (`suspect` or `dead`) of `name` at `inc` lands, the same for both: one of
   * ourselves is refuted (unless we are leaving) and goes no further; one of a name not held is
   * dropped; one above the incarnation held accuses the incarnation held (nobody but the member
   * raises it), and its update `u` is then not relayed as it came. `undefined`: nothing to do.
   */
  #target(
    name: string,
    inc: number,
    u: Update | undefined,
  ): { cur: MemberEntry; inc: number; u: Update | undefined } | undefined {
    if (name === this.#self.name) {
      if (!this.#rules.leaving()) this.#accused(inc);
      return undefined;
    }
    const cur = this.#table.get(name);
    if (!cur) return undefined;
    return inc > cur.incarnation ? { cur, inc: cur.incarnation, u: undefined } : { cur, inc, u };
  }

  /**
   * The multiplier of a new suspicion's timeouts about `name`: our local health (`score + 1`)
   * times one more for each refutation of `name` still counted, at most `awarenessMaxMultiplier`.
   */
  #scale(name: string, now: number): number {
    const refuted = this.#refuted.count(name, now);
    return Math.min(this.#awareness.scale(1 + refuted), this.#config.awarenessMaxMultiplier);
  }

  /**
   * Out-bids an accusation made at incarnation `accused` with a fresh `alive` about ourselves.
   * `penalize`: the accusation means others could not reach us in time (Lifeguard counts it
   * against our local health).
   */
  refute(accused: number, penalize: boolean): void {
    const self = this.#table.edit(this.#self);
    // `accused` is at most MAX_INCARNATION (frames above are malformed), so this stays exact.
    self.incarnation = Math.min(Math.max(self.incarnation, accused) + 1, MAX_INCARNATION);
    this.#rules.signAlive();
    this.#counters.refutations++;
    if (penalize) this.#awareness.apply(1);
    this.#log.debug("Refuting an accusation", { incarnation: self.incarnation });
    this.#rules.queue(self.name, aliveUpdateOf(self));
  }

  /**
   * An accusation against us: refute it when it is current (one above our incarnation is
   * taken as ours: only we raise it); when it is stale (an incarnation we already out-bid), the
   * accuser missed our refutation, so announce our current `alive` again (no bump) and the
   * answer to its next ping carries it.
   */
  #accused(inc: number): void {
    const self = this.#self;
    if (inc >= self.incarnation) return this.refute(self.incarnation, true);
    const queued = this.#rules.broadcast.peek(self.name);
    if (queued?.k === "alive" && queued.i === self.incarnation) return;
    this.#rules.queue(self.name, aliveUpdateOf(self));
  }
}
