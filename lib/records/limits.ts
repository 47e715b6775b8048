/**
 * The rules of app records (the replicated records an app writes through
 * {@link ReplicatedRecords}): their gossip kind, their size limits and total budget, and the
 * check every member applies to an app record received from another member. The same check
 * guards local writes, so an honest write is never refused elsewhere for its shape or size.
 *
 * @module
 */
import type { ReplicatedRecord } from "../cluster/replicated_record.ts";
import { RECORD_LIMITS } from "../cluster/replicated_record.ts";

/**
 * The gossip record kind of every app record. cohort's own kinds (`member`, `token`) are never
 * reachable from the app API, and an app record can never be one of them.
 */
export const APP_RECORD = "app";

/** Size limits and budget of app records; see the README's "Replicated records". */
export const RECORDS_LIMITS: Readonly<{
  keyChars: number;
  valueChars: number;
  maxKeys: number;
  totalChars: number;
  tombstoneMs: number;
}> = Object.freeze({
  /** Longest key, in UTF-16 code units (JavaScript `length`). */
  keyChars: RECORD_LIMITS.key,
  /** Longest value, as the length of its JSON text (`JSON.stringify(value).length`). */
  valueChars: RECORD_LIMITS.valueChars,
  /** Most keys held at once, deleted keys included until their tombstone expires. */
  maxKeys: 1024,
  /** Most JSON characters of all values together (256 KiB of ASCII). */
  totalChars: 262_144,
  /** How long a deleted key's tombstone is kept (7 days, ms): see the README. */
  tombstoneMs: 7 * 24 * 3_600_000,
});

// Control characters and lone surrogates: a key is printable text.
const BAD_KEY =
  // deno-lint-ignore no-control-regex
  /[\u0000-\u001f\u007f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Why `key` is not a valid app key, or `undefined` when it is. */
export function keyProblem(key: unknown): string | undefined {
  if (typeof key !== "string") return "key: expected a string";
  if (key.length === 0) return "key: must not be empty";
  if (key.length > RECORDS_LIMITS.keyChars) {
    return `key: longer than ${RECORDS_LIMITS.keyChars} characters (${key.length})`;
  }
  if (BAD_KEY.test(key)) return "key: control characters and lone surrogates are not allowed";
  return undefined;
}

/** JSON characters of each value already measured (records are frozen and shared). */
const measured = new WeakMap<object, number>();

/** The length of a record value's JSON text; 0 for a tombstone. */
export function valueChars(record: ReplicatedRecord): number {
  if (record.value === null) return 0;
  let n = measured.get(record);
  if (n === undefined) {
    n = JSON.stringify(record.value).length;
    measured.set(record, n);
  }
  return n;
}

/** Keys and value characters held. */
export interface RecordsUsage {
  /** Keys held, tombstones of deleted keys included. */
  readonly keys: number;
  /** JSON characters of all values. */
  readonly chars: number;
}

/** The usage of a list of app records. */
export function usageOf(records: readonly ReplicatedRecord[]): RecordsUsage {
  let chars = 0;
  for (const r of records) chars += valueChars(r);
  return { keys: records.length, chars };
}

/**
 * Why `record` (an app record) may not replace `held` given what is held (`usage`), or
 * `undefined` when it may: a bad key, an expiry on a value, a tombstone kept longer than
 * {@link RECORDS_LIMITS}`.tombstoneMs`, a new key past `maxKeys`, or values past `totalChars`.
 * The value's own size and the version's range are checked by the gossip layer before.
 */
export function appRecordProblem(
  record: ReplicatedRecord,
  held: ReplicatedRecord | undefined,
  usage: RecordsUsage,
): string | undefined {
  const key = keyProblem(record.key);
  if (key) return key;
  if (record.value === null) {
    if (
      record.expiresAt === undefined ||
      record.expiresAt > record.version + RECORDS_LIMITS.tombstoneMs
    ) {
      return "expiresAt: an app tombstone expires within 7 days of its version";
    }
  } else if (record.expiresAt !== undefined) {
    return "expiresAt: app values do not expire";
  }
  if (!held && usage.keys >= RECORDS_LIMITS.maxKeys) {
    return `budget: ${RECORDS_LIMITS.maxKeys} keys are held`;
  }
  const chars = usage.chars - (held ? valueChars(held) : 0) + valueChars(record);
  if (chars > RECORDS_LIMITS.totalChars && valueChars(record) > (held ? valueChars(held) : 0)) {
    return `budget: values would take ${chars} characters (at most ${RECORDS_LIMITS.totalChars})`;
  }
  return undefined;
}
