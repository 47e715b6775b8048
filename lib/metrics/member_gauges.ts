/**
 * Gauges of the member and the cluster as this member sees it, read from its
 * {@link MemberService} before every scrape: its phase, the members by status and role, each
 * member's versions and verdict (as labels of an info metric), the extensions, the upgrade.
 *
 * @module
 */
import { Gauge, type Registry } from "prom-client";
import type { MemberService, MemberStatus } from "../daemon/service.ts";

const PHASES: readonly MemberStatus[] = [
  "uninitialized",
  "starting",
  "waiting",
  "online",
  "stopping",
];

/** Seconds since the epoch of an RFC 3339 time; 0 for Go's zero time ("never"). */
function epochSeconds(time: string): number {
  const ms = Date.parse(time);
  return Number.isFinite(ms) && ms > 0 ? ms / 1000 : 0;
}

/** The member gauges of one registry. */
export class MemberGauges {
  readonly #service: MemberService;
  readonly #phase: Gauge<"phase">;
  readonly #members: Gauge<"status" | "role">;
  readonly #info: Gauge<string>;
  readonly #heartbeat: Gauge<"member">;
  readonly #extensions: Gauge<"scope">;
  readonly #upgrade: Gauge<"state">;
  readonly #complete: Gauge;

  constructor(registry: Registry, service: MemberService) {
    this.#service = service;
    const registers = [registry];
    this.#phase = new Gauge({
      name: "cohort_member_phase",
      help: "This member's phase: 1 for the current one (uninitialized, starting, waiting, " +
        "online, stopping)",
      labelNames: ["phase"],
      registers,
    });
    this.#members = new Gauge({
      name: "cohort_members",
      help: "Members of the cluster as this member sees them, by status and role",
      labelNames: ["status", "role"],
      registers,
    });
    this.#info = new Gauge({
      name: "cohort_member_info",
      help: "One series per member (value 1) whose labels are its versions, status, role and " +
        "extension verdict against this member",
      labelNames: [
        "member",
        "address",
        "role",
        "status",
        "app_version",
        "schema_internal",
        "schema_external",
        "extensions",
        "extension_verdict",
      ],
      registers,
    });
    this.#heartbeat = new Gauge({
      name: "cohort_member_last_heartbeat_timestamp_seconds",
      help: "When this member last heard from each member (seconds since the epoch)",
      labelNames: ["member"],
      registers,
    });
    this.#extensions = new Gauge({
      name: "cohort_extensions",
      help: "API extensions of this member (local) and shared by every member (cluster)",
      labelNames: ["scope"],
      registers,
    });
    this.#upgrade = new Gauge({
      name: "cohort_upgrade_members",
      help: "Members that run the upgrade's target (done), lack it (pending), or are no " +
        "longer waited for after --upgrade-dead-grace (excluded)",
      labelNames: ["state"],
      registers,
    });
    this.#complete = new Gauge({
      name: "cohort_upgrade_complete",
      help: "1 when every member runs the newest versions any member runs",
      registers,
    });
  }

  /** Reads the service into the gauges. */
  async update(): Promise<void> {
    const service = this.#service;
    const phase = service.status();
    for (const p of PHASES) this.#phase.set({ phase: p }, p === phase ? 1 : 0);
    for (const g of [this.#members, this.#info, this.#heartbeat, this.#extensions, this.#upgrade]) {
      g.reset();
    }
    this.#complete.reset();
    if (phase === "uninitialized" || phase === "stopping") return;
    let entries;
    try {
      entries = await service.clusterMembers();
    } catch {
      return; // starting: not serving its view yet
    }
    for (const e of entries) {
      this.#members.inc({ status: e.status, role: e.role });
      this.#info.set({
        member: e.name,
        address: e.address,
        role: e.role,
        status: e.status,
        app_version: e.app_version,
        schema_internal: String(e.schema_internal_version),
        schema_external: String(e.schema_external_version),
        extensions: String(e.extensions.length),
        extension_verdict: e.extension_verdict.verdict,
      }, 1);
      const heard = epochSeconds(e.last_heartbeat);
      if (heard > 0) this.#heartbeat.set({ member: e.name }, heard);
    }
    const extensions = service.extensions();
    this.#extensions.set({ scope: "local" }, extensions.local.length);
    this.#extensions.set({ scope: "cluster" }, extensions.cluster.length);
    const upgrade = service.upgradeStatus();
    this.#upgrade.set({ state: "done" }, upgrade.done.length);
    this.#upgrade.set({ state: "pending" }, upgrade.pending.length);
    this.#upgrade.set({ state: "excluded" }, upgrade.excluded.length);
    this.#complete.set(upgrade.complete ? 1 : 0);
  }
}
