/**
 * Roles without a leader. MicroCluster takes `voter`, `stand-by` and `spare` from dqlite's
 * leader; cohort computes them with one deterministic rule that every member applies to its own
 * view, so members with the same view agree without talking.
 *
 * The rule: rank the alive, non-pending members by join time, then name; the first are voters
 * (an odd number, at most 3), the next stand-bys (at most 3), the rest spares.
 *
 * @module
 */

/** A member's role; `PENDING` while its join has not completed. */
export type Role = "voter" | "stand-by" | "spare" | "PENDING";

/** What the rule looks at. */
export interface RoleCandidate {
  name: string;
  /** When the member's join was accepted (ms since the epoch). */
  joinedAt: number;
  /** Whether it is alive (or suspect) in the local view. */
  live: boolean;
  /** Whether its join is still pending. */
  pending: boolean;
}

/** Maximum voters. */
export const MAX_VOTERS = 3;
/** Maximum stand-bys. */
export const MAX_STANDBYS = 3;

/**
 * Assigns roles to every candidate. Members that are not live keep no rank: they are reported as
 * `spare` (a failed voter is replaced by the next in rank, the same successor on every member);
 * pending members stay `PENDING`.
 */
export function assignRoles(candidates: readonly RoleCandidate[]): Map<string, Role> {
  const roles = new Map<string, Role>();
  const ranked = candidates
    .filter((c) => c.live && !c.pending)
    .sort((a, b) => a.joinedAt - b.joinedAt || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  let voters = Math.min(MAX_VOTERS, ranked.length);
  if (voters % 2 === 0) voters--; // an even number of voters cannot break ties
  if (voters < 1 && ranked.length) voters = 1;
  ranked.forEach((c, i) => {
    roles.set(c.name, i < voters ? "voter" : i < voters + MAX_STANDBYS ? "stand-by" : "spare");
  });
  for (const c of candidates) {
    if (roles.has(c.name)) continue;
    roles.set(c.name, c.pending ? "PENDING" : "spare");
  }
  return roles;
}
