/**
 * Opening cohort's database: connect through libSQL, refuse a database written by newer code,
 * then apply cohort's own migrations and the embedding app's, each kind in one transaction.
 *
 * Two kinds of migrations, as MicroCluster's internal and external schema updates (§1.10):
 * - **internal**: cohort's own, from `lib/store/migrations`, recorded in `__cohort_migrations`;
 * - **external**: the app's drizzle-kit folder, recorded in `__cohort_app_migrations`.
 * A kind's version is the number of its migrations: what the code knows (`Store.versions`) and
 * what the database has applied ({@link appliedVersions}).
 *
 * @module
 */
import { type Client, createClient } from "@libsql/client";
import { drizzle, type LibSQLDatabase } from "drizzle-orm/libsql";
import { InvalidInputError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { toStoreError } from "./errors.ts";
import { applyMigrations, knownVersions } from "./migrate.ts";
import * as schema from "./schema.ts";

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

/** Options for {@link openStore}. */
export interface StoreOptions {
  /** Any libSQL URL: `"file:/path/db.sqlite"`, `":memory:"`, `"libsql://…"`. */
  url: string;
  /** Auth token for remote libSQL URLs. */
  authToken?: string;
  /** Path of the embedding app's drizzle-kit migrations folder (the one holding `meta/`). */
  appMigrations?: string;
  /** Busy timeout of local databases, in ms. @default 5000 */
  busyTimeoutMs?: number;
  /** @default silentLogger */
  logger?: Logger;
}

export { appliedVersions, applyMigrations, MIGRATIONS_TABLES } from "./migrate.ts";

/** An open database. Close it with {@link Store.close}. */
export interface Store {
  /** The Drizzle database (relational queries included). */
  readonly db: StoreDb;
  /** The underlying libSQL client, for raw SQL (`cohort sql`). */
  readonly client: Client;
  /** Migrations this code knows, per kind (this member's schema versions). */
  readonly versions: Readonly<SchemaVersions>;
  /** Closes the client. Idempotent. */
  close(): void;
}

/**
 * Opens (creating if needed) and migrates a database.
 *
 * @throws {IncompatibleError} when the database applied more migrations of a kind than this code
 *   knows (`Schema version X of internal migrations is more recent than this member's Y: please
 *   upgrade`) or its history diverged.
 * @throws {InvalidInputError} for a bad URL or an unreadable migrations folder.
 * @throws {CohortError} (never with SQL parameters in it) when a migration fails; the failed
 *   kind is then left exactly as it was.
 */
export async function openStore(options: StoreOptions): Promise<Store> {
  const known = knownVersions(options.appMigrations);
  let client: Client;
  try {
    client = createClient({
      url: options.url,
      authToken: options.authToken,
      timeout: options.busyTimeoutMs ?? 5000,
    });
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === "string" && code.startsWith("SQLITE_")) {
      throw toStoreError(err, "Open database");
    }
    // libSQL's URL errors quote the URL, which may hold an auth token: keep only the code.
    throw new InvalidInputError(`Open database: invalid URL${code ? ` (${code})` : ""}`, {
      field: "url",
    });
  }
  const db = drizzle(client, { schema });
  try {
    await applyMigrations({ db, client }, options);
  } catch (err) {
    client.close();
    throw toStoreError(err, "Open database");
  }
  return { db, client, versions: Object.freeze(known), close: () => client.close() };
}
