/**
 * Roles that follow a settled view (the leaderless rule of lib/cluster/roles.ts applied to the
 * {@link ClusterView}). A change of who is in the roster, or of whose join is pending, is adopted
 * at once: it is a decision the cluster made. A change that comes only from liveness (a member
 * went down, or is not heard from yet) is adopted once the rule has given the same roles for
 * `settleMs`, so a member restarting in an unchanged cluster changes nobody's role: it comes back
 * with the roles the store remembered, and the others keep it in its place meanwhile. Only the
 * adopted (settled) roles are listed, announced and reported to `onHeartbeat`.
 *
 * @module
 */
import { assignRoles, type Role } from "../cluster/roles.ts";
import { hasJoined } from "../cluster/roster.ts";
import type { Logger } from "../log.ts";
import type { Background, Cancel } from "./background.ts";
import type { ClusterView } from "./view.ts";

/**
 * How long a liveness-only role change must hold before it is adopted, by gossip preset, ms: the
 * time a member may take to restart without anyone's role changing. It is the same on loopback:
 * a stopped member is known down at once (its connections close), and a restart on a busy
 * machine can take longer than the faster preset's timers would suggest.
 */
export const ROLE_SETTLE_MS: Readonly<Record<"lan" | "local", number>> = Object.freeze({
  lan: 15_000,
  local: 15_000,
});

/** Options of {@link RoleTracker}. */
export interface RoleTrackerOptions {
  view: ClusterView;
  /** Roles as the store remembered them at start, by member name. */
  stored: ReadonlyMap<string, Role>;
  /** See the module docs. */
  settleMs: number;
  background: Background;
  logger: Logger;
  /** This member's own settled role changed. */
  onOwnRoleChange(role: Role, previous: Role): void;
}

/** This member's settled view of every member's role; see the module docs. */
export class RoleTracker {
  readonly #o: RoleTrackerOptions;
  #settled = new Map<string, Role>();
  /** A liveness-only change waiting for the settle time: its key and the roles it would give. */
  #pending?: { key: string; cancel: Cancel; roles: ReadonlyMap<string, Role> };
  #suspects = new Set<string>();
  readonly #reported = new Set<string>();

  constructor(options: RoleTrackerOptions) {
    this.#o = options;
    for (const name of options.view.roster().keys()) {
      const role = options.stored.get(name);
      if (role) this.#settled.set(name, role);
    }
  }

  /** The settled roles of the roster members. */
  roles(): ReadonlyMap<string, Role> {
    return this.#settled;
  }

  /** This member's settled role. */
  get own(): Role {
    return this.#settled.get(this.#o.view.name) ?? "PENDING";
  }

  /** The rule applied to the view as it is now. */
  computed(): Map<string, Role> {
    const view = this.#o.view;
    const candidates = [...view.roster()].map(([name, entry]) => ({
      name,
      joinedAt: entry.joinedAt,
      live: view.liveness(name).up,
      // Until its preJoin passed (it is announced alive from its admission on), or while never
      // heard of at all.
      pending: !hasJoined(entry) || (!view.seenAlive(name) && !(view.storedHeartbeat(name) > 0)),
    }));
    return assignRoles(candidates);
  }

  /** Re-applies the rule after a view change: adopts, defers or drops a change. */
  update(): void {
    const computed = this.computed();
    const key = keyOf(computed);
    if (key === keyOf(this.#settled)) {
      this.#cancelPending();
      return;
    }
    if (this.#decided(computed)) {
      this.#cancelPending();
      this.#adopt(computed, "roster changed");
      return;
    }
    if (this.#pending?.key === key) return;
    this.#cancelPending();
    const cancel = this.#o.background.after("Role settling", this.#o.settleMs, () => {
      this.#pending = undefined;
      const now = this.computed();
      if (keyOf(now) === key) this.#adopt(now, "view settled");
      else this.update();
    });
    this.#pending = { key, cancel, roles: computed };
  }

  /** Stops the settling timer. */
  stop(): void {
    this.#cancelPending();
  }

  /**
   * Warns about members whose announced role disagrees with the settled one. Called on every
   * persistence tick; reported once a disagreement held for two ticks in a row (a view still
   * converging disagrees briefly), once per member and role pair. A role the change waiting to
   * settle would give is no disagreement: a member back after the others adopted its absence
   * announces the role it never lost in its own view, which the rule gives it again once settled.
   * Returns whether a disagreement not reported yet was seen (the caller checks again a tick
   * later).
   */
  checkAnnounced(): boolean {
    const view = this.#o.view;
    const now = new Set<string>();
    for (const [name, role] of this.#settled) {
      if (name === view.name || role === "PENDING") continue;
      const info = view.gossip.member(name);
      if (info?.state !== "alive") continue;
      const announced = info.meta.role;
      if (!announced || announced === role || announced === "PENDING") continue;
      if (this.#pending?.roles.get(name) === announced) continue;
      const key = `${name}\n${announced}\n${role}`;
      now.add(key);
      if (this.#suspects.has(key) && !this.#reported.has(key)) {
        this.#reported.add(key);
        this.#o.logger.warn("A member announces a role the rule does not give it", {
          member: name,
          announced,
          expected: role,
        });
      }
    }
    this.#suspects = now;
    for (const key of now) if (!this.#reported.has(key)) return true;
    return false;
  }

  /** Whether `computed` differs from the settled roles in who is ranked at all. */
  #decided(computed: Map<string, Role>): boolean {
    if (computed.size !== this.#settled.size) return true;
    for (const [name, role] of computed) {
      const settled = this.#settled.get(name);
      if (settled === undefined || (settled === "PENDING") !== (role === "PENDING")) return true;
    }
    return false;
  }

  #adopt(computed: Map<string, Role>, reason: string): void {
    const previous = this.own;
    this.#settled = computed;
    const role = this.own;
    if (role === previous) return;
    this.#o.logger.info("Role changed", { from: previous, to: role, reason });
    this.#o.onOwnRoleChange(role, previous);
  }

  #cancelPending(): void {
    this.#pending?.cancel();
    this.#pending = undefined;
  }
}

function keyOf(roles: ReadonlyMap<string, Role>): string {
  return [...roles].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([n, r]) => `${n}=${r}`)
    .join(",");
}
