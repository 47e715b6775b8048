/**
 * Opening a libSQL client without loading what the URL does not need: `@libsql/client` loads
 * its remote clients (WebSocket and HTTP, with their protocol library) whatever the URL, about
 * 3 MB of an idle member's memory that a `file:` database, the default, never uses.
 *
 * @module
 */
import type { Client, Config } from "@libsql/client";
import { createClient as createLocalClient } from "@libsql/client/sqlite3";

/** URL schemes of a database served over the network (libSQL's remote clients). */
const REMOTE = /^(libsql|wss?|https?):/i;

/**
 * libSQL's `createClient` for `config.url`: the local client alone for a file or in-memory
 * database, the full client for a remote one. Throws as `createClient` does (a bad URL).
 *
 * A local database opens synchronously, as `createClient` does: opening a member's store takes
 * no turn of the event loop, which whole-member simulations rely on to replay a seed (a module
 * loaded on the way is real I/O that a loaded machine finishes at another simulated moment).
 * Only a remote one loads its client first (a promise).
 */
export function openClient(config: Config): Client | Promise<Client> {
  if (!REMOTE.test(config.url)) return createLocalClient(config);
  return import("@libsql/client").then(({ createClient }) => createClient(config));
}
