/**
 * Turns driver and Drizzle errors into safe {@link CohortError}s.
 *
 * Drizzle wraps every failed statement in a `DrizzleQueryError` whose message is
 * `Failed query: <sql>\nparams: <params>`: the bound parameters can be token secret hashes,
 * certificates or anything else a caller passed. Nothing from that message may reach a log line
 * or a response, so this module only ever reads the underlying libSQL error's codes and SQLite's
 * own message (which names tables and columns, never bound values), and never keeps the Drizzle
 * error as a `cause`.
 *
 * @module
 */
import {
  CohortError,
  ConflictError,
  describeDescriptorLimit,
  describeDiskFault,
  descriptorFault,
  DescriptorLimitError,
  DiskError,
  diskFault,
  InvalidInputError,
  isCohortError,
  isNoSpace,
  NoSpaceError,
  UnavailableError,
} from "../errors.ts";
import { openFileLimit } from "../open_files.ts";

/** A database failure that is not the caller's fault (500). Its message carries no parameters. */
export class DatabaseError extends CohortError {
  /** SQLite's extended result code name (`"SQLITE_IOERR_WRITE"`), when the driver gave one. */
  readonly sqliteCode?: string;
  constructor(message: string, options?: { sqliteCode?: string; cause?: unknown }) {
    super("E_INTERNAL", 500, message, options);
    this.sqliteCode = options?.sqliteCode;
  }
}

/** The parts of a libSQL error this module reads; everything else is ignored. */
interface DriverFault {
  code: string;
  extendedCode?: string;
  /** SQLite's message with the `SQLITE_…: ` prefixes removed. */
  detail: string;
  error: Error;
}

const CODE_PREFIX = /^(?:SQLITE_[A-Z_]+: )+/;

/** Finds the libSQL error in a cause chain (Drizzle nests it one level down). */
function driverFault(err: unknown): DriverFault | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    const { code, extendedCode } = current as Error & { code?: unknown; extendedCode?: unknown };
    if (typeof code === "string" && code.startsWith("SQLITE_")) {
      // The client names the primary code and the extended one apart; the store's writer thread
      // (the `libsql` driver) names only the extended one (`SQLITE_IOERR_WRITE`), whose read-only
      // file system was then an internal error (500).
      const primary = /^SQLITE_[A-Z]+/.exec(code)![0];
      return {
        code: primary,
        extendedCode: typeof extendedCode === "string"
          ? extendedCode
          : code === primary
          ? undefined
          : code,
        detail: current.message.replace(CODE_PREFIX, ""),
        error: current,
      };
    }
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * The `table.column` names of a UNIQUE or PRIMARY KEY failure, e.g.
 * `["core_token_records.secret_hash"]`, parsed from SQLite's
 * `UNIQUE constraint failed: t.a, t.b`. Only identifiers are kept, so no value can slip through.
 */
function uniqueColumns(detail: string): string[] {
  const m = detail.match(/(?:UNIQUE|PRIMARY KEY) constraint failed: (.*)$/m);
  if (!m) return [];
  return m[1].split(",").map((s) => s.trim()).filter((s) => /^[\w$]+\.[\w$]+$/.test(s));
}

/**
 * Whether SQLite's result code says the disk failed or refuses writes. Not an I/O error that is
 * no disk's: SQLite out of memory, or the database file moved away under it.
 */
function isDiskFault(code: string, ext: string): boolean {
  if (ext === "SQLITE_IOERR_NOMEM" || ext === "SQLITE_READONLY_DBMOVED") return false;
  return code === "SQLITE_IOERR" || code === "SQLITE_READONLY";
}

/** Options for {@link toStoreError}. */
export interface StoreErrorOptions {
  /**
   * The statement text came from a user (`cohort sql`): SQLite's complaint is then about the
   * user's input and becomes an {@link InvalidInputError} (400) carrying SQLite's message.
   * @default false
   */
  userSql?: boolean;
}

/**
 * Converts any error thrown by the driver or Drizzle into a safe {@link CohortError}.
 *
 * - cohort errors pass through unchanged;
 * - UNIQUE / PRIMARY KEY violations become a {@link ConflictError} naming the column(s);
 * - `SQLITE_BUSY` / `SQLITE_LOCKED` become an {@link UnavailableError} (retryable, 503);
 * - `SQLITE_FULL` (the disk is full) and `SQLITE_IOERR_SHMSIZE` (the WAL's shared-memory file
 *   could not grow: SQLite's documentation names a full volume as its cause) become a
 *   {@link NoSpaceError} (507), for the operator to act on, even for a user's statement;
 * - any other `SQLITE_IOERR_…` (SQLite's "disk I/O error": a write to a file system turned
 *   read-only fails so, as does a failing disk) and `SQLITE_READONLY…` (the database or its
 *   journal cannot be written) become a {@link DiskError} (507), likewise, and so do
 *   `SQLITE_CORRUPT` and `SQLITE_NOTADB` (SQLite reports a read that failed with EIO so);
 * - with `userSql`, any other SQLite error becomes an {@link InvalidInputError} with SQLite's
 *   message (e.g. `no such table: foo`);
 * - anything else becomes a {@link DatabaseError} whose message names only `action` and SQLite's
 *   result code and message, never the statement's bound parameters.
 *
 * @param action what was being done, in message style (`Insert token "c2"`); the caller must
 *   only put values in it that are safe to show.
 */
export function toStoreError(
  err: unknown,
  action: string,
  options: StoreErrorOptions = {},
): CohortError {
  if (isCohortError(err)) return err;
  const fault = driverFault(err);
  if (!fault) {
    // Not from SQLite: a bug or a closed client. Its message may still quote a DrizzleQueryError,
    // so only its class name is kept.
    const name = err instanceof Error ? err.name : typeof err;
    return new DatabaseError(`${action}: unexpected ${name}`);
  }
  const ext = fault.extendedCode ?? fault.code;
  const cause = fault.error;
  if (ext === "SQLITE_CONSTRAINT_UNIQUE" || ext === "SQLITE_CONSTRAINT_PRIMARYKEY") {
    const columns = uniqueColumns(fault.detail);
    const what = columns.length
      ? columns.map((c) => `"${c.slice(c.indexOf(".") + 1)}"`).join(", ")
      : "a unique column";
    return new ConflictError(
      `${action}: another record already has the same ${what}${
        columns.length ? ` (${columns.join(", ")})` : ""
      }`,
      { cause },
    );
  }
  if (fault.code === "SQLITE_BUSY" || fault.code === "SQLITE_LOCKED") {
    return new UnavailableError(`${action}: the database is busy, try again`, { cause });
  }
  if (fault.code === "SQLITE_FULL" || ext === "SQLITE_IOERR_SHMSIZE") {
    return new NoSpaceError(`${action}: no space left on the member's disk (${ext})`, { cause });
  }
  if (isDiskFault(fault.code, ext)) {
    return new DiskError(`${action}: ${describeDiskFault(undefined)} (${ext}): ${fault.detail}`, {
      cause,
    });
  }
  if (fault.code === "SQLITE_CORRUPT" || fault.code === "SQLITE_NOTADB") {
    // SQLite reports a read that failed with EIO as corruption (`SQLITE_IOERR_CORRUPTFS` becomes
    // `SQLITE_CORRUPT`, or `SQLITE_NOTADB` for the header): a member whose disk failed answered
    // `cohort sql` with "file is not a database" (400, as if the user's fault) and logged
    // "database disk image is malformed" as an internal error.
    return new DiskError(
      `${action}: the database in its state directory cannot be read (${ext}): its disk ` +
        "failed a read (EIO), or the file is damaged: check the disk and its file system",
      { cause },
    );
  }
  if (options.userSql) return new InvalidInputError(`${action}: ${fault.detail}`, { cause });
  return new DatabaseError(`${action}: ${ext}: ${fault.detail}`, { sqliteCode: ext, cause });
}

/**
 * Converts the error of an fsync of the database's files (done as files, not through SQLite)
 * into a safe {@link CohortError}: a full disk a {@link NoSpaceError}, a read-only or failing
 * one a {@link DiskError} (both 507), a member out of file descriptors (the file could not be
 * opened to sync it) a {@link DescriptorLimitError} naming its limit (503), anything else a
 * {@link DatabaseError}; the message names `action` and the fault, never the file's path (the
 * runtime's message may hold it).
 */
export function toSyncError(err: unknown, action: string): CohortError {
  if (isCohortError(err)) return err;
  const descriptors = descriptorFault(err);
  if (descriptors !== undefined) {
    const limit = descriptors === "ENFILE" ? undefined : openFileLimit();
    return new DescriptorLimitError(
      `${action}: ${describeDescriptorLimit(descriptors, "the member", limit)}`,
      { cause: err },
    );
  }
  if (isNoSpace(err)) {
    return new NoSpaceError(`${action}: no space left on the disk of its state directory`, {
      cause: err,
    });
  }
  const fault = diskFault(err);
  if (fault !== undefined) {
    return new DiskError(`${action}: ${describeDiskFault(fault)}`, { cause: err });
  }
  const code = (err as { code?: unknown }).code;
  return new DatabaseError(`${action}: unexpected ${typeof code === "string" ? code : "error"}`, {
    cause: err,
  });
}
