/**
 * Upgrade gating at run time: decides at start whether a restarted member opens, waits or is
 * refused (lib/cluster/gating.ts), and while it waits re-decides on every view change, so the
 * moment the last member restarts upgraded every waiting member opens. There is no poll
 * interval and no notification to lose; `PATCH /core/internal/database` is only a nudge.
 *
 * The gate compares the versions this member's code would run with the versions every other
 * member is counted with: the ones it last ran with (opened or waited with), never the ones of a
 * refused attempt, which are never announced (see `flows/open.ts`).
 *
 * @module
 */
import { type Clock, wallTime } from "../cluster/clock.ts";
import { evaluateGate, type GateDecision, type GateMember } from "../cluster/gating.ts";
import type { MemberVersion } from "../cluster/compat.ts";
import type { Logger } from "../log.ts";
import type { Background, Cancel } from "./background.ts";
import type { ClusterView } from "./view.ts";

/** How a member behaves while others run older versions. */
export type UpgradePolicy = "strict" | "mixed";

/** Options of {@link UpgradeGate}. */
export interface UpgradeGateOptions {
  /** The versions this member's code runs. */
  code: MemberVersion;
  view: ClusterView;
  clock: Clock;
  background: Background;
  logger: Logger;
  /** Down members stop counting after this long, in ms; 0 = never. @default 0 */
  deadGraceMs?: number;
  /**
   * `strict` (MicroCluster's behaviour, the default) waits while members are behind; `mixed`
   * serves at once and leaves the app to use the cluster's common extensions.
   */
  policy?: UpgradePolicy;
  /** Called once when a waiting member may open, with how long it waited in ms. */
  onOpen(waitedMs: number, decision: GateDecision): void;
  /**
   * Called while the member waits, when members it waited for caught up and at most
   * {@link ASK_BEHIND_MAX} are left behind, with the names of those not asked within
   * {@link ASK_BEHIND_AGAIN_MS}: the caller asks them for their state directly (a digest exchange,
   * their full state when it differs).
   */
  askBehind?(names: string[]): void;
}

/**
 * Most members still behind for which a waiting member asks them directly once others caught
 * up. What a member holds of another's versions comes by gossip, and an upgrade's few copies can
 * all miss a member (the others restarting meanwhile, or plain chance): it then waited for a
 * member that had upgraded until its next periodic push-pull (8 s late in one round of 14 of
 * `scripts/bench/upgrade_ready.ts` at N=10). When the others caught up the wait is nearly over,
 * and the few left are asked; more are likelier really behind, and asking each of them would cost
 * every waiting member a full exchange with each.
 */
const ASK_BEHIND_MAX = 2;
/** A member still behind is asked again after this long at the soonest, ms. */
const ASK_BEHIND_AGAIN_MS = 2500;

/** The gate of one member; see the module docs. */
export class UpgradeGate {
  readonly #o: UpgradeGateOptions;
  #decision?: GateDecision;
  /** When the wait began, on `clock.now()` (the time waited is a duration); 0: never. */
  #waitingSince = 0;
  #watching = false;
  #opened = false;
  #cancelGrace?: Cancel;
  readonly #loggedExcluded = new Set<string>();
  /** Members behind at the last decision (Infinity before the first wait). */
  #behindBefore = Infinity;
  /** When each member still behind was last asked for its state (clock ms). */
  readonly #askedAt = new Map<string, number>();

  constructor(options: UpgradeGateOptions) {
    this.#o = options;
  }

  /** The latest decision. */
  get decision(): GateDecision | undefined {
    return this.#decision;
  }

  /** Since when (ms since the epoch) the member waits; 0 when it does not. */
  get waitingSince(): number {
    return this.#opened ? 0 : wallTime(this.#o.clock, this.#waitingSince);
  }

  /** The other members as the gate sees them, by name. */
  members(): GateMember[] {
    const view = this.#o.view;
    const out: GateMember[] = [];
    // By name, so messages and 503s list the same members in the same order on every member.
    for (const name of [...view.roster().keys()].sort()) {
      if (name === view.name) continue;
      out.push({ name, version: view.versionOf(name), ...view.liveness(name) });
    }
    return out;
  }

  /** Decides now; logs each member newly excluded after the grace period. */
  evaluate(): GateDecision {
    // On the monotonic clock, as the view's down-since times (`ClusterView.liveness`): a step of
    // the wall clock forwards excluded a member down for seconds.
    const now = this.#o.clock.now();
    const members = this.members();
    const grace = this.#o.deadGraceMs ?? 0;
    this.#decision = evaluateGate(this.#o.code, members, { now, deadGraceMs: grace });
    for (const name of this.#decision.excluded) {
      if (this.#loggedExcluded.has(name)) continue;
      this.#loggedExcluded.add(name);
      this.#o.logger.warn(
        "Member excluded from upgrade gating: down for longer than the grace period",
        { member: name, grace_ms: grace },
      );
    }
    if (grace > 0) this.#armGraceTimer(members, now, grace);
    return this.#decision;
  }

  /**
   * A grace period running out changes the decision without any view change, so while the
   * member waits, a timer re-decides when the next down member's grace expires.
   */
  #armGraceTimer(members: GateMember[], now: number, grace: number): void {
    this.#cancelGrace?.();
    this.#cancelGrace = undefined;
    if (!this.#watching || this.#opened || this.#decision?.decision !== "wait") return;
    let next = Infinity;
    for (const m of members) {
      if (!m.version || m.up || m.downSince === undefined) continue;
      const expiry = m.downSince + grace;
      if (expiry >= now) next = Math.min(next, expiry);
    }
    if (next === Infinity) return;
    // evaluateGate excludes a member once strictly more than the grace has passed.
    this.#cancelGrace = this.#o.background.after(
      "Upgrade grace check",
      next - now + 1,
      () => this.recheck(),
    );
  }

  /**
   * The start-up decision. `open` (or `wait` under the mixed policy: `serve` is then true)
   * means serve now; `wait` means the gate re-decides on every {@link recheck} and calls
   * `onOpen` once everyone caught up; `refuse` is for the caller to fail the start with.
   */
  begin(): GateDecision & { serve: boolean } {
    const d = this.evaluate();
    if (d.decision === "refuse") return { ...d, serve: false };
    if (d.decision === "open" || this.#o.policy === "mixed") {
      this.#opened = true;
      if (d.decision === "wait") {
        this.#o.logger.warn("Serving with members behind (mixed upgrade policy)", {
          behind: d.behind.map((b) => b.name),
        });
      }
      return { ...d, serve: true };
    }
    this.#waitingSince = this.#o.clock.now();
    this.#watching = true;
    this.#behindBefore = d.behind.length;
    this.#o.logger.warn("Waiting for other cluster members to upgrade", {
      behind: d.behind.map((b) => b.name),
      message: d.message,
    });
    this.evaluate(); // arms the grace timer now that the gate watches
    return { ...d, serve: false };
  }

  /** Re-decides (on a view change, a grace expiry or a nudge); opens when everyone caught up. */
  recheck(): void {
    if (!this.#watching || this.#opened) return;
    const d = this.evaluate();
    if (d.decision === "refuse") {
      this.#o.logger.error("Cannot open: " + d.message);
      return;
    }
    if (d.decision !== "open") {
      this.#askBehind(d);
      return;
    }
    this.#opened = true;
    this.stop();
    const waited = this.#o.clock.now() - this.#waitingSince;
    this.#o.logger.info("Every member upgraded: opening", {
      waited_ms: waited,
      ...(d.excluded.length ? { excluded: d.excluded } : {}),
    });
    this.#o.onOpen(waited, d);
  }

  /** Asks the few members still behind directly, once others caught up; see {@link ASK_BEHIND_MAX}. */
  #askBehind(d: GateDecision): void {
    const behind = d.behind.map((b) => b.name);
    const caughtUp = behind.length < this.#behindBefore;
    this.#behindBefore = behind.length;
    if (!caughtUp || behind.length === 0 || behind.length > ASK_BEHIND_MAX) return;
    if (!this.#o.askBehind) return;
    const now = this.#o.clock.now();
    const names = behind.filter((n) =>
      !(now - (this.#askedAt.get(n) ?? -Infinity) < ASK_BEHIND_AGAIN_MS)
    );
    if (names.length === 0) return;
    for (const n of names) this.#askedAt.set(n, now);
    this.#o.askBehind(names);
  }

  /** Names of the members this member waits for. */
  waitingFor(): string[] {
    if (this.#opened || !this.#decision) return [];
    return this.#decision.behind.map((b) => b.name);
  }

  /** Stops watching. */
  stop(): void {
    this.#watching = false;
    this.#cancelGrace?.();
    this.#cancelGrace = undefined;
  }
}
