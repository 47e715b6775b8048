/**
 * The gossip engine: wires the member state machine, the prober, dissemination, push-pull
 * anti-entropy and extension fetching to a transport, and exposes the result as a
 * {@link MembershipView}. Every dependency (clock, randomness, logger, transport) is injected,
 * so a simulation drives many engines deterministically in one process.
 *
 * @module
 */
import type {
  ExtensionStatus,
  MemberInfo,
  MemberMeta,
  MembershipEventName,
  MembershipEvents,
  MemberState,
} from "../lib/cluster/membership.ts";
import type { Clock, TimerHandle } from "../lib/cluster/clock.ts";
import type { Random } from "../lib/cluster/random.ts";
import type {
  RecordInput,
  ReplicatedRecord,
  SetRecordOptions,
} from "../lib/cluster/replicated_record.ts";
import type { Frame, SendOptions, Transport } from "../lib/cluster/transport.ts";
import { wallClockOf, wallTime } from "../lib/cluster/clock.ts";
import { InvalidInputError } from "../lib/errors.ts";
import type { Logger } from "../lib/log.ts";
import type { Trust } from "../lib/cluster/trust.ts";
import { Awareness } from "./awareness.ts";
import { Claims } from "./claims.ts";
import { Emitter } from "./events.ts";
import type { GossipConfig } from "./config.ts";
import { pushPullScale, resolveConfig } from "./config.ts";
import { ExtensionFetcher } from "./ext_fetch.ts";
import type { FetchHost } from "./ext_fetch.ts";
import { MAX_INCARNATION } from "./messages.ts";
import { decodeMessage } from "./message_decode.ts";
import { toWireMeta } from "./wire_meta.ts";
import type { Message, PushPullMsg, Update } from "./messages.ts";
import { Disseminator } from "./dissemination.ts";
import { Prober } from "./probe.ts";
import { Relayer } from "./relay.ts";
import { PushPull } from "./push_pull.ts";
import type { PushPullHost } from "./push_pull.ts";
import type { ProbeHost } from "./probe.ts";
import { RecordTable } from "./records.ts";
import { normalizeMeta, StateMachine } from "./state.ts";
import { startingMeta } from "./api.ts";
import type { Gossip, GossipComponents, GossipInit, GossipStats } from "./api.ts";

const RELIABLE: SendOptions = Object.freeze({ reliable: true });

class GossipEngine implements Gossip, ProbeHost, FetchHost, PushPullHost {
  readonly name: string;
  readonly localName: string;
  readonly config: GossipConfig;
  readonly clock: Clock;
  readonly random: Random;
  readonly logger: Logger;
  readonly awareness: Awareness;
  readonly state: StateMachine;
  readonly timeoutMs: number;
  readonly #transport: Transport;
  readonly #prober: Prober;
  readonly #relayer: Relayer;
  readonly #fetcher: ExtensionFetcher;
  readonly #records: RecordTable;
  readonly #trust: Trust;
  readonly #claims: Claims;
  readonly #pushPull: PushPull;
  #initialState: unknown;
  readonly #timers: (TimerHandle | undefined)[] = [];
  #seq = 0;
  /** Address of the member whose piggybacked updates are being applied. */
  #from: string | undefined;
  readonly #out: Disseminator;
  #started = false;
  #stopped = false;
  #malformedLogged = -Infinity;
  #leaving: Promise<void> | undefined;
  readonly #counters = { sent: 0, received: 0, malformed: 0 };

  constructor(components: GossipComponents, init: GossipInit) {
    if (typeof init.name !== "string" || init.name === "" || init.name.length > 256) {
      throw new InvalidInputError("Invalid gossip member name: expected 1 to 256 characters", {
        field: "name",
      });
    }
    if (
      init.incarnation !== undefined &&
      !(Number.isSafeInteger(init.incarnation) && init.incarnation >= 0 &&
        init.incarnation <= MAX_INCARNATION)
    ) {
      throw new InvalidInputError(
        `Invalid gossip incarnation: expected an integer from 0 to ${MAX_INCARNATION}`,
        { field: "incarnation" },
      );
    }
    this.name = this.localName = init.name;
    this.config = resolveConfig(init.preset, init.config);
    this.clock = components.clock;
    this.random = components.random;
    this.logger = components.logger.child({ component: "gossip", member: init.name });
    this.#transport = components.transport;
    this.timeoutMs = this.config.requestTimeoutMs;
    this.awareness = new Awareness(this.config.awarenessMaxMultiplier);
    this.#initialState = init.state;
    this.#out = new Disseminator(this);
    const events = new Emitter(this.logger);
    // Records first: the trust reads them (whose is which key), and claims need the trust.
    const changes: ((r: ReplicatedRecord, previous: ReplicatedRecord | undefined) => void)[] = [];
    this.#records = new RecordTable(init.name, {
      // Versions and expiry are dates, shared with other members: the wall clock.
      clock: wallClockOf(this.clock),
      logger: this.logger,
      events,
      trust: () => this.#trust,
      maxRecords: this.config.maxRecords,
    }, {
      queue: (key, u) => {
        this.state.queue.queue(key, u);
        this.#out.queued();
      },
      unqueue: (key) => this.state.queue.remove(key),
      changed: (r, previous) => {
        for (const fn of changes) fn(r, previous);
        // Evidence of membership may just have arrived for a claim that waits for it.
        this.state?.retryWaiting();
      },
    });
    if (init.records) this.#records.restore(init.records);
    const records = this.#records;
    const wall = wallClockOf(this.clock);
    this.#trust = components.trust({
      name: init.name,
      now: () => wall.now(),
      records: {
        setRecord: (kind, key, value, options) => this.setRecord(kind, key, value, options),
        record: (kind, key) => records.get(kind, key),
        records: (kind) => records.list(kind),
      },
      onRecordChange: (fn) => void changes.push(fn),
    });
    this.#claims = new Claims(this.#trust, this.clock);
    const meta = startingMeta(components.transport.address, init.meta);
    this.state = new StateMachine(init.name, meta, init.incarnation ?? 0, {
      clock: this.clock,
      config: this.config,
      logger: this.logger,
      awareness: this.awareness,
      claims: this.#claims,
      events,
      table: components.memberTable?.(),
    }, {
      queued: (name) => this.#out.queued(name),
      becameLive: (e) => this.#prober?.add(e),
      listMissing: (e) => this.#fetcher?.want(e, this.#from),
    });
    this.#prober = new Prober(this);
    this.#relayer = new Relayer(this);
    this.#fetcher = new ExtensionFetcher(this);
    if (init.peers) this.state.restore(init.peers);
    this.#pushPull = new PushPull(this, this.#records, {
      own: components.transport.address,
      seeds: init.seeds ?? [],
    });
  }

  stateOf(name: string): MemberState | undefined {
    return this.state.table.get(name)?.state;
  }

  get incarnation(): number {
    return this.state.self.incarnation;
  }

  // --- lifecycle -----------------------------------------------------------------------------

  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#out.start();
    this.#transport.listen({
      message: (from, frame, peer) => this.#receive(from, frame, peer),
      refused: (to) => this.#refused(to),
    });
    this.loadState();
    this.#prober.start();
    const c = this.config;
    // Regular gossip rounds are the disseminator's own: armed only while something is queued.
    // Their stagger is still drawn, so seeded simulations and recorded replays keep the random
    // sequence (every later choice: probe order, relays, push-pull partners) they were made with.
    this.random.int(c.gossipIntervalMs);
    if (c.pushPullIntervalMs > 0) {
      const scaled = () => pushPullScale(c.pushPullIntervalMs, this.state.table.live);
      this.#every(scaled, () => this.#pushPull.periodic());
    }
    this.#every(() => c.reconnectIntervalMs, () => this.#pushPull.reconnect());
    this.#every(() => c.reapIntervalMs, () => this.#reap());
    this.#pushPull.joinSeeds();
  }

  loadState(): void {
    if (this.#initialState === undefined || this.#stopped) return;
    const msg = decodeMessage(this.#initialState);
    this.#initialState = undefined;
    if (typeof msg === "string" || msg.t !== "pp") {
      this.logger.warn("Ignoring an invalid initial gossip state", {
        reason: typeof msg === "string" ? msg : `t: expected pp, got ${msg.t}`,
      });
    } else this.#pushPull.merge(msg, { quiet: true, trusted: true });
  }

  exportState(): PushPullMsg {
    return this.#pushPull.exportState();
  }

  join(addresses: readonly string[]): Promise<number> {
    return this.#pushPull.join(addresses);
  }

  sync(addresses: readonly string[]): void {
    this.#pushPull.syncSoon(addresses);
  }

  leave(): Promise<void> {
    if (this.#leaving) return this.#leaving;
    this.#leaving = new Promise((resolve) => {
      if (this.#stopped) return resolve();
      this.#prober.stop();
      this.#relayer.stop();
      this.state.startLeave();
      // Make sure the `left` goes out now even when immediate pushes are off.
      this.#out.round();
      this.clock.setTimeout(() => {
        this.stop();
        resolve();
      }, this.config.leavePropagateMs);
    });
    return this.#leaving;
  }

  updateMeta(meta: Partial<Omit<MemberMeta, "extensionCount" | "extensionDigest">>): void {
    if (this.#stopped) return;
    const before = this.state.self.meta;
    this.state.setLocalMeta({
      ...this.state.self.meta,
      extensions: this.state.localList,
      ...meta,
    } as MemberMeta);
    const after = this.state.self.meta;
    // New versions (a restarted member's upgrade taking effect) are what the waiting members'
    // upgrade gates wait for: every live member at once, as an admission (dissemination.ts),
    // not in an epidemic's hops and push rounds. Once per member per upgrade.
    if (
      before.schemaInternal !== after.schemaInternal ||
      before.schemaExternal !== after.schemaExternal ||
      before.extensionDigest !== after.extensionDigest
    ) this.#out.announce();
  }

  admit(name: string, meta: Partial<MemberMeta> & { address: string }): void {
    if (this.#stopped || name === this.name || this.state.table.get(name)) return;
    const full = normalizeMeta(
      startingMeta(meta.address, { ...meta, extensions: meta.extensions ?? [] }),
    );
    // Known first, so the verdict is settled at once and no fetch is started for it.
    this.state.learnList(full.extensionDigest, full.extensions ?? []);
    // Vouched for by us, its admitting member (see lib/cluster/trust.ts): the others accept it
    // at incarnation 0 while the join is pending, and the joiner refutes any difference.
    const wire = toWireMeta(full);
    const sg = this.#claims.sign("alive", name, 0, wire);
    this.state.alive(name, 0, wire, { local: true, sg, sb: this.name });
    // Every member at once, not in an epidemic's hops (see dissemination.ts).
    this.#out.announce();
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#out.stop();
    for (const t of this.#timers) if (t !== undefined) this.clock.clearTimeout(t);
    this.#timers.length = 0;
    this.#prober.stop();
    this.#relayer.stop();
    this.#fetcher.stop();
    this.state.stopTimers();
    this.#pushPull.stop();
  }

  stats(): GossipStats {
    const c = this.state.counters;
    return {
      messagesSent: this.#counters.sent,
      messagesReceived: this.#counters.received,
      malformedDropped: this.#counters.malformed,
      probes: this.#prober.counters.probes,
      probesFailed: this.#prober.counters.failed,
      probesDoubted: this.#prober.counters.doubted,
      suspicions: c.suspicions,
      refutations: c.refutations,
      listsFetched: this.#fetcher.fetched,
      lists: this.state.lists.size,
      queued: this.state.queue.size,
      localHealth: this.awareness.score,
      records: this.#records.size,
      recordsDropped: this.#records.dropped,
      recordsRefused: this.#records.refused,
      claimsRefused: this.state.refusedClaims,
      signaturesChecked: this.#claims.verifications,
      notMembers: c.notMembers,
      openingsDropped: this.#pushPull.openingsDropped,
      mergesDropped: c.mergesDropped,
      mergeEntriesWaiting: this.state.mergeEntriesWaiting,
    };
  }

  // --- MembershipView ------------------------------------------------------------------------

  members(): MemberInfo[] {
    const { table } = this.state;
    const out: MemberInfo[] = [];
    for (let i = 0; i < table.slots; i++) {
      const e = table.at(i);
      if (e) out.push(this.state.info(e));
    }
    return out;
  }

  member(name: string): MemberInfo | undefined {
    const e = this.state.table.get(name);
    return e && this.state.info(e);
  }

  lastHeartbeat(name: string): number | undefined {
    const e = this.state.table.get(name);
    return e && wallTime(this.clock, this.state.table.lastHeartbeat(e));
  }

  extensionStatus(name: string): ExtensionStatus | undefined {
    const e = this.state.table.get(name);
    return e && this.state.statusOf(e);
  }

  on<E extends MembershipEventName>(
    event: E,
    listener: (event: MembershipEvents[E]) => void,
  ): () => void {
    return this.state.events.on(event, listener);
  }

  // --- RecordStore --------------------------------------------------------------------------

  setRecord(
    kind: string,
    key: string,
    value: RecordInput | null,
    options?: SetRecordOptions,
  ): ReplicatedRecord {
    return this.#records.set(kind, key, value, options);
  }

  record(kind: string, key: string): ReplicatedRecord | undefined {
    return this.#records.get(kind, key);
  }

  records(kind: string): ReplicatedRecord[] {
    return this.#records.list(kind);
  }

  // --- sending -------------------------------------------------------------------------------

  nextSeq(): number {
    this.#seq = (this.#seq + 1) % Number.MAX_SAFE_INTEGER;
    return this.#seq;
  }

  redial(address: string): void {
    try {
      this.#transport.redial?.(address);
    } catch (err) {
      this.logger.warn("Transport redial failed", { to: address, err });
    }
  }

  send(address: string, msg: Message, reliable = false): void {
    if (this.#stopped) return;
    this.#counters.sent++;
    try {
      this.#transport.send(address, msg, reliable ? RELIABLE : undefined);
    } catch (err) {
      this.logger.warn("Transport send failed", { to: address, err });
    }
  }

  ping(address: string, targetName: string, seq: number): void {
    this.send(address, this.#out.ping(targetName, seq));
  }

  // --- receiving -----------------------------------------------------------------------------

  #receive(from: string, frame: Frame, peer?: string): void {
    if (this.#stopped) return;
    const msg = decodeMessage(frame);
    if (typeof msg === "string") {
      this.#counters.malformed++;
      const now = this.clock.now();
      // One line per 10 s: a flood of garbage must not become a flood of logs.
      if (now - this.#malformedLogged >= 10_000) {
        this.#malformedLogged = now;
        this.logger.warn("Dropping a malformed gossip frame", {
          from,
          reason: msg,
          dropped: this.#counters.malformed,
        });
      }
      return;
    }
    this.#counters.received++;
    try {
      // The member the transport authenticated, when it does: claims made on its own
      // connection are first-hand, and `f` counts as contact only when it names that member.
      const sender = peer === undefined ? undefined : this.#trust.nameOf(peer);
      // Answers go where the member lives, not to whatever address its connection advertised:
      // no member can have others dial a third party on its behalf.
      const held = sender === undefined ? undefined : this.state.table.get(sender)?.address;
      this.#dispatch(held ?? from, msg, sender, peer !== undefined);
    } catch (err) {
      this.logger.error("Failed to handle a gossip message", { from, type: msg.t, err });
    }
  }

  #dispatch(from: string, msg: Message, sender: string | undefined, authenticated: boolean): void {
    const state = this.state;
    if (!authenticated || sender === msg.f) {
      const e = state.heard(msg.f);
      // A member held dead is talking to us: it is back, whatever we concluded.
      if (e?.state === "dead") this.#pushPull.revive(e);
    }
    switch (msg.t) {
      case "ping": {
        if (msg.pb) this.#applyAll(msg.pb, from, sender);
        if (msg.n !== this.name) {
          this.logger.debug("Ignoring a ping meant for another member", { target: msg.n, from });
          return;
        }
        // Updates first: a refutation queued by the piggybacked suspicion rides on this ack.
        const pb = this.#out.piggyback(msg.f);
        this.send(
          from,
          pb.length
            ? { t: "ack", f: this.name, s: msg.s, pb }
            : { t: "ack", f: this.name, s: msg.s },
        );
        return;
      }
      case "ack":
        if (msg.pb) this.#applyAll(msg.pb, from, sender);
        if (!this.#prober.handleAck(msg.s, { authenticated, name: sender })) {
          this.#relayer.handleAck(msg.s, { authenticated, name: sender });
        }
        return;
      case "nack":
        this.#prober.handleNack(msg.s, msg.r === true, { authenticated, name: sender });
        return;
      case "preq":
        if (msg.pb) this.#applyAll(msg.pb, from, sender);
        this.#relayer.handlePingReq(msg, from);
        return;
      case "gossip":
        if (msg.a === true) this.#out.heardAnnouncement(() => this.#applyAll(msg.pb, from, sender));
        else this.#applyAll(msg.pb, from, sender);
        return;
      case "pp":
        this.#pushPull.handle(from, msg, sender);
        return;
      case "extq":
        this.#fetcher.handleRequest(msg, from);
        return;
      case "ext":
        this.#fetcher.handleReply(msg);
        return;
    }
  }

  /** Applies piggybacked updates: records first, since they may be the evidence a claim needs. */
  #applyAll(updates: readonly Update[], from: string, sender: string | undefined): void {
    this.#from = from;
    try {
      let records: unknown[] | undefined;
      for (const u of updates) if (u.k === "rec") (records ??= []).push(u.r);
      if (records) this.#records.receiveAll(records, from, false);
      for (const u of updates) if (u.k !== "rec") this.state.apply(u, sender);
    } finally {
      this.#from = undefined;
    }
  }

  #refused(to: string): void {
    if (this.#stopped) return;
    try {
      this.#relayer.handleRefused(to);
      this.#prober.handleRefused(to);
      this.#fetcher.handleRefused(to);
      this.#pushPull.handleRefused(to);
    } catch (err) {
      this.logger.error("Failed to handle a refused connection", { to, err });
    }
  }

  learned(digest: string): void {
    this.#fetcher.learned(digest);
  }

  // --- upkeep --------------------------------------------------------------------------------

  /** Forgets dead and left members after their timeouts (removed ones at once), and expired records. */
  #reap(): void {
    this.#records.purge();
    const now = this.clock.now();
    const table = this.state.table;
    for (let i = table.slots - 1; i >= 0; i--) {
      const e = table.at(i);
      if (!e) continue;
      const age = now - e.stateChangedAt;
      // A member no longer a member (removed) is forgotten at once: nothing would bring it
      // back (its claims are refused), and kept a day it would ride in every push-pull's
      // state and, with machines replaced often enough, fill the table.
      const down = e.state === "dead" || e.state === "left";
      if (
        (down && e !== this.state.self && !this.state.isMember(e.name)) ||
        (e.state === "dead" && age >= this.config.reconnectTimeoutMs) ||
        (e.state === "left" && age >= this.config.tombstoneTimeoutMs && e !== this.state.self)
      ) {
        table.remove(e);
        this.state.queue.remove(e.name);
        this.#pushPull.forgetSeed(e.address);
      }
    }
    this.state.pruneLists();
  }

  /** Runs `fn` every `period()` ms, first after a random stagger, logging (never throwing) faults. */
  #every(period: () => number, fn: () => void): void {
    const slot = this.#timers.length;
    const tick = () => {
      if (this.#stopped) return;
      try {
        fn();
      } catch (err) {
        this.logger.error("Gossip loop failed", { err });
      }
      this.#timers[slot] = this.clock.setTimeout(tick, period());
    };
    this.#timers.push(this.clock.setTimeout(tick, this.random.int(period()) + 1));
  }
}

/**
 * Creates a member (not started). Throws {@link InvalidInputError} for a bad name or
 * configuration; after that, faults are logged, never thrown.
 *
 * @example
 * const g = createGossip({ clock: systemClock, random: defaultRandom(), logger, transport },
 *   { name: "m1", meta: { role: "voter", extensions: registry.list }, seeds: ["10.0.0.2:7443"] });
 * g.on("member-failed", ({ member }) => console.log(member.name));
 * g.start();
 */
export function createGossip(components: GossipComponents, init: GossipInit): Gossip {
  return new GossipEngine(components, init);
}
