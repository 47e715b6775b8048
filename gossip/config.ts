/**
 * Timing and size knobs of the gossip engine, the `lan` and `local` presets (memberlist's
 * DefaultLANConfig and DefaultLocalConfig values) and the formulas derived from them.
 *
 * @module
 */
import { InvalidInputError } from "../lib/errors.ts";

/** Every knob of the engine. Times are milliseconds, sizes bytes. */
export interface GossipConfig {
  /** Time between two probes of this member (one target per interval). lan 1000, local 1000. */
  probeIntervalMs: number;
  /** How long to wait for a direct ack before asking relays. lan 500, local 200. */
  probeTimeoutMs: number;
  /** Relays asked for an indirect probe after a missed direct ack (`k`). lan 3, local 1. */
  indirectChecks: number;
  /**
   * Suspicion timeout multiplier: the minimum timeout is
   * `suspicionMult × max(1, log10 N) × probeIntervalMs`. lan 4, local 3.
   */
  suspicionMult: number;
  /** The suspicion timeout starts at this multiple of the minimum. lan 6, local 6. */
  suspicionMaxTimeoutMult: number;
  /**
   * Upper bound (exclusive) of the local-health multiplier (Lifeguard): a member whose probes go
   * unanswered probes that many times more slowly and waits that many times longer before a
   * suspicion it holds becomes a `dead` verdict. lan 8, local 8.
   */
  awarenessMaxMultiplier: number;
  /** Time between two regular gossip rounds. lan 200, local 100. */
  gossipIntervalMs: number;
  /** Members each gossip round (and each immediate push) sends to. lan 3, local 3. */
  gossipNodes: number;
  /** How long dead members still receive gossip (so a wrongly-declared one can refute). lan 30000, local 15000. */
  gossipToTheDeadMs: number;
  /** Each update is sent at most `retransmitMult × ceil(log10(N+1))` times. lan 4, local 2. */
  retransmitMult: number;
  /**
   * Period of the full-state push-pull with one random member, before scaling: above 32
   * members it is multiplied by `ceil(log2 N − log2 32) + 1`. `0` disables. lan 30000, local 15000.
   */
  pushPullIntervalMs: number;
  /** Timeout of request/response exchanges (push-pull, extension fetch). lan 10000, local 1000. */
  requestTimeoutMs: number;
  /** Budget of one probe or gossip message (piggybacked updates fill it). lan 1400, local 1400. */
  maxMessageBytes: number;
  /**
   * Period of the reconnect attempts: each member push-pulls one random member that is down
   * (dead, or left but still a member) with probability `down ÷ live`, so partitions heal
   * (serf's ReconnectInterval, 30 s there) and a member that restarted unheard is found; a member
   * alone tries its next seed. A third of the push-pull interval here: the smaller side of a
   * partition tries at every tick, so a healed partition is found within one tick and is one
   * view again within one push-pull interval. A dead member that sends anything is tried at
   * once, whatever the tick. An attempt at a member that is really gone costs one refused (or
   * timed out) connection.
   * lan 10000, local 5000.
   */
  reconnectIntervalMs: number;
  /**
   * Dead members are forgotten after this long (serf's ReconnectTimeout); members no longer in
   * the cluster (removed) at the next reap. 24 h.
   */
  reconnectTimeoutMs: number;
  /**
   * Left members are forgotten after this long (serf's TombstoneTimeout); members no longer in
   * the cluster (removed) at the next reap. 24 h.
   */
  tombstoneTimeoutMs: number;
  /** How often dead and left members are checked for reaping. 15000. */
  reapIntervalMs: number;
  /**
   * How long `leave()` keeps gossiping the `left` update before stopping (serf's
   * LeavePropagateDelay). lan 1000, local 200: on one host the immediate push hands it to every
   * member of a small cluster within a few ms, and the members gossip it on after the stop; a
   * member that probes the leaver first may log it `dead`, and `left` wins once heard.
   */
  leavePropagateMs: number;
  /**
   * Push a newly queued update at once to `gossipNodes` members instead of waiting for the next
   * gossip round; at most one such push per `gossipIntervalMs`, so bursts are batched. true.
   */
  immediatePush: boolean;
  /**
   * Rounds of an immediate push: the first goes at once, the others `pushRoundGapMs` apart,
   * each to `gossipNodes` fresh random members, so a new update reaches nearly everyone in a
   * few hops instead of waiting for gossip ticks. Transmissions still count against the
   * retransmit limit, so this spends the same bytes sooner. lan 4, local 4.
   */
  pushRounds: number;
  /** Gap between immediate push rounds. lan 20, local 10. */
  pushRoundGapMs: number;
  /**
   * A member whose direct ping is refused (nothing listens) and whose refusal one relay
   * confirms is declared dead at once, skipping the suspicion timeout. A silent timeout always
   * takes the full suspicion path. true.
   */
  refusalDeclaresDead: boolean;
  /**
   * Most members the table holds (the local one, dead and left ones included): a member beyond
   * is ignored, with a warning. Only admitted members enter the table, so this bounds what a
   * flood of forged admissions can cost. 4096.
   */
  maxMembers: number;
  /** Most replicated records held, tombstones included; a new key beyond is dropped. 8192. */
  maxRecords: number;
}

/** Named timing presets. */
export type GossipPreset = "lan" | "local";

const LAN: Readonly<GossipConfig> = Object.freeze({
  probeIntervalMs: 1000,
  probeTimeoutMs: 500,
  indirectChecks: 3,
  suspicionMult: 4,
  suspicionMaxTimeoutMult: 6,
  awarenessMaxMultiplier: 8,
  gossipIntervalMs: 200,
  gossipNodes: 3,
  gossipToTheDeadMs: 30_000,
  retransmitMult: 4,
  pushPullIntervalMs: 30_000,
  requestTimeoutMs: 10_000,
  maxMessageBytes: 1400,
  reconnectIntervalMs: 10_000,
  reconnectTimeoutMs: 24 * 3600_000,
  tombstoneTimeoutMs: 24 * 3600_000,
  reapIntervalMs: 15_000,
  leavePropagateMs: 1000,
  immediatePush: true,
  pushRounds: 4,
  pushRoundGapMs: 20,
  refusalDeclaresDead: true,
  maxMembers: 4096,
  maxRecords: 8192,
});

const LOCAL: Readonly<GossipConfig> = Object.freeze({
  ...LAN,
  probeTimeoutMs: 200,
  indirectChecks: 1,
  suspicionMult: 3,
  gossipIntervalMs: 100,
  pushRoundGapMs: 10,
  gossipToTheDeadMs: 15_000,
  retransmitMult: 2,
  pushPullIntervalMs: 15_000,
  reconnectIntervalMs: 5000,
  requestTimeoutMs: 1000,
  leavePropagateMs: 200,
});

/** The presets by name: `lan` (memberlist's DefaultLANConfig, the default) and `local`. */
export const PRESETS: Readonly<Record<GossipPreset, Readonly<GossipConfig>>> = Object.freeze({
  lan: LAN,
  local: LOCAL,
});

/**
 * Builds a config from a preset and overrides, validating every value.
 *
 * @throws {InvalidInputError} naming the first knob out of range.
 */
export function resolveConfig(
  preset: GossipPreset = "lan",
  overrides: Partial<GossipConfig> = {},
): GossipConfig {
  const base = PRESETS[preset];
  if (!base) {
    throw new InvalidInputError(`Invalid gossip preset "${preset}": expected lan or local`);
  }
  const config: GossipConfig = { ...base, ...overrides };
  const positive: (keyof GossipConfig)[] = [
    "probeIntervalMs",
    "probeTimeoutMs",
    "suspicionMult",
    "suspicionMaxTimeoutMult",
    "awarenessMaxMultiplier",
    "gossipIntervalMs",
    "gossipNodes",
    "retransmitMult",
    "requestTimeoutMs",
    "reconnectIntervalMs",
    "reapIntervalMs",
    "pushRounds",
    "maxMembers",
    "maxRecords",
  ];
  for (const key of positive) {
    const v = config[key];
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) {
      throw new InvalidInputError(`Invalid gossip config ${key}: expected a positive number`, {
        field: key,
      });
    }
  }
  const nonNegative: (keyof GossipConfig)[] = [
    "indirectChecks",
    "gossipToTheDeadMs",
    "pushPullIntervalMs",
    "reconnectTimeoutMs",
    "tombstoneTimeoutMs",
    "leavePropagateMs",
    "pushRoundGapMs",
  ];
  for (const key of nonNegative) {
    const v = config[key];
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0) {
      throw new InvalidInputError(`Invalid gossip config ${key}: expected a number ≥ 0`, {
        field: key,
      });
    }
  }
  if (config.probeTimeoutMs >= config.probeIntervalMs) {
    throw new InvalidInputError(
      "Invalid gossip config probeTimeoutMs: must be shorter than probeIntervalMs",
      { field: "probeTimeoutMs" },
    );
  }
  if (!(config.maxMessageBytes >= 256)) {
    throw new InvalidInputError("Invalid gossip config maxMessageBytes: expected at least 256", {
      field: "maxMessageBytes",
    });
  }
  return config;
}

/** Transmissions per update: `mult × ceil(log10(n + 1))` (memberlist's retransmitLimit). */
export function retransmitLimit(mult: number, n: number): number {
  return mult * Math.ceil(Math.log10(n + 1));
}

/**
 * The minimum suspicion timeout in ms: `mult × max(1, log10 n) × interval`. `n` is the number
 * of live members.
 */
export function suspicionTimeout(mult: number, n: number, intervalMs: number): number {
  const nodeScale = Math.max(1, Math.log10(Math.max(1, n)));
  // memberlist rounds to whole milliseconds; so do we, for identical derived tables.
  return Math.round(mult * nodeScale * intervalMs);
}

/** Push-pull interval scaling above 32 members: `ceil(log2 n − log2 32) + 1` (memberlist). */
export function pushPullScale(intervalMs: number, n: number): number {
  if (n <= 32) return intervalMs;
  const multiplier = Math.ceil(Math.log2(n) - Math.log2(32)) + 1;
  return intervalMs * multiplier;
}
