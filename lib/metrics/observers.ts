/**
 * The seams through which the other layers report to a member's metrics, and through which the
 * routes read them. Types only: `gossip/` and `routes/` depend on this file, never on the
 * Prometheus client behind it (`member_metrics.ts` implements these interfaces).
 *
 * @module
 */

/** Which way a gossip frame went. */
export type FrameDirection = "sent" | "received";

/** The gossip protocol's message types: the label values of the per-type counters. */
export const GOSSIP_MESSAGE_TYPES = [
  "ping",
  "ack",
  "nack",
  "preq",
  "gossip",
  "pp",
  "extq",
  "ext",
] as const;

/**
 * A gossip message type: one of {@link GOSSIP_MESSAGE_TYPES}, or `other` for a frame whose type
 * cannot be read (a malformed frame must not grow a label value per garbage value).
 */
export type GossipMessageType = (typeof GOSSIP_MESSAGE_TYPES)[number] | "other";

/** A running gossip member's counters and gauges, read at every scrape. */
export interface GossipCounters {
  /** Direct probes started. */
  probes: number;
  /** Probes that got no answer, direct or indirect. */
  probesFailed: number;
  /** Suspicions this member raised. */
  suspicions: number;
  /** Suspicions about this member that it refuted. */
  refutations: number;
  /** Updates waiting in the broadcast queue. */
  queued: number;
  /** The awareness (local health) score: 0 is healthy. */
  localHealth: number;
  /** Open WebSocket connections accepted from other members. */
  inbound: number;
  /** Open WebSocket connections to other members. */
  outbound: number;
  /** Frames the transport dropped (back-pressure, oversize, failed dial). */
  dropped: number;
  /** Connections dialled to other members (each a TLS handshake at both ends). */
  dialled: number;
  /** Inbound connections closed because their certificate held more than its bound at once. */
  connectionsEvicted: number;
  /** Inbound frames dropped because their sender's certificate exceeded its rate. */
  rateLimited: number;
  /** Push-pull exchanges others opened, dropped unanswered: too many waiting (count or size). */
  openingsDropped: number;
  /** Rests of push-pull states dropped unmerged: too many entries waiting for later turns. */
  mergesDropped: number;
  /** Entries of push-pull states waiting to be merged on later turns of the event loop. */
  mergeEntriesWaiting: number;
  /** Members by gossip state (`alive`, `suspect`, `dead`, `left`), this one included. */
  states: Record<string, number>;
}

/** What the gossip layer reports: one call per frame, and its counters on demand. */
export interface GossipObserver {
  /**
   * A frame was handed to the transport (`sent`) or arrived from it (`received`).
   * @param bytes its size in bytes as JSON text.
   */
  frame(direction: FrameDirection, type: GossipMessageType, bytes: number): void;
  /** A push-pull exchange: `initiated` by this member, or `answered` for another one. */
  pushPull(role: "initiated" | "answered"): void;
  /**
   * Registers the running engine's counters, read at every scrape until the returned function
   * is called (when the engine stops). Totals survive a new engine (after a reset and a new
   * initialisation): they go on from where the previous engine's stopped.
   */
  attach(read: () => GossipCounters): () => void;
}

/** What the router reports: one call per answered request. */
export interface HttpObserver {
  /**
   * @param route the matched route pattern (e.g. `/core/1.0/cluster/:name`), or `unmatched`.
   * @param seconds from the request reaching the router to its answer's headers.
   */
  request(method: string, route: string, status: number, seconds: number): void;
}

/** A member's metrics, rendered for a scraper. */
export interface MetricsSource {
  /** The media type of the Prometheus text exposition format (version 0.0.4). */
  readonly contentType: string;
  /** Every metric, in that format. */
  render(): Promise<string>;
}
