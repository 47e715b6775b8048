/**
 * Persistence of the certificates this member saw leave a name (`core_former_certificates`,
 * see `lib/cluster/former_certificates.ts`): loaded once at start, written with the roster
 * record whose change ended them (`saveRecords`), within the memory's bounds.
 *
 * @module
 */
import { and, asc, desc, eq, max, notInArray } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import {
  FORMER_NAMES,
  FORMER_PER_NAME,
  type FormerCertificate,
} from "../cluster/former_certificates.ts";
import { toStoreError } from "./errors.ts";
import { coreFormerCertificates } from "./schema.ts";
import type { Executor, HasDb } from "./types.ts";
import { writeAtomically } from "./atomic.ts";
import { rowChunks } from "./row_chunks.ts";

const f = coreFormerCertificates;
/**
 * Most rows per insert, a power of two (see `row_chunks.ts`); four columns a row keep far below
 * SQLite's bound-parameter limit.
 */
const CHUNK = 512;

/** Every stored former certificate, in the order they were noted (oldest first). */
export async function loadFormerCertificates(store: HasDb): Promise<FormerCertificate[]> {
  try {
    const rows = await store.db.select().from(f).orderBy(asc(f.seq));
    return rows.map((r) => ({
      name: r.name,
      certificate: r.certificate,
      fingerprint: r.fingerprint,
      until: r.until,
    }));
  } catch (err) {
    throw toStoreError(err, "Load former certificates");
  }
}

/**
 * The statements that append `former` (oldest first) and then forget what the bounds leave out:
 * each name keeps its {@link FORMER_PER_NAME} latest certificates, and the
 * {@link FORMER_NAMES} names whose last certificate left latest are kept, as the memory keeps
 * them (the bounds apply once per batch: a name the memory forgot and noted again within one
 * batch keeps its older rows too, until its {@link FORMER_PER_NAME} latest). None when `former`
 * is empty (an idle member writes nothing).
 */
export function formerCertificateWrites(
  db: Executor,
  former: readonly FormerCertificate[],
): BatchItem<"sqlite">[] {
  if (former.length === 0) return [];
  const queries: BatchItem<"sqlite">[] = [];
  for (const chunk of rowChunks(former, CHUNK)) {
    const rows = chunk.map((c) => ({
      name: c.name,
      certificate: c.certificate,
      fingerprint: c.fingerprint,
      until: c.until,
    }));
    queries.push(db.insert(f).values(rows));
  }
  for (const name of new Set(former.map((c) => c.name))) {
    const kept = db.select({ seq: f.seq }).from(f).where(eq(f.name, name))
      .orderBy(desc(f.seq)).limit(FORMER_PER_NAME);
    queries.push(db.delete(f).where(and(eq(f.name, name), notInArray(f.seq, kept))));
  }
  const names = db.select({ name: f.name }).from(f).groupBy(f.name)
    .orderBy(desc(max(f.seq))).limit(FORMER_NAMES);
  queries.push(db.delete(f).where(notInArray(f.name, names)));
  return queries;
}

/** Appends `former` (oldest first) in one transaction; see {@link formerCertificateWrites}. */
export async function saveFormerCertificates(
  store: HasDb,
  former: readonly FormerCertificate[],
): Promise<void> {
  try {
    await writeAtomically(store.db, formerCertificateWrites(store.db, former));
  } catch (err) {
    throw toStoreError(err, "Save former certificates");
  }
}

/** Forgets every former certificate (what an undone initialisation may have left). */
export async function clearFormerCertificates(store: HasDb): Promise<void> {
  try {
    await store.db.delete(f);
  } catch (err) {
    throw toStoreError(err, "Clear former certificates");
  }
}
