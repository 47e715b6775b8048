/**
 * Helpers that read a stopped member's state directory from outside, as an operator would: the
 * tables of its database with their row counts, the migrations it applied, and the raw bytes of
 * its database files (to look for what a reset must not leave behind).
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createClient } from "@libsql/client";

/** Every table of the member's database with its row count, and the migrations applied. */
export interface DatabaseSummary {
  /** `table: rows`, tables by name (SQLite's own and drizzle's bookkeeping included). */
  tables: Record<string, number>;
  /** `created_at` of each applied migration, by migrations table. */
  migrations: Record<string, number[]>;
}

/** Reads the summary of the database in state directory `dir` (the daemon must be stopped). */
export async function databaseSummary(dir: string): Promise<DatabaseSummary> {
  const client = createClient({ url: `file:${join(dir, "database", "cohort.db")}` });
  try {
    const names = await client.execute(
      "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
    );
    const tables: Record<string, number> = {};
    const migrations: Record<string, number[]> = {};
    for (const row of names.rows) {
      const name = String(row[0]);
      const rs = await client.execute(`SELECT count(*) FROM "${name}"`);
      tables[name] = Number(rs.rows[0][0]);
      if (name.startsWith("__cohort")) {
        const applied = await client.execute(`SELECT created_at FROM "${name}" ORDER BY 1`);
        migrations[name] = applied.rows.map((r) => Number(r[0]));
      }
    }
    return { tables, migrations };
  } finally {
    client.close();
  }
}

/** The bytes of every file of the member's database folder (main file, WAL, journal), joined. */
export function databaseBytes(dir: string): Buffer {
  const folder = join(dir, "database");
  if (!existsSync(folder)) return Buffer.alloc(0);
  return Buffer.concat(readdirSync(folder).map((f) => readFileSync(join(folder, f))));
}
