/**
 * Opening a libSQL client without loading what the URL does not need: `@libsql/client` loads
 * its remote clients (WebSocket and HTTP, with their protocol library) whatever the URL, about
 * 3 MB of an idle member's memory that a `file:` database, the default, never uses.
 *
 * @module
 */
import type { Client, Config } from "@libsql/client";

/** URL schemes of a database served over the network (libSQL's remote clients). */
const REMOTE = /^(libsql|wss?|https?):/i;

/**
 * libSQL's `createClient` for `config.url`: the local client alone for a file or in-memory
 * database, the full client for a remote one. Rejects as `createClient` throws (a bad URL).
 */
export async function openClient(config: Config): Promise<Client> {
  const { createClient } = REMOTE.test(config.url)
    ? await import("@libsql/client")
    : await import("@libsql/client/sqlite3");
  return createClient(config);
}
