/**
 * Counting failure-detector mistakes the same way for cohort and serf, from their logs.
 *
 * The two log differently: every cohort member logs a `member-suspect` event when it learns of
 * a suspicion (from its own probe or from gossip), while serf logs "Suspect X has failed" only
 * on the member whose probe failed. Both log a failure once per observer (`member-failed`,
 * `EventMemberFailed`). So the comparable figures are:
 * - **dead verdicts**: (observer, member) failure events, as both systems log them;
 * - **dead episodes** and **suspicion episodes**: per accused member, events less than
 *   {@link EPISODE_GAP_MS} apart form one episode (one accusation spreading, confirmed or
 *   refuted), however many members logged it.
 *
 * @module
 */

/** Events this far apart or more about the same member are separate episodes. */
export const EPISODE_GAP_MS = 10_000;

/** One suspicion or failure seen by one observer. */
export interface Accusation {
  observer: string;
  member: string;
  kind: "suspect" | "failed";
  /** ms since the epoch */
  time: number;
}

/** Mistakes of one system over one window. */
export interface Verdicts {
  /** (observer, member) failure events. */
  deadVerdicts: number;
  /** Distinct failure episodes (see module doc). */
  deadEpisodes: number;
  /** Distinct suspicion episodes. */
  suspicionEpisodes: number;
  /** Raw suspicion lines (not comparable across systems, kept for the record). */
  suspectLines: number;
  /** Members declared dead at least once. */
  accused: string[];
}

function episodes(times: number[]): number {
  const sorted = [...times].sort((a, b) => a - b);
  let count = 0;
  let last = -Infinity;
  for (const t of sorted) {
    if (t - last >= EPISODE_GAP_MS) count++;
    last = t;
  }
  return count;
}

function episodesByMember(list: Accusation[]): number {
  const byMember = new Map<string, number[]>();
  for (const a of list) {
    const times = byMember.get(a.member) ?? [];
    times.push(a.time);
    byMember.set(a.member, times);
  }
  let total = 0;
  for (const times of byMember.values()) total += episodes(times);
  return total;
}

/** Counts the accusations in `list` (all assumed false: nobody was really down). */
export function countVerdicts(list: readonly Accusation[]): Verdicts {
  const failed = list.filter((a) => a.kind === "failed");
  const suspect = list.filter((a) => a.kind === "suspect");
  return {
    deadVerdicts: failed.length,
    deadEpisodes: episodesByMember(failed),
    suspicionEpisodes: episodesByMember(suspect),
    suspectLines: suspect.length,
    accused: [...new Set(failed.map((a) => a.member))].sort(),
  };
}

/** One line for a report: `dead 0 (0 episodes), suspicions 3 episodes (17 lines)`. */
export function formatVerdicts(v: Verdicts): string {
  return `dead ${v.deadVerdicts} (${v.deadEpisodes} episodes${
    v.accused.length ? `: ${v.accused.join(",")}` : ""
  }), suspicions ${v.suspicionEpisodes} episodes (${v.suspectLines} lines)`;
}
