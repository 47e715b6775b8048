/**
 * Dissemination: how queued updates leave this member. They ride on every probe message
 * (piggybacked, newest first, within the message budget) and go out in gossip rounds to
 * `gossipNodes` random members: one round per `gossipIntervalMs` while anything is queued, plus
 * an immediate burst of `pushRounds` rounds when something new is queued, because on a fast
 * network waiting for the next tick is most of an update's propagation time. With nothing
 * queued no round timer is armed: an idle member's rounds would send nothing, and each one
 * cost the process a wake-up (5 a second under `lan`, more than all its other timers together).
 *
 * An admission is announced instead: what is queued goes at once, in one message, to every
 * live member heard from. An epidemic takes about log₃ N hops, and on a machine whose members
 * wait for the CPU each hop is a wait of a few hundred milliseconds (N=50 at load 45: 0.6 s
 * before the first member but the admitting one saw the join, 1.4 s before the median did);
 * one hop costs the admitting member N − 2 frames once per join, fewer than the digest
 * exchanges it starts with every member after it (`Gossip.sync`). A member's own change of
 * versions (`updateMeta`: an upgrade taking effect) is announced the same way: the members
 * waiting in an upgrade open on it, and an epidemic's hops were most of their wait.
 *
 * What a member takes in from another's announcement goes on in its regular rounds, not in an
 * immediate push: every live member got the announcement at once, so each receiver's burst
 * (`pushRounds` × `gossipNodes` copies within a few tens of ms) reached only members that had it.
 * At N=100 that was about 1200 frames in the first 100 ms of a join, 12 per member, each waking
 * a process while the last members were still waiting for a core to read the announcement. The
 * rounds still send each update its full retransmit count, to members the announcement missed
 * too (one that was not heard from yet), a gossip interval later.
 *
 * @module
 */
import { isLive } from "../lib/cluster/membership.ts";
import { type TimerHandle } from "../lib/cluster/clock.ts";
import { retransmitLimit } from "./config.ts";
import type { Message, Update } from "./messages.ts";
import { pickRandom } from "./random.ts";
import type { EngineHost } from "./host.ts";

/** Room left in a message for its own fields around the piggybacked updates, bytes. */
const HEADER_BYTES = 96;
/** Room kept in a ping to a suspect for the accusation that goes first, bytes. */
const ACCUSATION_BYTES = 64;
/**
 * An announcement's budget, in message budgets: a joiner's roster record (its certificate)
 * and its `alive` claim together exceed one, and a claim that comes without its record waits
 * for it (the record is the claim's evidence).
 */
const ANNOUNCE_MESSAGES = 3;

/** Sends one member's queued updates. */
export class Disseminator {
  readonly #h: EngineHost;
  #running = false;
  #burstLeft = 0;
  /** Start (clock ms) and count of the immediate-push rounds of the current gossip interval. */
  #windowStart = -Infinity;
  #windowRounds = 0;
  /** The next regular round, armed only while something is queued. */
  #roundTimer: TimerHandle | undefined;
  /** An announcement is due at the end of this turn. */
  #announcing = false;
  /** Another member's announcement is being taken in (see {@link heardAnnouncement}). */
  #hearing = false;

  constructor(host: EngineHost) {
    this.#h = host;
  }

  /** Allows immediate pushes (a member that is not started yet sends nothing by itself). */
  start(): void {
    this.#running = true;
    this.#arm();
  }

  /** Stops immediate pushes and gossip rounds for good. */
  stop(): void {
    this.#running = false;
    this.#burstLeft = 0;
    if (this.#roundTimer !== undefined) this.#h.clock.clearTimeout(this.#roundTimer);
    this.#roundTimer = undefined;
  }

  /**
   * Queued updates for one message to member `recipient`, within the message budget less
   * `reserved` bytes; `oversize`: a record above the budget may go alone.
   */
  piggyback(recipient: string, reserved = 0, oversize = false): Update[] {
    const { state, config } = this.#h;
    if (state.queue.size === 0) return [];
    const limit = retransmitLimit(config.retransmitMult, state.table.live);
    const budget = config.maxMessageBytes - HEADER_BYTES - reserved;
    return state.queue.take(budget, limit, { oversize, recipient });
  }

  /** The ping that probes member `targetName`, carrying what is queued. */
  ping(targetName: string, seq: number): Message {
    const h = this.#h;
    const target = h.state.table.get(targetName);
    let pb: Update[];
    if (target && target.state === "suspect") {
      // Buddy system: tell the accused first so it can refute in its ack.
      const accusation: Update = { k: "suspect", n: targetName, i: target.incarnation, by: h.name };
      const queued = this.piggyback(targetName, ACCUSATION_BYTES);
      pb = [accusation, ...queued.filter((u) => u.k !== "suspect" || u.n !== targetName)];
    } else {
      pb = this.piggyback(targetName);
    }
    return pb.length
      ? { t: "ping", f: h.name, s: seq, n: targetName, pb }
      : { t: "ping", f: h.name, s: seq, n: targetName };
  }

  /** One gossip round: a message of pending updates to each of `gossipNodes` random members. */
  round(): void {
    const { state, config, clock, random } = this.#h;
    if (state.queue.size === 0) return;
    const now = clock.now();
    const self = state.self;
    const toDead = config.gossipToTheDeadMs;
    const table = state.table;
    const targets = pickRandom(
      table.slots,
      (i) => table.at(i),
      config.gossipNodes,
      random,
      (e) =>
        e !== self &&
        (isLive(e.state) || (e.state === "dead" && now - e.stateChangedAt < toDead)),
    );
    for (const t of targets) {
      const pb = this.piggyback(t.name, 0, true);
      // Nothing may be left for this one (updates about itself), and still be for the others.
      if (pb.length === 0) {
        if (state.queue.size === 0) break;
        continue;
      }
      this.#h.send(t.address, { t: "gossip", f: this.#h.name, pb });
    }
  }

  /**
   * A new update was queued (about member `about`, or a record): push it at once, in a burst of
   * `pushRounds` rounds (or by topping up the running burst to that many). At most
   * `2 × pushRounds` rounds go out per gossip interval; beyond that the regular rounds carry
   * updates (batching under load). A join queues several updates some milliseconds apart
   * (records, then the joiner's own state), and each must spread at once, not at the next tick.
   * While another member's announcement is taken in, only this member's own updates (a
   * refutation) are pushed at once; the rest waits for the regular rounds.
   */
  queued(about?: string): void {
    this.#arm();
    const { config, clock } = this.#h;
    if (!config.immediatePush || !this.#running) return;
    if (this.#hearing && about !== this.#h.name) return;
    const now = clock.now();
    if (now - this.#windowStart >= config.gossipIntervalMs) {
      this.#windowStart = now;
      this.#windowRounds = 0;
    }
    const rounds = Math.min(config.pushRounds, 2 * config.pushRounds - this.#windowRounds);
    if (rounds <= this.#burstLeft) return;
    const running = this.#burstLeft > 0;
    this.#burstLeft = rounds;
    // Deferred to the end of the current turn so updates created together leave together.
    if (!running) clock.setTimeout(this.#burstRound, 0);
  }

  /**
   * Sends what is queued, at the end of the current turn (so updates made together leave
   * together: a joiner's record and its admission), in one message to every live member but
   * those vouched for by another and never heard from (a joiner that may not listen yet). Each update counts as
   * sent once: the immediate push and the rounds that follow still spread it as they would,
   * reaching whoever this message missed.
   */
  announce(): void {
    if (!this.#running || this.#announcing) return;
    this.#announcing = true;
    this.#h.clock.setTimeout(this.#announceAll, 0);
  }

  readonly #announceAll = (): void => {
    this.#announcing = false;
    // The announcement replaces this member's own burst: a burst's copies would reach members
    // that have it, and each would push it on again as news of its own.
    this.#burstLeft = 0;
    const { state, config } = this.#h;
    if (!this.#running || state.queue.size === 0) return;
    const limit = retransmitLimit(config.retransmitMult, state.table.live);
    const budget = ANNOUNCE_MESSAGES * config.maxMessageBytes - HEADER_BYTES;
    const pb = state.queue.take(budget, limit, { oversize: true });
    if (pb.length === 0) return;
    const msg: Message = { t: "gossip", f: this.#h.name, pb, a: true };
    const table = state.table;
    for (let i = 0; i < table.slots; i++) {
      const e = table.at(i);
      // Not to a member vouched for by another and never heard from (a joiner that may not
      // listen yet: a refused connection would count against it). Skipping every member some
      // queued update was about instead skipped them all at a restart, whose queue holds the
      // others' states: the versions that open the members waiting in an upgrade then waited
      // for the rounds.
      if (
        e && e !== state.self && e.state === "alive" &&
        (e.signer === undefined || table.contacted(e))
      ) this.#h.send(e.address, msg);
    }
  };

  /**
   * Takes in, through `apply`, the updates of an announcement another member sent (a gossip
   * message marked `a`): what they queue goes out in the regular rounds, without an immediate
   * push (see the module docs).
   */
  heardAnnouncement(apply: () => void): void {
    const was = this.#hearing;
    this.#hearing = true;
    try {
      apply();
    } finally {
      this.#hearing = was;
    }
  }

  /** Arms the next regular round when something is queued and none is armed. */
  #arm(): void {
    if (!this.#running || this.#roundTimer !== undefined || this.#h.state.queue.size === 0) return;
    this.#roundTimer = this.#h.clock.setTimeout(
      this.#regularRound,
      this.#h.config.gossipIntervalMs,
    );
  }

  readonly #regularRound = (): void => {
    this.#roundTimer = undefined;
    if (!this.#running) return;
    try {
      this.round();
    } catch (err) {
      this.#h.logger.error("Gossip round failed", { err });
    }
    // Updates stay queued until sent their retransmit limit: rounds go on until then.
    this.#arm();
  };

  readonly #burstRound = (): void => {
    if (!this.#running || this.#burstLeft <= 0) return;
    // Queued in the turn an announcement was made in: the announcement carries it to everyone.
    if (this.#announcing) {
      this.#burstLeft = 0;
      return;
    }
    this.#burstLeft--;
    this.#windowRounds++;
    this.round();
    if (this.#burstLeft > 0 && this.#h.state.queue.size > 0) {
      this.#h.clock.setTimeout(this.#burstRound, this.#h.config.pushRoundGapMs);
    } else this.#burstLeft = 0;
  };
}
