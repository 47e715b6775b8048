/**
 * What the status page shows, in one JSON document: this member, every member (without
 * certificates), the extension matrix's data, the upgrade, recent events. Sent whole on every
 * change, so a page that (re)connects needs nothing else.
 *
 * @module
 */
import type {
  ClusterMemberEntry,
  MemberService,
  MemberStatus,
  ServerInfo,
  UpgradeReport,
} from "../daemon/service.ts";
import type { StatusEvent } from "./event_log.ts";
import type { RefusedAttempt, UpgradeMemberRow, UpgradeWatch } from "./upgrade_watch.ts";

/** A member as the page lists it. */
export type MemberRow = Omit<ClusterMemberEntry, "certificate" | "fingerprint">;

/** The page's data. */
export interface StatusSnapshot {
  /** RFC 3339: when it was taken. */
  time: string;
  /** This member: server info and phase. */
  member: ServerInfo & { status: MemberStatus };
  /** Every member as this member sees it, by name. Empty before initialisation. */
  members: MemberRow[];
  /** This member's extensions and those every member shares; `null` before init. */
  extensions: { local: string[]; cluster: string[] } | null;
  /** The upgrade; `null` before initialisation. */
  upgrade:
    | (Omit<UpgradeReport, "refused"> & { members: UpgradeMemberRow[]; refused: RefusedAttempt[] })
    | null;
  /** Recent events, oldest first. */
  events: StatusEvent[];
}

/** Builds a snapshot from the service and what the tracker followed. */
export async function buildSnapshot(
  service: MemberService,
  watch: UpgradeWatch,
  events: StatusEvent[],
): Promise<StatusSnapshot> {
  const status = service.status();
  const snapshot: StatusSnapshot = {
    time: new Date().toISOString(),
    member: { ...service.info(), status },
    members: [],
    extensions: null,
    upgrade: null,
    events,
  };
  if (status === "uninitialized" || status === "starting" || status === "stopping") {
    return snapshot;
  }
  try {
    const entries = await service.clusterMembers();
    snapshot.members = entries.map(({ certificate: _c, fingerprint: _f, ...row }) => row);
    const { local, cluster } = service.extensions();
    snapshot.extensions = { local, cluster };
    const report = service.upgradeStatus();
    snapshot.upgrade = { ...report, members: watch.rows(report), refused: watch.refused() };
  } catch {
    // The member changed phase while this was read: the next change sends a full snapshot.
  }
  return snapshot;
}
