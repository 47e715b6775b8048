/**
 * A member's store made fresh again when it leaves its cluster: the app's tables, its migrations
 * and everything cohort kept (roster records, token hashes) are gone, not only emptied. A
 * `file:` database is deleted with its WAL and journal files and created anew, so nothing of it
 * survives in free pages either; any other database has every table dropped with SQLite's
 * `secure_delete` on, then is vacuumed. Either way the store is reopened and migrated as a
 * fresh member's would be.
 *
 * @module
 */
import type { Clock } from "../cluster/clock.ts";
import { files } from "../files.ts";
import type { Logger } from "../log.ts";
import { openStore, type Store } from "../store/open.ts";

/** The database file of a `file:` libSQL URL, or `undefined` for any other URL. */
export function databaseFile(url: string): string | undefined {
  if (!url.startsWith("file:")) return undefined;
  const path = url.slice("file:".length).split("?")[0];
  return path.startsWith("//") ? path.slice(2) : path;
}

/** Drops every table, view, index and trigger, overwriting freed pages, then vacuums. */
async function dropEverything(store: Store): Promise<void> {
  await store.client.execute("PRAGMA secure_delete = ON");
  const objects = await store.client.execute(
    "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' AND type IN ('table', 'view', 'trigger')",
  );
  await store.client.execute("PRAGMA foreign_keys = OFF");
  for (const row of objects.rows) {
    const [type, name] = [String(row[0]).toUpperCase(), String(row[1]).replaceAll('"', '""')];
    await store.client.execute(`DROP ${type} IF EXISTS "${name}"`);
  }
  await store.client.execute("VACUUM");
}

/**
 * Closes `store`, makes its database fresh (see the module docs) and opens it again with every
 * migration applied.
 */
export async function recreateStore(
  store: Store,
  options: {
    url: string;
    appMigrations?: string;
    logger: Logger;
    /** The member's clock (see `StoreOptions.clock`). */
    clock?: Pick<Clock, "now" | "setTimeout" | "clearTimeout">;
  },
): Promise<Store> {
  const file = databaseFile(options.url);
  if (file) {
    store.close();
    for (const suffix of ["", "-wal", "-shm", "-journal"]) {
      await files().rm(file + suffix, { force: true });
    }
  } else if (options.url !== ":memory:") {
    await dropEverything(store);
    store.close();
  } else {
    store.close(); // an in-memory database is gone with its connection
  }
  return await openStore({
    url: options.url,
    appMigrations: options.appMigrations,
    logger: options.logger,
    clock: options.clock,
  });
}
