/**
 * Refused starts, kept visible. A member whose start the upgrade gate refuses never announces the
 * versions it tried: every member keeps counting it with the versions it last ran with. What it
 * tried, when and why goes into its own roster record instead (`refused`, signed like the rest
 * of the record; see `lib/cluster/roster.ts`), which `cluster list`, `GET /core/1.0/upgrade` and
 * `cohort upgrade status` show as "start refused at T with versions …: reason" until the member
 * next runs (opens or waits), when it rewrites its record without it.
 *
 * @module
 */
import type { MemberVersion } from "../cluster/compat.ts";
import { RECORD_LIMITS } from "../cluster/replicated_record.ts";
import type { JsonValue } from "../json_value.ts";
import { MEMBER_RECORD, type RefusedStart, type RosterEntry } from "../cluster/roster.ts";
import type { GossipHandle } from "./gossip_port.ts";

/** A refused start as listed by the API. */
export interface StartRefusal {
  /** When the start was refused (RFC 3339). */
  at: string;
  schema_internal_version: number;
  schema_external_version: number;
  /** The extension list it tried (its first entries when the list is very long). */
  extensions: string[];
  /** The number of extensions it tried. */
  extension_count: number;
  /** The gate's reason. */
  reason: string;
  /** `start refused at T with versions …: reason`, one line for people. */
  summary: string;
}

/** Longest reason kept, chars (the roster record holds a certificate too). */
const MAX_REASON = 700;
/** Room kept in the record for the signature the gossip layer adds on write, chars. */
const SIGNATURE_ROOM = 200;

/** The refusal of a start with `tried` at `at` for `reason`, sized to fit in `entry`'s record. */
function refusalFor(
  entry: RosterEntry,
  tried: MemberVersion,
  reason: string,
  at: number,
): RefusedStart {
  const refused: RefusedStart = {
    at,
    schemaInternal: tried.schemaInternal,
    schemaExternal: tried.schemaExternal,
    extensions: [...tried.extensions],
    count: tried.extensions.length,
    reason: reason.slice(0, MAX_REASON),
  };
  const budget = RECORD_LIMITS.valueChars - SIGNATURE_ROOM;
  const { sig: _, ...unsigned } = entry;
  while (
    refused.extensions.length && JSON.stringify({ ...unsigned, refused }).length > budget
  ) refused.extensions.pop();
  return refused;
}

/** This member's entry, without the signature the gossip layer adds again on write. */
function ownEntry(gossip: GossipHandle, name: string): RosterEntry | undefined {
  const value = gossip.record(MEMBER_RECORD, name)?.value;
  if (!value || typeof value !== "object" || Array.isArray(value)) return undefined;
  const { sig: _, ...entry } = value as unknown as RosterEntry;
  return entry;
}

/** Publishes a refused start in this member's roster record (no-op without a record). */
export function publishRefusal(
  gossip: GossipHandle,
  name: string,
  tried: MemberVersion,
  reason: string,
  at: number,
): void {
  const entry = ownEntry(gossip, name);
  if (!entry) return;
  const refused = refusalFor(entry, tried, reason, at);
  gossip.setRecord(MEMBER_RECORD, name, { ...entry, refused } as unknown as JsonValue);
}

/** Withdraws this member's refused start, if its record shows one: it runs now. */
export function withdrawRefusal(gossip: GossipHandle, name: string): void {
  const entry = ownEntry(gossip, name);
  if (!entry?.refused) return;
  const { refused: _, ...rest } = entry;
  gossip.setRecord(MEMBER_RECORD, name, rest as unknown as JsonValue);
}

/** The refused start a roster entry shows, for the API. */
export function refusalOf(entry: RosterEntry | undefined): StartRefusal | undefined {
  const v = entry?.refused;
  if (!v) return undefined;
  const at = new Date(v.at).toISOString();
  const list = v.extensions.join(", ") + (v.count > v.extensions.length ? ", …" : "");
  return {
    at,
    schema_internal_version: v.schemaInternal,
    schema_external_version: v.schemaExternal,
    extensions: [...v.extensions],
    extension_count: v.count,
    reason: v.reason,
    summary: `start refused at ${at} with versions internal schema ${v.schemaInternal}, ` +
      `app schema ${v.schemaExternal}, extensions [${list}]: ${v.reason}`,
  };
}
