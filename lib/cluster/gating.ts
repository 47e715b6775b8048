/**
 * Restart gating: may a member that restarted (possibly with a new binary) serve, must it wait
 * for the others to upgrade, or must it refuse to start? One pure decision from the member's view
 * of the cluster, so every member reaches it without a leader, and re-runs it whenever the view
 * changes (level-triggered: no notification can be lost).
 *
 * Rules, compared per member on internal schema, app schema and API extensions:
 * - all equal: `open`;
 * - some members behind (their versions lower, their lists prefixes of ours): `wait`;
 * - any member ahead: `refuse`, this member must upgrade;
 * - any member diverged (neither is a prefix of the other): `refuse`, naming both sides.
 * A member that is down counts with its last known version; one that has been down for longer
 * than the grace period (when set) is excluded.
 *
 * @module
 */
import { compareVersions, describeVersions, type MemberVersion } from "./compat.ts";
import { internalCount } from "./extensions.ts";

/** One other member as the gate sees it. */
export interface GateMember {
  name: string;
  /** Its last known version; `undefined` when never known (it does not take part). */
  version?: MemberVersion;
  /** Whether it is up (alive or suspect) in the gossip view. */
  up: boolean;
  /** Since when it is down, when it is down: ms on the clock {@link GateOptions.now} reads. */
  downSince?: number;
}

/** Gate options. */
export interface GateOptions {
  /**
   * Current time, ms, on the clock the members' `downSince` are on (a member's monotonic clock:
   * a step of the wall clock must not shorten anyone's grace).
   */
  now: number;
  /**
   * How long a member may be down before it stops counting, in ms. `0` (the default) waits for
   * it forever, as MicroCluster does.
   */
  deadGraceMs?: number;
}

/** A member that differs from this one, and how. */
export interface GateDifference {
  name: string;
  /**
   * What differs: for a member ahead or diverged, from this member's side (`lacks "c"`); for a
   * member behind, from that member's side (what it lacks).
   */
  detail: string;
}

/** The gate's verdict. */
export interface GateDecision {
  decision: "open" | "wait" | "refuse";
  /** Members behind this one (they must upgrade): the ones a waiting member waits for. */
  behind: GateDifference[];
  /** Members ahead of this one (this member must upgrade). */
  ahead: GateDifference[];
  /** Members whose versions diverged from this one's. */
  diverged: GateDifference[];
  /** Members left out because they have been down for longer than the grace period. */
  excluded: string[];
  /** One sentence for logs and errors. */
  message: string;
}

/**
 * Whether a member is left out of the gate (and of the cluster's common extensions) because it
 * has been down for longer than the grace period, in ms (0: never).
 */
export function pastGrace(
  m: { up: boolean; downSince?: number },
  now: number,
  graceMs: number,
): boolean {
  return !m.up && graceMs > 0 && m.downSince !== undefined && now - m.downSince > graceMs;
}

const list = (ds: GateDifference[]) => ds.map((d) => `"${d.name}" (${d.detail})`).join(", ");

/** Decides; see the module docs. */
export function evaluateGate(
  local: MemberVersion,
  members: readonly GateMember[],
  options: GateOptions,
): GateDecision {
  const grace = options.deadGraceMs ?? 0;
  const behind: GateDifference[] = [];
  const ahead: GateDifference[] = [];
  const diverged: GateDifference[] = [];
  const excluded: string[] = [];
  for (const m of members) {
    if (!m.version) continue;
    if (pastGrace(m, options.now, grace)) {
      excluded.push(m.name);
      continue;
    }
    const c = compareVersions(local, m.version);
    if (c.verdict === "equal") continue;
    const detail = describeVersions(local, m.version, c);
    // A member behind is described from its own side: what it lacks.
    if (c.verdict === "ahead") {
      behind.push({ name: m.name, detail: describeVersions(m.version, local) });
    } else if (c.verdict === "behind") ahead.push({ name: m.name, detail });
    else diverged.push({ name: m.name, detail });
  }
  let decision: GateDecision["decision"] = "open";
  let message = "Every member runs the same versions";
  if (diverged.length) {
    decision = "refuse";
    message = `This member's versions diverged from other members': ${list(diverged)}`;
  } else if (ahead.length) {
    decision = "refuse";
    message = `This member's version is behind, please upgrade: members ahead: ${list(ahead)}`;
  } else if (behind.length) {
    decision = "wait";
    message = `Waiting for ${behind.length} member${behind.length > 1 ? "s" : ""} to upgrade: ${
      list(behind)
    }`;
  }
  if (excluded.length) {
    message += `; excluded after the grace period: ${excluded.map((n) => `"${n}"`).join(", ")}`;
  }
  return { decision, behind, ahead, diverged, excluded, message };
}

/**
 * The extensions every listed member has: the longest common prefix of their internal names
 * followed by the longest common prefix of their app names (each part is append-only on its
 * own, so those prefixes are what is safe to use cluster-wide right now; see `extensions.ts`).
 */
export function commonExtensions(lists: readonly (readonly string[])[]): string[] {
  if (lists.length === 0) return [];
  const split = lists.map((l) => {
    const n = internalCount(l);
    return [l.slice(0, n), l.slice(n)];
  });
  return [...commonPrefix(split.map((p) => p[0])), ...commonPrefix(split.map((p) => p[1]))];
}

function commonPrefix(lists: readonly (readonly string[])[]): readonly string[] {
  const first = lists[0];
  let n = first.length;
  for (const l of lists) {
    let i = 0;
    while (i < n && i < l.length && l[i] === first[i]) i++;
    n = i;
  }
  return first.slice(0, n);
}
