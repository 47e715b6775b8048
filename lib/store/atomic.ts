/**
 * All-or-nothing writes that never hold the database's write lock across a turn of the event
 * loop. libSQL waits for a lock synchronously (its busy timeout blocks the thread): an
 * interactive transaction that awaits between its statements would hold the lock while another
 * write of the same member waits on it with the event loop blocked, so the transaction could not
 * finish and the other write failed "the database is busy". A batch runs its statements in one
 * synchronous call, inside one transaction.
 *
 * @module
 */
import type { BatchItem } from "drizzle-orm/batch";
import type { Executor } from "./types.ts";

/**
 * Runs `queries` (Drizzle query builders on `db`) in order, all or nothing: as one batch on a
 * database, or one after the other inside a transaction the caller already opened (`{ db: tx }`),
 * which then owns atomicity.
 */
export async function writeAtomically(
  db: Executor,
  queries: readonly BatchItem<"sqlite">[],
): Promise<void> {
  if (queries.length === 0) return;
  const batch = (db as { batch?: (q: readonly BatchItem<"sqlite">[]) => Promise<unknown> }).batch;
  if (typeof batch === "function") {
    await batch.call(db, queries);
    return;
  }
  for (const query of queries) await query;
}
