/**
 * The store's shared types, kept apart so that `open.ts` and `migrate.ts` do not import each
 * other.
 *
 * @module
 */
import type { Client } from "@libsql/client";
import type { LibSQLDatabase } from "drizzle-orm/libsql";
import type * as schema from "./schema.ts";

/** The Drizzle database over cohort's schema. */
export type StoreDb = LibSQLDatabase<typeof schema>;

/**
 * Anything repository functions can run on: the store's `db` or a transaction opened on it
 * (`store.db.transaction((tx) => listMembers({ db: tx }))`).
 */
export type Executor = Pick<
  StoreDb,
  "select" | "insert" | "update" | "delete" | "transaction" | "run" | "all" | "get"
>;

/** Something holding a Drizzle database or transaction: a {@link Store}, or `{ db: tx }`. */
export interface HasDb {
  db: Executor;
}

/** Migration kinds, named as in MicroCluster. */
export type MigrationKind = "internal" | "external";

/** A number of migrations per kind. */
export interface SchemaVersions {
  /** cohort's own migrations. */
  internal: number;
  /** The embedding app's migrations (0 without an app folder). */
  external: number;
}

/** Where a database is, for a second connection to it (the SQL console's child process). */
export interface StoreLocation {
  /** A libSQL URL: `file:…`, `:memory:` or a remote one. */
  readonly url: string;
  /** Auth token of a remote URL (handed over on stdin, never on a command line). */
  readonly authToken?: string;
}

/** An open database. Close it with {@link Store.close}. */
export interface Store {
  /** The Drizzle database (relational queries included). */
  readonly db: StoreDb;
  /** The underlying libSQL client, for raw SQL (`cohort sql`). */
  readonly client: Client;
  /** Where it was opened. */
  readonly location: StoreLocation;
  /** Migrations this code knows, per kind (this member's schema versions). */
  readonly versions: Readonly<SchemaVersions>;
  /**
   * Stores what was committed on the disk: waits for the writer's writes, then checkpoints the
   * log into the database file, which syncs both (commits append to the log without a sync,
   * `synchronous = NORMAL`); while another connection reads the database, syncs the log and
   * keeps it instead (`flush_log.ts`). Nothing to do for a database in memory or remote.
   *
   * @throws {CohortError} (a {@link NoSpaceError} or `DiskError`, 507) when the disk refused:
   *   the commits since the last sync may not be on it.
   */
  flush(): Promise<StoreFlush>;
  /** Closes the client. Idempotent. */
  close(): void;
}

/** How {@link Store.flush} stored what was committed. */
export interface StoreFlush {
  /**
   * `true` when another connection (an operator's `sqlite3`, a backup, the SQL console's
   * process) was reading the database: the log could not be copied into the database file, so
   * it was synced where it is and stays, for whoever opens the database next to copy in.
   * Nothing committed is lost. `false` when the log was copied in and emptied, or there is none.
   */
  readonly logKept: boolean;
}
