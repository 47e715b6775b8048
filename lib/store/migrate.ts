/**
 * Schema migrations of the two kinds, after MicroCluster's internal and external schema updates
 * (§1.10): cohort's own from `lib/store/migrations` and the embedding app's drizzle-kit folder.
 * A kind's version is its number of migrations: what the code knows (journal entries) and what
 * the database applied (rows of its migrations table).
 *
 * drizzle's migrator applies every journal entry whose timestamp is later than the last applied
 * one, so a migration generated on a branch with an older timestamp would be skipped silently;
 * the history check here refuses such a database instead.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Client } from "@libsql/client";
import { migrate } from "drizzle-orm/libsql/migrator";
import { IncompatibleError, InvalidInputError } from "../errors.ts";
import { type Logger, silentLogger } from "../log.ts";
import { toStoreError } from "./errors.ts";
import type { MigrationKind, SchemaVersions, Store } from "./types.ts";

/** Where each kind's applied migrations are recorded. */
export const MIGRATIONS_TABLES: Readonly<Record<MigrationKind, string>> = Object.freeze({
  internal: "__cohort_migrations",
  external: "__cohort_app_migrations",
});

/** cohort's own migrations folder, next to this file both in the sources and in `dist/`. */
export const INTERNAL_MIGRATIONS: string = fileURLToPath(new URL("./migrations", import.meta.url));

/**
 * Reads the journal `when` timestamps (ms) of a drizzle-kit migrations folder, in journal order.
 *
 * @throws {InvalidInputError} when the journal is missing, malformed, or not in strictly
 *   increasing time order (drizzle's migrator would then skip migrations silently).
 */
export function readJournal(folder: string): number[] {
  let entries: unknown;
  try {
    entries = JSON.parse(readFileSync(`${folder}/meta/_journal.json`, "utf8")).entries;
  } catch (err) {
    throw new InvalidInputError(
      `Read migrations journal "${folder}/meta/_journal.json": ${(err as Error).message}`,
      { cause: err },
    );
  }
  if (!Array.isArray(entries)) {
    throw new InvalidInputError(`Read migrations journal of "${folder}": no "entries" array`);
  }
  const times = entries.map((e) => Number((e as { when?: unknown })?.when));
  times.forEach((t, i) => {
    if (!Number.isSafeInteger(t) || (i > 0 && t <= times[i - 1])) {
      throw new InvalidInputError(
        `Read migrations journal of "${folder}": entry ${i} is not later than the one before it`,
      );
    }
  });
  return times;
}

/** `created_at` of the applied migrations of one kind, oldest first (none if never migrated). */
async function appliedTimes(client: Client, kind: MigrationKind): Promise<number[]> {
  const table = MIGRATIONS_TABLES[kind];
  const exists = await client.execute({
    sql: "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
    args: [table],
  });
  if (exists.rows.length === 0) return [];
  const rows = await client.execute(`SELECT created_at FROM "${table}" ORDER BY created_at`);
  return rows.rows.map((r) => Number(r[0]));
}

/** The number of migrations of each kind the database has applied. */
export async function appliedVersions(store: Pick<Store, "client">): Promise<SchemaVersions> {
  try {
    const [internal, external] = await Promise.all([
      appliedTimes(store.client, "internal"),
      appliedTimes(store.client, "external"),
    ]);
    return { internal: internal.length, external: external.length };
  } catch (err) {
    throw toStoreError(err, "Read applied schema versions");
  }
}

/**
 * Refuses a database that is ahead of the code, or whose history is not a prefix of the code's
 * journal (a migration generated on a branch with an older timestamp would be skipped).
 */
function checkHistory(kind: MigrationKind, applied: number[], known: number[]): void {
  if (applied.length > known.length) {
    throw new IncompatibleError(
      `Schema version ${applied.length} of ${kind} migrations is more recent than this member's ${known.length}: please upgrade`,
    );
  }
  const at = applied.findIndex((t, i) => t !== known[i]);
  if (at !== -1) {
    throw new IncompatibleError(
      `Check ${kind} migrations: applied migration ${at} (created ${
        applied[at]
      }) is not this member's migration ${at} (created ${
        known[at]
      }): the migration history diverged`,
    );
  }
}

async function migrateKind(
  store: Pick<Store, "db" | "client">,
  kind: MigrationKind,
  folder: string,
  logger: Logger,
  apply = true,
): Promise<number> {
  const known = readJournal(folder);
  const applied = await appliedTimes(store.client, kind);
  checkHistory(kind, applied, known);
  if (applied.length === known.length || !apply) return 0;
  try {
    // drizzle's libSQL migrator sends every pending statement of the folder in one
    // `client.migrate` batch, which runs inside a single transaction: all or nothing.
    await migrate(store.db, { migrationsFolder: folder, migrationsTable: MIGRATIONS_TABLES[kind] });
  } catch (err) {
    throw toStoreError(err, `Apply ${kind} migrations`);
  }
  logger.info("Applied schema migrations", { kind, from: applied.length, to: known.length });
  return known.length - applied.length;
}

/** The number of migrations of each kind this code knows: the entries of each journal. */
export function knownVersions(appMigrations?: string): SchemaVersions {
  return {
    internal: readJournal(INTERNAL_MIGRATIONS).length,
    external: appMigrations ? readJournal(appMigrations).length : 0,
  };
}

/**
 * Applies the pending migrations of cohort (internal) then of the app (external, when
 * `appMigrations` is given), each kind in one transaction. Idempotent: with nothing pending it
 * changes nothing. `deferApp` checks the app's migrations without applying them (a restarted
 * member applies them only once the upgrade gate lets it run them). {@link openStore} calls it; call it again only to re-check a live database.
 *
 * @returns how many migrations of each kind were applied now.
 * @throws {IncompatibleError} when the database is ahead of this code or its history diverged.
 * @throws {CohortError} when a migration fails; that kind is then left exactly as it was.
 */
export async function applyMigrations(
  store: Pick<Store, "db" | "client">,
  options: { appMigrations?: string; logger?: Logger; deferApp?: boolean } = {},
): Promise<SchemaVersions> {
  const logger = (options.logger ?? silentLogger).child({ component: "store" });
  const internal = await migrateKind(store, "internal", INTERNAL_MIGRATIONS, logger);
  // Deferred: the app's history is checked (a database ahead of this code is still refused) but
  // nothing is applied until the caller applies again without `deferApp`.
  const external = options.appMigrations
    ? await migrateKind(store, "external", options.appMigrations, logger, !options.deferApp)
    : 0;
  return { internal, external };
}
