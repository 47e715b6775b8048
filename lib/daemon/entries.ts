/**
 * Converts stored members into the API's `ClusterMemberEntry` shape.
 *
 * @module
 */
import type { Member } from "../store/members.ts";
import type { ClusterMemberEntry } from "./service.ts";

/** RFC 3339 for a heartbeat in ms since the epoch; Go's zero time for "never". */
export function heartbeatTime(ms: number): string {
  return ms > 0 ? new Date(ms).toISOString() : "0001-01-01T00:00:00Z";
}

/** A stored member as a `GET /core/1.0/cluster` entry with the given status. */
export function toClusterEntry(member: Member, status: string): ClusterMemberEntry {
  return {
    name: member.name,
    address: member.address,
    certificate: member.certificate,
    role: member.role,
    schema_internal_version: member.schemaInternal,
    schema_external_version: member.schemaExternal,
    last_heartbeat: heartbeatTime(member.heartbeat),
    status,
    extensions: member.extensions,
    app_version: member.appVersion,
  };
}
