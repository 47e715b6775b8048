/**
 * Gossip metrics: frames and bytes by direction and message type, push-pull exchanges (counted
 * as they happen), and the engine's own counters and gauges (read at every scrape from the
 * engine attached, see {@link GossipObserver.attach}).
 *
 * @module
 */
import { Counter, Gauge, type Registry } from "prom-client";
import type {
  FrameDirection,
  GossipCounters,
  GossipMessageType,
  GossipObserver,
} from "./observers.ts";

/** The engine counters exposed as Prometheus counters: metric name, help, field. */
const TOTALS: [string, string, keyof GossipCounters][] = [
  ["cohort_gossip_probes_total", "Direct probes this member started", "probes"],
  [
    "cohort_gossip_probe_failures_total",
    "Probes that got no answer, direct or indirect",
    "probesFailed",
  ],
  ["cohort_gossip_suspicions_total", "Suspicions this member raised", "suspicions"],
  [
    "cohort_gossip_refutations_total",
    "Suspicions about this member that it refuted",
    "refutations",
  ],
  [
    "cohort_gossip_dropped_frames_total",
    "Frames the transport dropped (back-pressure, oversize, failed dial)",
    "dropped",
  ],
  [
    "cohort_gossip_dials_total",
    "Connections this member dialled to other members (each a TLS handshake at both ends)",
    "dialled",
  ],
  [
    "cohort_gossip_connections_evicted_total",
    "Inbound connections closed because their member's certificate held more than its bound",
    "connectionsEvicted",
  ],
  [
    "cohort_gossip_frames_rate_limited_total",
    "Inbound frames dropped because their member's certificate sent over its rate",
    "rateLimited",
  ],
  [
    "cohort_gossip_openings_dropped_total",
    "Push-pull exchanges other members opened that were dropped unanswered (too many waiting)",
    "openingsDropped",
  ],
  [
    "cohort_gossip_merges_dropped_total",
    "Rests of received push-pull states dropped unmerged (too many entries waiting)",
    "mergesDropped",
  ],
];

type Totals = Record<string, number>;

/** The {@link GossipObserver} of one member's registry. */
export class GossipMetrics implements GossipObserver {
  readonly #messages: Counter<"direction" | "type">;
  readonly #bytes: Counter<"direction" | "type">;
  readonly #pushPulls: Counter<"role">;
  readonly #children = new Map<string, [Counter.Internal, Counter.Internal]>();
  readonly #totals = new Map<string, Counter>();
  readonly #queue: Gauge;
  readonly #health: Gauge;
  readonly #mergeWaiting: Gauge;
  readonly #connections: Gauge<"direction">;
  readonly #states: Gauge<"state">;
  readonly #sources = new Set<() => GossipCounters>();
  /** Totals of engines that have stopped. */
  readonly #retired: Totals = {};

  constructor(registry: Registry) {
    const registers = [registry];
    this.#messages = new Counter({
      name: "cohort_gossip_messages_total",
      help: "Gossip messages handed to the transport (sent) or received from it, by type",
      labelNames: ["direction", "type"],
      registers,
    });
    this.#bytes = new Counter({
      name: "cohort_gossip_bytes_total",
      help: "Bytes of gossip messages (JSON text) sent and received, by type",
      labelNames: ["direction", "type"],
      registers,
    });
    this.#pushPulls = new Counter({
      name: "cohort_gossip_push_pulls_total",
      help: "Push-pull (anti-entropy) exchanges this member initiated or answered",
      labelNames: ["role"],
      registers,
    });
    for (const role of ["initiated", "answered"]) this.#pushPulls.labels(role).inc(0);
    for (const [name, help, field] of TOTALS) {
      this.#totals.set(field, new Counter({ name, help, registers }));
    }
    this.#queue = new Gauge({
      name: "cohort_gossip_broadcast_queue",
      help: "Updates waiting in the broadcast queue",
      registers,
    });
    this.#health = new Gauge({
      name: "cohort_gossip_local_health",
      help: "The awareness (local health) score: 0 is healthy, higher slows probing",
      registers,
    });
    this.#mergeWaiting = new Gauge({
      name: "cohort_gossip_merge_entries_waiting",
      help: "Entries of received push-pull states waiting to be merged on later turns",
      registers,
    });
    this.#connections = new Gauge({
      name: "cohort_gossip_connections",
      help: "Open gossip WebSocket connections, inbound (accepted) and outbound (dialled)",
      labelNames: ["direction"],
      registers,
    });
    this.#states = new Gauge({
      name: "cohort_gossip_members",
      help: "Members in this member's gossip table by state (alive, suspect, dead, left)",
      labelNames: ["state"],
      registers,
    });
  }

  frame(direction: FrameDirection, type: GossipMessageType, bytes: number): void {
    const key = `${direction} ${type}`;
    let pair = this.#children.get(key);
    if (!pair) {
      pair = [this.#messages.labels(direction, type), this.#bytes.labels(direction, type)];
      this.#children.set(key, pair);
    }
    pair[0].inc();
    if (bytes > 0) pair[1].inc(bytes);
  }

  pushPull(role: "initiated" | "answered"): void {
    this.#pushPulls.labels(role).inc();
  }

  attach(read: () => GossipCounters): () => void {
    this.#sources.add(read);
    return () => {
      if (!this.#sources.delete(read)) return;
      const last = safeRead(read);
      if (!last) return;
      for (const [, , field] of TOTALS) {
        this.#retired[field] = (this.#retired[field] ?? 0) + (last[field] as number);
      }
    };
  }

  /** Reads the attached engines into the metrics; called before every scrape. */
  update(): void {
    const now = [...this.#sources].map(safeRead).filter((c) => c !== undefined);
    for (const [, , field] of TOTALS) {
      const total = now.reduce((sum, c) => sum + (c[field] as number), this.#retired[field] ?? 0);
      const counter = this.#totals.get(field)!;
      counter.reset();
      counter.inc(total);
    }
    const sum = (f: (c: GossipCounters) => number) => now.reduce((s, c) => s + f(c), 0);
    this.#queue.set(sum((c) => c.queued));
    this.#health.set(sum((c) => c.localHealth));
    this.#mergeWaiting.set(sum((c) => c.mergeEntriesWaiting));
    this.#connections.set({ direction: "inbound" }, sum((c) => c.inbound));
    this.#connections.set({ direction: "outbound" }, sum((c) => c.outbound));
    this.#states.reset();
    for (const state of ["alive", "suspect", "dead", "left"]) {
      this.#states.set({ state }, sum((c) => c.states[state] ?? 0));
    }
  }
}

function safeRead(read: () => GossipCounters): GossipCounters | undefined {
  try {
    return read();
  } catch {
    return undefined; // an engine torn down between attach and detach
  }
}
