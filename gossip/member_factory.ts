/**
 * The production gossip member: the SWIM engine on the WebSocket transport, with the system
 * clock and randomness. It implements the daemon's {@link GossipFactory}, the only way the daemon
 * reaches `gossip/` (through `mod.ts`).
 *
 * @module
 */
import type {
  MemberInfo,
  MemberMeta,
  MembershipEventName,
  MembershipEvents,
  MemberState,
} from "../lib/cluster/membership.ts";
import type { ReplicatedRecord } from "../lib/cluster/replicated_record.ts";
import { ioFirstClock } from "./io_first_clock.ts";
import type { ExtensionStatus } from "../lib/cluster/membership.ts";
import type { JsonValue } from "../lib/json_value.ts";
import type { GossipFactory, GossipHandle, GossipSetup } from "../lib/daemon/gossip_port.ts";
import { fingerprint } from "../lib/net/certificates.ts";
import { rosterTrust } from "../lib/cluster/roster_trust.ts";
import type { Trust, TrustContext } from "../lib/cluster/trust.ts";
import type { GossipCounters, GossipObserver } from "../lib/metrics/observers.ts";
import type { Gossip } from "./api.ts";
import { resolveConfig } from "./config.ts";
import { createGossip } from "./engine.ts";
import { inboundRateFor } from "./frame_rate.ts";
import { observeTransport } from "./observed_transport.ts";
import { defaultRandom } from "./random.ts";
import { createWsTransport, keepOpenFor, type WsTransport } from "./ws_transport.ts";
import { isLive } from "../lib/cluster/membership.ts";

class GossipMember implements GossipHandle {
  readonly #g: Gossip;
  readonly #t: WsTransport;
  readonly localName: string;
  /** Stops reporting to the metrics (a no-op when not observed). */
  readonly #detach: () => void;

  constructor(g: Gossip, t: WsTransport, detach: () => void = () => {}) {
    this.#g = g;
    this.#t = t;
    this.#detach = detach;
    this.localName = g.localName;
  }
  members(): MemberInfo[] {
    return this.#g.members();
  }
  member(name: string): MemberInfo | undefined {
    return this.#g.member(name);
  }
  lastHeartbeat(name: string): number | undefined {
    return this.#g.lastHeartbeat(name);
  }
  extensionStatus(name: string): ExtensionStatus | undefined {
    return this.#g.extensionStatus(name);
  }
  on<E extends MembershipEventName>(
    event: E,
    listener: (event: MembershipEvents[E]) => void,
  ): () => void {
    return this.#g.on(event, listener);
  }
  setRecord(
    kind: string,
    key: string,
    value: JsonValue | null,
    options?: { expiresAt?: number },
  ): ReplicatedRecord {
    return this.#g.setRecord(kind, key, value, options);
  }
  record(kind: string, key: string): ReplicatedRecord | undefined {
    return this.#g.record(kind, key);
  }
  records(kind: string): ReplicatedRecord[] {
    return this.#g.records(kind);
  }
  stateOf(name: string): MemberState | undefined {
    return this.#g.stateOf(name);
  }
  start(): void {
    this.#g.start();
  }
  loadState(): void {
    this.#g.loadState();
  }
  join(addresses: readonly string[]): Promise<number> {
    return this.#g.join(addresses);
  }
  sync(addresses: readonly string[]): void {
    this.#g.sync(addresses);
  }
  leave(): Promise<void> {
    return this.#g.leave();
  }
  stop(): void {
    this.#g.stop();
  }
  updateMeta(meta: Partial<Omit<MemberMeta, "extensionCount" | "extensionDigest">>): void {
    this.#g.updateMeta(meta);
  }
  admit(name: string, meta: Partial<MemberMeta> & { address: string }): void {
    this.#g.admit(name, meta);
  }
  refreshTrust(): void {
    this.#t.refreshTrust();
  }
  exportState(): JsonValue {
    // Plain JSON data by construction: member entries, string lists and records.
    return this.#g.exportState() as JsonValue;
  }
  async close(): Promise<void> {
    this.#g.stop();
    this.#detach();
    await this.#t.close();
  }
}

/** How many members the engine holds live (alive or suspect), itself included. */
function liveMembers(engine: Gossip): number {
  let n = 0;
  for (const m of engine.members()) if (isLive(m.state)) n++;
  return n;
}

/** The engine's and the transport's counters, as the metrics read them. */
function countersOf(engine: Gossip, transport: WsTransport): GossipCounters {
  const g = engine.stats();
  const t = transport.stats();
  const states: Record<string, number> = {};
  for (const m of engine.members()) states[m.state] = (states[m.state] ?? 0) + 1;
  return {
    probes: g.probes,
    probesFailed: g.probesFailed,
    suspicions: g.suspicions,
    refutations: g.refutations,
    queued: g.queued,
    localHealth: g.localHealth,
    inbound: t.inbound,
    outbound: t.outbound,
    dropped: t.dropped,
    dialled: t.dialled,
    connectionsEvicted: t.evicted,
    rateLimited: t.rateLimited,
    openingsDropped: g.openingsDropped,
    mergesDropped: g.mergesDropped,
    mergeEntriesWaiting: g.mergeEntriesWaiting,
    states,
  };
}

/**
 * Builds a gossip member for a daemon: see {@link GossipFactory}. With an `observer`, every
 * frame and the engine's counters reach it (the member's metrics).
 */
export const createGossipMember = (
  setup: Parameters<GossipFactory>[0],
  observer?: GossipObserver,
): GossipHandle => {
  const config = resolveConfig(setup.preset);
  let liveCount = () => 0;
  let addressOf = (_fingerprint: string): string | undefined => undefined;
  const roster = rosterTrust({ cert: setup.cert, key: setup.key }, { former: setup.former });
  let made: Trust | undefined;
  const trust = (ctx: TrustContext): Trust => made = roster(ctx);
  const ws = createWsTransport({
    server: setup.server,
    address: setup.address,
    cert: setup.cert,
    key: setup.key,
    serverFingerprint: fingerprint(setup.clusterCert),
    serverCert: setup.clusterCert,
    isTrusted: setup.isTrusted,
    logger: setup.logger.child({ component: "gossip:ws" }),
    // Each sender at most a few times what the engine itself ever sends to one member.
    inboundRate: inboundRateFor(config),
    // Connections to the members we probe stay open from one probe to the next.
    keepOpenMs: () => keepOpenFor(config.probeIntervalMs, liveCount()),
    // A member's frames to a peer go on the connection the peer dialled, where it lives.
    addressOf: (fp) => addressOf(fp),
    onCertificateRefused: setup.onCertificateRefused,
  });
  const transport = observer ? observeTransport(ws, observer) : ws;
  const engine = createGossip(
    {
      clock: ioFirstClock,
      random: defaultRandom(),
      logger: setup.logger,
      transport,
      trust,
    },
    {
      name: setup.name,
      meta: setup.meta,
      preset: setup.preset,
      seeds: setup.seeds,
      records: setup.records,
      state: setup.initialState,
    },
  );
  liveCount = () => liveMembers(engine);
  addressOf = (fp) => {
    const name = made?.nameOf(fp);
    return name === undefined ? undefined : engine.member(name)?.meta.address;
  };
  logMembershipEvents(engine, setup.logger);
  return new GossipMember(engine, ws, observer?.attach(() => countersOf(engine, ws)));
};

const LOGGED_EVENTS = [
  "member-join",
  "member-update",
  "member-suspect",
  "member-failed",
  "member-left",
] as const;

/**
 * One info line per change of the member table, written when the table changes (as serf's
 * `EventMember*` lines are): operators see joins and failures, and the loopback benchmark times
 * them from the lines' `time` without polling bias. Changes are rare (a few per member event),
 * so this costs nothing while the cluster is steady.
 */
function logMembershipEvents(engine: Gossip, logger: GossipSetup["logger"]): void {
  const log = logger.child({ component: "gossip:events" });
  for (const event of LOGGED_EVENTS) {
    engine.on(event, ({ member, previous }) =>
      log.info("Membership event", {
        event,
        member: member.name,
        state: member.state,
        previous: previous ?? null,
        incarnation: member.incarnation,
        extension_digest: member.meta.extensionDigest,
        extension_count: member.meta.extensionCount,
        app_version: member.meta.appVersion,
      }));
  }
}
