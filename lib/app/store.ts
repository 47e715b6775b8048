/**
 * The member's store as the app uses it: the member's own libSQL database (per member, never
 * replicated: what every member must see goes into replicated records), with the app's tables
 * from its drizzle-kit migrations (`appMigrations`). Two ways in:
 *
 * - {@link AppStore.database}: a typed Drizzle database over the app's schema, built by the app
 *   with its own `drizzle` import (`member.database((client) => drizzle(client, { schema }))`),
 *   so cohort's public declarations carry neither Drizzle's nor libSQL's types;
 * - {@link AppStore.sql}: one parameterised statement, values bound by the driver (`?` or
 *   `:name`), never quoted by hand.
 *
 * Both follow the member's store across a reset (which recreates it): the client the app holds
 * always reaches the current database.
 *
 * @module
 */
import type { Client, InArgs } from "@libsql/client";
import { InvalidInputError } from "../errors.ts";
import { toStoreError } from "../store/errors.ts";

/** A value bound to a statement parameter. */
export type SqlParam = string | number | bigint | boolean | null | Uint8Array;

/** A statement's parameters: positional (`?`, `?1`) or named (`:name`, `@name`, `$name`). */
export type SqlParams = readonly SqlParam[] | Readonly<Record<string, SqlParam>>;

/** What one statement returned. */
export interface SqlRows {
  /** Column names of the rows, in order. */
  columns: string[];
  /** The rows, each an object by column name. */
  rows: Record<string, unknown>[];
  /** Rows inserted, updated or deleted (0 for a query). */
  rowsAffected: number;
  /** The rowid of the last row inserted, when the statement inserted one. */
  lastInsertRowid: number | undefined;
}

/** The app's access to the member's store; see the module docs. */
export interface AppStore {
  /**
   * Builds the app's typed database: `open` receives the member's libSQL client (an
   * `@libsql/client` `Client`, typed loosely here so that cohort's declarations do not depend on
   * libSQL's) and returns what the app builds on it, typically `drizzle(client, { schema })`.
   * The client follows the member's store across resets; the app must not close it.
   */
  // deno-lint-ignore no-explicit-any
  database<DB>(open: (client: any) => DB): DB;
  /**
   * Runs one SQL statement with bound parameters, e.g.
   * `member.sql("SELECT * FROM items WHERE owner = ? AND size > ?", [owner, 10])`. Write only
   * the app's tables: cohort's own (`core_*`, `__cohort_*`) are cohort's.
   *
   * @throws {ConflictError} on a UNIQUE violation (naming the column, never the value)
   * @throws {UnavailableError} when the database is busy
   * @throws {DatabaseError} for any other SQLite error (its message, never the parameters)
   * @throws {InvalidInputError} when `query` is not a string or a parameter is not a bindable value
   */
  sql(query: string, params?: SqlParams): Promise<SqlRows>;
}

/**
 * A libSQL client that always forwards to `current()` (the member's store of the moment), so a
 * Drizzle database built on it survives the store's replacement. `close` is the member's.
 */
export function followingClient(current: () => Client): Client {
  return new Proxy({} as Client, {
    get(_target, key) {
      if (key === "close") return () => {};
      const client = current();
      const value = Reflect.get(client, key, client);
      return typeof value === "function" ? value.bind(client) : value;
    },
  });
}

function bindable(v: unknown): boolean {
  return v === null || ["string", "number", "bigint", "boolean"].includes(typeof v) ||
    v instanceof Uint8Array;
}

/** Runs one statement on `client`; see {@link AppStore.sql}. */
export async function runSql(client: Client, query: string, params?: SqlParams): Promise<SqlRows> {
  if (typeof query !== "string" || query.trim() === "") {
    throw new InvalidInputError("sql: the query must be a non-empty string", { field: "query" });
  }
  const values = params === undefined ? [] : Array.isArray(params) ? params : Object.values(params);
  if (
    (params !== undefined && (typeof params !== "object" || params === null)) ||
    !values.every(bindable)
  ) {
    throw new InvalidInputError(
      "sql: parameters must be an array or an object of strings, numbers, bigints, booleans, null or bytes",
      { field: "params" },
    );
  }
  let result;
  try {
    result = await client.execute({ sql: query, args: (params ?? []) as InArgs });
  } catch (err) {
    throw toStoreError(err, "Run the app's SQL statement");
  }
  const columns = [...result.columns];
  return {
    columns,
    rows: result.rows.map((row) => Object.fromEntries(columns.map((c, i) => [c, row[i]]))),
    rowsAffected: result.rowsAffected,
    lastInsertRowid: result.lastInsertRowid === undefined
      ? undefined
      : Number(result.lastInsertRowid),
  };
}
