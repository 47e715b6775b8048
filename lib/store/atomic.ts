/**
 * All-or-nothing writes that never hold the database's write lock across a turn of the event
 * loop, nor the event loop across a commit. libSQL waits for a lock synchronously (its busy
 * timeout blocks the thread): an interactive transaction that awaits between its statements
 * would hold the lock while another write of the same member waits on it with the event loop
 * blocked, so the transaction could not finish and the other write failed "the database is
 * busy". A batch runs its statements in one call, inside one transaction: on the store's
 * writer thread when it has one (`thread_writer.ts`: a commit that waits for the disk then
 * holds no probe or request), else in one synchronous call of the client.
 *
 * @module
 */
import type { BatchItem } from "drizzle-orm/batch";
import { type SqlStatement, writerOf } from "./thread_writer.ts";
import type { Executor } from "./types.ts";

/**
 * Runs `queries` (Drizzle query builders on `db`) in order, all or nothing: on the store's
 * writer thread, or as one batch on a database without one (in memory, remote), or one after
 * the other inside a transaction the caller already opened (`{ db: tx }`), which then owns
 * atomicity.
 */
export async function writeAtomically(
  db: Executor,
  queries: readonly BatchItem<"sqlite">[],
): Promise<void> {
  if (queries.length === 0) return;
  const writer = writerOf(db);
  if (writer) {
    await writer.write(queries.map((q) => (q as unknown as { toSQL(): SqlStatement }).toSQL()));
    return;
  }
  const batch = (db as { batch?: (q: readonly BatchItem<"sqlite">[]) => Promise<unknown> }).batch;
  if (typeof batch === "function") {
    await batch.call(db, queries);
    return;
  }
  for (const query of queries) await query;
}
