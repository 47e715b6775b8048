/**
 * How a daemon reaches the gossip layer without importing `gossip/`: `mod.ts` passes a
 * {@link GossipFactory} that builds the SWIM engine on the WebSocket transport, and the daemon
 * only sees this interface (tests can pass a fake).
 *
 * @module
 */
import type { Server as HttpsServer } from "node:https";
import type { MemberMeta, MembershipView } from "../cluster/membership.ts";
import type { RecordStore, ReplicatedRecord } from "../cluster/replicated_record.ts";
import type { JsonValue } from "../json_value.ts";
import type { FormerCertificates } from "../cluster/former_certificates.ts";
import type { Logger } from "../log.ts";

/** A running gossip member as the daemon uses it. */
export interface GossipHandle extends MembershipView, RecordStore {
  /** Starts probing and gossiping; joins the seeds in the background. */
  start(): void;
  /**
   * Takes in {@link GossipSetup.initialState} (its view changes are emitted) without receiving
   * or sending anything yet; {@link GossipHandle.start} does it otherwise. Idempotent.
   */
  loadState(): void;
  /** Push-pulls with each address; resolves with how many answered. Never rejects. */
  join(addresses: readonly string[]): Promise<number>;
  /**
   * Soon (once what was just queued has gone out) compares digests with each address, so a
   * member that missed an update gets it then rather than at its next periodic exchange.
   */
  sync(addresses: readonly string[]): void;
  /** Graceful leave: spreads `left`, keeps answering briefly, then stops. */
  leave(): Promise<void>;
  /** Stops at once (others will see a failure, or a refused connection). */
  stop(): void;
  /** Changes the local metadata (bumps the incarnation, gossips at once). */
  updateMeta(meta: Partial<Omit<MemberMeta, "extensionCount" | "extensionDigest">>): void;
  /**
   * Records a member this one has just admitted as alive with the metadata it will start with
   * (see {@link startingMeta}) and gossips its arrival at once, so the cluster learns of the join
   * from the admission rather than from the joiner's first exchange. No-op for a known name.
   */
  admit(name: string, meta: Partial<MemberMeta> & { address: string }): void;
  /** The state of one member without building a snapshot. */
  stateOf(name: string): import("../cluster/membership.ts").MemberState | undefined;
  /** Re-applies the trust set to open connections (call after it shrinks). */
  refreshTrust(): void;
  /**
   * This member's view (member table, extension lists, records) in the gossip layer's own
   * format: what an accepting member hands a joiner as {@link GossipSetup.initialState}.
   */
  exportState(): JsonValue;
  /** Stops transport and engine, releasing every connection. */
  close(): Promise<void>;
}

/** What the daemon hands the factory. */
export interface GossipSetup {
  /** Member name. */
  name: string;
  /** Advertised `host:port` (the HTTPS listener's). */
  address: string;
  /** Initial metadata (address and fingerprint included). */
  meta: Partial<MemberMeta>;
  /** The member's HTTPS server, on which the gossip WebSocket endpoint is mounted. */
  server: HttpsServer;
  /** This member's certificate and key (PEM), presented when dialling peers. */
  cert: string;
  key: string;
  /** The cluster certificate (PEM) every member's listener presents; peers are pinned to it. */
  clusterCert: string;
  /** The current trust set: fingerprints of member certificates. */
  isTrusted(fingerprint: string): boolean;
  /** Addresses to join at start. */
  seeds: readonly string[];
  /** Records restored from the store. */
  records: readonly ReplicatedRecord[];
  /**
   * The certificates this member saw leave a name, restored from the store before the engine
   * takes a record: the member's trust reads and notes them (`rosterTrust`'s `former`), the
   * daemon answers from them whether a certificate was removed. Absent: the trust keeps a memory
   * of its own.
   */
  former?: FormerCertificates;
  /**
   * The accepting member's {@link GossipHandle.exportState}, for a joiner: merged at start, so
   * the joiner knows every member before its first gossip exchange.
   */
  initialState?: JsonValue;
  /** Timing preset. */
  preset: "lan" | "local";
  logger: Logger;
  /**
   * A member's gossip listener at this address refused this member's certificate (it does not
   * trust it: this member may have been removed while it was cut off). Called for every refused
   * dial. @default none
   */
  onCertificateRefused?: (address: string) => void;
}

/**
 * The metadata a member starts gossiping with: `PENDING` until the roster gives it a role. The
 * member itself and the member admitting it both build it here, so the joiner finds its own
 * entry, announced by the admitting member, identical to its own and has nothing to refute.
 */
export function startingMeta(m: {
  address: string;
  fingerprint: string;
  schemaInternal: number;
  schemaExternal: number;
  appVersion: string;
  extensions: readonly string[];
}): Partial<MemberMeta> & { address: string } {
  return {
    address: m.address,
    fingerprint: m.fingerprint,
    role: "PENDING",
    schemaInternal: m.schemaInternal,
    schemaExternal: m.schemaExternal,
    appVersion: m.appVersion,
    extensions: m.extensions,
  };
}

/** Builds a gossip member. */
export type GossipFactory = (setup: GossipSetup) => GossipHandle;
