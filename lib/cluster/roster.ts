/**
 * The roster: the cluster-wide list of admitted members, kept as replicated records of kind
 * `member` (key: member name) in the gossip layer. A record is written by the member that
 * admits a joiner (or by the bootstrapper about itself) and turned into a tombstone by removal.
 * Trust is derived from it: a member's certificate is trusted exactly while its record is live.
 *
 * Who may write which record, and how a receiver decides what it missed: `roster_rules.ts`.
 *
 * @module
 */
import { storedAddress } from "./address_stored.ts";
import type { RecordStore, ReplicatedRecord } from "./replicated_record.ts";

/** Record kind of roster entries. */
export const MEMBER_RECORD = "member";
/** Record kind of join tokens (key: hash of the secret). */
export const TOKEN_RECORD = "token";
/**
 * Record kind of removal notes (key: the removed member's name, value `{ force }`): written by
 * the member that runs a removal just before the tombstone, so every remaining member's
 * `postRemove` is told whether the removal was forced. Short-lived (they expire).
 */
export const REMOVAL_RECORD = "removal";
/** How long a removal note lives, ms (it only has to outlive the tombstone's spread). */
export const REMOVAL_NOTE_MS = 3_600_000;

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
  /** Who admitted the member, and its signature of {@link admissionPayload} (added on write). */
  admission?: Admission;
  /** The writer's signature of {@link recordPayload} (added on write). */
  sig?: string;
  /**
   * The member's last start, refused by the upgrade gate, with the versions it tried (which it
   * never announced) and why; written by the member itself, removed when it next runs (see
   * `lib/daemon/refusals.ts`).
   */
  refused?: RefusedStart;
}

/** A start the upgrade gate refused, as a member records it in its own roster entry. */
export interface RefusedStart {
  /** When (ms since the epoch). */
  at: number;
  schemaInternal: number;
  schemaExternal: number;
  /** The extensions it tried (the first ones when the list is long). */
  extensions: string[];
  /** How many extensions it tried. */
  count: number;
  /** The gate's reason. */
  reason: string;
}

/** The admitting member's proof that it let a certificate in under a name. */
export interface Admission {
  /** The admitting member (the member itself for the bootstrap member). */
  by: string;
  /** `by`'s signature (base64url ECDSA P-256, IEEE P1363) of {@link admissionPayload}. */
  sig: string;
  /**
   * The version of the removal (tombstone) of the name's previous holder that this admission
   * follows, as the admitting member held it; absent when it held none. Lower than `joinedAt`.
   */
  after?: number;
}

/** The most live (non-tombstone) roster records a member accepts. */
export const MAX_ROSTER = 4096;
/** The most live join-token records a member accepts. */
export const MAX_TOKENS = 1024;

/** What an admission signature covers (`after`: see {@link Admission.after}). */
export function admissionPayload(
  name: string,
  certificate: string,
  joinedAt: number,
  after?: number,
): string {
  return after === undefined
    ? JSON.stringify(["admission", name, certificate, joinedAt])
    : JSON.stringify(["admission", name, certificate, joinedAt, after]);
}

/**
 * What a record signature covers: everything of the record but the signature itself (`value`
 * without its `sig`), the value in canonical JSON (object keys sorted), so every member computes
 * the same text.
 */
export function recordPayload(record: ReplicatedRecord, value: unknown): string {
  return JSON.stringify([
    "record",
    record.kind,
    record.key,
    canonicalJson(value),
    record.version,
    record.origin,
    record.expiresAt ?? null,
  ]);
}

/** JSON text with object keys sorted at every level. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  if (typeof v === "object" && v !== null) {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(",")}}`;
  }
  return JSON.stringify(v) ?? "null";
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

/**
 * Live roster entries by member name (tombstones and malformed records skipped), each address in
 * its one spelling.
 */
export function rosterOf(records: RecordStore): Map<string, RosterEntry> {
  const out = new Map<string, RosterEntry>();
  for (const r of records.records(MEMBER_RECORD)) {
    const entry: unknown = r.value;
    if (entry === null || !isRosterEntry(entry)) continue;
    // A record an earlier release wrote may spell the address otherwise (`127.0.0.1:09101`):
    // tokens, the list and address checks take its one spelling. The record itself, signed as
    // written, is left as it is.
    const address = storedAddress(entry.address);
    out.set(r.key, address === entry.address ? entry : { ...entry, address });
  }
  // A join still pending whose admitting member was removed since can no longer be vouched
  // for: it is not trusted (a certificate a removed member let in leaves with it, unless the
  // joiner completed its join, and then only its own removal takes it out).
  // So is one admitted by an earlier incarnation of its admitting member, removed since (the
  // admitting member's record states a removal no earlier than the admission).
  for (const [name, e] of out) {
    const by = e.joining === true ? e.admission?.by : undefined;
    if (by === undefined || by === name) continue;
    const removed = out.get(by)?.admission?.after ?? -1;
    if (!out.has(by) || removed >= e.joinedAt) out.delete(name);
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
