/**
 * A simulated cluster: N engines on one {@link MemoryNetwork} and one {@link SimClock}, with
 * helpers to crash, stall, partition and ask "does every member agree yet?". Shared by the
 * simulation tests and the benchmark.
 *
 * @module
 */
import type { MemberMeta, MemberState } from "../lib/cluster/membership.ts";
import type { ReplicatedRecord } from "../lib/cluster/replicated_record.ts";
import { silentLogger } from "../lib/log.ts";
import type { Logger } from "../lib/log.ts";
import type { GossipConfig, GossipPreset } from "./config.ts";
import { startingMeta } from "./api.ts";
import type { Gossip } from "./api.ts";
import { createGossip } from "./engine.ts";
import { MemoryNetwork } from "./memory_transport.ts";
import type { MemoryNetworkOptions } from "./memory_transport.ts";
import { createRandom } from "./random.ts";
import { SimClock } from "./sim_clock.ts";
import { normalizeMeta } from "./member_extensions.ts";
import { MemberEntry } from "./members.ts";
import { fromWireMeta, toWireMeta } from "./wire_meta.ts";
import { SharedMembers } from "./shared_members.ts";
import { simTrust } from "./sim_trust.ts";
import type { TrustFactory } from "../lib/cluster/trust.ts";

/** Options of {@link createSimCluster}. */
export interface SimOptions {
  /** Members. */
  readonly size: number;
  /** Seed of every random choice. @default 1 */
  readonly seed?: number;
  /** @default "lan" */
  readonly preset?: GossipPreset;
  readonly config?: Partial<GossipConfig>;
  readonly network?: Omit<MemoryNetworkOptions, "clock" | "random">;
  /** Metadata of member `i`. */
  readonly meta?: (i: number) => Partial<MemberMeta>;
  readonly logger?: Logger;
  /**
   * Members joining per `joinBatchMs` while forming the cluster (a 1000-member join storm on
   * one seed is realistic but slow to simulate). @default 50
   */
  readonly joinBatch?: number;
  /** @default 100 */
  readonly joinBatchMs?: number;
  /**
   * `join`: members join member 0 by push-pull (realistic). `restore`: every member starts
   * knowing every other (as after a restart from persisted state); fast for 1000 members.
   * @default "join"
   */
  readonly form?: "join" | "restore";
  /** The trust of member `i`. @default simTrust() for all (every name a member) */
  readonly trust?: (i: number) => TrustFactory;
  /**
   * The identity member `i`'s frames carry (`TransportHandlers.message`'s `peer`, what the
   * trust's `nameOf` maps back to a name). @default its name
   */
  readonly identity?: (i: number) => string;
  /** Replicated records every member starts with (as restored from its store). */
  readonly records?: readonly ReplicatedRecord[];
  /**
   * With `form: "restore"`: `shared` gives every member a view of one member table (only what
   * a member sees differently is its own: memory grows with N, not N²); `own` gives each its
   * own table of N entries, as daemons have. @default "shared"
   */
  readonly tables?: "shared" | "own";
}

/** A running simulated cluster. */
export interface SimCluster {
  readonly clock: SimClock;
  readonly net: MemoryNetwork;
  /** Engines by index; replaced by {@link SimCluster.restart}. */
  readonly members: Gossip[];
  readonly names: string[];
  readonly addresses: string[];
  /**
   * Creates and starts member `i`, replacing a crashed one: joining member 0 (member 1 for
   * member 0), or, given `seeds`, started with them as a restarted daemon is (it push-pulls
   * with each at start and tries them again while alone).
   */
  restart(i: number, incarnation?: number, seeds?: readonly string[]): Gossip;
  /** kill -9: the endpoint refuses, the engine stops. */
  crash(i: number): void;
  /** Reports whether every running member in `observers` sees member `i` in `state`. */
  allSee(i: number, state: MemberState, observers?: readonly number[]): boolean;
  /** Reports whether every running member sees every other running member alive. */
  converged(): boolean;
  /**
   * The member table every member restored with `tables: "shared"` started from (its
   * `footprint()` is what their views hold of their own).
   */
  readonly shared: SharedMembers | undefined;
  /** Running members' indexes. */
  running(): number[];
  /** Stops everything. */
  stop(): void;
}

/** Address of member `i`. */
export const simAddress = (i: number): string => `10.0.${i >> 8}.${i & 255}:7946`;

/**
 * Builds and starts a cluster, joining members to member 0 in batches, and runs the clock
 * until every member sees every other alive (or `maxFormMs` of simulated time passed).
 */
export function createSimCluster(options: SimOptions, maxFormMs = 120_000): SimCluster {
  const seed = options.seed ?? 1;
  const clock = new SimClock(0);
  const net = new MemoryNetwork({ clock, random: createRandom(seed ^ 0x5eed), ...options.network });
  const names: string[] = [];
  const addresses: string[] = [];
  const members: Gossip[] = [];
  const stopped = new Set<number>();
  const logger = options.logger ?? silentLogger;
  const metas: MemberMeta[] = [];
  // One frozen metadata object per member, shared by every engine that knows it.
  const metaOf = (i: number): MemberMeta =>
    metas[i] ??= normalizeMeta({
      extensions: [],
      ...startingMeta(simAddress(i), options.meta?.(i)),
    });

  const open = simTrust();
  const trustOf = options.trust ?? (() => open);
  let peers: { name: string; incarnation: number; meta: MemberMeta }[] | undefined;
  let shared: SharedMembers | undefined;
  let sharedTable: SharedMembers | undefined;
  const make = (i: number, incarnation?: number, seeds?: readonly string[]): Gossip => {
    const transport = net.endpoint(addresses[i], options.identity?.(i) ?? names[i]);
    const g = createGossip(
      {
        clock,
        random: createRandom(seed * 7919 + i * 104729 + (incarnation ?? 0)),
        logger,
        transport,
        trust: trustOf(i),
        memberTable: shared && (() => shared!.view()),
      },
      {
        name: names[i],
        preset: options.preset,
        config: options.config,
        meta: metaOf(i),
        incarnation,
        peers,
        records: options.records,
        seeds,
      },
    );
    members[i] = g;
    stopped.delete(i);
    g.start();
    return g;
  };

  for (let i = 0; i < options.size; i++) {
    names.push(`m${i}`);
    addresses.push(simAddress(i));
  }
  if (options.form === "restore" && options.tables === "own") {
    peers = names.map((name, i) => ({ name, incarnation: 0, meta: metaOf(i) }));
    for (let i = 0; i < options.size; i++) make(i);
    peers = undefined;
  } else if (options.form === "restore") {
    shared = new SharedMembers(names.map((name, i) => {
      const wire = toWireMeta(metaOf(i));
      return new MemberEntry(name, 0, wire, fromWireMeta(wire), 0);
    }));
    for (let i = 0; i < options.size; i++) make(i);
    // Members restarted later start from their own tables, as a restarted daemon does.
    sharedTable = shared;
    shared = undefined;
  } else make(0);
  const batch = options.joinBatch ?? 50;
  const batchMs = options.joinBatchMs ?? 100;
  for (let i = 1; i < options.size && options.form !== "restore"; i++) {
    make(i);
    void members[i].join([addresses[0]]);
    if (i % batch === 0) clock.advance(batchMs);
  }

  const cluster: SimCluster = {
    clock,
    net,
    members,
    names,
    addresses,
    shared: sharedTable,
    restart(i, incarnation, seeds) {
      const g = make(i, incarnation, seeds);
      if (!seeds) void g.join([addresses[i === 0 ? 1 : 0]]);
      return g;
    },
    crash(i) {
      net.crash(addresses[i]);
      members[i].stop();
      stopped.add(i);
    },
    allSee(i, state, observers) {
      const name = names[i];
      const list = observers ?? cluster.running();
      for (const o of list) {
        if (o === i || stopped.has(o)) continue;
        if (members[o].stateOf(name) !== state) return false;
      }
      return true;
    },
    converged() {
      const run = cluster.running();
      for (const o of run) {
        const g = members[o];
        for (const i of run) {
          if (i !== o && g.stateOf(names[i]) !== "alive") return false;
        }
      }
      return true;
    },
    running() {
      const out: number[] = [];
      for (let i = 0; i < members.length; i++) if (!stopped.has(i)) out.push(i);
      return out;
    },
    stop() {
      for (let i = 0; i < members.length; i++) members[i].stop();
    },
  };
  // A restored cluster starts converged (every member holds every other alive).
  if (options.form === "restore") return cluster;
  const formed = clock.runWhileNot(() => cluster.converged(), maxFormMs, 100);
  if (formed < 0) throw new Error(`Simulated cluster of ${options.size} did not converge`);
  return cluster;
}
