/**
 * Makes what a member's store committed durable ({@link syncStore}): the store commits with
 * `synchronous = NORMAL`, whose commits an operating-system crash, or a file system that turns
 * read-only after an I/O error, may take back, so a caller about to remove what a restart would
 * otherwise read (the view a join kept) syncs first (`persistence.ts`).
 *
 * @module
 */
import { files } from "../files.ts";
import { toSyncError } from "../store/errors.ts";
import { databaseFile } from "./store_reset.ts";

/**
 * Fsyncs the database file of a `file:` URL and its WAL, off the event loop; a file that is not
 * there (no WAL yet) is skipped, another URL has nothing to sync. A sync that fails throws a
 * disk error naming no path (`toSyncError`), as the store's own errors are.
 */
export async function syncStore(url: string): Promise<void> {
  const path = databaseFile(url);
  if (path === undefined) return;
  for (const [file, action] of [[path, "Sync the database"], [`${path}-wal`, "Sync its log"]]) {
    try {
      await files().sync(file);
    } catch (err) {
      if ((err as { code?: unknown }).code !== "ENOENT") throw toSyncError(err, action);
    }
  }
}
