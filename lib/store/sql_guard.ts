/**
 * What the SQL console (`cohort sql`) may not do: change cohort's own tables. They may be read;
 * a write, a schema change or a trigger that would touch them is refused (403), so a member can
 * never be bricked from its console (`DROP TABLE core_records` used to make every restart fail).
 *
 * SQLite does the checking wherever it can, rather than our parsing of SQL:
 * - every statement runs in its own transaction (so ATTACH, DETACH and VACUUM cannot run), with
 *   temporary triggers on each protected table that abort any INSERT, UPDATE or DELETE, however
 *   it is reached (a CTE, a trigger of an app table, REPLACE, an upsert);
 * - after the statement, still in its transaction, the schema rows of the protected tables and
 *   their indexes, the triggers that name them, their AUTOINCREMENT counters, the guard triggers
 *   and `writable_schema` are compared with before: any difference rolls the statement back.
 * Before it runs, SQLite's own compilation of the statement (`EXPLAIN`, trigger programs
 * included) is searched for writes to a protected table's b-trees, so a write is refused even
 * when no row would change. Only the first words of a statement are read here, to refuse kinds
 * that act outside a transaction or at compile time: transaction control, ATTACH, DETACH, VACUUM,
 * and every PRAGMA but reads and a few settings of the console's own connection; and its text is
 * searched for the functions and tables that reach past SQL (files, raw pages): `readfile`,
 * `writefile`, `fsdir`, `load_extension`, `sqlite_dbpage`. Refusing a statement that merely
 * mentions one of those names is the price of not parsing SQL.
 *
 * @module
 */
import type { ResultSet, Transaction } from "@libsql/client";
import { ForbiddenError } from "../errors.ts";
import type { SqlStatement } from "./split_sql.ts";

/** The rule, as the console's refusals state it. */
export const PROTECTED_RULE =
  "cohort's own tables (core_* and __cohort_*) are read-only in the SQL console";

/** A SQL condition on `name` matching a protected table name (and on `tbl_name` its indexes). */
const PROTECTED_NAME = (column: string) =>
  `(lower(${column}) LIKE 'core\\_%' ESCAPE '\\' OR lower(${column}) LIKE '\\_\\_cohort%' ESCAPE '\\')`;

/** Statement kinds the console runs (first keyword); the others are refused by name. */
const ALLOWED_KEYWORDS = new Set([
  "SELECT",
  "WITH",
  "VALUES",
  "INSERT",
  "REPLACE",
  "UPDATE",
  "DELETE",
  "CREATE",
  "DROP",
  "ALTER",
  "ANALYZE",
  "REINDEX",
  "PRAGMA",
  "EXPLAIN",
]);

/** Pragmas the console reads (`PRAGMA name`, or `PRAGMA name(arg)` for the last group). */
const READ_PRAGMAS = new Set([
  "application_id",
  "auto_vacuum",
  "cache_size",
  "collation_list",
  "compile_options",
  "data_version",
  "database_list",
  "encoding",
  "foreign_keys",
  "freelist_count",
  "function_list",
  "journal_mode",
  "module_list",
  "page_count",
  "page_size",
  "pragma_list",
  "recursive_triggers",
  "schema_version",
  "user_version",
  "writable_schema",
  "foreign_key_check",
  "foreign_key_list",
  "index_info",
  "index_list",
  "index_xinfo",
  "integrity_check",
  "quick_check",
  "table_info",
  "table_list",
  "table_xinfo",
]);

/** Pragmas that take an argument in parentheses (a table, an index or a count). */
const ARGUMENT_PRAGMAS = new Set([
  "foreign_key_check",
  "foreign_key_list",
  "index_info",
  "index_list",
  "index_xinfo",
  "integrity_check",
  "quick_check",
  "table_info",
  "table_list",
  "table_xinfo",
]);

/** Settings of the console's own connection, which ends with the request: may be assigned. */
const CONNECTION_PRAGMAS = new Set([
  "automatic_index",
  "case_sensitive_like",
  "defer_foreign_keys",
  "foreign_keys",
  "query_only",
  "recursive_triggers",
  "reverse_unordered_selects",
]);

const PRAGMA_FORM =
  /^PRAGMA\s+(?:(?:\w+|"[^"]*")\s*\.\s*)?(\w+)\s*(?:(=)\s*([\w'"+-]+)|\(\s*([\w'"+-]+)\s*\))?\s*$/i;

/** Why the console refuses a PRAGMA statement, if it does. */
function pragmaProblem(text: string): string | undefined {
  const m = PRAGMA_FORM.exec(text);
  const refusal = "the SQL console runs only pragmas that read (table_info, integrity_check, " +
    "user_version, …) and settings of its own connection (foreign_keys, recursive_triggers, …)";
  if (!m) return refusal;
  const name = m[1].toLowerCase();
  if (m[2] !== undefined) return CONNECTION_PRAGMAS.has(name) ? undefined : refusal;
  if (m[4] !== undefined) return ARGUMENT_PRAGMAS.has(name) ? undefined : refusal;
  return READ_PRAGMAS.has(name) || CONNECTION_PRAGMAS.has(name) ? undefined : refusal;
}

/** Functions and tables that reach files or raw database pages, past every SQL-level check. */
const BEYOND_SQL = /readfile|writefile|fsdir|load_extension|dbpage/i;

/**
 * Why the console refuses `statement` by its kind, if it does: transaction control, ATTACH,
 * DETACH, VACUUM, unknown kinds, pragmas other than reads and connection settings (some act
 * as they are compiled, before any transaction or check), and any mention of file or raw-page
 * access. `EXPLAIN` is judged by what follows.
 */
export function statementProblem(statement: SqlStatement): string | undefined {
  const { keyword } = statement;
  const beyond = BEYOND_SQL.exec(statement.text);
  if (beyond) {
    return "file and raw page access (readfile, writefile, fsdir, load_extension, " +
      `sqlite_dbpage) is not available in the SQL console; the statement names "${beyond[0]}"`;
  }
  if (["BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE"].includes(keyword)) {
    return `${keyword} is not available in the SQL console: each statement runs in its own transaction`;
  }
  if (["ATTACH", "DETACH", "VACUUM"].includes(keyword)) {
    return `${keyword} is not available in the SQL console`;
  }
  // Every statement SQLite runs starts with a keyword named here or above: any other is a
  // syntax error, which SQLite reports in its own words.
  if (!ALLOWED_KEYWORDS.has(keyword)) return undefined;
  if (keyword === "PRAGMA") return pragmaProblem(statement.text);
  if (keyword === "EXPLAIN") {
    const rest = statement.text.replace(/^EXPLAIN\s+(QUERY\s+PLAN\s+)?/i, "");
    const next = /^\w+/.exec(rest)?.[0]?.toUpperCase() ?? "";
    if (next === "EXPLAIN") return "EXPLAIN EXPLAIN is not available in the SQL console";
    return statementProblem({ text: rest, keyword: next });
  }
  return undefined;
}

/** What must not change: one line per protected schema object, counter and guard. */
async function snapshot(tx: Transaction): Promise<string[]> {
  const lines: string[] = [];
  const schema = await tx.execute(
    `SELECT 'main', type, name, tbl_name, rootpage, sql FROM main.sqlite_schema
       WHERE ${PROTECTED_NAME("name")} OR ${PROTECTED_NAME("tbl_name")}
          OR (type = 'trigger' AND (lower(sql) LIKE '%core\\_%' ESCAPE '\\'
                                 OR lower(sql) LIKE '%\\_\\_cohort%' ESCAPE '\\'))
     UNION ALL
     SELECT 'temp', type, name, tbl_name, rootpage, sql FROM temp.sqlite_schema
       WHERE type = 'trigger' AND name NOT LIKE 'cohort\\_console\\_guard\\_%' ESCAPE '\\'
         AND (lower(sql) LIKE '%core\\_%' ESCAPE '\\'
              OR lower(sql) LIKE '%\\_\\_cohort%' ESCAPE '\\')
     ORDER BY 1, 2, 3`,
  );
  for (const row of schema.rows) lines.push(JSON.stringify(Array.from(row)));
  const sequence = await tx.execute(
    "SELECT 1 FROM main.sqlite_schema WHERE name = 'sqlite_sequence'",
  );
  if (sequence.rows.length) {
    const counters = await tx.execute(
      `SELECT name, seq FROM main.sqlite_sequence WHERE ${PROTECTED_NAME("name")} ORDER BY 1`,
    );
    for (const row of counters.rows) lines.push(JSON.stringify(["sequence", ...Array.from(row)]));
  }
  const guards = await tx.execute(
    "SELECT name FROM temp.sqlite_schema WHERE name LIKE 'cohort\\_console\\_guard\\_%' ESCAPE '\\' ORDER BY 1",
  );
  lines.push(JSON.stringify(["guards", ...guards.rows.map((r) => r[0])]));
  const writable = await tx.execute("PRAGMA writable_schema");
  lines.push(JSON.stringify(["writable_schema", writable.rows[0]?.[0]]));
  return lines;
}

/**
 * The protected table a statement would write, found in SQLite's compilation of it: an
 * `OpenWrite`, `Destroy` or `Clear` of one of its b-trees (the table's or an index's) in the
 * main database, in the statement's program or a trigger's.
 */
async function protectedWrite(
  tx: Transaction,
  explain: Explainer,
  statement: SqlStatement,
): Promise<string | undefined> {
  if (statement.keyword === "EXPLAIN") return undefined; // never writes
  const roots = new Map<number, string>();
  const objects = await tx.execute(
    `SELECT rootpage, tbl_name FROM main.sqlite_schema
       WHERE rootpage > 0 AND (${PROTECTED_NAME("name")} OR ${PROTECTED_NAME("tbl_name")})`,
  );
  for (const row of objects.rows) roots.set(Number(row[0]), String(row[1]));
  const program = await explain(`EXPLAIN ${statement.text}`);
  const at = (name: string) => program.columns.indexOf(name);
  const [opcode, p1, p2, p3, p5] = [at("opcode"), at("p1"), at("p2"), at("p3"), at("p5")];
  for (const row of program.rows) {
    const op = String(row[opcode]);
    // OPFLAG_P2ISREG (0x10): p2 is a register holding a new b-tree's root, not a root page.
    const root = (Number(row[p5]) & 0x10) === 0;
    if (op === "OpenWrite" && root && Number(row[p3]) === 0 && roots.has(Number(row[p2]))) {
      return roots.get(Number(row[p2]));
    }
    if (
      (op === "Destroy" || op === "Clear") && Number(row[p3]) === 0 && roots.has(Number(row[p1]))
    ) {
      return roots.get(Number(row[p1]));
    }
  }
  return undefined;
}

/** The first of `lines` (changes) worth naming: a table before an index before the rest. */
function mostTelling(lines: string[]): string {
  const rank = (line: string) => {
    const kind = (JSON.parse(line) as unknown[])[1];
    return kind === "table" ? 0 : kind === "index" || kind === "trigger" ? 1 : 2;
  };
  return [...lines].sort((a, b) => rank(a) - rank(b))[0];
}

/** The name a line of {@link snapshot} is about, for the refusal message. */
function subject(line: string): string {
  const parts = JSON.parse(line) as unknown[];
  if (parts[0] === "sequence") return `the AUTOINCREMENT counter of "${parts[1]}"`;
  if (parts[0] === "guards") return "the console's guard triggers";
  if (parts[0] === "writable_schema") return "writable_schema";
  return `${parts[1]} "${parts[2]}"`;
}

const GUARD_MARK = "cohort-console-guard";

/** Creates the guard triggers in `tx`: every write to a protected table aborts. */
async function guard(tx: Transaction): Promise<void> {
  const tables = await tx.execute(
    `SELECT name FROM main.sqlite_schema WHERE type = 'table' AND ${PROTECTED_NAME("name")}`,
  );
  const statements: string[] = [];
  tables.rows.forEach((row, i) => {
    const table = String(row[0]);
    const quoted = `"${table.replaceAll('"', '""')}"`;
    const message = `${GUARD_MARK}: ${table}`.replaceAll("'", "''");
    for (const op of ["INSERT", "UPDATE", "DELETE"]) {
      statements.push(
        `CREATE TEMP TRIGGER cohort_console_guard_${i}_${op.toLowerCase()} BEFORE ${op} ` +
          `ON main.${quoted} BEGIN SELECT RAISE(ABORT, '${message}'); END`,
      );
    }
  });
  for (const sql of statements) await tx.execute(sql);
}

async function unguard(tx: Transaction): Promise<void> {
  const guards = await tx.execute(
    "SELECT name FROM temp.sqlite_schema WHERE name LIKE 'cohort\\_console\\_guard\\_%' ESCAPE '\\'",
  );
  for (const row of guards.rows) await tx.execute(`DROP TRIGGER temp."${row[0]}"`);
}

/**
 * Runs `EXPLAIN …` on a connection of its own: an EXPLAIN statement stays active on its
 * connection until it is finalised (which the driver leaves to the garbage collector), and an
 * active statement keeps a transaction on that connection from committing (see `sql.ts`).
 */
export type Explainer = (sql: string) => Promise<ResultSet>;

/**
 * Runs one statement of the console in `tx` (a transaction of its own, which the caller commits
 * when this resolves and rolls back when it throws). Without `explain` (an in-memory database
 * has no second connection) a write to a protected table is still refused as soon as it changes
 * a row, but one that would change none passes.
 *
 * @throws {ForbiddenError} when the statement would change a protected table, its indexes,
 *   triggers on it or its counter (`where` names the statement)
 * @throws whatever the driver throws for the statement itself (the caller maps it)
 */
export async function executeGuarded(
  tx: Transaction,
  statement: SqlStatement,
  where: string,
  explain?: Explainer,
): Promise<ResultSet> {
  const before = await snapshot(tx);
  const written = explain && await protectedWrite(tx, explain, statement);
  if (written) {
    throw new ForbiddenError(`${where}: ${PROTECTED_RULE}: it would change "${written}"`);
  }
  await guard(tx);
  const guarded = await snapshot(tx);
  let result: ResultSet;
  try {
    result = await tx.execute(statement.text);
  } catch (err) {
    const message = (err as Error)?.message ?? "";
    const hit = new RegExp(`${GUARD_MARK}: (\\S+)`).exec(message);
    if (hit) {
      throw new ForbiddenError(`${where}: ${PROTECTED_RULE}: it would change "${hit[1]}"`);
    }
    throw err;
  }
  const after = await snapshot(tx);
  const changed = [
    ...after.filter((l) => !guarded.includes(l)),
    ...guarded.filter((l) => !after.includes(l)),
  ];
  if (changed.length) {
    throw new ForbiddenError(
      `${where}: ${PROTECTED_RULE}: it would change ${subject(mostTelling(changed))}`,
    );
  }
  await unguard(tx);
  const final = await snapshot(tx);
  if (final.join("\n") !== before.join("\n")) {
    throw new ForbiddenError(`${where}: ${PROTECTED_RULE}`);
  }
  return result;
}
