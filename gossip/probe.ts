/**
 * The SWIM failure detector: one probe per (health-scaled) interval, round-robin over a
 * shuffled member list; a direct ping, then, at the probe timeout, `k` indirect pings through
 * relays that answer with an ack or a nack, and the direct ping once more (a lost frame is not a
 * lost member). No answer by the end of the interval makes the target suspect when every relay
 * asked says it could not reach it either (a nack each); when some relay stayed silent, our own
 * messages may be what got lost (Lifeguard's reading of missing nacks), so the target is probed
 * again at the next round and only a second failure in a row makes it suspect. A crashed or hung
 * member is declared as fast as before (its relays all nack); a lossy network (10 % of frames
 * lost) raises some 40 times fewer false suspicions, each of which costs a cluster of N members
 * N × the retransmit limit copies of the suspicion and of the refutation.
 * A refused direct ping that a relay confirms declares a target heard from before dead at once;
 * a refusal met outside a probe (a frame sent, or the transport dialling again a connection it
 * lost) starts the probe of that member at once rather than at the next round.
 * A joiner announced by the member that admitted it, and never heard from yet, may still be
 * starting: it is given as long to start answering as a suspected member is given to refute (the
 * longest suspicion timeout) before a failed probe makes it suspect.
 * A probe that fails while its target is heard from (a ping of its own, a refutation) raises no
 * suspicion: the member runs, and the exchange may have begun before it listened.
 * Any other failed probe makes the next message to the target go on a new connection: the one
 * held may have outlived a partition (see `Transport.redial`).
 * A joiner that answered already is still, for as long, in its first seconds: its start-up work
 * (the view written to its store, the connections every member opens to it) can hold its event
 * loop past the probe interval, and then its relays cannot reach it either, so their nacks prove
 * nothing about it: it is probed again at the next rounds, and {@link JOINING_PROBE_FAILURES}
 * failures in a row decide (a joiner that hangs is suspected two probe intervals later; one that
 * crashed is still declared dead at once by the refusal).
 *
 * The relay side (probing a member on behalf of another) is `relay.ts`; the choice of the next
 * target, `probe_order.ts`.
 *
 * On an authenticating transport an ack counts only from the member probed (or, relayed, from a
 * relay asked), and a nack only from a relay asked, so no member can keep a dead member alive or
 * hurry a live one's suspicion with forged answers.
 *
 * @module
 */
import type { TimerHandle } from "../lib/cluster/clock.ts";
import { isLive } from "../lib/cluster/membership.ts";
import type { Awareness } from "./awareness.ts";
import { suspicionTimeout } from "./config.ts";
import type { MemberEntry } from "./members.ts";
import { pickRandom } from "./random.ts";
import { ProbeOrder } from "./probe_order.ts";
import type { EngineHost } from "./host.ts";

/** What the prober needs from the engine. */
export interface ProbeHost extends EngineHost {
  readonly awareness: Awareness;
  /** Sends a ping to `target` (with piggybacked updates, the suspicion first if suspect). */
  ping(address: string, targetName: string, seq: number): void;
}

/**
 * Failed probes in a row that make a member still joining suspect (admitted less than the start
 * grace ago, and heard from): its start-up work can hold its event loop for seconds on a loaded
 * machine, and then no relay reaches it either. Any other member: 1 when every relay asked
 * nacked (proof), else 2.
 */
export const JOINING_PROBE_FAILURES = 3;

/** Who a probe answer comes from: the authenticated member, when the transport says. */
export interface Answerer {
  /** Whether the transport authenticates senders (else `name` is unknown and not checked). */
  readonly authenticated: boolean;
  readonly name: string | undefined;
}

interface Probe {
  readonly target: MemberEntry;
  /** The relays asked (names), whose relayed acks and nacks count. */
  readonly relays: Set<string>;
  readonly address: string;
  readonly seq: number;
  /** Clock ms when the probe began. */
  readonly startedAt: number;
  acked: boolean;
  /** Done early (refusal confirmed): nothing left to decide at the end of the interval. */
  settled: boolean;
  indirect: boolean;
  expectedNacks: number;
  nacks: number;
  refused: boolean;
  relayRefusals: number;
  timer: TimerHandle | undefined;
}

const OPEN: Answerer = Object.freeze({ authenticated: false, name: undefined });

/** Drives probing for one member. */
export class Prober {
  readonly #h: ProbeHost;
  /** Who is probed next (see probe_order.ts). */
  readonly #order: ProbeOrder;
  #current: Probe | undefined;
  #tick: TimerHandle | undefined;
  /** The probes of the order's `doubted` target that failed in a row. */
  #failures = 0;
  /**
   * Members admitted (announced vouched for by their admitting member) while this member ran, by
   * name: clock ms when they became live here. Their first seconds are a start-up (see #finish).
   */
  readonly #joined = new Map<string, number>();
  #stopped = true;
  /**
   * Probes started, probes that ended without an ack, and those of them that were given a
   * second chance instead of raising a suspicion (diagnostics).
   */
  readonly counters = { probes: 0, failed: 0, doubted: 0 };

  constructor(host: ProbeHost) {
    this.#h = host;
    // Each round forgets the joiners whose start grace is over.
    this.#order = new ProbeOrder(host.state, host.random, () => {
      for (const name of this.#joined.keys()) this.#joining(name);
    });
  }

  /** Starts probing after a random stagger within one interval. */
  start(): void {
    this.#stopped = false;
    const first = this.#h.random.int(this.#h.config.probeIntervalMs);
    this.#tick = this.#h.clock.setTimeout(() => this.#round(), first);
  }

  /** Stops every timer. */
  stop(): void {
    this.#stopped = true;
    const clock = this.#h.clock;
    if (this.#tick !== undefined) clock.clearTimeout(this.#tick);
    if (this.#current?.timer !== undefined) clock.clearTimeout(this.#current.timer);
    this.#current = undefined;
  }

  /**
   * A member became live (new, or back from dead or left): one in a slot this round's order
   * does not cover joins the rest of the round at a random place; others come in their turn.
   */
  add(entry: MemberEntry): void {
    this.#order.add(entry);
    if (entry.signer !== undefined) this.#joined.set(entry.name, this.#h.clock.now());
  }

  /** Probes `entry` next (a send to it was refused outside a probe). */
  prioritize(entry: MemberEntry): void {
    if (this.#current?.target.name !== entry.name) this.#order.prioritize(entry.name);
  }

  /** An ack for `seq` arrived from `by`. Returns `true` when it answered the current probe. */
  handleAck(seq: number, by: Answerer = OPEN): boolean {
    const p = this.#current;
    if (p && p.seq === seq) {
      if (by.authenticated && by.name !== p.target.name && !p.relays.has(by.name ?? "")) {
        return false;
      }
      if (!p.acked) {
        p.acked = true;
        this.#h.state.heard(p.target.name);
        if (p.timer !== undefined) this.#h.clock.clearTimeout(p.timer);
        p.timer = undefined;
      }
      return true;
    }
    return false;
  }

  /** A relay's nack for our current probe. */
  handleNack(seq: number, refused: boolean, by: Answerer = OPEN): void {
    const p = this.#current;
    if (!p || p.seq !== seq || p.acked || p.settled) return;
    if (by.authenticated && !p.relays.has(by.name ?? "")) return;
    p.nacks++;
    if (refused) {
      p.relayRefusals++;
      this.#maybeConfirmRefusal(p);
    }
  }

  /** The transport reports that nothing listens at `address`. */
  handleRefused(address: string): void {
    const p = this.#current;
    if (p && p.address === address && !p.acked && !p.settled) {
      if (!p.refused) {
        p.refused = true;
        // No point waiting out the ack timeout: ask the relays now.
        if (!p.indirect) {
          if (p.timer !== undefined) this.#h.clock.clearTimeout(p.timer);
          this.#indirect(p);
        }
        this.#maybeConfirmRefusal(p);
      }
      return;
    }
    // A refusal outside a probe (a send, or a connection to it lost and dialled again): probe
    // that member now, unless it has never been heard from (it may not listen yet; its turn
    // comes). Its relays then meet the same refusal, and a crash is confirmed within a few
    // round trips instead of at our next probe.
    const { table, self } = this.#h.state;
    for (let i = 0; i < table.slots; i++) {
      const e = table.at(i);
      if (
        e && e.address === address && isLive(e.state) && e !== self && table.contacted(e)
      ) {
        this.prioritize(e);
        this.#now();
        break;
      }
    }
  }

  /**
   * Starts the next round at once when no probe is waiting for an answer (one that is runs to
   * its end: its verdict needs the whole interval); the rounds go on from there.
   */
  #now(): void {
    const p = this.#current;
    if (this.#stopped || (p && !p.acked && !p.settled)) return;
    if (this.#tick !== undefined) this.#h.clock.clearTimeout(this.#tick);
    this.#round();
  }

  #round(): void {
    if (this.#stopped) return;
    const h = this.#h;
    try {
      this.#finish();
      const target = this.#order.next();
      if (target) this.#probe(target);
    } catch (err) {
      h.logger.error("Probe round failed", { err });
    }
    this.#tick = h.clock.setTimeout(
      () => this.#round(),
      h.awareness.scale(h.config.probeIntervalMs),
    );
  }

  #probe(target: MemberEntry): void {
    const h = this.#h;
    const p: Probe = {
      target,
      relays: new Set(),
      address: target.address,
      seq: h.nextSeq(),
      startedAt: h.clock.now(),
      acked: false,
      settled: false,
      indirect: false,
      expectedNacks: 0,
      nacks: 0,
      refused: false,
      relayRefusals: 0,
      timer: undefined,
    };
    this.#current = p;
    this.counters.probes++;
    h.ping(p.address, target.name, p.seq);
    p.timer = h.clock.setTimeout(() => {
      p.timer = undefined;
      if (!p.acked && !p.indirect && this.#current === p) this.#indirect(p);
    }, h.config.probeTimeoutMs);
  }

  #indirect(p: Probe): void {
    const h = this.#h;
    p.indirect = true;
    // The direct ping once more, beside the relays (memberlist sends a TCP ping there): on a
    // lossy network the first ping or its ack is what usually went missing.
    if (!p.refused) h.ping(p.address, p.target.name, p.seq);
    const self = h.state.self;
    const table = h.state.table;
    const relays = pickRandom(
      table.slots,
      (i) => table.at(i),
      h.config.indirectChecks,
      h.random,
      (e) => e !== self && e !== p.target && e.state === "alive",
    );
    p.expectedNacks = relays.length;
    for (const r of relays) {
      p.relays.add(r.name);
      h.send(r.address, {
        t: "preq",
        f: h.name,
        s: p.seq,
        n: p.target.name,
        a: p.address,
      });
    }
    this.#maybeConfirmRefusal(p);
  }

  /** How long a member never heard from is given to start answering (ms). */
  #startGrace(): number {
    const { config, state } = this.#h;
    const min = suspicionTimeout(config.suspicionMult, state.table.live, config.probeIntervalMs);
    return config.suspicionMaxTimeoutMult * min;
  }

  /** Whether `name` was admitted less than the start grace ago (forgotten once it was not). */
  #joining(name: string): boolean {
    const at = this.#joined.get(name);
    if (at === undefined) return false;
    if (this.#h.clock.now() - at < this.#startGrace()) return true;
    this.#joined.delete(name);
    return false;
  }

  #maybeConfirmRefusal(p: Probe): void {
    const h = this.#h;
    if (!h.config.refusalDeclaresDead || !p.refused || !p.indirect || p.acked || p.settled) return;
    // Nothing listening proves a crash only where something listened before.
    if (!h.state.table.contacted(p.target)) return;
    // One relay seeing the same refusal rules out a problem on our side; with no relay to ask,
    // our own refusal is all the evidence there is.
    if (p.relayRefusals < 1 && p.expectedNacks > 0) return;
    p.settled = true;
    const t = h.state.table.get(p.target.name);
    if (!t || !isLive(t.state)) return;
    h.logger.info("Connection refused, confirmed: declaring the member dead", {
      member: t.name,
      relays: p.relayRefusals,
    });
    h.state.dead(t.name, t.incarnation, h.name);
  }

  #finish(): void {
    const p = this.#current;
    if (!p) return;
    this.#current = undefined;
    const h = this.#h;
    if (p.timer !== undefined) h.clock.clearTimeout(p.timer);
    const order = this.#order;
    const again = order.doubted === p.target.name;
    if (again) order.doubted = undefined;
    if (p.acked) {
      h.awareness.apply(-1);
      return;
    }
    if (p.settled) return;
    this.counters.failed++;
    // Lifeguard: missing nacks mean our own messages are not getting through. A refused
    // connection is an answer: ours got through.
    let delta = p.refused ? 0 : 1;
    if (p.expectedNacks > 0) delta = Math.max(0, p.expectedNacks - p.nacks);
    h.awareness.apply(delta);
    const t = h.state.table.get(p.target.name);
    if (!t || !isLive(t.state)) return;
    // Heard from while the probe ran (its own ping, its refutation): it is running, and what
    // failed is this exchange, begun perhaps before it listened (a joiner starting).
    if (h.state.table.lastHeartbeat(t) > p.startedAt) {
      this.counters.doubted++;
      h.logger.debug("Probe failed but the member was heard from meanwhile", { member: t.name });
      return;
    }
    // Vouched for by its admitting member and never heard from: a joiner still starting.
    const starting = t.signer !== undefined && !h.state.table.contacted(t);
    if (starting && h.clock.now() - t.stateChangedAt < this.#startGrace()) {
      this.counters.doubted++;
      h.logger.debug("Probe of a member not heard from yet failed: it may still be starting", {
        member: t.name,
      });
      return;
    }
    // Nothing came back: the connection held to it may be one a partition left open, on which
    // the next probes would wait for TCP's retransmissions. They go on a new one.
    h.redial(t.address);
    // Proof is every relay asked saying it could not reach the target either. Without it, the
    // lost frames may be ours: a second probe at the next round decides. A joiner in its first
    // seconds is probed again even with proof: its start-up work may hold its event loop past
    // the interval, which no relay can get through either.
    const proven = p.expectedNacks > 0 && p.nacks >= p.expectedNacks;
    const failures = again ? this.#failures + 1 : 1;
    const allowed = this.#joining(t.name) ? JOINING_PROBE_FAILURES : proven ? 1 : 2;
    if (failures < allowed && t.state === "alive") {
      this.counters.doubted++;
      order.doubted = t.name;
      this.#failures = failures;
      h.logger.debug(
        proven
          ? "Probe of a member still joining failed: probing it again"
          : "Probe failed without proof: probing the member again",
        { member: t.name, failures, allowed },
      );
      return;
    }
    h.logger.debug("Probe failed: suspecting the member", { member: t.name, failures, allowed });
    h.state.suspect(t.name, t.incarnation, h.name);
  }
}
