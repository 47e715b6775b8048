/**
 * What must hold in a whole-member simulation, checked after every step of the operator and
 * every {@link CHECK_EVERY_MS} of simulated time between. The {@link Oracle} keeps what the
 * operator knows for sure (who joined, who was removed, which versions each member ran) and
 * reads every running member's phase and view.
 *
 * The invariants and their bounds (simulated time; "whole" = no partition):
 * 1. Strict gate: no member opens (moves to online) while another member of the cluster (not
 *    one removed, unaware of it yet) runs (waits or serves) other versions that it could have
 *    known: run for longer than {@link KNOW_BOUND_MS} with the network whole. (Members already serving when another starts waiting with newer versions keep
 *    serving, as in MicroCluster.)
 * 2. Liveness: once every member of the cluster runs the same build, the network is whole with no
 *    loss and no operator action is under way, every member is online within
 *    {@link LIVE_BOUND_MS}.
 * 3. A refused attempt changes nobody's verdict: every member counts every other (past its join)
 *    with versions that member actually ran, never with those of a refused start; and a refused
 *    start applied none of its app migrations.
 * 4. A removed member never serves after it could have learnt its removal: once it has run for
 *    {@link REMOVE_BOUND_MS} while a running member that holds its tombstone could reach it, or
 *    when it restarted while such a member, listed in its store, could tell it, it is never
 *    waiting or online.
 * 5. Views converge: after {@link CONVERGE_BOUND_MS} of whole network with no loss and no
 *    action under way, every running member lists the same members (every member the operator
 *    knows joined, none it knows was removed: nobody half-joined), counts each with the same
 *    versions, and sees every running member up.
 * 6. No background path fails the process: no timer callback throws, no promise rejects unhandled.
 * 7. A start is refused only on what its member could know: each member its refusal names would
 *    have refused it with the versions it last ran, unless no member whose gossip held them (or
 *    the member itself) ran, reachable, from the start of that attempt on a network whole and
 *    without loss. A member that hears nobody decides on its store's memory, which may be stale
 *    (the operator starts it again once the others run); so may the others' stores be, and
 *    what a store remembers is not handed on (only what gossip holds).
 */
import { MEMBER_RECORD } from "../../lib/cluster/roster.ts";
import type { Phase } from "../../lib/daemon/phase.ts";
import { type Build, labelOf } from "./builds.ts";
import type { Incarnation, PhaseEvent, SimMember, World } from "./world.ts";

/** Whether `b` is `top` or a build before it on its line (its extensions and migrations a prefix). */
function onLineBelow(b: Build, top: Build): boolean {
  return b.app <= top.app && b.extensions.length <= top.extensions.length &&
    b.extensions.every((ext, i) => top.extensions[i] === ext);
}

/** How long a member's versions take to be known by every member on a whole network, ms. */
export const KNOW_BOUND_MS = 5_000;
/**
 * How long views take to converge on a whole network, ms: one push-pull interval of the local
 * preset (15 s, the longest a member held dead waits to hear it is), plus its reconnect tick (5 s).
 */
export const CONVERGE_BOUND_MS = 20_000;
/** How long every member takes to open once versions agree and the network is whole, ms. */
export const LIVE_BOUND_MS = CONVERGE_BOUND_MS;
/** How long a removed member may serve on a whole network after its removal, ms. */
export const REMOVE_BOUND_MS = CONVERGE_BOUND_MS;
/** How often the invariants are checked between steps, ms of simulated time. */
export const CHECK_EVERY_MS = 100;

/**
 * Known limitations of cohort the simulation meets: what a leaderless cluster cannot do
 * (MicroCluster needs a quorum of its database for these, and refuses the step instead). A seed
 * that meets only these is reported as meeting a known open bug, not as a failure.
 */
export const LIMITS = Object.freeze({
  lost: "a removal known only to members removed since is lost: the others keep listing the member",
  orphan:
    "a member removed while down whose every known member left the cluster since runs on alone, " +
    "unaware of its removal",
});

/** Whether `y`'s network holds `m`'s removal (its roster tombstone). */
function isRemoved(
  net: { gossip: { record(k: string, n: string): { value: unknown } | undefined } },
  m: SimMember,
): boolean {
  return net.gossip.record(MEMBER_RECORD, m.name)?.value === null;
}

/** What the operator knows of one member. */
export interface Fate {
  /** Joined (or bootstrapped) and not removed, as far as the operator knows for sure. */
  inCluster: boolean;
  /** A change of its membership was cut short (a kill, a failed remove): it may be either. */
  doubt: boolean;
  /** Labels of the builds it ran (waited or served with, or joined with). */
  ran: Set<string>;
  /** Labels of the builds it served with (its app migrations applied). */
  opened: Set<string>;
  /** The build it last ran. */
  lastRan?: Build;
  /** When it began to run {@link lastRan}. */
  lastRanAt?: number;
  /** When a remove of it succeeded (until it learnt it). */
  removedAt?: number;
  /** Whole-network time it ran since then. */
  exposure: number;
}

const RUNNING: readonly (Phase | "down")[] = ["waiting", "online"];

/** See the module docs. */
export class Oracle {
  readonly world: World;
  readonly fates = new Map<string, Fate>();
  readonly violations: string[] = [];
  /** Since when the network is whole (undefined while it is cut). */
  wholeSince: number | undefined;
  /** Since when the network is whole with no loss and no action under way. */
  quietSince: number | undefined;
  /** Since when the network is whole with no loss (actions may be under way). */
  cleanSince: number | undefined;
  /** Operator actions under way. */
  busy = 0;
  #lastCheck = 0;
  #liveSince: number | undefined;
  /** When each incarnation began to run (waiting or online). */
  readonly #ranSince = new WeakMap<Incarnation, number>();
  /** Who could tell a removed member's incarnation of its removal when it started. */
  readonly #toldAtStart = new WeakMap<Incarnation, string[]>();
  /**
   * Known limitations met (see {@link LIMITS}), with what showed each (first time only):
   * reported apart from the violations, which they are not.
   */
  readonly known = new Map<string, string>();
  /** Members seen holding each member's removal (its tombstone), since its last join. */
  readonly #witnesses = new Map<string, Set<string>>();

  constructor(world: World) {
    this.world = world;
    this.wholeSince = world.clock.now();
    this.quietSince = world.clock.now();
    this.cleanSince = world.clock.now();
    for (const m of world.members) {
      this.fates.set(m.name, {
        inCluster: false,
        doubt: false,
        ran: new Set(),
        opened: new Set(),
        exposure: 0,
      });
    }
    world.onPhase = (e) => this.#onPhase(e);
  }

  fate(name: string): Fate {
    return this.fates.get(name)!;
  }

  violate(what: string): void {
    this.violations.push(`t=${this.world.clock.now() - Date.UTC(2026, 0, 1)}ms ${what}`);
  }

  /** `by` removed `name` (it holds the tombstone). */
  noteRemoved(name: string, by: string): void {
    const w = this.#witnesses.get(name) ?? new Set();
    w.add(by);
    this.#witnesses.set(name, w);
  }

  /**
   * Whether `name`'s removal was lost: every member seen holding it has left the cluster since
   * (removed in turn before it spread), so no member holds it any more.
   */
  #removalLost(name: string): boolean {
    const w = this.#witnesses.get(name);
    if (!w?.size) return false;
    return [...w].every((y) => {
      const f = this.fate(y);
      return !f.inCluster && !f.doubt;
    });
  }

  /**
   * Whether removed member `m`, running, is orphaned: no member its roster lists (but itself) is
   * in the cluster any more, so nothing can lead it to the members that know of its removal.
   */
  #orphaned(m: SimMember): boolean {
    const roster = m.member?.network?.view.roster();
    if (!roster || this.fate(m.name).removedAt === undefined) return false;
    return [...roster.keys()].every((n) => n === m.name || !this.fates.get(n)?.inCluster);
  }

  /** The network or the operator changed: quiet (and whole) periods start again. */
  noteWorld(): void {
    const now = this.world.clock.now();
    if (!this.world.whole) this.wholeSince = undefined;
    else this.wholeSince ??= now;
    const quiet = this.world.whole && this.world.loss === 0 && this.busy === 0;
    this.quietSince = quiet ? now : undefined;
    if (!this.world.whole || this.world.loss > 0) this.cleanSince = undefined;
    else this.cleanSince ??= now;
  }

  /** Whether the network has been whole for longer than `ms`. */
  wholeFor(ms: number): boolean {
    return this.wholeSince !== undefined && this.world.clock.now() - this.wholeSince > ms;
  }

  #onPhase(e: PhaseEvent): void {
    const f = this.fate(e.name);
    const now = e.at;
    // A joiner announces the versions it joins with from its admission on.
    if (e.to === "joining") f.ran.add(e.inc.build.label);
    if (e.to === "waiting" || e.to === "online") {
      if (!this.#ranSince.has(e.inc)) this.#ranSince.set(e.inc, now);
      f.ran.add(e.inc.build.label);
      if (f.lastRan !== e.inc.build || f.lastRanAt === undefined) f.lastRanAt = now;
      f.lastRan = e.inc.build;
      if (e.to === "online") f.opened.add(e.inc.build.label);
      if (e.from === "joining") {
        f.inCluster = true;
        f.doubt = false;
        this.#witnesses.delete(e.name);
      }
      // 4: a removed member that restarted while members that know it can tell it asks first.
      const told = this.#toldAtStart.get(e.inc);
      if (f.removedAt !== undefined && told?.length) {
        this.violate(
          `${e.name} was removed, restarted while ${
            told.join(",")
          } (knowing it) could tell it, and ${
            e.to === "online" ? "opened" : "waits"
          } (${e.reason})`,
        );
      }
    }
    if (e.to === "online") this.#checkOpen(e);
    if (e.to === "refused") this.#checkRefused(e);
    if (e.to === "removed") {
      f.inCluster = false;
      f.doubt = false;
      f.removedAt = undefined;
      f.exposure = 0;
    }
    if (e.to === "uninitialized") {
      f.inCluster = false;
      f.doubt = false;
    }
  }

  /** 1: see the module docs. */
  #checkOpen(e: PhaseEvent): void {
    const now = e.at;
    for (const y of this.world.members) {
      if (y.name === e.name || !y.inc || !RUNNING.includes(y.phase)) continue;
      if (y.inc.build.label === e.inc.build.label) continue;
      // A member removed (that has not learnt it yet) no longer counts for anyone's gate.
      const fy = this.fate(y.name);
      if (!fy.inCluster && !fy.doubt) continue;
      const since = this.#ranSince.get(y.inc);
      if (since === undefined || this.wholeSince === undefined) continue;
      if (now - Math.max(since, this.wholeSince) > KNOW_BOUND_MS) {
        this.violate(
          `${e.name} opened with ${e.inc.build.label} (${e.reason}) while ${y.name} has run ${y.inc.build.label} (${y.phase}) since ${
            since - Date.UTC(2026, 0, 1)
          }ms on a whole network`,
        );
      }
    }
  }

  /** 7: see the module docs. */
  #checkRefused(e: PhaseEvent): void {
    const start = e.inc.startedAt;
    const tried = e.inc.build;
    if (this.cleanSince === undefined || this.cleanSince > start) return;
    for (const [, x] of e.reason.matchAll(/"([^"]+)" \(/g)) {
      const fx = this.fates.get(x);
      const truth = fx?.lastRan;
      // Only a member whose versions were settled before the attempt began, and would not
      // have refused it: the same as the attempt's, or older on its line.
      if (!fx || !truth || (fx.lastRanAt ?? Infinity) > start || !onLineBelow(truth, tried)) {
        continue;
      }
      const m = this.world.member(e.name);
      const knew = this.world.members.filter((y) => {
        const net = y.member?.network;
        if (y === m || !y.inc || !net || !RUNNING.includes(y.phase)) return false;
        if (!this.world.connected(y.address, m.address)) return false;
        const since = this.#ranSince.get(y.inc);
        if (since === undefined || since > start) return false;
        // What its gossip holds, which it hands on: not its store's memory, which it keeps.
        const meta = net.gossip.member(x)?.meta;
        return meta?.extensions !== undefined && labelOf({
              schemaInternal: meta.schemaInternal,
              schemaExternal: meta.schemaExternal,
              extensions: meta.extensions,
            }) === truth.label;
      }).map((y) => y.name);
      if (knew.length) {
        this.violate(
          `${e.name}'s start with ${tried.label} was refused (${e.reason}), though ${x} last ran ${truth.label} and ${
            knew.join(",")
          }, running and reachable since before the attempt began, counted it so`,
        );
      }
    }
  }

  /**
   * The running members that know `m` was removed (hold its tombstone) and can reach it, while
   * they stay so.
   */
  knowers(m: SimMember): string[] {
    return this.world.members.filter((y) => {
      const net = y.member?.network;
      if (y === m || !net || !RUNNING.includes(y.phase)) return false;
      if (!this.world.connected(y.address, m.address)) return false;
      return isRemoved(net, m);
    }).map((y) => y.name);
  }

  /**
   * A member's process is about to start, knowing the members at `peers` (the addresses its
   * store lists): the ones it asks whether it was removed. A member that knows of its removal
   * but that its store does not list (it joined after this one went down, or this one was
   * killed before it heard of the admission) cannot tell it: nothing leads the restart to it.
   */
  noteStarting(m: SimMember, peers: readonly string[]): void {
    if (m.inc && this.fate(m.name).removedAt !== undefined) {
      this.#toldAtStart.set(
        m.inc,
        this.knowers(m).filter((y) => peers.includes(this.world.member(y).address)),
      );
    }
  }

  /** A member started: what its start found. */
  noteStarted(m: SimMember): void {
    const f = this.fate(m.name);
    if (m.phase === "uninitialized") {
      f.inCluster = false;
      f.doubt = false;
      f.removedAt = undefined;
    }
  }

  /** Called by the world after every quantum. */
  tick(): void {
    const now = this.world.clock.now();
    if (this.world.faults.length) {
      for (const fault of this.world.faults.splice(0)) this.violate(fault);
    }
    if (now - this.#lastCheck < CHECK_EVERY_MS) return;
    const dt = now - this.#lastCheck;
    this.#lastCheck = now;
    this.#checkRemoved(dt);
    this.#checkCounted();
    this.#checkLive(now);
    if (this.quietSince !== undefined && now - this.quietSince > CONVERGE_BOUND_MS) {
      this.checkConverged();
    }
  }

  /** 4: see the module docs. */
  #checkRemoved(dt: number): void {
    for (const m of this.world.members) {
      const f = this.fate(m.name);
      if (f.removedAt === undefined) continue;
      for (const y of this.world.members) {
        const net = y.member?.network;
        if (net && RUNNING.includes(y.phase) && this.fate(y.name).inCluster && isRemoved(net, m)) {
          this.noteRemoved(m.name, y.name);
        }
      }
      if (!m.inc) continue;
      // Only members it knows: nothing leads it to one its roster does not list, nor that one
      // to it (a member gossips with members only).
      const roster = m.member?.network?.view.roster();
      if (this.knowers(m).some((y) => !roster || roster.has(y))) f.exposure += dt;
      if (f.exposure > REMOVE_BOUND_MS && RUNNING.includes(m.phase)) {
        this.violate(
          `${m.name} still ${m.phase} ${f.exposure}ms of whole network after its removal`,
        );
        f.exposure = -Infinity; // once
      }
    }
  }

  /** 3: see the module docs. */
  #checkCounted(): void {
    for (const y of this.world.members) {
      const net = y.member?.network;
      if (!net || !RUNNING.includes(y.phase)) continue;
      for (const [x, entry] of net.view.roster()) {
        if (x === y.name || entry.joining) continue;
        const label = labelOf(net.view.versionOf(x));
        const fx = this.fates.get(x);
        if (label && fx && !fx.ran.has(label)) {
          this.violate(
            `${y.name} counts ${x} with ${label}, which ${x} never ran (ran: ${
              [...fx.ran].join(",")
            })`,
          );
          fx.ran.add(label); // once
        }
      }
    }
  }

  /** 2: see the module docs. */
  #checkLive(now: number): void {
    const cluster = this.world.members.filter((m) => this.fate(m.name).inCluster);
    const doubt = this.world.members.some((m) => this.fate(m.name).doubt);
    const labels = new Set(cluster.map((m) => m.inc?.build.label ?? "down"));
    const ready = this.quietSince !== undefined && !doubt && cluster.length > 0 &&
      labels.size === 1 && !labels.has("down");
    if (!ready) {
      this.#liveSince = undefined;
      return;
    }
    this.#liveSince ??= now;
    if (now - this.#liveSince <= LIVE_BOUND_MS) return;
    const closed = cluster.filter((m) => m.phase !== "online");
    if (closed.length) {
      this.violate(
        `every member runs ${[...labels][0]} on a quiet network for ${
          now - this.#liveSince
        }ms, yet ${
          closed.map((m) =>
            `${m.name} is ${m.phase}${
              m.phase === "waiting" ? ` for ${m.member?.waitingFor().join(",")}` : ""
            }`
          ).join(", ")
        }`,
      );
      this.#liveSince = now; // once per bound
    }
  }

  /** Whether everyone who should be online is (the final phase waits for it). */
  allOpen(): boolean {
    return this.world.members.every((m) => !this.fate(m.name).inCluster || m.phase === "online");
  }

  /** 5: see the module docs; returns the first disagreement, or undefined. */
  disagreement(): string | undefined {
    const running = this.world.members.filter((m) => {
      if (!RUNNING.includes(m.phase) || !m.member?.network) return false;
      if (!this.#orphaned(m)) return true;
      const roster = [...m.member.network.view.roster().keys()].join(",");
      this.#noteOnce("orphan", `${m.name} runs removed, its roster (${roster}) gone`);
      return false;
    });
    const lists = running.map((m) => {
      const view = m.member!.network!.view;
      const names = [...view.roster().keys()].sort();
      return {
        m,
        names,
        text: names.map((n) => `${n}=${labelOf(view.versionOf(n)) ?? "?"}`).join(" "),
        down: running.filter((r) => names.includes(r.name) && !view.liveness(r.name).up)
          .map((r) => r.name),
      };
    });
    for (const l of lists) {
      if (l.text !== lists[0].text) {
        return `${l.m.name} lists ${l.text} but ${lists[0].m.name} lists ${lists[0].text}`;
      }
      if (l.down.length) return `${l.m.name} sees ${l.down.join(",")} down, though running`;
    }
    if (!lists.length) return undefined;
    for (const m of this.world.members) {
      const f = this.fate(m.name);
      if (f.doubt) continue;
      const listed = lists[0].names.includes(m.name);
      if (f.inCluster && !listed) return `${m.name} joined but nobody lists it (${lists[0].text})`;
      if (
        !f.inCluster && listed &&
        (f.removedAt !== undefined || !m.inc || m.phase === "uninitialized")
      ) {
        if (!this.#removalLost(m.name)) {
          return `${m.name} is not a member but is listed (${lists[0].text})`;
        }
        this.#noteOnce("lost", `${m.name} is listed (${lists[0].text}), its removal lost`);
      }
    }
    return undefined;
  }

  /** Notes a known limitation met, once per seed (the checks that meet it run again and again). */
  #noteOnce(name: keyof typeof LIMITS, what: string): void {
    if (this.known.has(LIMITS[name])) return;
    this.known.set(LIMITS[name], `t=${this.world.clock.now() - Date.UTC(2026, 0, 1)}ms ${what}`);
  }

  checkConverged(): void {
    const d = this.disagreement();
    if (d) {
      this.violate(`views differ after ${CONVERGE_BOUND_MS}ms of quiet network: ${d}`);
      this.quietSince = this.world.clock.now(); // once per bound
    }
  }
}
