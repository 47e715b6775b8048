/**
 * Replicated records: a small last-writer-wins map every member converges on without a leader.
 * The record's shape and limits ({@link ReplicatedRecord}, {@link RECORD_LIMITS}), the store a
 * member offers ({@link RecordStore}), and the merge rule every member applies
 * ({@link compareRecords}). Types and pure helpers only: the table lives in `gossip/records.ts`.
 *
 * @module
 */
import type { JsonValue } from "../json_value.ts";

/**
 * One entry of the cluster-wide last-writer-wins map, identified by `kind` + `key` (e.g. a
 * join-token record, its single-use tombstone, a "member removed" tombstone). Immutable: a
 * change is a new record with a higher version. Records are meant to be few (tens to
 * hundreds) and small: every push-pull carries all of them.
 */
export interface ReplicatedRecord {
  /** The record family (`"token"`, `"removed"`, …): 1 to {@link RECORD_LIMITS}`.kind` chars. */
  readonly kind: string;
  /** The key within the family: 1 to {@link RECORD_LIMITS}`.key` chars. */
  readonly key: string;
  /**
   * The value; `null` is a tombstone (deleted, consumed, removed), kept and gossiped like a value
   * so that an older version cannot come back. At most {@link RECORD_LIMITS}`.valueChars` chars
   * of JSON.
   */
  readonly value: JsonValue | null;
  /** The writer's clock (ms) at the write, raised above the version it replaced. */
  readonly version: number;
  /** The writer's member name. */
  readonly origin: string;
  /**
   * When (clock ms) every member drops the record, tombstones included; absent: never.
   * Compared with each member's own clock, so clocks must be roughly in sync.
   */
  readonly expiresAt?: number;
}

/**
 * How long a tombstone written without an expiry (a removed member's roster record) is kept
 * after its version, ms (30 days, as a revoked token's): past it every member forgets the
 * removal (`gossip/records.ts`, the store), so that what a cluster holds grows with its size
 * and recent changes, not with every removal it ever made. A member record first heard of
 * later than that after its admission is refused (`roster_rules.ts`): it can only be a
 * removed incarnation brought back by a member that was away all that time.
 */
export const TOMBSTONE_LAPSE_MS = 30 * 86_400_000;

/**
 * When `r` stops being held (ms, the wall clock): its expiry, or for a tombstone written without
 * one (a removed member's roster record), {@link TOMBSTONE_LAPSE_MS} after its version; each
 * member forgets it by its own clock, so the wire is unchanged. `undefined`: never.
 */
export function lapsesAt(
  r: { readonly value: unknown; readonly version: number; readonly expiresAt?: number | null },
): number | undefined {
  if (r.expiresAt !== undefined && r.expiresAt !== null) return r.expiresAt;
  return r.value === null ? r.version + TOMBSTONE_LAPSE_MS : undefined;
}

/** Size limits of a {@link ReplicatedRecord}, enforced on local writes and on the wire. */
export const RECORD_LIMITS: Readonly<{ kind: number; key: number; valueChars: number }> = Object
  .freeze({
    /** Longest `kind` (chars). */
    kind: 64,
    /** Longest `key` (chars): a member name fits. */
    key: 256,
    /**
     * Longest `value` as JSON text (chars): room for a certificate PEM. A record larger than the
     * message budget travels alone in dedicated gossip messages, never on probes.
     */
    valueChars: 4096,
  });

/**
 * What {@link RecordStore.setRecord} takes: a {@link JsonValue}, or a plain object typed by an
 * interface (TypeScript gives interfaces no index signature, so they are not `JsonValue`s);
 * either is checked at run time and stored as a frozen deep copy.
 */
export type RecordInput = JsonValue | Readonly<Record<string, unknown>>;

/** Payload of `record-change`. */
export interface RecordChangeEvent {
  /** The record now held (its `value` is `null` for a tombstone). */
  readonly record: ReplicatedRecord;
  /** The record it replaced; `undefined` when none was held (or it had expired). */
  readonly previous: ReplicatedRecord | undefined;
}

/** Options of {@link RecordStore.setRecord}. */
export interface SetRecordOptions {
  /**
   * Expiry (clock ms). Default: none for a value; for a tombstone, the expiry of the record it
   * replaces, so that the tombstone lives exactly as long as anything it must suppress.
   */
  readonly expiresAt?: number;
  /**
   * Expiry as a lifetime (ms after the record's version), in place of `expiresAt`. Where the
   * cluster bounds a record's expiry by its version (a removal note, an app tombstone), the two
   * must be dated on one clock, the record table's: a date the caller read from another clock
   * (the daemon's wall clock is not the engine's to the ms) lands past the bound whenever that
   * clock is ahead, and every other member refuses the record.
   */
  readonly lifetimeMs?: number;
}

/**
 * The cluster-wide last-writer-wins record map. Merge rule ({@link compareRecords}): the higher
 * `version` wins; on a tie a tombstone wins; then the higher `origin`; so every member converges
 * on the same record whatever order writes arrive in. Reads never return expired records.
 */
export interface RecordStore {
  /**
   * Writes a record locally (version `max(now, current version + 1)`, so it supersedes what
   * this member has seen), emits `record-change` and gossips it. `value` `null` writes a
   * tombstone. Returns the record written.
   *
   * @throws {InvalidInputError} for an empty or too long kind or key, a value that is not JSON
   *   or is larger than {@link RECORD_LIMITS}`.valueChars`, or a bad `expiresAt`.
   */
  setRecord(
    kind: string,
    key: string,
    value: RecordInput | null,
    options?: SetRecordOptions,
  ): ReplicatedRecord;
  /** The current record (tombstones included), or `undefined` when unknown or expired. */
  record(kind: string, key: string): ReplicatedRecord | undefined;
  /** Every current record of a kind (tombstones included, expired ones not), in no order. */
  records(kind: string): ReplicatedRecord[];
}

/**
 * Orders two versions of the same record: positive when `a` wins, negative when `b` wins, `0`
 * when they are the same. Higher `version` wins; on a tie a tombstone wins; then the higher
 * `origin`; then (only a misbehaving writer reuses a version) the larger JSON of value and
 * expiry, so the order is total and every member picks the same winner.
 */
export function compareRecords(a: ReplicatedRecord, b: ReplicatedRecord): number {
  if (a.version !== b.version) return a.version > b.version ? 1 : -1;
  const aDead = a.value === null;
  if (aDead !== (b.value === null)) return aDead ? 1 : -1;
  if (a.origin !== b.origin) return a.origin > b.origin ? 1 : -1;
  if (a === b) return 0;
  // The same record received again (every update arrives several times): told apart without
  // serialising both values, which cost more than the rest of the receive path.
  if ((a.expiresAt ?? null) === (b.expiresAt ?? null) && sameJson(a.value, b.value)) return 0;
  const x = JSON.stringify([a.value, a.expiresAt ?? null]);
  const y = JSON.stringify([b.value, b.expiresAt ?? null]);
  return x === y ? 0 : x > y ? 1 : -1;
}

/**
 * Whether two JSON values have the same JSON text (object keys compared in order, as
 * `JSON.stringify` writes them), without building it. `b` bounds the depth: it is a value held.
 */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (let i = 0; i < ka.length; i++) {
    const k = ka[i];
    if (k !== kb[i]) return false;
    if (!sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) {
      return false;
    }
  }
  return true;
}
