/**
 * What `cohort sql` needs (MicroCluster §1.15): run a user's SQL script and dump the database as
 * SQL text.
 *
 * @module
 */
import type { Client, InValue, Transaction } from "@libsql/client";
import { openClient } from "./client.ts";
import { InvalidInputError } from "../errors.ts";
import { toStoreError } from "./errors.ts";
import type { Store, StoreLocation } from "./types.ts";
import { splitSqlStatements, type SqlStatement } from "./split_sql.ts";
import { executeGuarded, type Explainer, statementProblem } from "./sql_guard.ts";
import { type ConsoleOptions, MAX_ANSWER_BYTES, runInConsole } from "./sql_console.ts";

export { SQL_TIMEOUT_MS } from "./sql_console.ts";
export type { ConsoleOptions } from "./sql_console.ts";

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

/** Where a store's console runs: a child process for a database it can open itself. */
type ConsoleStore = Pick<Store, "client"> & { readonly location?: StoreLocation };

/** Whether a second connection reaches the same database: any but an in-memory one. */
function reachable(location: StoreLocation | undefined): location is StoreLocation {
  if (!location) return false;
  const url = location.url;
  return url !== ":memory:" && !/^file::memory:/.test(url) && !/[?&]mode=memory\b/.test(url);
}

/**
 * Runs `fn` with a way to run EXPLAIN on a connection of its own, when one can reach `location`.
 * Each EXPLAIN gets a fresh connection: the driver leaves an EXPLAIN statement active until it
 * is garbage-collected, and a connection with an active statement that then reloads a changed
 * schema keeps a read lock, which would block every later commit.
 */
async function withExplainer<T>(
  location: StoreLocation | undefined,
  fn: (explain: Explainer | undefined) => Promise<T>,
): Promise<T> {
  if (!reachable(location)) return await fn(undefined);
  return await fn(async (sql) => {
    const once = await openClient({ url: location.url, authToken: location.authToken });
    try {
      return await once.execute(sql);
    } finally {
      once.close();
    }
  });
}

/** The statements of `text`, each refused kind reported as a 400 before anything runs. */
function consoleStatements(text: string): SqlStatement[] {
  const statements = splitSqlStatements(text);
  if (statements.length === 0) {
    throw new InvalidInputError("Execute SQL: no statement given", { field: "query" });
  }
  statements.forEach((stmt, i) => {
    const problem = statementProblem(stmt);
    if (problem) {
      const where = statements.length > 1 ? `Execute statement ${i + 1}` : "Execute SQL";
      throw new InvalidInputError(`${where}: ${problem}`, { field: "query" });
    }
  });
  return statements;
}

/**
 * Runs the `;`-separated statements of `text` in order, each in its own transaction (a statement
 * either applies fully or not at all), and stops at the first failure; statements before it stay
 * applied. A statement yields a `select` result when it starts with SELECT, PRAGMA, WITH, VALUES
 * or EXPLAIN or returns columns (`… RETURNING`), else `exec`. cohort's own tables may be read,
 * never changed (see `sql_guard.ts`).
 *
 * With a store opened on a file (or a remote database) the statements run in a child process
 * (see `sql_console.ts`): the member's event loop never waits for them, and a run is cancelled
 * when `options.signal` aborts or after `options.timeoutMs` (default 60 s).
 *
 * @throws {InvalidInputError} for an empty script, a statement kind the console refuses
 *   (transaction control, ATTACH, VACUUM, most pragmas), SQL that SQLite rejects (with SQLite's
 *   message: `Execute statement 2: no such table: foo`), a cancelled run, or a result over
 *   16 MiB.
 * @throws {ForbiddenError} when a statement would change one of cohort's own tables.
 * @throws {ConflictError} when a statement breaks a UNIQUE constraint.
 */
export async function executeSql(
  store: ConsoleStore,
  text: string,
  options: ConsoleOptions = {},
): Promise<SqlBatchResult> {
  const statements = consoleStatements(text);
  if (options.isolate !== false && reachable(store.location)) {
    return await runInConsole<SqlBatchResult>(
      { op: "execute", query: text, location: store.location },
      options,
    );
  }
  return await withExplainer(
    store.location,
    (explain) => executeStatements(store.client, statements, explain),
  );
}

/**
 * Runs already split and checked statements on `client` in this process, `explain` compiling
 * them on a second connection (see `sql_guard.ts`). See {@link executeSql}.
 */
async function executeStatements(
  client: Client,
  statements: SqlStatement[],
  explain?: Explainer,
): Promise<SqlBatchResult> {
  const results: SqlResult[] = [];
  let size = 0;
  for (const [i, stmt] of statements.entries()) {
    const where = statements.length > 1 ? `Execute statement ${i + 1}` : "Execute SQL";
    let rs;
    let tx: Transaction | undefined;
    try {
      if (stmt.keyword === "EXPLAIN") {
        // EXPLAIN writes nothing, and its statement would stay active on the connection it ran
        // on (see sql_guard.ts): it runs on the second connection.
        if (!explain) {
          throw new InvalidInputError(
            `${where}: EXPLAIN is not available in the SQL console of an in-memory database`,
            { field: "query" },
          );
        }
        rs = await explain(stmt.text);
      } else {
        tx = await client.transaction("deferred");
        rs = await executeGuarded(tx, stmt, where, explain);
        await tx.commit();
      }
    } catch (err) {
      await tx?.rollback().catch(() => {});
      throw toStoreError(err, where, { userSql: true });
    } finally {
      tx?.close();
    }
    const result: SqlResult = ROW_KEYWORDS.has(stmt.keyword) || rs.columns.length > 0
      ? {
        type: "select",
        columns: [...rs.columns],
        rows: rs.rows.map((row) => Array.from(row, toValue)),
      }
      : { type: "exec", rows_affected: rs.rowsAffected };
    size += JSON.stringify(result).length;
    if (size > MAX_ANSWER_BYTES) {
      throw new InvalidInputError(
        `${where}: the results are larger than the console's ${
          MAX_ANSWER_BYTES / 1024 / 1024
        } MiB: select fewer rows (LIMIT)`,
        { field: "query" },
      );
    }
    results.push(result);
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
 * read transaction, so the dump is a consistent snapshot; in a child process for a store opened
 * on a file, as {@link executeSql}.
 */
export async function dumpSql(
  store: ConsoleStore,
  options: DumpOptions & ConsoleOptions = {},
): Promise<string> {
  const schemaOnly = options.schemaOnly ?? false;
  if (options.isolate !== false && reachable(store.location)) {
    return await runInConsole<string>(
      { op: "dump", schemaOnly, location: store.location },
      options,
    );
  }
  return await dumpHere(store.client, schemaOnly);
}

/** {@link dumpSql} in this process. */
async function dumpHere(client: Client, schemaOnly: boolean): Promise<string> {
  let tx: Transaction | undefined;
  try {
    tx = await client.transaction("read");
    const text = await dumpWith(tx, schemaOnly);
    await tx.commit();
    if (text.length > MAX_ANSWER_BYTES) {
      throw new InvalidInputError(
        `Dump database: the dump is larger than the console's ${
          MAX_ANSWER_BYTES / 1024 / 1024
        } MiB`,
      );
    }
    return text;
  } catch (err) {
    throw toStoreError(err, "Dump database");
  } finally {
    tx?.close();
  }
}
