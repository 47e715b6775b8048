/**
 * Storing on the disk what a database file's connections committed, before the member stops.
 *
 * Commits append to the write-ahead log without a sync (`synchronous = NORMAL`): they reach the
 * disk when a checkpoint copies the log into the database file, which syncs the log first, or
 * when the kernel writes the pages back on its own (within ~30 s, and not at all before a power
 * loss or when the disk fails). A checkpoint copies only the frames no reader still needs: while
 * another connection holds a read transaction (an operator's `sqlite3` session, a backup, the
 * SQL console's process), `PRAGMA wal_checkpoint(TRUNCATE)` answers "busy" and, when the
 * reader's snapshot holds nothing left to copy, syncs nothing at all. The member then stopped
 * with its last commits in the page cache only, and said it stopped cleanly (also on a failing
 * disk: nothing had tried to write). SQLite offers no sync of the log alone, and waiting for a
 * reader may take forever (an interactive session): so the log is synced here, as a file. The
 * log then holds every commit, on the disk; whoever opens the database next (the member at its
 * next start, or the reader when it closes last) copies it in.
 *
 * @module
 */
import type { Client } from "@libsql/client";
import { files } from "../files.ts";
import { toStoreError, toSyncError } from "./errors.ts";
import type { StoreFlush } from "./types.ts";

/**
 * Checkpoints the log of database `file` (as SQLite resolved it) through `client` into the
 * database file; when another connection keeps the checkpoint from finishing, syncs the log
 * (`file-wal`) itself instead. Resolves to which of the two stored the commits.
 *
 * @throws {CohortError} ({@link NoSpaceError} or {@link DiskError}, 507) when the disk refused
 *   the checkpoint or the sync: the commits since the last sync may not be on it.
 */
export async function flushLog(client: Client, file: string): Promise<StoreFlush> {
  let busy: boolean;
  try {
    // One row: busy (1 when blocked by a reader or writer), frames in the log, frames copied.
    const { rows } = await client.execute("PRAGMA wal_checkpoint(TRUNCATE)");
    busy = Number(rows[0]?.[0]) === 1;
  } catch (err) {
    throw toStoreError(err, "Store the database's log");
  }
  if (!busy) return { logKept: false };
  try {
    await files().sync(`${file}-wal`);
  } catch (err) {
    throw toSyncError(err, "Sync the database's log");
  }
  return { logKept: true };
}
