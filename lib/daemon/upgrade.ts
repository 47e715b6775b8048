/**
 * What a member tells about an upgrade in progress: the cluster's common extensions, upgrade
 * progress, and the update trigger (LXD's `LXD_CLUSTER_UPDATE`, MicroCluster's `SCHEMA_UPDATE`):
 * when a member ahead of this one appears, in schema or in extensions, the executable named by
 * `COHORT_CLUSTER_UPDATE` runs once per new target after a random delay.
 *
 * @module
 */
import { execFile } from "node:child_process";
import process from "node:process";
import { compareVersions, describeVersions, type MemberVersion } from "../cluster/compat.ts";
import { compareExtensions, extensionDigest } from "../cluster/extensions.ts";
import { commonExtensions, pastGrace } from "../cluster/gating.ts";
import type { Clock } from "../cluster/clock.ts";
import type { Logger } from "../log.ts";
import type { Background, Cancel } from "./background.ts";
import { refusalOf } from "./refusals.ts";
import type { ExtensionsReport, UpgradeReport } from "./service.ts";
import type { ClusterView } from "./view.ts";

/** Which down members still count in the common list; see {@link extensionsReport}. */
export interface CommonOptions {
  /**
   * Current time on the member's monotonic clock (`clock.now()`), as the view's down-since times
   * (`ClusterView.liveness`).
   */
  now: number;
  /** The upgrade's dead grace (`upgradeDeadGraceMs`); 0 or absent: a down member always counts. */
  deadGraceMs?: number;
}

/**
 * Computes the extensions report from the view. The cluster's common list is over the roster
 * members whose versions are known and that are up, or down for no longer than the dead grace
 * (the gate's rule): a member that stops to restart, upgraded or not, still counts with the
 * versions it last ran, so the list does not grow while the last old member restarts and shrink
 * again when it comes back (an app would switch a cluster-wide feature on and off).
 */
export function extensionsReport(view: ClusterView, options: CommonOptions): ExtensionsReport {
  const { name, local } = view;
  const membership = view;
  const lists: (readonly string[])[] = [local.extensions];
  const members: ExtensionsReport["members"] = {};
  for (const other of membership.roster().keys()) {
    const version = membership.versionOf(other);
    if (!version) {
      members[other] = { verdict: "unknown", missing: [], extra: [] };
      continue;
    }
    const c = compareExtensions(local.extensions, version.extensions);
    members[other] = { verdict: c.verdict, missing: c.missing, extra: c.extra };
    if (
      other !== name &&
      !pastGrace(membership.liveness(other), options.now, options.deadGraceMs ?? 0)
    ) {
      lists.push(version.extensions);
    }
  }
  return { local: [...local.extensions], cluster: commonExtensions(lists), members };
}

/** Tracks the upgrade target and reports progress. */
export class UpgradeTracker {
  readonly #clock: Clock;
  #targetKey = "";
  #since: number;

  constructor(clock: Clock) {
    this.#clock = clock;
    this.#since = clock.now();
  }

  /**
   * Computes the report; `waitingSince` is 0 when this member does not wait, `excluded` names
   * the members the gate excluded after the grace period.
   */
  report(
    view: ClusterView,
    waitingSince: number,
    excluded: readonly string[] = [],
  ): UpgradeReport {
    const { local } = view;
    const membership = view;
    const versions = new Map<string, MemberVersion>();
    for (const name of membership.roster().keys()) {
      const v = membership.versionOf(name);
      if (v) versions.set(name, v);
    }
    let target = local;
    for (const v of versions.values()) {
      if (compareVersions(target, v).verdict === "behind") target = v;
    }
    const key = `${target.schemaInternal}/${target.schemaExternal}/${
      extensionDigest(target.extensions)
    }`;
    if (key !== this.#targetKey) {
      this.#targetKey = key;
      this.#since = this.#clock.now();
    }
    const done: string[] = [];
    const pending: UpgradeReport["pending"] = [];
    for (const name of [...membership.roster().keys()].sort()) {
      const v = versions.get(name);
      if (!v) {
        pending.push({ name, lacks: "unknown version" });
        continue;
      }
      const c = compareVersions(target, v);
      if (c.verdict === "equal") done.push(name);
      else pending.push({ name, lacks: describeVersions(v, target) });
    }
    return {
      target: {
        schema_internal: target.schemaInternal,
        schema_external: target.schemaExternal,
        extensions: target.extensions.length,
      },
      complete: pending.length === 0,
      done,
      pending,
      since: new Date(this.#since).toISOString(),
      waiting_since: waitingSince ? new Date(waitingSince).toISOString() : null,
      excluded: [...excluded],
      refused: [...membership.roster()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .flatMap(([name, entry]) => {
          const r = refusalOf(entry);
          return r ? [{ name, ...r }] : [];
        }),
    };
  }
}

/** Options of {@link UpdateTrigger}. */
export interface UpdateTriggerOptions {
  /** The executable to run; nothing runs when unset. @default $COHORT_CLUSTER_UPDATE */
  command?: string;
  /**
   * Largest random delay before running it, in ms.
   * @default $COHORT_CLUSTER_UPDATE_DELAY seconds, else 30000
   */
  maxDelayMs?: number;
  logger: Logger;
  /** Where the delayed runs are scheduled (the member's clock, caught and logged). */
  background: Background;
  /** A float in [0, 1) for the random delay. @default Math.random */
  random?: () => number;
}

/** A non-negative number of seconds from an environment variable, in ms; `undefined` if unset. */
function secondsFromEnv(name: string): number | undefined {
  const text = process.env[name];
  if (text === undefined || text.trim() === "") return undefined;
  const n = Number(text);
  return Number.isFinite(n) && n >= 0 ? n * 1000 : undefined;
}

/** Runs the update command once per new target ahead of this member. */
export class UpdateTrigger {
  readonly #o: UpdateTriggerOptions;
  readonly #seen = new Set<string>();
  readonly #timers = new Set<Cancel>();

  constructor(options: UpdateTriggerOptions) {
    this.#o = {
      ...options,
      command: options.command ?? process.env.COHORT_CLUSTER_UPDATE,
      maxDelayMs: options.maxDelayMs ?? secondsFromEnv("COHORT_CLUSTER_UPDATE_DELAY"),
    };
  }

  /** Looks for members ahead of `local`; schedules the command for each new target. */
  check(view: ClusterView): void {
    if (!this.#o.command) return;
    const { local } = view;
    const membership = view;
    for (const name of membership.roster().keys()) {
      const v = membership.versionOf(name);
      if (!v || compareVersions(local, v).verdict !== "behind") continue;
      const key = `${v.schemaInternal}/${v.schemaExternal}/${extensionDigest(v.extensions)}`;
      if (this.#seen.has(key)) continue;
      this.#seen.add(key);
      const delay = Math.floor((this.#o.random ?? Math.random)() * (this.#o.maxDelayMs ?? 30_000));
      this.#o.logger.info("A member is ahead: scheduling the cluster update command", {
        member: name,
        target: key,
        delay_ms: delay,
      });
      const cancel = this.#o.background.after("Cluster update command", delay, () => {
        this.#timers.delete(cancel);
        this.#run(key);
      });
      this.#timers.add(cancel);
    }
  }

  #run(target: string): void {
    const clock = this.#o.background.clock;
    const started = clock.now();
    execFile(
      this.#o.command!,
      [],
      { env: { ...process.env, COHORT_UPDATE_TARGET: target } },
      (err) => {
        const ms = clock.now() - started;
        if (err) {
          this.#o.logger.error("Cluster update command failed", {
            target,
            exit_code: (err as { code?: unknown }).code,
            duration_ms: ms,
          });
        } else this.#o.logger.info("Cluster update command succeeded", { target, duration_ms: ms });
      },
    );
  }

  /** Cancels pending runs. */
  stop(): void {
    for (const cancel of this.#timers) cancel();
    this.#timers.clear();
  }
}
