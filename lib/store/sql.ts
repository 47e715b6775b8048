/**
 * What `cohort sql` needs (MicroCluster §1.15): run a user's SQL script and dump the database as
 * SQL text.
 *
 * @module
 */
import type { Client, InValue, Transaction } from "@libsql/client";
import { InvalidInputError } from "../errors.ts";
import { toStoreError } from "./errors.ts";
import type { Store } from "./types.ts";
import { splitSqlStatements } from "./split_sql.ts";

/** A JSON-safe cell: blobs become lowercase hex strings, integers beyond 2^53 decimal strings. */
export type SqlValue = string | number | null;

/** The outcome of a statement that returns rows. */
export interface SqlSelectResult {
  type: "select";
  columns: string[];
  rows: SqlValue[][];
}

/** The outcome of a statement that changes things. */
export interface SqlExecResult {
  type: "exec";
  /** Rows inserted, updated or deleted (SQLite's `changes()`). */
  rows_affected: number;
}

/** One result per statement, in order. */
export type SqlResult = SqlSelectResult | SqlExecResult;

/** The answer to a script, shaped like MicroCluster's (field names kept lowercase). */
export interface SqlBatchResult {
  results: SqlResult[];
}

/** Statements that produce rows even when they produce none. */
const ROW_KEYWORDS = new Set(["SELECT", "PRAGMA", "WITH", "VALUES", "EXPLAIN"]);

function toValue(v: InValue | ArrayBuffer | undefined): SqlValue {
  if (v === null || v === undefined) return null;
  if (typeof v === "bigint") return Number.isSafeInteger(Number(v)) ? Number(v) : String(v);
  if (typeof v === "number" || typeof v === "string") return v;
  if (typeof v === "boolean") return v ? 1 : 0;
  if (v instanceof ArrayBuffer || ArrayBuffer.isView(v)) {
    const bytes = v instanceof ArrayBuffer
      ? new Uint8Array(v)
      : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }
  if (v instanceof Date) return v.getTime();
  return String(v);
}

/**
 * Runs the `;`-separated statements of `text` in order, each in its own transaction (SQLite's
 * autocommit: a statement either applies fully or not at all), and stops at the first failure;
 * statements before it stay applied. A statement yields a `select` result when it starts with
 * SELECT, PRAGMA, WITH, VALUES or EXPLAIN or returns columns (`… RETURNING`), else `exec`.
 *
 * @throws {InvalidInputError} for an empty script or SQL that SQLite rejects, with SQLite's
 *   message (`Execute statement 2: no such table: foo`).
 * @throws {ConflictError} when a statement breaks a UNIQUE constraint.
 */
export async function executeSql(
  store: Pick<Store, "client">,
  text: string,
): Promise<SqlBatchResult> {
  const statements = splitSqlStatements(text);
  if (statements.length === 0) {
    throw new InvalidInputError("Execute SQL: no statement given", { field: "query" });
  }
  const results: SqlResult[] = [];
  for (const [i, stmt] of statements.entries()) {
    let rs;
    try {
      rs = await store.client.execute(stmt.text);
    } catch (err) {
      const where = statements.length > 1 ? `Execute statement ${i + 1}` : "Execute SQL";
      throw toStoreError(err, where, { userSql: true });
    }
    if (ROW_KEYWORDS.has(stmt.keyword) || rs.columns.length > 0) {
      results.push({
        type: "select",
        columns: [...rs.columns],
        rows: rs.rows.map((row) => Array.from(row, toValue)),
      });
    } else {
      results.push({ type: "exec", rows_affected: rs.rowsAffected });
    }
  }
  return { results };
}

/** Options for {@link dumpSql}. */
export interface DumpOptions {
  /** Only the CREATE statements (like sqlite3's `.schema`). @default false */
  schemaOnly?: boolean;
}

const ident = (name: string) => `"${name.replaceAll('"', '""')}"`;

interface MasterRow {
  type: string;
  name: string;
  sql: string;
}

async function dumpWith(tx: Transaction | Client, schemaOnly: boolean): Promise<string> {
  // Tables and indexes by name; views and triggers in creation order, since one may name another.
  const master = await tx.execute(
    `SELECT type, name, sql FROM sqlite_master
     WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
     ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 WHEN 'view' THEN 2 ELSE 3 END,
              CASE WHEN type IN ('table', 'index') THEN name END, rowid`,
  );
  const objects = master.rows.map((r) => ({ type: r[0], name: r[1], sql: r[2] }) as MasterRow);
  const lines = objects.map((o) => `${o.sql};`);
  if (schemaOnly) return lines.length ? lines.join("\n") + "\n" : "";

  const tables = objects.filter((o) => o.type === "table" && !/^CREATE\s+VIRTUAL/i.test(o.sql));
  const inserts: string[] = [];
  for (const table of tables) {
    const info = await tx.execute({
      sql: "SELECT name, pk, hidden FROM pragma_table_xinfo(?) ORDER BY cid",
      args: [table.name],
    });
    // Generated columns (hidden 2 and 3) cannot be inserted into; they are recomputed anyway.
    const cols = info.rows.filter((r) => Number(r[2]) === 0).map((r) => String(r[0]));
    if (cols.length === 0) continue;
    const pk = info.rows.filter((r) => Number(r[1]) > 0)
      .sort((a, b) => Number(a[1]) - Number(b[1])).map((r) => ident(String(r[0])));
    const order = /WITHOUT\s+ROWID/i.test(table.sql) ? pk.join(", ") : "rowid";
    const rows = await tx.execute(
      `SELECT ${cols.map((c) => `quote(${ident(c)})`).join(", ")} FROM ${
        ident(table.name)
      } ORDER BY ${order}`,
    );
    const head = `INSERT INTO ${ident(table.name)}(${cols.map(ident).join(",")}) VALUES(`;
    for (const row of rows.rows) {
      // quote() spells every value as a literal SQLite reads back identically, except infinity.
      const values = Array.from(row, (v) => {
        const s = String(v);
        return s === "Inf" ? "1e999" : s === "-Inf" ? "-1e999" : s;
      });
      inserts.push(`${head}${values.join(",")});`);
    }
  }
  return ["PRAGMA foreign_keys=OFF;", "BEGIN TRANSACTION;", ...lines, ...inserts, "COMMIT;"]
    .join("\n") + "\n";
}

/**
 * Dumps the database as SQL text that recreates it: every CREATE statement from
 * `sqlite_master` (tables, indexes, views, triggers), then an INSERT for every row of every
 * table, ordered by table name then rowid (primary key for WITHOUT ROWID tables), the whole
 * wrapped in one transaction. Only SQLite's internal `sqlite_*` tables are left out. Read in one
 * read transaction, so the dump is a consistent snapshot.
 */
export async function dumpSql(
  store: Pick<Store, "client">,
  options: DumpOptions = {},
): Promise<string> {
  let tx: Transaction | undefined;
  try {
    tx = await store.client.transaction("read");
    const text = await dumpWith(tx, options.schemaOnly ?? false);
    await tx.commit();
    return text;
  } catch (err) {
    throw toStoreError(err, "Dump database");
  } finally {
    tx?.close();
  }
}
