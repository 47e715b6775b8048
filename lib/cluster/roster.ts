/**
 * The roster: the cluster-wide list of admitted members, kept as replicated records of kind
 * `member` (key: member name) in the gossip layer. A record is written by the member that
 * admits a joiner (or by the bootstrapper about itself) and turned into a tombstone by removal.
 * Trust is derived from it: a member's certificate is trusted exactly while its record is live.
 *
 * @module
 */
import type { RecordStore, ReplicatedRecord } from "./membership.ts";

/** Record kind of roster entries. */
export const MEMBER_RECORD = "member";
/** Record kind of join tokens (key: hash of the secret). */
export const TOKEN_RECORD = "token";

/** The value of a `member` record. */
export interface RosterEntry {
  /** `host:port`. */
  address: string;
  /** The member's certificate (PEM). */
  certificate: string;
  /** Hex SHA-256 of `certificate`. */
  fingerprint: string;
  /** When the join was accepted (ms since the epoch). */
  joinedAt: number;
  /**
   * Set by the member that admitted it, cleared by the joiner once its `preJoin` hook has
   * passed: only then has the member joined (and the others run `onNewMember`). Absent on a
   * bootstrap member's record.
   */
  joining?: boolean;
}

/** Whether a roster record's value is a member that has completed its join. */
export function hasJoined(entry: { joining?: unknown } | null | undefined): boolean {
  return !!entry && entry.joining !== true;
}

/** The value of a `token` record. */
export interface TokenEntry {
  /** Name of the member the token admits. */
  name: string;
  /** Expiry in ms since the epoch; `null` = never. */
  expiresAt: number | null;
  /** When it was issued (ms since the epoch). */
  createdAt: number;
}

function isRosterEntry(v: unknown): v is RosterEntry {
  const e = v as RosterEntry;
  return typeof e === "object" && e !== null && typeof e.address === "string" &&
    typeof e.certificate === "string" && typeof e.fingerprint === "string" &&
    typeof e.joinedAt === "number";
}

function isTokenEntry(v: unknown): v is TokenEntry {
  const e = v as TokenEntry;
  return typeof e === "object" && e !== null && typeof e.name === "string" &&
    (e.expiresAt === null || typeof e.expiresAt === "number") && typeof e.createdAt === "number";
}

/** Live roster entries by member name (tombstones and malformed records skipped). */
export function rosterOf(records: RecordStore): Map<string, RosterEntry> {
  const out = new Map<string, RosterEntry>();
  for (const r of records.records(MEMBER_RECORD)) {
    if (r.value !== null && isRosterEntry(r.value)) out.set(r.key, r.value);
  }
  return out;
}

/** Whether `name` was removed (its roster record is a tombstone). */
export function isRemoved(records: RecordStore, name: string): boolean {
  const r = records.record(MEMBER_RECORD, name);
  return r !== undefined && r.value === null;
}

/** The token record for a secret hash: live, consumed (tombstone) or unknown. */
export function tokenOf(
  records: RecordStore,
  secretHash: string,
): { state: "live"; entry: TokenEntry } | { state: "used" } | { state: "unknown" } {
  const r = records.record(TOKEN_RECORD, secretHash);
  if (!r) return { state: "unknown" };
  if (r.value === null) return { state: "used" };
  return isTokenEntry(r.value) ? { state: "live", entry: r.value } : { state: "unknown" };
}

/** Live token records as `[secretHash, entry]` pairs. */
export function tokensOf(records: RecordStore): [string, TokenEntry][] {
  const out: [string, TokenEntry][] = [];
  for (const r of records.records(TOKEN_RECORD)) {
    if (r.value !== null && isTokenEntry(r.value)) out.push([r.key, r.value]);
  }
  return out;
}

/** Whether a record is a roster or token record (the kinds the daemon persists). */
export function isPersistedKind(record: ReplicatedRecord): boolean {
  return record.kind === MEMBER_RECORD || record.kind === TOKEN_RECORD;
}
