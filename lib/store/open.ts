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
import type { Client } from "@libsql/client";
// The driver wraps the client it is given, local or remote; this entry loads only the local one.
import { drizzle } from "drizzle-orm/libsql/sqlite3";
import { openClient } from "./client.ts";
import { InvalidInputError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Clock } from "../cluster/clock.ts";
import { toStoreError } from "./errors.ts";
import { applyMigrations, knownVersions } from "./migrate.ts";
import * as schema from "./schema.ts";
import { SYNC_BUSY_WAIT_MS, yieldingOnBusy } from "./busy.ts";
import { attachWriter, ThreadWriter } from "./thread_writer.ts";
import { flushLog } from "./flush_log.ts";
import { WriteLock } from "./write_lock.ts";
import type { Store } from "./types.ts";

/** Options for {@link openStore}. */
export interface StoreOptions {
  /** Any libSQL URL: `"file:/path/db.sqlite"`, `":memory:"`, `"libsql://…"`. */
  url: string;
  /** Auth token for remote libSQL URLs. */
  authToken?: string;
  /** Path of the embedding app's drizzle-kit migrations folder (the one holding `meta/`). */
  appMigrations?: string;
  /**
   * How long a write waits for a lock another connection holds (the SQL console's process, an
   * open transaction), in ms, before it fails "the database is busy". The wait yields the event
   * loop (see `busy.ts`). @default 10000
   */
  busyTimeoutMs?: number;
  /** @default silentLogger */
  logger?: Logger;
  /**
   * Check the app's migrations but apply none of them yet (see `applyMigrations`); cohort's own
   * are applied. `Store.versions` still tells what the code knows. @default false
   */
  deferApp?: boolean;
  /**
   * Run the all-or-nothing writes (`writeAtomically`: the member's records, member rows and
   * tokens) of a `file:` database on libSQL's threads, off the event loop (`thread_writer.ts`).
   * Other statements, the app's included, stay on the client. @default true
   */
  writer?: boolean;
  /**
   * The clock of the store's own waits: the writer's checkpoint after the client's operations,
   * the pauses between attempts of an operation that met a lock and the patience they measure,
   * the wait for the lock the store's connections share. The member's clock, on which every
   * timer of a member runs (a simulated world's waits then end on its simulated time).
   * @default the runtime's timers and the monotonic clock
   */
  clock?: Pick<Clock, "now" | "setTimeout" | "clearTimeout">;
}

export { appliedVersions, applyMigrations, MIGRATIONS_TABLES } from "./migrate.ts";
export type {
  Executor,
  HasDb,
  MigrationKind,
  SchemaVersions,
  Store,
  StoreDb,
  StoreFlush,
  StoreLocation,
} from "./types.ts";

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
  // The member's own connections take turns writing (`write_lock.ts`), when it has a writer.
  const lock = wantsWriter(options) ? new WriteLock(options.clock) : undefined;
  const clock = options.clock;
  let writer: ThreadWriter | undefined;
  try {
    client = yieldingOnBusy(
      await openClient({
        url: options.url,
        authToken: options.authToken,
        timeout: SYNC_BUSY_WAIT_MS,
        // One connection when the lock takes turns anyway: libSQL's pool opened a second one
        // when an operation met an open transaction, with SQLite's default settings, not the
        // ones made below on the first; later operations ran there, so a member's every commit
        // synced the WAL to disk on the event loop (strace: one fsync per record written).
        ...(lock ? { concurrency: 1 } : {}),
      }),
      {
        patienceMs: options.busyTimeoutMs ?? 10_000,
        lock,
        ...(clock
          ? {
            now: () => clock.now(),
            sleep: (ms: number) => new Promise<void>((r) => void clock.setTimeout(r, ms)),
          }
          : {}),
        // The main connection's commits append to the log but never checkpoint it (see
        // `openWriter`): the writer does, after them.
        afterOperation: () => writer?.checkpointSoon(),
      },
    );
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
    if (isFileUrl(options.url)) {
      // Write-ahead logging: a reader (the SQL console's own connection, a backup) never blocks
      // the member's writes, which wait synchronously on the event loop while a lock is held.
      await client.execute("PRAGMA journal_mode = WAL");
      // A commit appends to the log without waiting for the disk (fsync at checkpoints only):
      // libSQL runs on the event loop, and an fsync per commit held it 100-200 ms on a busy
      // disk while a cluster formed (every member writes each admission), past a fraction of
      // the 500 ms probe timeout. A commit still survives the process being killed (kill -9);
      // only an operating-system crash or power loss may roll the last commits back, to a
      // consistent earlier state that gossip brings up to date.
      await client.execute("PRAGMA synchronous = NORMAL");
    }
    await applyMigrations({ db, client }, options);
    if (lock) writer = await openWriter(client, options, lock);
  } catch (err) {
    client.close();
    throw toStoreError(err, "Open database");
  }
  if (writer) attachWriter(db, writer);
  const location = {
    url: options.url,
    ...(options.authToken ? { authToken: options.authToken } : {}),
  };
  return {
    db,
    client,
    location: Object.freeze(location),
    versions: Object.freeze(known),
    flush: async () => {
      if (!writer) return { logKept: false };
      await writer.idle();
      return await flushLog(client, writer.file);
    },
    close: () => {
      writer?.close();
      client.close();
    },
  };
}

/**
 * The writer thread of a database file, or `undefined` for one in memory or remote. The main
 * connection then never checkpoints the WAL by itself (its commits would run the checkpoint's
 * fsyncs on the event loop): the writer's commits do, on its thread.
 */
async function openWriter(
  client: Client,
  options: StoreOptions,
  lock: WriteLock,
): Promise<ThreadWriter | undefined> {
  // The file as SQLite resolved the URL for the main connection ("" for a temporary database).
  const list = await client.execute("PRAGMA database_list");
  const path = list.rows.find((row) => row.name === "main")?.file;
  if (typeof path !== "string" || path === "") return;
  await client.execute("PRAGMA wal_autocheckpoint = 0");
  return ThreadWriter.open({
    path,
    busyTimeoutMs: options.busyTimeoutMs ?? 10_000,
    lock,
    timers: options.clock,
  });
}

/** Whether `options` ask for a writer thread and name a database file (not memory, not remote). */
function wantsWriter(options: StoreOptions): boolean {
  return options.writer !== false && isFileUrl(options.url);
}

function isFileUrl(url: string): boolean {
  return /^file:/.test(url) && !/mode=memory|^file::memory:/.test(url);
}
