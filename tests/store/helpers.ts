/** Shared helpers of the store tests (temp directories, fixture folders, async rejections). */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Client } from "@libsql/client";

/** The generated app migrations fixture (2 migrations: create `widgets`, add `colour`). */
export const APP_MIGRATIONS: string = fileURLToPath(
  new URL("./fixtures/app_migrations", import.meta.url),
);

/** A fresh temp directory and a function removing it. */
export function tempDir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "cohort-store-"));
  return { dir, remove: () => removeTree(dir) };
}

/**
 * Removes `dir`, again when a file came or went under it meanwhile: a store's writer thread
 * closes its connection after `close()` returned, and SQLite removes its `-wal` and `-shm` files
 * then (under Deno the removal failed once with ENOTEMPTY).
 */
function removeTree(dir: string): void {
  for (let attempt = 1;; attempt++) {
    try {
      return rmSync(dir, { recursive: true, force: true });
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (attempt >= 10 || (code !== "ENOTEMPTY" && code !== "EBUSY")) throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  }
}

/** The `file:` URL of a database in `dir`. */
export function fileUrl(dir: string, name = "db.sqlite"): string {
  return `file:${join(dir, name)}`;
}

interface JournalEntry {
  idx: number;
  version: string;
  when: number;
  tag: string;
  breakpoints: boolean;
}

/**
 * Copies the app fixture into `dir`, keeping its first `keep` migrations, then appending
 * `extra` migrations (tag → SQL text), each stamped later than the last.
 */
export function appFolder(
  dir: string,
  options: { keep?: number; extra?: Record<string, string>; shiftFirst?: number } = {},
): string {
  const out = join(dir, "app_migrations");
  cpSync(APP_MIGRATIONS, out, { recursive: true });
  const path = join(out, "meta/_journal.json");
  const journal = JSON.parse(readFileSync(path, "utf8")) as { entries: JournalEntry[] };
  if (options.keep !== undefined) journal.entries = journal.entries.slice(0, options.keep);
  if (options.shiftFirst) journal.entries[0].when += options.shiftFirst;
  for (const [tag, sql] of Object.entries(options.extra ?? {})) {
    const last = journal.entries[journal.entries.length - 1];
    journal.entries.push({ ...last, idx: last.idx + 1, when: last.when + 1000, tag });
    writeFileSync(join(out, `${tag}.sql`), sql);
  }
  writeFileSync(path, JSON.stringify(journal, null, 2));
  return out;
}

/** Number of rows of `table` (0 when the table does not exist). */
export async function count(client: Client, table: string): Promise<number> {
  const exists = await client.execute({
    sql: "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
    args: [table],
  });
  if (exists.rows.length === 0) return 0;
  const rs = await client.execute(`SELECT count(*) FROM "${table}"`);
  return Number(rs.rows[0][0]);
}

/** Whether a table exists. */
export async function hasTable(client: Client, table: string): Promise<boolean> {
  const rs = await client.execute({
    sql: "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
    args: [table],
  });
  return rs.rows.length > 0;
}

/** Awaits `p` and returns what it rejected with; throws if it resolved. */
export async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected a rejection, got a value");
}
