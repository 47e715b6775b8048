/**
 * Follows a rolling upgrade from this member's upgrade reports: when each member reached the
 * target, which attempts were refused (joins during the upgrade, members that came back without
 * the target and whose gate refuses them), when the upgrade began and completed.
 *
 * @module
 */
import type { UpgradeReport } from "../daemon/service.ts";
import type { EventLog } from "./event_log.ts";

/** An attempt the cluster refused while it upgraded. */
export interface RefusedAttempt {
  /** RFC 3339. */
  time: string;
  member: string;
  /** `join`: a join request this member refused; `restart`: a member came back behind. */
  kind: "join" | "restart";
  reason: string;
}

/** One member's place in the upgrade. */
export interface UpgradeMemberRow {
  name: string;
  /** `excluded`: down for longer than `--upgrade-dead-grace`, no longer waited for. */
  state: "done" | "pending" | "excluded";
  /** What it lacks (pending members). */
  lacks?: string;
  /** RFC 3339: when it reached the target (done), or since when the target waits for it. */
  since: string;
}

/** How many refused attempts are kept. */
const REFUSED_KEPT = 20;

/** See the module docs. Feed it every upgrade report (each change of the view). */
export class UpgradeWatch {
  readonly #log: EventLog;
  readonly #onComplete: (seconds: number) => void;
  #key: string | undefined;
  /** When the current target was first seen, ms. */
  #seen = 0;
  #complete = true;
  readonly #doneSince = new Map<string, number>();
  readonly #refused: RefusedAttempt[] = [];
  readonly #cameBack = new Set<string>();

  /** `onComplete` gets the duration of each upgrade seen from its beginning to its end. */
  constructor(log: EventLog, onComplete: (seconds: number) => void) {
    this.#log = log;
    this.#onComplete = onComplete;
  }

  /** A member came back after having been dead or gone: judged at the next report. */
  cameBack(name: string): void {
    this.#cameBack.add(name);
  }

  /** This member refused a join request. */
  refusedJoin(name: string, reason: string): void {
    this.#refuse({ time: new Date().toISOString(), member: name, kind: "join", reason });
  }

  /** Takes the latest report. */
  update(report: UpgradeReport): void {
    const now = Date.now();
    const t = report.target;
    const key = `${t.schema_internal}/${t.schema_external}/${t.extensions}`;
    const target = `schema ${t.schema_internal}/${t.schema_external}, ${t.extensions} extensions`;
    let stamp = now;
    if (key !== this.#key) {
      const first = this.#key === undefined;
      this.#key = key;
      this.#doneSince.clear();
      // Before this member saw the view change itself, the report's own time is the best known.
      this.#seen = first ? Date.parse(report.since) || now : now;
      stamp = this.#seen;
      if (!report.complete) {
        const pending = report.pending.map((p) => p.name).join(", ");
        this.#log.add("upgrade", `Upgrade to ${target} in progress: waiting for ${pending}`);
      }
    }
    for (const name of report.done) {
      if (!this.#doneSince.has(name)) this.#doneSince.set(name, stamp);
    }
    for (const name of this.#cameBack) {
      const pending = report.pending.find((p) => p.name === name);
      if (pending && !report.complete) {
        this.#refuse({
          time: new Date(now).toISOString(),
          member: name,
          kind: "restart",
          reason: `came back without the upgrade (${pending.lacks}): a member behind is refused`,
        });
      }
    }
    this.#cameBack.clear();
    if (!this.#complete && report.complete) {
      const seconds = Math.max(0, (now - this.#seen) / 1000);
      this.#log.add("upgrade", `Upgrade complete: every member runs ${target}`);
      this.#onComplete(seconds);
    }
    this.#complete = report.complete;
  }

  /** Each member's place in the upgrade of `report`. */
  rows(report: UpgradeReport): UpgradeMemberRow[] {
    const iso = (ms: number) => new Date(ms).toISOString();
    const rows: UpgradeMemberRow[] = [
      ...report.done.map((name) => ({
        name,
        state: "done" as const,
        since: iso(this.#doneSince.get(name) ?? this.#seen),
      })),
      ...report.pending.map((p) => ({
        name: p.name,
        state: report.excluded.includes(p.name) ? "excluded" as const : "pending" as const,
        lacks: p.lacks,
        since: iso(this.#seen),
      })),
    ];
    return rows.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Refused attempts, oldest first (a copy). */
  refused(): RefusedAttempt[] {
    return [...this.#refused];
  }

  #refuse(attempt: RefusedAttempt): void {
    this.#refused.push(attempt);
    if (this.#refused.length > REFUSED_KEPT) this.#refused.shift();
    this.#log.add(
      "refused",
      `${attempt.member}: ${attempt.kind} refused: ${attempt.reason}`,
      attempt.member,
    );
  }
}
