/**
 * The gossip engine: wires the member state machine, the prober, dissemination, push-pull
 * anti-entropy and extension fetching to a transport, and exposes the result as a
 * {@link MembershipView}. Every dependency (clock, randomness, logger, transport) is injected,
 * so a simulation drives many engines deterministically in one process.
 *
 * What arrives is routed by message_router.ts, the periodic loops run in periodic.ts, members
 * are forgotten by reap_members.ts, the record table and trust are built in record_trust.ts, and
 * the member's figures are collected by gossip_stats.ts.
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
import type { Clock } from "../lib/cluster/clock.ts";
import type { Random } from "../lib/cluster/random.ts";
import type {
  RecordInput,
  ReplicatedRecord,
  SetRecordOptions,
} from "../lib/cluster/replicated_record.ts";
import type { SendOptions, Transport } from "../lib/cluster/transport.ts";
import { wallTime } from "../lib/cluster/clock.ts";
import type { Logger } from "../lib/log.ts";
import { Awareness } from "./awareness.ts";
import { Claims } from "./claims.ts";
import { Emitter } from "./events.ts";
import type { GossipConfig } from "./config.ts";
import { pushPullScale, resolveConfig } from "./config.ts";
import { ExtensionFetcher } from "./ext_fetch.ts";
import type { FetchHost } from "./ext_fetch.ts";
import { decodeMessage } from "./message_decode.ts";
import { collectStats } from "./gossip_stats.ts";
import { MessageRouter } from "./message_router.ts";
import { Periodic } from "./periodic.ts";
import { reapMembers } from "./reap_members.ts";
import type { Message, PushPullMsg } from "./messages.ts";
import { Disseminator } from "./dissemination.ts";
import { Prober } from "./probe.ts";
import { Relayer } from "./relay.ts";
import { PushPull } from "./push_pull.ts";
import type { PushPullHost } from "./push_pull.ts";
import type { ProbeHost } from "./probe.ts";
import type { RecordTable } from "./records.ts";
import { createRecordsAndTrust } from "./record_trust.ts";
import { normalizeMeta } from "./member_extensions.ts";
import { StateMachine } from "./state.ts";
import { checkInit, startingMeta } from "./api.ts";
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
  readonly #claims: Claims;
  readonly #pushPull: PushPull;
  readonly #router: MessageRouter;
  readonly #loops: Periodic;
  #initialState: unknown;
  #seq = 0;
  readonly #out: Disseminator;
  #started = false;
  #stopped = false;
  #leaving: Promise<void> | undefined;
  #sent = 0;

  constructor(components: GossipComponents, init: GossipInit) {
    checkInit(init);
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
    const { records, trust } = createRecordsAndTrust(components.trust, {
      name: init.name,
      clock: this.clock,
      logger: this.logger,
      events,
      maxRecords: this.config.maxRecords,
      restored: init.records,
    }, {
      queue: (key, u) => {
        this.state.queue.queue(key, u);
        this.#out.queued();
      },
      unqueue: (key) => this.state.queue.remove(key),
      // Evidence of membership may just have arrived for a claim that waits for it.
      changed: () => this.state?.retryWaiting(),
    });
    this.#records = records;
    this.#claims = new Claims(trust, this.clock);
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
      listMissing: (e) => this.#fetcher?.want(e, this.#router?.applyingFrom),
    });
    this.#prober = new Prober(this);
    this.#relayer = new Relayer(this);
    this.#fetcher = new ExtensionFetcher(this);
    if (init.peers) this.state.restore(init.peers);
    this.#pushPull = new PushPull(this, this.#records, {
      own: components.transport.address,
      seeds: init.seeds ?? [],
    });
    this.#router = new MessageRouter(this, {
      trust,
      records,
      out: this.#out,
      prober: this.#prober,
      relayer: this.#relayer,
      fetcher: this.#fetcher,
      pushPull: this.#pushPull,
    });
    this.#loops = new Periodic(this.clock, this.random, this.logger);
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
      message: (from, frame, peer) => this.#router.receive(from, frame, peer),
      refused: (to) => this.#router.refused(to),
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
      this.#loops.every(scaled, () => this.#pushPull.periodic());
    }
    this.#loops.every(() => c.reconnectIntervalMs, () => this.#pushPull.reconnect());
    this.#loops.every(() => c.reapIntervalMs, () => this.#reap());
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
      this.state.local.startLeave();
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
    this.state.local.setMeta({
      ...this.state.self.meta,
      extensions: this.state.extensions.localList,
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
    if (this.#stopped || name === this.name) return;
    // A record of an earlier run of the joiner: it refutes that itself. One of a former identity
    // of the name (removed since): the joiner cannot out-bid it (it was signed with another
    // key), so the admission replaces it (see `ClaimRules.alive`).
    const held = this.state.table.get(name);
    if (held && !this.state.isFormer(held)) return;
    const full = normalizeMeta(
      startingMeta(meta.address, { ...meta, extensions: meta.extensions ?? [] }),
    );
    this.state.local.vouch(name, full);
    // Every member at once, not in an epidemic's hops (see dissemination.ts).
    this.#out.announce();
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#router.stop();
    this.#out.stop();
    this.#loops.stop();
    this.#prober.stop();
    this.#relayer.stop();
    this.#fetcher.stop();
    this.state.stopTimers();
    this.#pushPull.stop();
  }

  stats(): GossipStats {
    return collectStats({
      sent: this.#sent,
      router: this.#router,
      prober: this.#prober,
      fetcher: this.#fetcher,
      state: this.state,
      awareness: this.awareness,
      records: this.#records,
      claims: this.#claims,
      pushPull: this.#pushPull,
    });
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
    return e && this.state.extensions.statusOf(e);
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
    this.#sent++;
    try {
      this.#transport.send(address, msg, reliable ? RELIABLE : undefined);
    } catch (err) {
      this.logger.warn("Transport send failed", { to: address, err });
    }
  }

  ping(address: string, targetName: string, seq: number): void {
    this.send(address, this.#out.ping(targetName, seq));
  }

  // --- the parts' needs ----------------------------------------------------------------------

  learned(digest: string): void {
    this.#fetcher.learned(digest);
  }

  // --- upkeep --------------------------------------------------------------------------------

  /** Forgets dead and left members after their timeouts (removed ones at once), and expired records. */
  #reap(): void {
    this.#records.purge();
    reapMembers(
      this.state,
      this.config,
      this.clock.now(),
      (e) => this.#pushPull.forgetSeed(e.address),
    );
    this.state.extensions.prune();
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
