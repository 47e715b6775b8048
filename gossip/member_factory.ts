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
  ReplicatedRecord,
} from "../lib/cluster/membership.ts";
import { systemClock } from "../lib/cluster/membership.ts";
import type { ExtensionStatus, JsonValue } from "../lib/cluster/membership.ts";
import type { GossipFactory, GossipHandle, GossipSetup } from "../lib/daemon/gossip_port.ts";
import { fingerprint } from "../lib/net/certificates.ts";
import { createGossip, type Gossip } from "./engine.ts";
import { defaultRandom } from "./random.ts";
import { createWsTransport, type WsTransport } from "./ws_transport.ts";

class GossipMember implements GossipHandle {
  readonly #g: Gossip;
  readonly #t: WsTransport;
  readonly localName: string;

  constructor(g: Gossip, t: WsTransport) {
    this.#g = g;
    this.#t = t;
    this.localName = g.localName;
  }
  members(): MemberInfo[] {
    return this.#g.members();
  }
  member(name: string): MemberInfo | undefined {
    return this.#g.member(name);
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
  join(addresses: readonly string[]): Promise<number> {
    return this.#g.join(addresses);
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
  refreshTrust(): void {
    this.#t.refreshTrust();
  }
  async close(): Promise<void> {
    this.#g.stop();
    await this.#t.close();
  }
}

/** Builds a gossip member for a daemon: see {@link GossipFactory}. */
export const createGossipMember: GossipFactory = (setup: GossipSetup): GossipHandle => {
  const transport = createWsTransport({
    server: setup.server,
    address: setup.address,
    cert: setup.cert,
    key: setup.key,
    serverFingerprint: fingerprint(setup.clusterCert),
    serverCert: setup.clusterCert,
    isTrusted: setup.isTrusted,
    logger: setup.logger.child({ component: "gossip:ws" }),
  });
  const engine = createGossip(
    { clock: systemClock, random: defaultRandom(), logger: setup.logger, transport },
    {
      name: setup.name,
      meta: setup.meta,
      preset: setup.preset,
      seeds: setup.seeds,
      records: setup.records,
    },
  );
  return new GossipMember(engine, transport);
};
