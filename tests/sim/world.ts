/**
 * The world of a whole-member simulation: N whole members (`startDaemon`: state machine, gate,
 * roles, tokens, routes, a libSQL store in a file of its own state directory) on the gossip
 * engine's in-memory transport, {@link MemoryPeers} for requests between members, and one
 * simulated clock. The operator (`operator.ts`) starts, stops, kills, joins and removes members
 * and cuts the network; the invariants (`invariants.ts`) read the members' phases and views.
 *
 * A member's process is an {@link Incarnation}: its timers run through a clock of its own, its
 * listener and gossip endpoint are registered with the world, and `kill` (kill -9) drops all of
 * that at once: no timer of it fires again, no answer reaches it, nothing reaches it, and its
 * store connection is closed; its state directory and database file stay, as on a disk.
 *
 * Determinism: members' file operations are synchronous (`determinism.ts`), and the clock moves
 * only when nothing real is in flight (no key generation pending, no file-system request of
 * anything else, every promise settled), so a seed replays the same run, under Node and Deno
 * alike. Key pairs come from `keys.json` (made once) in the order a world asks for them, which
 * also makes a member cheap; past those, a world makes its own ({@link World.issuer}).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { createGossip } from "../../gossip/engine.ts";
import { MemoryNetwork } from "../../gossip/memory_transport.ts";
import { createRandom } from "../../gossip/random.ts";
import type { Random } from "../../lib/cluster/random.ts";
import { SimClock } from "../../gossip/sim_clock.ts";
import type { Clock, TimerHandle } from "../../lib/cluster/clock.ts";
import { rosterTrust } from "../../lib/cluster/roster_trust.ts";
import { type Daemon, startDaemon } from "../../lib/daemon/daemon.ts";
import type { DaemonEnvironment, ListenOptions } from "../../lib/daemon/environment.ts";
import type { GossipFactory } from "../../lib/daemon/gossip_port.ts";
import type { Member } from "../../lib/daemon/member.ts";
import { MemoryPeers } from "../../lib/daemon/memory_peers.ts";
import type { PeerAnswer, PeerRequest, PeerTransport } from "../../lib/daemon/peers.ts";
import type { Phase } from "../../lib/daemon/phase.ts";
import { UnavailableError } from "../../lib/errors.ts";
import type { Fields, Logger } from "../../lib/log.ts";
import type { CertificateIssuer } from "../../lib/net/cert_issuer.ts";
import {
  type CertificateSpec,
  fingerprint,
  generateCertificate,
  type KeyPair,
} from "../../lib/net/certificates.ts";
import { createRouter } from "../../routes/router.ts";
import { gossipHandle } from "../helpers/memory_member.ts";
import { type Build, migrationsOf } from "./builds.ts";
import {
  deliverWrite,
  earliestWriteEnded,
  installDeterminism,
  seedRandomBytes,
  writesInFlight,
} from "./determinism.ts";

installDeterminism();

/** A {@link SimClock} that also tells when its next timer is due. */
class TrackedClock extends SimClock {
  readonly #times: number[] = [];

  override schedule<A>(ms: number, fn: (arg: A) => void, arg: A): TimerHandle {
    const h = super.schedule(ms, fn, arg);
    heapPush(this.#times, this.now() + (ms > 0 ? ms : 0));
    return h;
  }

  /** When the next timer is due (a cancelled one may still count), or Infinity. */
  nextAt(): number {
    while (this.#times.length && this.#times[0] < this.now()) heapPop(this.#times);
    return this.#times.length ? this.#times[0] : Infinity;
  }
}

function heapPush(h: number[], v: number): void {
  h.push(v);
  let i = h.length - 1;
  while (i > 0) {
    const p = (i - 1) >> 1;
    if (h[p] <= v) break;
    h[i] = h[p];
    i = p;
  }
  h[i] = v;
}

function heapPop(h: number[]): void {
  const last = h.pop()!;
  if (!h.length) return;
  let i = 0;
  for (;;) {
    const l = 2 * i + 1;
    if (l >= h.length) break;
    const c = l + 1 < h.length && h[l + 1] < h[l] ? l + 1 : l;
    if (h[c] >= last) break;
    h[i] = h[c];
    i = c;
  }
  h[i] = last;
}

/**
 * Key pairs by spec and the order they are asked for in a world: the first dozen of each of
 * m1..m5, made once with `generateCertificate`, so that a replay in another process gets the
 * same certificates. Read only: a world makes any more itself ({@link World.issuer}).
 */
const STORED_PAIRS: ReadonlyMap<string, KeyPair> = new Map(
  Object.entries(
    JSON.parse(readFileSync(new URL("./keys.json", import.meta.url), "utf8")) as Record<
      string,
      KeyPair
    >,
  ),
);

/** A server object that never listens (the gossip factory's contract; unused in memory). */
let idleServer: Server | undefined;

/** One process of a member, from its start to its stop or kill. */
export class Incarnation {
  dead = false;
  daemon?: Daemon;
  /** The build it was started with. */
  readonly build: Build;
  /** Simulated time it was started at. */
  readonly startedAt: number;
  readonly clock: Clock;
  readonly #stops: (() => void)[] = [];
  readonly #deaths: (() => void)[] = [];

  constructor(world: World, build: Build) {
    this.build = build;
    this.startedAt = world.clock.now();
    this.clock = {
      now: () => world.clock.now(),
      setTimeout: (fn, ms) => world.clock.setTimeout(() => void (!this.dead && fn()), ms),
      clearTimeout: (h) => world.clock.clearTimeout(h),
    };
  }

  /** Registers what a kill undoes (a listener, an endpoint). */
  onKill(stop: () => void): void {
    this.#stops.push(stop);
  }

  /** Registers what learns of the death (a request in flight to it). */
  onDeath(fn: () => void): void {
    if (this.dead) fn();
    else this.#deaths.push(fn);
  }

  /** kill -9: see the module docs. */
  kill(): void {
    if (this.dead) return;
    this.dead = true;
    for (const stop of this.#stops) stop();
    const member = (this.daemon as unknown as { member?: Member } | undefined)?.member;
    try {
      member?.store?.close();
    } catch { /* closed already */ }
    for (const fn of this.#deaths) fn();
  }
}

/** A phase change as the world saw it. */
export interface PhaseEvent {
  at: number;
  name: string;
  from: Phase;
  to: Phase;
  reason: string;
  inc: Incarnation;
}

/** One member: its name, address and state directory, and its current process. */
export class SimMember {
  readonly name: string;
  readonly address: string;
  readonly dir: string;
  inc?: Incarnation;
  /** The phase of its current process, or `down`. */
  phase: Phase | "down" = "down";

  constructor(name: string, address: string, dir: string) {
    this.name = name;
    this.address = address;
    this.dir = dir;
  }

  /** Its daemon, when it runs and has started. */
  get daemon(): Daemon | undefined {
    return this.inc && !this.inc.dead ? this.inc.daemon : undefined;
  }

  /** Its member object (state machine, network), when it runs and has started. */
  get member(): Member | undefined {
    return (this.daemon as unknown as { member?: Member } | undefined)?.member;
  }
}

/** Options of a {@link World}. */
export interface WorldOptions {
  seed: number;
  members: number;
  /** Keep every member's log lines (for a replay). @default false */
  logs?: boolean;
}

/** The world; see the module docs. */
export class World {
  readonly clock = new TrackedClock(Date.UTC(2026, 0, 1));
  readonly net: MemoryNetwork;
  readonly peers = new MemoryPeers();
  readonly members: SimMember[] = [];
  readonly root: string;
  /** Phase changes, in order. */
  readonly events: PhaseEvent[] = [];
  /** Log lines of every member (with `logs`). */
  readonly logs: string[] = [];
  /** Reasons members gave for refusing a replicated record, with who refused it. */
  readonly refusals: { member: string; key: string; reason: string }[] = [];
  /** Faults no background path may cause: a timer or a promise nobody handles that threw. */
  readonly faults: string[] = [];
  readonly #random: Random;
  readonly #keepLogs: boolean;
  #groups: string[][] | undefined;
  #loss = 0;
  /** Real work the clock must wait for (key generation). */
  #pending = 0;
  readonly #issued = new Map<string, number>();
  onPhase: (e: PhaseEvent) => void = () => {};

  constructor(options: WorldOptions) {
    this.#random = createRandom(options.seed * 7919 + 17);
    seedRandomBytes(options.seed);
    this.#keepLogs = options.logs ?? false;
    this.net = new MemoryNetwork({ clock: this.clock, random: createRandom(options.seed) });
    this.clock.onError = (err) => void this.faults.push(`a timer threw: ${describe(err)}`);
    const shm = "/dev/shm";
    let base = tmpdir();
    try {
      mkdirSync(shm, { recursive: true });
      base = shm;
    } catch { /* no tmpfs: the system's temporary directory */ }
    this.root = mkdtempSync(join(base, "cohort-sim-"));
    for (let i = 1; i <= options.members; i++) {
      const dir = join(this.root, `m${i}`);
      this.members.push(new SimMember(`m${i}`, `10.0.0.${i}:7443`, dir));
    }
  }

  /** The member named `name`. */
  member(name: string): SimMember {
    const m = this.members.find((x) => x.name === name);
    if (!m) throw new Error(`no member ${name}`);
    return m;
  }

  /** Whether no partition cuts the network (loss may still drop frames). */
  get whole(): boolean {
    return this.#groups === undefined;
  }

  get loss(): number {
    return this.#loss;
  }

  /** Whether `a` and `b` (addresses) can reach each other. */
  connected(a: string, b: string): boolean {
    if (!this.#groups) return true;
    const ga = this.#groups.findIndex((g) => g.includes(a));
    const gb = this.#groups.findIndex((g) => g.includes(b));
    return ga === gb;
  }

  /** Cuts the network into `groups` of member names. */
  partition(groups: string[][]): void {
    this.#groups = groups.map((g) => g.map((n) => this.member(n).address));
    this.net.partition(...this.#groups);
  }

  heal(): void {
    this.#groups = undefined;
    this.net.heal();
  }

  setLoss(loss: number): void {
    this.#loss = loss;
    this.net.setLoss(loss);
  }

  /**
   * Key pairs, in the order asked for each spec: those of `keys.json` ({@link STORED_PAIRS}),
   * then pairs made for this world alone (a member past m5, or past its 12th identity). Those
   * differ from one run to the next (their fingerprints show in the logs), the same in a batch
   * of seeds as alone: kept for the next world, they made a seed's run depend on the seeds run
   * before it in the process.
   */
  readonly issuer: CertificateIssuer = {
    issue: (spec: CertificateSpec) => {
      const base = JSON.stringify(spec);
      const n = this.#issued.get(base) ?? 0;
      this.#issued.set(base, n + 1);
      const stored = STORED_PAIRS.get(`${base}#${n}`);
      if (stored) return Promise.resolve(stored);
      this.#pending++;
      return generateCertificate(spec).finally(() => this.#pending--);
    },
    close() {},
  };

  /**
   * Starts a process of `m` with `build`; resolves with its daemon, or rejects as `startDaemon`
   * does. A killed start never settles.
   */
  start(m: SimMember, build: Build): { inc: Incarnation; started: Promise<Daemon> } {
    if (m.inc && !m.inc.dead) throw new Error(`${m.name} runs already`);
    const inc = new Incarnation(this, build);
    m.inc = inc;
    m.phase = "uninitialized";
    const logger = this.#logger(m, inc);
    const started = startDaemon(
      {
        stateDir: m.dir,
        extensions: build.extensions,
        appMigrations: migrationsOf(build),
        gossipPreset: "local",
        certificateIssuer: this.issuer,
        handler: (service) => createRouter(service),
        gossip: this.#gossip(inc),
        logger,
      },
      this.#environment(m, inc),
    ).then((daemon) => {
      inc.daemon = daemon;
      const machine = (daemon as unknown as { member: Member }).member.machine;
      if (!inc.dead && m.inc === inc) m.phase = machine.phase;
      return daemon;
    });
    started.then((d) => {
      // A stop that ends the process on its own (an app hook failing, a failed open) is a stop.
      void d.closed.then(() => {
        if (m.inc === inc && !inc.dead) this.#down(m);
      });
    }, () => {
      if (m.inc === inc && !inc.dead) this.#down(m);
    });
    return { inc, started };
  }

  /** Graceful stop of `m`'s process (its daemon's `stop`). */
  async stop(m: SimMember): Promise<void> {
    const inc = m.inc;
    if (!inc || inc.dead) return;
    if (inc.daemon) await inc.daemon.stop();
    else inc.kill(); // still starting: nothing to stop gracefully yet
    if (m.inc === inc) this.#down(m);
  }

  /** kill -9 of `m`'s process. */
  kill(m: SimMember): void {
    m.inc?.kill();
    this.#down(m);
  }

  #down(m: SimMember): void {
    m.phase = "down";
    m.inc = undefined;
  }

  /**
   * Lets every promise and real I/O settle, without moving the clock: turns of the event loop
   * until nothing real is in flight, then the store writes' outcomes one at a time (see
   * `determinism.ts`). A member's file operations are synchronous here, so nothing else runs in
   * a thread pool unseen, and the world waits for real only while a store write runs: for that
   * write's end, not for a timer (a 1 ms timer per wait came to a third of a run's wall time, more
   * on a busy machine, where a timer fires late).
   */
  async settle(): Promise<void> {
    let quiet = 0;
    for (let i = 0; i < 1_000_000; i++) {
      await new Promise<void>((r) => setImmediate(r));
      if (this.#pending > 0 || fsBusy()) quiet = 0;
      else if (++quiet < QUIET_TURNS) continue;
      else if (writesInFlight() === 0) return;
      else if (deliverWrite()) quiet = 0; // its caller goes on: settle again
      // The earliest store write still runs on its thread: wait for its end, without spinning.
      else await earliestWriteEnded();
    }
    throw new Error("real I/O never settled");
  }

  /**
   * Runs `ms` of simulated time: settle, then fire the timers of the next `quantumMs`, and again.
   * `every(now)` is called after each quantum (the invariants' hook).
   */
  async run(ms: number, every?: () => void, quantumMs = 5): Promise<void> {
    const until = this.clock.now() + ms;
    while (this.clock.now() < until) {
      await this.settle();
      const next = Math.min(this.clock.nextAt(), until);
      this.clock.runUntil(Math.min(until, Math.max(next, this.clock.now() + quantumMs)));
      every?.();
    }
    await this.settle();
    every?.();
  }

  /** Runs until `p` settles (or `maxMs` passed); returns whether it did. */
  async until(p: Promise<unknown>, maxMs: number, every?: () => void): Promise<boolean> {
    let done = false;
    p.then(() => (done = true), () => (done = true));
    const end = this.clock.now() + maxMs;
    while (!done && this.clock.now() < end) await this.run(100, every, 20);
    return done;
  }

  /** Removes the world's directories (every process is stopped or killed first). */
  async close(): Promise<void> {
    for (const m of this.members) m.inc?.kill();
    await this.settle();
    rmSync(this.root, { recursive: true, force: true });
  }

  #logger(m: SimMember, inc: Incarnation): Logger {
    const make = (bindings: Fields): Logger => {
      const log = (level: string, msg: string, fields?: Fields) => {
        if (inc.dead) return;
        if (msg === "Phase changed" && fields) {
          const e: PhaseEvent = {
            at: this.clock.now(),
            name: m.name,
            from: fields.from as Phase,
            to: fields.to as Phase,
            reason: String(fields.reason),
            inc,
          };
          if (m.inc === inc) m.phase = e.to;
          this.events.push(e);
          this.onPhase(e);
        }
        if (msg === "Refusing a replicated record" && fields) {
          this.refusals.push({
            member: m.name,
            key: String(fields.key),
            reason: String(fields.reason),
          });
        }
        if (this.#keepLogs) {
          let text: string;
          try {
            text = JSON.stringify(
              { ...bindings, ...fields },
              (_k, v) => v instanceof Error ? v.message : v,
            );
          } catch {
            text = "";
          }
          this.logs.push(
            `${this.clock.now() - Date.UTC(2026, 0, 1)} ${m.name} ${level} ${msg} ${text}`,
          );
        }
      };
      return {
        level: this.#keepLogs ? 20 : 30,
        debug: (msg, f) => log("debug", msg, f),
        info: (msg, f) => log("info", msg, f),
        warn: (msg, f) => log("warn", msg, f),
        error: (msg, f) => log("error", msg, f),
        child: (b) => make({ ...bindings, ...b }),
      };
    };
    return make({});
  }

  #gossip(inc: Incarnation): GossipFactory {
    return (setup) => {
      // Frames come authenticated by the sender's certificate, as over mutual TLS.
      const transport = this.net.endpoint(setup.address, fingerprint(setup.cert));
      if (this.#groups) this.net.partition(...this.#groups);
      inc.onKill(() => this.net.crash(setup.address));
      const engine = createGossip(
        {
          clock: inc.clock,
          random: createRandom(Math.floor(this.#random.next() * 2 ** 31)),
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
  }

  #environment(m: SimMember, inc: Incarnation): DaemonEnvironment {
    const random = createRandom(Math.floor(this.#random.next() * 2 ** 31));
    return {
      clock: inc.clock,
      random: () => random.next(),
      peers: this.#peersOf(m, inc),
      controlSocket: false,
      issuer: () => this.issuer,
      listen: (o: ListenOptions) => {
        const stop = this.peers.listen(o.address, o.cert, o.handler);
        inc.onKill(stop);
        idleServer ??= createServer();
        return Promise.resolve({ server: idleServer, close: () => Promise.resolve(stop()) });
      },
    };
  }

  /**
   * Requests from `m`'s process: nothing leaves or arrives once it is dead; across a partition a
   * request times out (on the simulated clock); a target killed while it answers resets it.
   */
  #peersOf(m: SimMember, inc: Incarnation): PeerTransport {
    return {
      request: (r: PeerRequest): Promise<PeerAnswer> =>
        new Promise((resolve, reject) => {
          if (inc.dead) return;
          if (!this.connected(m.address, r.address)) {
            inc.clock.setTimeout(
              () => reject(new UnavailableError(`Cannot reach ${r.address}: timed out`)),
              Math.min(r.timeoutMs, 5000),
            );
            return;
          }
          const target = this.members.find((x) => x.address === r.address)?.inc;
          target?.onDeath(() => {
            if (!inc.dead) reject(new UnavailableError(`${r.address} reset the connection`));
          });
          this.peers.request(r).then(
            (answer) => {
              if (!inc.dead) resolve(answer);
            },
            (err) => {
              if (!inc.dead) reject(err);
            },
          );
        }),
    };
  }
}

/**
 * Turns of the event loop with nothing real in flight that make the world settled. Under Deno a
 * file operation's result reaches its caller a few turns after the operation left the list of
 * active resources, and its next operation starts only then.
 */
const IS_DENO = "Deno" in globalThis;
const QUIET_TURNS = IS_DENO ? 8 : 2;

function fsBusy(): boolean {
  for (const r of process.getActiveResourcesInfo()) if (r.startsWith("FS")) return true;
  return false;
}

/** An error's name and message. */
export function describe(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
