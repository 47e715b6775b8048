/**
 * The gossip engine: wires the member state machine, the prober, the broadcast queue, push-pull
 * anti-entropy and extension fetching to a transport, and exposes the result as a
 * {@link MembershipView}. Every dependency (clock, randomness, logger, transport) is injected,
 * so a simulation drives many engines deterministically in one process.
 *
 * @module
 */
import type {
  Clock,
  ExtensionStatus,
  Frame,
  MemberInfo,
  MemberMeta,
  MembershipEventName,
  MembershipEvents,
  MembershipView,
  MemberState,
  Random,
  RecordInput,
  RecordStore,
  ReplicatedRecord,
  SendOptions,
  SetRecordOptions,
  TimerHandle,
  Transport,
} from "../lib/cluster/membership.ts";
import { isLive } from "../lib/cluster/membership.ts";
import { extensionDigest } from "../lib/cluster/extensions.ts";
import { InvalidInputError } from "../lib/errors.ts";
import type { Logger } from "../lib/log.ts";
import { Awareness } from "./awareness.ts";
import type { GossipConfig, GossipPreset } from "./config.ts";
import { pushPullScale, resolveConfig, retransmitLimit } from "./config.ts";
import { ExtensionFetcher } from "./ext_fetch.ts";
import type { FetchHost } from "./ext_fetch.ts";
import { decodeMessage, toWireMeta } from "./messages.ts";
import type { Message, PushPullMsg, Update } from "./messages.ts";
import { Prober } from "./probe.ts";
import type { ProbeHost } from "./probe.ts";
import { pickRandom } from "./random.ts";
import { RecordTable } from "./records.ts";
import { normalizeMeta, StateMachine } from "./state.ts";

/** The injected components ("components + init", as js-libp2p does it). */
export interface GossipComponents {
  readonly clock: Clock;
  readonly random: Random;
  readonly logger: Logger;
  readonly transport: Transport;
}

/** What a member is and how it gossips. */
export interface GossipInit {
  /** Unique member name. */
  readonly name: string;
  /**
   * The member's metadata. `address` defaults to the transport's; `extensions` (default `[]`)
   * determines `extensionCount` and `extensionDigest`.
   */
  readonly meta?: Partial<MemberMeta>;
  /** Timing preset. @default "lan" */
  readonly preset?: GossipPreset;
  /** Overrides of single knobs of the preset. */
  readonly config?: Partial<GossipConfig>;
  /** Addresses joined by {@link Gossip.start} (and retried while no other member is known). */
  readonly seeds?: readonly string[];
  /**
   * Starting incarnation. A restarted member that persisted its incarnation passes a higher one;
   * otherwise it refutes its stale record when it first hears it. @default 0
   */
  readonly incarnation?: number;
  /**
   * Members known from a previous run (e.g. restored from `core_cluster_members`), added as
   * `alive` without events or gossip; probing corrects whatever is stale.
   */
  readonly peers?: readonly { name: string; incarnation: number; meta: MemberMeta }[];
  /**
   * Replicated records persisted by a previous run, restored at creation without events or
   * gossip (push-pulls carry them from there). Malformed and expired ones are skipped.
   */
  readonly records?: readonly ReplicatedRecord[];
  /**
   * Another member's {@link Gossip.exportState}, merged at {@link Gossip.start} as the answer
   * to a push-pull would be (events included): a joiner that got it with its admission knows
   * the whole cluster before its first message. Invalid state is logged and ignored.
   */
  readonly state?: unknown;
}

/** Counters for diagnostics and benchmarks. */
export interface GossipStats {
  messagesSent: number;
  messagesReceived: number;
  malformedDropped: number;
  probes: number;
  probesFailed: number;
  suspicions: number;
  refutations: number;
  listsFetched: number;
  queued: number;
  localHealth: number;
  /** Replicated records held (expired ones not yet purged included). */
  records: number;
  /** Replicated records received malformed and dropped. */
  recordsDropped: number;
}

/** A running member: its membership view and replicated records, plus lifecycle. */
export interface Gossip extends MembershipView, RecordStore {
  /** The resolved configuration. */
  readonly config: Readonly<GossipConfig>;
  /** The local member's current incarnation. */
  readonly incarnation: number;
  /** Starts receiving, probing and gossiping; joins the seeds in the background. */
  start(): void;
  /**
   * This member's member table, extension lists and records, as JSON-safe data for another
   * member's {@link GossipInit.state}.
   */
  exportState(): unknown;
  /**
   * Push-pulls with each address (skipping our own). Resolves with the number that answered
   * within `requestTimeoutMs`; never rejects.
   */
  join(addresses: readonly string[]): Promise<number>;
  /**
   * Graceful leave: spreads `left` (so no member reports us `dead`), keeps answering for
   * `leavePropagateMs`, then stops.
   */
  leave(): Promise<void>;
  /** Changes the local metadata; bumps the incarnation and gossips at once. */
  updateMeta(meta: Partial<Omit<MemberMeta, "extensionCount" | "extensionDigest">>): void;
  /**
   * Records `name`, a member this one has just admitted, as `alive` at incarnation 0 with the
   * metadata it starts with (`meta` as the joiner passes it to its own {@link GossipInit.meta},
   * its address included), and gossips the arrival at once: the cluster learns of a join from
   * the admission itself instead of from the joiner's first exchange. Until the joiner has been
   * heard from directly, a refused connection to it counts as a failed probe, not as a crash
   * (it may not listen yet). A no-op when `name` is already known (a previous run's record:
   * the joiner refutes it itself) or is this member.
   */
  admit(name: string, meta: Partial<MemberMeta> & { address: string }): void;
  /** Stops every timer and ignores further frames (no goodbye: the others see a failure). */
  stop(): void;
  /** Counters. */
  stats(): GossipStats;
  /** The state of one member without building a snapshot (hot paths, simulations). */
  stateOf(name: string): MemberState | undefined;
}

const RELIABLE: SendOptions = Object.freeze({ reliable: true });
/** Room left in a message for its own fields around the piggybacked updates. */
const HEADER_BYTES = 96;

interface PendingPushPull {
  readonly address: string;
  readonly done: (ok: boolean) => void;
  timer: TimerHandle | undefined;
}

class GossipEngine implements Gossip, ProbeHost, FetchHost {
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
  readonly #fetcher: ExtensionFetcher;
  readonly #records: RecordTable;
  readonly #seeds: readonly string[];
  #initialState: unknown;
  readonly #pushPulls = new Map<number, PendingPushPull>();
  readonly #timers: (TimerHandle | undefined)[] = [];
  #seq = 0;
  /** Address of the member whose piggybacked updates are being applied. */
  #from: string | undefined;
  #started = false;
  #stopped = false;
  #burstLeft = 0;
  /** Start (clock ms) and count of the immediate-push rounds of the current gossip interval. */
  #windowStart = -Infinity;
  #windowRounds = 0;
  #malformedLogged = -Infinity;
  #leaving: Promise<void> | undefined;
  readonly #counters = { sent: 0, received: 0, malformed: 0 };

  constructor(components: GossipComponents, init: GossipInit) {
    if (typeof init.name !== "string" || init.name === "" || init.name.length > 256) {
      throw new InvalidInputError("Invalid gossip member name: expected 1 to 256 characters", {
        field: "name",
      });
    }
    this.name = this.localName = init.name;
    this.config = resolveConfig(init.preset, init.config);
    this.clock = components.clock;
    this.random = components.random;
    this.logger = components.logger.child({ component: "gossip", member: init.name });
    this.#transport = components.transport;
    this.timeoutMs = this.config.requestTimeoutMs;
    this.awareness = new Awareness(this.config.awarenessMaxMultiplier);
    this.#seeds = init.seeds ?? [];
    this.#initialState = init.state;
    const meta = startingMeta(components.transport.address, init.meta);
    this.state = new StateMachine(init.name, meta, init.incarnation ?? 0, this, {
      queued: () => this.#queued(),
      becameLive: (e) => this.#prober?.add(e),
      listMissing: (e) => this.#fetcher?.want(e, this.#from),
    });
    this.#prober = new Prober(this);
    this.#fetcher = new ExtensionFetcher(this);
    if (init.peers) this.state.restore(init.peers);
    const ctx = { clock: this.clock, logger: this.logger, events: this.state.events };
    this.#records = new RecordTable(init.name, ctx, {
      queue: (key, u) => {
        this.state.queue.queue(key, u);
        this.#queued();
      },
      unqueue: (key) => this.state.queue.remove(key),
    });
    if (init.records) this.#records.restore(init.records);
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
    this.#transport.listen({
      message: (from, frame) => this.#receive(from, frame),
      refused: (to) => this.#refused(to),
    });
    if (this.#initialState !== undefined) {
      const msg = decodeMessage(this.#initialState);
      this.#initialState = undefined;
      if (typeof msg === "string" || msg.t !== "pp") {
        this.logger.warn("Ignoring an invalid initial gossip state", {
          reason: typeof msg === "string" ? msg : `t: expected pp, got ${msg.t}`,
        });
      } else this.#merge(msg, true);
    }
    this.#prober.start();
    const c = this.config;
    this.#every(() => c.gossipIntervalMs, () => this.#gossip());
    if (c.pushPullIntervalMs > 0) {
      this.#every(() => pushPullScale(c.pushPullIntervalMs, this.state.table.live), () => {
        const peer = this.#randomPeer((e) => e.state === "alive");
        if (peer) this.#pushPull(peer.address, false);
      });
    }
    this.#every(() => c.reconnectIntervalMs, () => this.#reconnect());
    this.#every(() => c.reapIntervalMs, () => this.#reap());
    if (this.#seeds.length) void this.join(this.#seeds);
  }

  exportState(): PushPullMsg {
    const { st, x } = this.state.fullState();
    return { t: "pp", f: this.name, s: 0, r: true, st, x, rc: this.#recordsForPushPull() };
  }

  join(addresses: readonly string[]): Promise<number> {
    const own = this.#transport.address;
    const targets = addresses.filter((a) => a !== own);
    if (this.#stopped || targets.length === 0) return Promise.resolve(0);
    return Promise.all(targets.map((a) => this.#pushPull(a, true))).then((oks) =>
      oks.filter(Boolean).length
    );
  }

  leave(): Promise<void> {
    if (this.#leaving) return this.#leaving;
    this.#leaving = new Promise((resolve) => {
      if (this.#stopped) return resolve();
      this.#prober.stop();
      this.state.startLeave();
      // Make sure the `left` goes out now even when immediate pushes are off.
      this.#gossip();
      this.clock.setTimeout(() => {
        this.stop();
        resolve();
      }, this.config.leavePropagateMs);
    });
    return this.#leaving;
  }

  updateMeta(meta: Partial<Omit<MemberMeta, "extensionCount" | "extensionDigest">>): void {
    if (this.#stopped) return;
    this.state.setLocalMeta({
      ...this.state.self.meta,
      extensions: this.state.localList,
      ...meta,
    } as MemberMeta);
  }

  admit(name: string, meta: Partial<MemberMeta> & { address: string }): void {
    if (this.#stopped || name === this.name || this.state.table.get(name)) return;
    const full = normalizeMeta(
      startingMeta(meta.address, { ...meta, extensions: meta.extensions ?? [] }),
    );
    // Known first, so the verdict is settled at once and no fetch is started for it.
    this.state.learnList(full.extensionDigest, full.extensions ?? []);
    this.state.alive(name, 0, toWireMeta(full));
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const t of this.#timers) if (t !== undefined) this.clock.clearTimeout(t);
    this.#timers.length = 0;
    this.#prober.stop();
    this.#fetcher.stop();
    this.state.stopTimers();
    for (const p of this.#pushPulls.values()) {
      if (p.timer !== undefined) this.clock.clearTimeout(p.timer);
      p.done(false);
    }
    this.#pushPulls.clear();
  }

  stats(): GossipStats {
    const c = this.state.counters;
    return {
      messagesSent: this.#counters.sent,
      messagesReceived: this.#counters.received,
      malformedDropped: this.#counters.malformed,
      probes: this.#prober.counters.probes,
      probesFailed: this.#prober.counters.failed,
      suspicions: c.suspicions,
      refutations: c.refutations,
      listsFetched: this.#fetcher.fetched,
      queued: this.state.queue.size,
      localHealth: this.awareness.score,
      records: this.#records.size,
      recordsDropped: this.#records.dropped,
    };
  }

  // --- MembershipView ------------------------------------------------------------------------

  members(): MemberInfo[] {
    return this.state.table.list.map((e) => this.state.info(e));
  }

  member(name: string): MemberInfo | undefined {
    const e = this.state.table.get(name);
    return e && this.state.info(e);
  }

  extensionStatus(name: string): ExtensionStatus | undefined {
    return this.state.table.get(name)?.ext;
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
    const target = this.state.table.get(targetName);
    let pb: Update[];
    if (target && target.state === "suspect") {
      // Buddy system: tell the accused first so it can refute in its ack.
      const accusation: Update = {
        k: "suspect",
        n: targetName,
        i: target.incarnation,
        by: this.name,
      };
      const queued = this.#piggyback(64, targetName);
      pb = [accusation, ...queued.filter((u) => u.k !== "suspect" || u.n !== targetName)];
    } else {
      pb = this.#piggyback(0, targetName);
    }
    this.send(
      address,
      pb.length
        ? { t: "ping", f: this.name, s: seq, n: targetName, pb }
        : { t: "ping", f: this.name, s: seq, n: targetName },
    );
  }

  /**
   * Queued updates for one message to member `recipient`; `oversize`: a record above the budget
   * may go alone.
   */
  #piggyback(reserved: number, recipient: string, oversize = false): Update[] {
    const state = this.state;
    if (state.queue.size === 0) return [];
    const limit = retransmitLimit(this.config.retransmitMult, state.table.live);
    const budget = this.config.maxMessageBytes - HEADER_BYTES - reserved;
    return state.queue.take(budget, limit, { oversize, recipient });
  }

  /** Sends one message of pending updates to each of `gossipNodes` random members. */
  #gossip(): void {
    const state = this.state;
    if (state.queue.size === 0 || this.#stopped) return;
    const now = this.clock.now();
    const self = state.self;
    const toDead = this.config.gossipToTheDeadMs;
    const targets = pickRandom(
      state.table.list,
      this.config.gossipNodes,
      this.random,
      (e) =>
        e !== self &&
        (isLive(e.state) || (e.state === "dead" && now - e.stateChangedAt < toDead)),
    );
    for (const t of targets) {
      const pb = this.#piggyback(0, t.name, true);
      // Nothing may be left for this one (updates about itself), and still be for the others.
      if (pb.length === 0) {
        if (state.queue.size === 0) break;
        continue;
      }
      this.send(t.address, { t: "gossip", f: this.name, pb });
    }
  }

  /**
   * A new update was queued: push it at once, in a burst of `pushRounds` rounds (or by topping
   * up the running burst to that many). At most `2 × pushRounds` rounds go out per gossip
   * interval; beyond that the regular rounds carry updates (batching under load). A join
   * queues several updates some milliseconds apart (records, then the joiner's own state), and
   * each must spread at once, not at the next tick.
   */
  #queued(): void {
    if (!this.config.immediatePush || !this.#started || this.#stopped) return;
    const now = this.clock.now();
    if (now - this.#windowStart >= this.config.gossipIntervalMs) {
      this.#windowStart = now;
      this.#windowRounds = 0;
    }
    const rounds = Math.min(
      this.config.pushRounds,
      2 * this.config.pushRounds - this.#windowRounds,
    );
    if (rounds <= this.#burstLeft) return;
    const running = this.#burstLeft > 0;
    this.#burstLeft = rounds;
    // Deferred to the end of the current turn so updates created together leave together.
    if (!running) this.clock.setTimeout(this.#burstRound, 0);
  }

  readonly #burstRound = (): void => {
    if (this.#stopped || this.#burstLeft <= 0) return;
    this.#burstLeft--;
    this.#windowRounds++;
    this.#gossip();
    if (this.#burstLeft > 0 && this.state.queue.size > 0) {
      this.clock.setTimeout(this.#burstRound, this.config.pushRoundGapMs);
    } else this.#burstLeft = 0;
  };

  // --- receiving -----------------------------------------------------------------------------

  #receive(from: string, frame: Frame): void {
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
      this.#dispatch(from, msg);
    } catch (err) {
      this.logger.error("Failed to handle a gossip message", { from, type: msg.t, err });
    }
  }

  #dispatch(from: string, msg: Message): void {
    const state = this.state;
    state.heard(msg.f);
    switch (msg.t) {
      case "ping": {
        if (msg.pb) this.#applyAll(msg.pb, from);
        if (msg.n !== this.name) {
          this.logger.debug("Ignoring a ping meant for another member", { target: msg.n, from });
          return;
        }
        // Updates first: a refutation queued by the piggybacked suspicion rides on this ack.
        const pb = this.#piggyback(0, msg.f);
        this.send(
          from,
          pb.length
            ? { t: "ack", f: this.name, s: msg.s, pb }
            : { t: "ack", f: this.name, s: msg.s },
        );
        return;
      }
      case "ack":
        if (msg.pb) this.#applyAll(msg.pb, from);
        this.#prober.handleAck(msg.s);
        return;
      case "nack":
        this.#prober.handleNack(msg.s, msg.r === true);
        return;
      case "preq":
        if (msg.pb) this.#applyAll(msg.pb, from);
        this.#prober.handlePingReq(msg, from);
        return;
      case "gossip":
        this.#applyAll(msg.pb, from);
        return;
      case "pp":
        this.#handlePushPull(from, msg);
        return;
      case "extq":
        this.#fetcher.handleRequest(msg, from);
        return;
      case "ext":
        this.#fetcher.handleReply(msg);
        return;
    }
  }

  #applyAll(updates: readonly Update[], from: string): void {
    this.#from = from;
    try {
      for (const u of updates) {
        if (u.k === "rec") this.#records.receive(u.r, from);
        else this.state.apply(u);
      }
    } finally {
      this.#from = undefined;
    }
  }

  #refused(to: string): void {
    if (this.#stopped) return;
    try {
      this.#prober.handleRefused(to);
      this.#fetcher.handleRefused(to);
      for (const [seq, p] of this.#pushPulls) {
        if (p.address !== to) continue;
        this.#pushPulls.delete(seq);
        if (p.timer !== undefined) this.clock.clearTimeout(p.timer);
        p.done(false);
      }
    } catch (err) {
      this.logger.error("Failed to handle a refused connection", { to, err });
    }
  }

  // --- anti-entropy --------------------------------------------------------------------------

  #pushPull(address: string, join: boolean): Promise<boolean> {
    return new Promise((done) => {
      if (this.#stopped) return done(false);
      const seq = this.nextSeq();
      const pending: PendingPushPull = { address, done, timer: undefined };
      this.#pushPulls.set(seq, pending);
      pending.timer = this.clock.setTimeout(() => {
        if (!this.#pushPulls.delete(seq)) return;
        this.logger.debug("Push-pull timed out", { address });
        done(false);
      }, this.config.requestTimeoutMs);
      if (join) {
        // A join ships the whole member state and every record.
        const { st, x } = this.state.fullState();
        const rc = this.#recordsForPushPull();
        this.send(address, { t: "pp", f: this.name, s: seq, j: true, st, x, rc }, true);
      } else {
        // A periodic exchange ships digests only (see `sh` and `rh`).
        const sh = this.state.digest();
        this.send(address, { t: "pp", f: this.name, s: seq, sh, rh: this.#recordsHash() }, true);
      }
    });
  }

  #handlePushPull(from: string, msg: PushPullMsg): void {
    if (msg.o) {
      this.#merge(msg);
      return;
    }
    if (msg.r) {
      const pending = this.#pushPulls.get(msg.s);
      if (!pending) return;
      this.#pushPulls.delete(msg.s);
      if (pending.timer !== undefined) this.clock.clearTimeout(pending.timer);
      this.#merge(msg);
      if (msg.sw) {
        const { st, x } = this.state.fullState();
        this.send(pending.address, { t: "pp", f: this.name, s: msg.s, o: true, st, x }, true);
      }
      if (msg.rw) this.#sendRecords(pending.address);
      pending.done(true);
      return;
    }
    // Merge first, so the reply already carries our refutation of anything they hold against us.
    this.#merge(msg);
    const rh = this.#recordsHash();
    // Records travel only when the tables differ (or the peer sent no digest: a join).
    const inSync = msg.rh === rh;
    const rc = inSync ? undefined : this.#recordsForPushPull();
    const rw = msg.rh !== undefined && !inSync ? true : undefined;
    let reply: PushPullMsg;
    if (msg.st === undefined) {
      // Digest-only: answer with the digest alone when the tables agree, else with our full
      // state and a request for theirs.
      const sh = this.state.digest();
      if (sh === msg.sh) reply = { t: "pp", f: this.name, s: msg.s, r: true, sh, rc, rh, rw };
      else {
        const { st, x } = this.state.fullState();
        reply = { t: "pp", f: this.name, s: msg.s, r: true, st, x, sw: true, rc, rh, rw };
      }
    } else {
      const { st, x } = this.state.fullState();
      reply = { t: "pp", f: this.name, s: msg.s, r: true, st, x, rc, rh, rw };
    }
    this.send(from, reply, true);
  }

  /** Digest of the record table: equal tables give equal digests whatever the order. */
  #recordsHash(): string {
    const ids = this.#records.all().map((r) => `${r.kind}\n${r.key}\n${r.version}\n${r.origin}`);
    return extensionDigest(ids.sort());
  }

  /** Sends every record to `address` as gossip updates (the peer asked with `rw`). */
  #sendRecords(address: string): void {
    const all = this.#records.all();
    const max = 1024;
    for (let i = 0; i < all.length; i += max) {
      const pb: Update[] = all.slice(i, i + max).map((r) => ({ k: "rec", r }));
      this.send(address, { t: "gossip", f: this.name, pb }, true);
    }
  }

  /** Every record, or `undefined` (no field on the wire) when there are none. */
  #recordsForPushPull(): ReplicatedRecord[] | undefined {
    if (this.#records.size === 0) return undefined;
    const all = this.#records.all();
    return all.length ? all : undefined;
  }

  /** Merges a push-pull's lists, state and records; `quiet`: gossip none of the state. */
  #merge(msg: PushPullMsg, quiet = false): void {
    if (msg.x) {
      for (const d in msg.x) {
        if (this.state.lists.has(d)) continue;
        const list = msg.x[d];
        if (extensionDigest(list) !== d) {
          this.logger.warn("Dropping an extension list that does not match its digest", {
            digest: d,
            from: msg.f,
          });
          continue;
        }
        this.state.learnList(d, list);
        this.#fetcher.learned(d);
      }
    }
    if (msg.st) {
      if (quiet) this.state.mergeQuietly(msg.st);
      else this.state.merge(msg.st);
    }
    if (msg.rc) { for (const r of msg.rc) this.#records.receive(r, msg.f); }
  }

  /** Tries one dead member (or a seed while alone) so partitions heal, as serf does. */
  #reconnect(): void {
    const table = this.state.table;
    if (table.live <= 1 && this.#seeds.length) {
      void this.join([this.#seeds[this.random.int(this.#seeds.length)]]);
      return;
    }
    if (table.dead === 0) return;
    // Each member tries with probability dead/live, so the cluster as a whole tries about one
    // dead member per interval instead of every member hammering every dead one.
    if (this.random.next() > table.dead / Math.max(1, table.live)) return;
    const peer = this.#randomPeer((e) => e.state === "dead");
    if (peer) void this.#pushPull(peer.address, true);
  }

  /** Forgets dead and left members after their timeouts, and expired records. */
  #reap(): void {
    this.#records.purge();
    const now = this.clock.now();
    const table = this.state.table;
    for (let i = table.list.length - 1; i >= 0; i--) {
      const e = table.list[i];
      const age = now - e.stateChangedAt;
      if (
        (e.state === "dead" && age >= this.config.reconnectTimeoutMs) ||
        (e.state === "left" && age >= this.config.tombstoneTimeoutMs && e !== this.state.self)
      ) {
        table.remove(e);
        this.state.queue.remove(e.name);
      }
    }
  }

  #randomPeer(accept: (e: import("./members.ts").MemberEntry) => boolean) {
    const self = this.state.self;
    return pickRandom(this.state.table.list, 1, this.random, (e) => e !== self && accept(e))[0];
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
 * A member's metadata as it starts: `given` over neutral defaults (role `member`, versions 0,
 * no app version, no extensions).
 */
export function startingMeta(address: string, given: Partial<MemberMeta> | undefined): MemberMeta {
  return {
    address,
    fingerprint: "",
    role: "member",
    schemaInternal: 0,
    schemaExternal: 0,
    appVersion: "",
    extensionCount: 0,
    extensionDigest: extensionDigest([]),
    ...given,
  };
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
