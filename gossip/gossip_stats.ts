/**
 * What a member reports of itself ({@link GossipStats}): each figure read from the part that
 * counts it, at the moment it is asked for.
 *
 * Separate from the engine (engine.ts) so that which part counts which figure is written down
 * in one place, beside the list of figures (api.ts), not among the engine's wiring.
 *
 * @module
 */
import type { GossipStats } from "./api.ts";
import type { Awareness } from "./awareness.ts";
import type { Claims } from "./claims.ts";
import type { ExtensionFetcher } from "./ext_fetch.ts";
import type { MessageRouter } from "./message_router.ts";
import type { Prober } from "./probe.ts";
import type { PushPull } from "./push_pull.ts";
import type { RecordTable } from "./records.ts";
import type { StateMachine } from "./state.ts";

/** The parts whose counters make up a member's {@link GossipStats}. */
export interface CountingParts {
  /** Messages handed to the transport since creation. */
  readonly sent: number;
  readonly router: MessageRouter;
  readonly prober: Prober;
  readonly fetcher: ExtensionFetcher;
  readonly state: StateMachine;
  readonly awareness: Awareness;
  readonly records: RecordTable;
  readonly claims: Claims;
  readonly pushPull: PushPull;
}

/** A member's figures now, read from `p`. */
export function collectStats(p: CountingParts): GossipStats {
  const c = p.state.counters;
  return {
    messagesSent: p.sent,
    messagesReceived: p.router.counters.received,
    malformedDropped: p.router.counters.malformed,
    probes: p.prober.counters.probes,
    probesFailed: p.prober.counters.failed,
    probesDoubted: p.prober.counters.doubted,
    suspicions: c.suspicions,
    refutations: c.refutations,
    listsFetched: p.fetcher.fetched,
    lists: p.state.extensions.lists.size,
    queued: p.state.queue.size,
    localHealth: p.awareness.score,
    records: p.records.size,
    recordsDropped: p.records.dropped,
    recordsRefused: p.records.refused,
    claimsRefused: p.state.refusedClaims,
    signaturesChecked: p.claims.verifications,
    notMembers: c.notMembers,
    openingsDropped: p.pushPull.openingsDropped,
    mergesDropped: c.mergesDropped,
    mergeEntriesWaiting: p.state.mergeEntriesWaiting,
  };
}
