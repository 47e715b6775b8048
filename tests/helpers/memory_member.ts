/**
 * Whole members in one process on a simulated clock: `startDaemon` with the gossip engine on the
 * in-memory transport, `memoryEnvironment` (the {@link SimClock}, {@link MemoryPeers} for requests
 * between members, no sockets), a `:memory:` store, and certificates issued in process. A
 * {@link MemoryCluster} drives the clock while the members' promises settle.
 *
 * Timers, gossip and the members' logic run on simulated time; the store and the state
 * directory's files are real asynchronous I/O. So every step of the clock waits a real
 * millisecond: I/O then completes within a few simulated steps rather than "never" (a step
 * taken on `setImmediate` alone lets simulated minutes pass during one certificate issuance).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as pause } from "node:timers/promises";
import type { Gossip } from "../../gossip/api.ts";
import { createGossip } from "../../gossip/engine.ts";
import { MemoryNetwork } from "../../gossip/memory_transport.ts";
import { createRandom } from "../../gossip/random.ts";
import { SimClock } from "../../gossip/sim_clock.ts";
import type { Clock } from "../../lib/cluster/clock.ts";
import type { JsonValue } from "../../lib/json_value.ts";
import { rosterTrust } from "../../lib/cluster/roster_trust.ts";
import { type Daemon, startDaemon } from "../../lib/daemon/daemon.ts";
import { memoryEnvironment } from "../../lib/daemon/environment.ts";
import type { GossipFactory, GossipHandle } from "../../lib/daemon/gossip_port.ts";
import { MemoryPeers } from "../../lib/daemon/memory_peers.ts";
import type { PeerTransport } from "../../lib/daemon/peers.ts";
import type { Network } from "../../lib/daemon/network.ts";
import type { DaemonOptions } from "../../lib/daemon/options.ts";
import { createLogger, type Logger, silentLogger } from "../../lib/log.ts";
import { inProcessIssuer } from "../../lib/net/cert_issuer.ts";
import { createRouter } from "../../routes/router.ts";

/** The advertised address of member `mI` in {@link MemoryCluster.form}. */
export const memberAddress = (i: number): string => `10.0.0.${i}:7443`;

/** Rows written through `d`'s store connection so far (SQLite's `total_changes()`). */
export async function rowsWritten(d: Daemon): Promise<number> {
  const r = await d.sql("SELECT total_changes() AS n");
  return Number((r.rows[0] as Record<string, unknown>).n);
}

/**
 * `joiner`'s join of the cluster as `name` at `address` with `token`, begun and not awaited (a
 * failure surfaces where `join` is awaited), and whether it answered yet.
 */
export function beginJoin(
  joiner: Daemon,
  name: string,
  address: string,
  token: string,
): { join: Promise<unknown>; answered: () => boolean } {
  let answered = false;
  const join = joiner.initialize({ bootstrap: false, name, address, join_token: token })
    .finally(() => (answered = true));
  join.catch(() => {});
  return { join, answered: () => answered };
}

/**
 * m1 bootstrapped and m2 joined through it (m2 started with `m2Options`: a skewed or stepping
 * clock), its info lines in `lines`; the cluster then runs 2 s of simulated time.
 */
export async function twoMembers(
  sim: MemoryCluster,
  m2Options: Parameters<MemoryCluster["start"]>[1] = {},
): Promise<{ m1: Daemon; m2: Daemon; lines: string[] }> {
  const lines: string[] = [];
  const logger = createLogger({ level: "info", write: (l) => void lines.push(l) });
  const m1 = await sim.start("m1");
  await sim.drive(m1.initialize({ bootstrap: true, name: "m1", address: memberAddress(1) }));
  const m2 = await sim.start("m2", m2Options, logger);
  await sim.drive(
    m2.initialize({
      bootstrap: false,
      name: "m2",
      address: memberAddress(2),
      join_token: await sim.drive(m1.createToken("m2", 0)),
    }),
  );
  await sim.run(2000);
  return { m1, m2, lines };
}

/** `d`'s list as `name:STATUS` joined by commas. */
export const memberStatuses = async (d: Daemon): Promise<string> =>
  (await d.clusterMembers()).map((e) => `${e.name}:${e.status}`).join(",");

/** The network of member `d`, reached past the daemon's API (a test fails its persistence). */
export function networkOf(d: Daemon): Network {
  return (d as unknown as { member: { network: Network } }).member.network;
}

/** The engine as the daemon's {@link GossipHandle}; `close` closes its transport. */
export function gossipHandle(g: Gossip, close: () => Promise<void>): GossipHandle {
  return {
    localName: g.localName,
    members: () => g.members(),
    member: (n) => g.member(n),
    lastHeartbeat: (n) => g.lastHeartbeat(n),
    extensionStatus: (n) => g.extensionStatus(n),
    on: (e, l) => g.on(e, l),
    setRecord: (k, key, v, o) => g.setRecord(k, key, v, o),
    record: (k, key) => g.record(k, key),
    records: (k) => g.records(k),
    stateOf: (n) => g.stateOf(n),
    start: () => g.start(),
    loadState: () => g.loadState(),
    join: (a) => g.join(a),
    sync: (a) => g.sync(a),
    leave: () => g.leave(),
    stop: () => g.stop(),
    updateMeta: (m) => g.updateMeta(m),
    admit: (n, m) => g.admit(n, m),
    refreshTrust: () => {},
    exportState: () => g.exportState() as JsonValue,
    close: async () => {
      g.stop();
      await close();
    },
  };
}

/** A simulated world for whole members; see the module docs. */
export class MemoryCluster {
  readonly clock = new SimClock(Date.UTC(2026, 0, 1));
  readonly net: MemoryNetwork;
  readonly peers = new MemoryPeers();
  readonly daemons = new Map<string, Daemon>();
  /**
   * How far every member's wall clock has stepped ahead of the simulated clock, ms (set it to
   * play days passing between two steps of a test: record versions and expiry are dates, while
   * timers and durations keep the simulated pace).
   */
  wallStepMs = 0;
  readonly #dirs: string[] = [];
  #seed: number;
  /** What the gossip engines read: the simulated clock, with the wall clock stepped. */
  readonly #gossipClock: Clock = {
    now: () => this.clock.now(),
    wallOffset: () => this.wallStepMs,
    setTimeout: (fn, ms) => this.clock.setTimeout(fn, ms),
    clearTimeout: (h) => this.clock.clearTimeout(h),
  };

  constructor(seed = 1) {
    this.#seed = seed;
    this.net = new MemoryNetwork({ clock: this.clock, random: createRandom(seed) });
  }

  /** The gossip factory: the engine on this network's in-memory transport. */
  readonly gossip: GossipFactory = (setup) => {
    const transport = this.net.endpoint(setup.address);
    const engine = createGossip(
      {
        clock: this.#gossipClock,
        random: createRandom(this.#seed++),
        logger: setup.logger,
        transport,
        trust: rosterTrust({ cert: setup.cert, key: setup.key }, { former: setup.former }),
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
    return gossipHandle(engine, () => transport.close());
  };

  /** Advances the clock in `stepMs` steps, letting promises and I/O run between, until `p` settles. */
  async drive<T>(p: Promise<T>, stepMs = 10, maxMs = 120_000): Promise<T> {
    let settled = false;
    const out = p.finally(() => (settled = true));
    out.catch(() => {});
    const until = this.clock.now() + maxMs;
    while (!settled) {
      if (this.clock.now() > until) throw new Error(`not settled after ${maxMs} simulated ms`);
      await pause(1);
      this.clock.advance(stepMs);
    }
    return await out;
  }

  /** Advances `ms` of simulated time, letting promises and I/O run between steps. */
  async run(ms: number, stepMs = 10): Promise<void> {
    const until = this.clock.now() + ms;
    while (this.clock.now() < until) {
      await pause(1);
      this.clock.advance(Math.min(stepMs, until - this.clock.now()));
    }
    await pause(1);
  }

  /**
   * Advances simulated time until `check()` holds (or `maxMs` passed), giving real I/O a moment
   * between steps: a store or file operation may span many simulated steps otherwise.
   */
  async until(check: () => boolean, maxMs = 60_000, stepMs = 10): Promise<boolean> {
    const until = this.clock.now() + maxMs;
    while (!check()) {
      if (this.clock.now() >= until) return false;
      await pause(1);
      this.clock.advance(stepMs);
    }
    return true;
  }

  /**
   * Starts (or restarts) member `name` with its own state directory; `:memory:` store. `peers`
   * replaces the member's way to the others (e.g. a filter over {@link MemoryCluster.peers} that
   * plays a partition); its endpoint is still served on {@link MemoryCluster.peers}.
   * `clockSkewMs`: how far the member's wall clock (what its own code reads as `now`) is ahead
   * of the others' (behind when negative); its timers run at the same pace. `wallOffsetMs`: a
   * member whose dates and durations part (its clock's `wallOffset`, read at each date): a test
   * steps its wall clock by changing what it returns, its `now` and timers untouched.
   */
  async start(
    name: string,
    { peers, clockSkewMs = 0, wallOffsetMs, ...options }:
      & Partial<DaemonOptions>
      & {
        stateDir?: string;
        peers?: PeerTransport;
        clockSkewMs?: number;
        wallOffsetMs?: () => number;
      } = {},
    logger: Logger = silentLogger,
  ): Promise<Daemon> {
    // Durations on the simulated clock (skewed); dates (`wallNow`) also move with the cluster's
    // wall step and this member's own.
    const clock: Clock = {
      now: () => this.clock.now() + clockSkewMs,
      wallOffset: () => this.wallStepMs + (wallOffsetMs?.() ?? 0),
      setTimeout: (fn, ms) => this.clock.setTimeout(fn, ms),
      clearTimeout: (h) => this.clock.clearTimeout(h),
    };
    const stateDir = options.stateDir ?? mkdtempSync(join(tmpdir(), `cohort-mem-${name}-`));
    if (!options.stateDir) this.#dirs.push(stateDir);
    const daemon = await this.drive(startDaemon(
      {
        stateDir,
        databaseUrl: ":memory:",
        gossipPreset: "local",
        certificateIssuer: inProcessIssuer,
        handler: (service) => createRouter(service),
        gossip: this.gossip,
        logger,
        ...options,
      },
      {
        ...memoryEnvironment(
          this.peers,
          clock,
          (() => {
            const r = createRandom(this.#seed++);
            return () => r.next();
          })(),
        ),
        ...(peers ? { peers } : {}),
      },
    ));
    this.daemons.set(name, daemon);
    return daemon;
  }

  /**
   * Starts m1..mN, bootstraps m1 at {@link memberAddress}(1) and joins the others through tokens
   * m1 issues, all in simulated time; resolves with the daemons in order. `options(i)`: what
   * member `i` (from 1) starts with besides the defaults (e.g. its own `peers`).
   */
  async form(
    n: number,
    options: (i: number) => Parameters<MemoryCluster["start"]>[1] = () => ({}),
  ): Promise<Daemon[]> {
    const daemons: Daemon[] = [];
    for (let i = 1; i <= n; i++) daemons.push(await this.start(`m${i}`, options(i)));
    await this.drive(
      daemons[0].initialize({ bootstrap: true, name: "m1", address: memberAddress(1) }),
    );
    for (let i = 2; i <= n; i++) {
      const token = await this.drive(daemons[0].createToken(`m${i}`, 0));
      await this.drive(
        daemons[i - 1].initialize({
          bootstrap: false,
          name: `m${i}`,
          address: memberAddress(i),
          join_token: token,
        }),
      );
    }
    return daemons;
  }

  /** Stops every member and removes the state directories. */
  async stop(): Promise<void> {
    await this.drive(Promise.all([...this.daemons.values()].map((d) => d.stop())));
    for (const dir of this.#dirs) rmSync(dir, { recursive: true, force: true });
  }
}
