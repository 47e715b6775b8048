/**
 * Upgrade gating at run time: decides at start whether a restarted member opens, waits or
 * refuses (lib/cluster/gating.ts), and while it waits re-decides whenever the gossip view changes,
 * so the moment the last member restarts upgraded every waiting member opens. There is no poll
 * interval and no notification to lose; `PATCH /core/internal/database` is only a nudge.
 *
 * @module
 */
import { evaluateGate, type GateDecision, type GateMember } from "../cluster/gating.ts";
import type { MemberVersion } from "../cluster/compat.ts";
import type { Logger } from "../log.ts";
import type { GossipHandle } from "./gossip_port.ts";
import type { ClusterMembership } from "./membership.ts";

/** How a member behaves while others run older versions. */
export type UpgradePolicy = "strict" | "mixed";

/** Options of {@link UpgradeGate}. */
export interface UpgradeGateOptions {
  name: string;
  local: MemberVersion;
  gossip: GossipHandle;
  membership: ClusterMembership;
  logger: Logger;
  /** Down members stop counting after this long, in ms; 0 = never. @default 0 */
  deadGraceMs?: number;
  /**
   * `strict` (MicroCluster's behaviour, the default) waits while members are behind; `mixed`
   * serves at once and leaves the app to use the cluster's common extensions.
   */
  policy?: UpgradePolicy;
  /** Called once when a waiting member opens, with how long it waited in ms. */
  onOpen(waitedMs: number, decision: GateDecision): void;
}

/** The gate of one member; see the module docs. */
export class UpgradeGate {
  readonly #o: UpgradeGateOptions;
  #decision?: GateDecision;
  #waitingSince = 0;
  #unsubscribe: (() => void)[] = [];
  #opened = false;
  #graceTimer?: ReturnType<typeof setTimeout>;
  readonly #loggedExcluded = new Set<string>();

  constructor(options: UpgradeGateOptions) {
    this.#o = options;
  }

  /** The latest decision. */
  get decision(): GateDecision | undefined {
    return this.#decision;
  }

  /** Since when (ms since the epoch) the member waits; 0 when it does not. */
  get waitingSince(): number {
    return this.#opened ? 0 : this.#waitingSince;
  }

  /** The other members as the gate sees them. */
  members(): GateMember[] {
    const out: GateMember[] = [];
    // By name, so messages and 503s list the same members in the same order on every member.
    for (const name of [...this.#o.membership.roster().keys()].sort()) {
      if (name === this.#o.name) continue;
      out.push({
        name,
        version: this.#o.membership.versionOf(name),
        ...this.#o.membership.liveness(name),
      });
    }
    return out;
  }

  /** Decides now; logs each member newly excluded after the grace period. */
  evaluate(): GateDecision {
    const now = Date.now();
    const members = this.members();
    const grace = this.#o.deadGraceMs ?? 0;
    this.#decision = evaluateGate(this.#o.local, members, { now, deadGraceMs: grace });
    for (const name of this.#decision.excluded) {
      if (this.#loggedExcluded.has(name)) continue;
      this.#loggedExcluded.add(name);
      this.#o.logger.warn(
        "Member excluded from upgrade gating: down for longer than the grace period",
        {
          member: name,
          grace_ms: grace,
        },
      );
    }
    if (grace > 0) this.#armGraceTimer(members, now, grace);
    return this.#decision;
  }

  /**
   * A grace period running out changes the decision without any gossip event, so while the
   * member waits, a timer re-decides when the next down member's grace expires.
   */
  #armGraceTimer(members: GateMember[], now: number, grace: number): void {
    if (this.#graceTimer) clearTimeout(this.#graceTimer);
    this.#graceTimer = undefined;
    if (this.#opened || this.#decision?.decision !== "wait") return;
    let next = Infinity;
    for (const m of members) {
      if (!m.version || m.up || m.downSince === undefined) continue;
      const expiry = m.downSince + grace;
      if (expiry >= now) next = Math.min(next, expiry);
    }
    if (next === Infinity) return;
    // evaluateGate excludes a member once strictly more than the grace has passed.
    const timer = setTimeout(() => this.recheck(), next - now + 1);
    (timer as { unref?: () => void }).unref?.();
    this.#graceTimer = timer;
  }

  /**
   * The start-up decision. `open` (or `wait` under the mixed policy) means serve now; `wait`
   * means the gate watches the view and calls `onOpen` later; `refuse` is returned for the
   * caller to fail the start with its message.
   */
  begin(): GateDecision {
    const d = this.evaluate();
    if (d.decision === "refuse") return d;
    if (d.decision === "open" || this.#o.policy === "mixed") {
      this.#opened = true;
      if (d.decision === "wait") {
        this.#o.logger.warn("Serving with members behind (mixed upgrade policy)", {
          behind: d.behind.map((b) => b.name),
        });
      }
      return d;
    }
    this.#waitingSince = Date.now();
    this.#o.logger.warn("Waiting for other cluster members to upgrade", {
      behind: d.behind.map((b) => b.name),
      message: d.message,
    });
    const recheck = () => this.recheck();
    const g = this.#o.gossip;
    for (const ev of ["member-join", "member-update", "member-failed", "member-left"] as const) {
      this.#unsubscribe.push(g.on(ev, recheck));
    }
    this.#unsubscribe.push(g.on("record-change", recheck));
    return d;
  }

  /** Re-decides (on any view change, or a PATCH nudge); opens when everyone caught up. */
  recheck(): void {
    if (this.#opened) return;
    const d = this.evaluate();
    if (d.decision === "refuse") {
      this.#o.logger.error("Cannot open: " + d.message);
      return;
    }
    if (d.decision !== "open") return;
    this.#opened = true;
    this.stop();
    const waited = Date.now() - this.#waitingSince;
    this.#o.logger.info("Every member upgraded: opening", {
      waited_ms: waited,
      ...(d.excluded.length ? { excluded: d.excluded } : {}),
    });
    this.#o.onOpen(waited, d);
  }

  /** Names of the members this member waits for. */
  waitingFor(): string[] {
    if (this.#opened || !this.#decision) return [];
    return this.#decision.behind.map((b) => b.name);
  }

  /** Stops watching. */
  stop(): void {
    for (const u of this.#unsubscribe) u();
    this.#unsubscribe = [];
    if (this.#graceTimer) clearTimeout(this.#graceTimer);
    this.#graceTimer = undefined;
  }
}
