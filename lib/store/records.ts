/**
 * Persistence of the gossip layer's replicated records (`core_records`): loaded once at start,
 * written in batches as they change (with the former certificates their changes ended).
 *
 * @module
 */
import { and, eq, isNotNull, isNull, lte, or, sql } from "drizzle-orm";
import type { FormerCertificate } from "../cluster/former_certificates.ts";
import {
  lapsesAt,
  type ReplicatedRecord,
  TOMBSTONE_LAPSE_MS,
} from "../cluster/replicated_record.ts";
import { toStoreError } from "./errors.ts";
import { coreRecords } from "./schema.ts";
import type { HasDb } from "./types.ts";
import { writeAtomically } from "./atomic.ts";
import { formerCertificateWrites } from "./former_certificates.ts";
import { rowChunks } from "./row_chunks.ts";

const r = coreRecords;
/**
 * Most rows per statement, a power of two (see `row_chunks.ts`); six columns a row keeps far
 * below SQLite's bound-parameter limit.
 */
const CHUNK = 512;

/** Every stored record that has not expired at `now` (ms since the epoch). */
export async function loadRecords(store: HasDb, now: number): Promise<ReplicatedRecord[]> {
  try {
    const rows = await store.db.select().from(r);
    const out: ReplicatedRecord[] = [];
    for (const row of rows) {
      const lapses = lapsesAt(row);
      if (lapses !== undefined && lapses <= now) continue;
      let value: ReplicatedRecord["value"] = null;
      if (row.value !== null) {
        try {
          value = JSON.parse(row.value);
        } catch {
          continue; // a hand-edited row must not stop the member
        }
      }
      out.push({
        kind: row.kind,
        key: row.key,
        value,
        version: row.version,
        origin: row.origin,
        ...(row.expiresAt !== null ? { expiresAt: row.expiresAt } : {}),
      });
    }
    return out;
  } catch (err) {
    throw toStoreError(err, "Load replicated records");
  }
}

/**
 * Writes records (insert or replace by kind and key) in one transaction, and drops those that
 * expired by `now`. `former`: the certificates their changes ended (oldest first), written in the
 * same transaction (`former_certificates.ts`), so a restart never finds a removal without the
 * certificate it ended.
 */
export async function saveRecords(
  store: HasDb,
  records: readonly ReplicatedRecord[],
  now: number,
  former: readonly FormerCertificate[] = [],
): Promise<void> {
  try {
    const queries = [];
    for (const chunk of rowChunks(records, CHUNK)) {
      const rows = chunk.map((rec) => ({
        kind: rec.kind,
        key: rec.key,
        value: rec.value === null ? null : JSON.stringify(rec.value),
        version: rec.version,
        origin: rec.origin,
        expiresAt: rec.expiresAt ?? null,
      }));
      queries.push(
        store.db.insert(r).values(rows).onConflictDoUpdate({
          target: [r.kind, r.key],
          set: {
            value: sql`excluded.value`,
            version: sql`excluded.version`,
            origin: sql`excluded.origin`,
            expiresAt: sql`excluded.expires_at`,
          },
        }),
      );
    }
    queries.push(
      store.db.delete(r).where(or(
        and(isNotNull(r.expiresAt), lte(r.expiresAt, now)),
        // Tombstones without an expiry lapse by their version (see lapsesAt).
        and(isNull(r.expiresAt), isNull(r.value), lte(r.version, now - TOMBSTONE_LAPSE_MS)),
      )),
    );
    queries.push(...formerCertificateWrites(store.db, former));
    await writeAtomically(store.db, queries);
  } catch (err) {
    throw toStoreError(err, "Save replicated records");
  }
}

/** Deletes every record of `kind` (used when a member leaves its cluster). */
export async function clearRecords(store: HasDb, kind?: string): Promise<void> {
  try {
    await (kind ? store.db.delete(r).where(eq(r.kind, kind)) : store.db.delete(r));
  } catch (err) {
    throw toStoreError(err, "Clear replicated records");
  }
}
