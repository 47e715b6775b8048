/**
 * The member rows a member keeps in its store (`core_cluster_members`), as its view's
 * persistence (`persistence.ts`) writes them: each built from the member as the API lists it
 * ({@link memberRow}), and written again only when a field other than its heartbeat changed, or
 * its heartbeat moved by {@link HEARTBEAT_PERSIST_MS} ({@link needsWrite}): rewriting every row
 * on every batch held the event loop (a store commit is synchronous) for tens of ms per batch
 * while a cluster of 50 formed.
 *
 * @module
 */
import type { MemberVersion } from "../cluster/compat.ts";
import type { NewMember } from "../store/members.ts";
import type { ClusterMemberEntry } from "./service.ts";

/**
 * How far a member's last heartbeat may move before its row is written for that alone, in ms.
 * The stored heartbeat only matters after a restart, for members gossip has not heard from yet
 * (their last-seen time and the start of their dead grace).
 */
export const HEARTBEAT_PERSIST_MS = 10_000;

/** What a member's stored row holds (as {@link rowKey} and heartbeat), as far as it was written. */
export interface WrittenRow {
  key: string;
  heartbeat: number;
}

/**
 * The stored row of member `e` (as the API lists it), its heartbeat (ms since the epoch; 0 when
 * never heard), and its versions when known (what a restart remembers of it until gossip has).
 */
export function memberRow(
  e: ClusterMemberEntry,
): { row: NewMember; heartbeat: number; version: MemberVersion | undefined } {
  const parsed = Date.parse(e.last_heartbeat);
  const heartbeat = parsed > 0 ? parsed : 0;
  const known = e.extension_verdict.verdict !== "unknown";
  const version = known
    ? {
      schemaInternal: e.schema_internal_version,
      schemaExternal: e.schema_external_version,
      extensions: e.extensions,
    }
    : undefined;
  const row: NewMember = {
    name: e.name,
    address: e.address,
    certificate: e.certificate,
    role: e.role as NewMember["role"],
    heartbeat,
    schemaInternal: e.schema_internal_version,
    schemaExternal: e.schema_external_version,
    appVersion: e.app_version,
    ...(known ? { extensions: e.extensions } : {}),
  };
  return { row, heartbeat, version };
}

/**
 * Whether a row of key `key` and heartbeat `heartbeat` must be written over what was written
 * (`before`; `undefined`: nothing): a field other than the heartbeat changed, the heartbeat moved
 * by {@link HEARTBEAT_PERSIST_MS} (with `allHeartbeats`, at all: the member stops), or it was
 * never heard before.
 */
export function needsWrite(
  before: WrittenRow | undefined,
  key: string,
  heartbeat: number,
  allHeartbeats: boolean,
): boolean {
  const moved = before ? heartbeat - before.heartbeat : Infinity;
  return !(
    before?.key === key &&
    !(moved >= HEARTBEAT_PERSIST_MS || (allHeartbeats && moved > 0) ||
      (before.heartbeat === 0 && heartbeat > 0))
  );
}

/** A member row without its heartbeat, as one comparable string. */
export function rowKey(row: NewMember): string {
  return JSON.stringify([
    row.address,
    row.certificate,
    row.role,
    row.schemaInternal,
    row.schemaExternal,
    row.appVersion,
    row.extensions ?? null,
  ]);
}
