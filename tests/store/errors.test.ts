import { createClient } from "@libsql/client";
import { drizzle } from "drizzle-orm/libsql";
import { sqliteTable, text } from "drizzle-orm/sqlite-core";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  ConflictError,
  DiskError,
  InvalidInputError,
  NoSpaceError,
  NotFoundError,
  UnavailableError,
} from "../../lib/errors.ts";
import { DatabaseError, toStoreError, toSyncError } from "../../lib/store/errors.ts";
import { rejection } from "./helpers.ts";

const test = suite("store/errors");
const SECRET = "hunter2-very-secret";
const secrets = sqliteTable("secrets", { value: text("value").notNull().unique() });

/** The raw error drizzle throws when inserting SECRET (once more than `before` times). */
async function drizzleError(setup: string, before = 1): Promise<Error> {
  const client = createClient({ url: ":memory:" });
  try {
    await client.execute(setup);
    const db = drizzle(client);
    for (let i = 0; i < before; i++) await db.insert(secrets).values({ value: SECRET });
    return await rejection(db.insert(secrets).values({ value: SECRET }));
  } finally {
    client.close();
  }
}

test("the raw Drizzle error does carry the parameter (what we must hide)", async () => {
  const raw = await drizzleError("CREATE TABLE secrets (value TEXT NOT NULL UNIQUE)");
  assert.match(raw.message, SECRET);
});

test("UNIQUE becomes a ConflictError naming the column, without parameters", async () => {
  const raw = await drizzleError("CREATE TABLE secrets (value TEXT NOT NULL UNIQUE)");
  const err = toStoreError(raw, "Store secret");
  assert.instance(err, ConflictError);
  assert.is(err.status, 409);
  assert.is(
    err.message,
    'Store secret: another record already has the same "value" (secrets.value)',
  );
  assert.not.match(JSON.stringify({ m: err.message, c: (err.cause as Error).message }), SECRET);
});

test("other driver errors become a DatabaseError with SQLite's message only", async () => {
  const raw = await drizzleError(
    "CREATE TABLE secrets (value TEXT NOT NULL UNIQUE CHECK (length(value) < 5))",
    0,
  );
  assert.match(raw.message, SECRET);
  const err = toStoreError(raw, "Store secret");
  assert.instance(err, DatabaseError);
  assert.is(err.status, 500);
  assert.is(err.code, "E_INTERNAL");
  assert.is((err as DatabaseError).sqliteCode, "SQLITE_CONSTRAINT_CHECK");
  assert.match(err.message, /^Store secret: SQLITE_CONSTRAINT_CHECK: CHECK constraint failed/);
  assert.not.match(err.message, SECRET);
});

test("userSql turns SQLite errors into InvalidInputError", async () => {
  const client = createClient({ url: ":memory:" });
  try {
    const raw = await rejection(client.execute("SELECT * FROM foo"));
    const err = toStoreError(raw, "Execute SQL", { userSql: true });
    assert.instance(err, InvalidInputError);
    assert.is(err.message, "Execute SQL: no such table: foo");
  } finally {
    client.close();
  }
});

test("a full database (SQLITE_FULL) becomes a NoSpaceError (507) saying the disk is full", async () => {
  const client = createClient({ url: ":memory:" });
  try {
    // The page limit makes SQLite answer exactly as on a full disk.
    await client.execute("CREATE TABLE t (v TEXT)");
    await client.execute("PRAGMA max_page_count = 3");
    const raw = await rejection(client.execute("INSERT INTO t VALUES (zeroblob(100000))"));
    for (const options of [{}, { userSql: true }]) {
      const err = toStoreError(raw, "Save records", options);
      assert.instance(err, NoSpaceError);
      assert.is(err.status, 507);
      assert.is(err.code, "E_NO_SPACE");
      assert.is(err.message, "Save records: no space left on the member's disk (SQLITE_FULL)");
    }
  } finally {
    client.close();
  }
});

test("a shared-memory file that cannot grow (SQLITE_IOERR_SHMSIZE) is a NoSpaceError too", () => {
  const shm = Object.assign(new Error("SQLITE_IOERR_SHMSIZE: disk I/O error"), {
    code: "SQLITE_IOERR",
    extendedCode: "SQLITE_IOERR_SHMSIZE",
  });
  const err = toStoreError(shm, "Open database");
  assert.instance(err, NoSpaceError);
  assert.is(
    err.message,
    "Open database: no space left on the member's disk (SQLITE_IOERR_SHMSIZE)",
  );
});

test("a disk that refuses writes or fails (SQLITE_IOERR_*, SQLITE_READONLY*) is a DiskError", () => {
  for (
    const [code, extendedCode] of [
      ["SQLITE_IOERR", "SQLITE_IOERR_WRITE"], // a file system remounted read-only under SQLite
      ["SQLITE_IOERR", "SQLITE_IOERR_FSYNC"],
      ["SQLITE_READONLY", "SQLITE_READONLY_ROLLBACK"],
    ]
  ) {
    const io = Object.assign(new Error(`${extendedCode}: disk I/O error`), { code, extendedCode });
    const err = toStoreError(io, "Save records", { userSql: true });
    assert.instance(err, DiskError, extendedCode);
    assert.is(err.code, "E_DISK");
    assert.is(err.status, 507);
    assert.match(err.message, `Save records: the disk of its state directory failed a write`);
    assert.match(err.message, `(${extendedCode})`);
  }
  // Not the disk's fault: SQLite out of memory, or the file moved away under it.
  for (
    const [code, extendedCode] of [
      ["SQLITE_IOERR", "SQLITE_IOERR_NOMEM"],
      ["SQLITE_READONLY", "SQLITE_READONLY_DBMOVED"],
    ]
  ) {
    const other = Object.assign(new Error(`${extendedCode}: x`), { code, extendedCode });
    assert.instance(toStoreError(other, "Read"), DatabaseError, extendedCode);
  }
});

test("an error naming only its extended code (the writer thread's driver) maps by it", () => {
  // As the store's writer thread rejected a write to a file system turned read-only.
  const io = Object.assign(new Error("SQLITE_IOERR_WRITE: disk I/O error"), {
    code: "SQLITE_IOERR_WRITE",
    rawCode: 778,
  });
  const err = toStoreError(io, "Save replicated records");
  assert.instance(err, DiskError);
  assert.is(err.status, 507);
  assert.match(err.message, "(SQLITE_IOERR_WRITE)");
  const full = Object.assign(new Error("SQLITE_FULL: database or disk is full"), {
    code: "SQLITE_FULL",
  });
  assert.instance(toStoreError(full, "Save"), NoSpaceError);
  const unique = Object.assign(new Error("UNIQUE constraint failed: t.a"), {
    code: "SQLITE_CONSTRAINT_UNIQUE",
  });
  assert.instance(toStoreError(unique, "Insert"), ConflictError);
});

test("a database SQLite cannot read (NOTADB, CORRUPT: a read that failed with EIO) is a DiskError", async () => {
  const dir = mkdtempSync(join(tmpdir(), "cohort-notadb-"));
  const file = join(dir, "cohort.db");
  writeFileSync(file, "x".repeat(8192)); // as a failing disk's read of its header looks to SQLite
  const client = createClient({ url: `file:${file}` });
  try {
    const raw = await rejection(client.execute("SELECT 1 FROM sqlite_master"));
    for (const options of [{}, { userSql: true }]) {
      const err = toStoreError(raw, "Execute SQL", options);
      assert.instance(err, DiskError, String(err));
      assert.is(err.status, 507);
      assert.match(err.message, "Execute SQL: the database in its state directory cannot be read");
      assert.match(err.message, "failed a read (EIO), or the file is damaged");
    }
  } finally {
    client.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const corrupt = Object.assign(new Error("SQLITE_CORRUPT: database disk image is malformed"), {
    code: "SQLITE_CORRUPT",
  });
  assert.instance(toStoreError(corrupt, "Save replicated records"), DiskError);
});

test("busy maps to Unavailable; cohort errors pass; unknown errors lose their message", () => {
  const busy = Object.assign(new Error("SQLITE_BUSY: database is locked"), {
    code: "SQLITE_BUSY",
  });
  assert.instance(toStoreError(busy, "Write"), UnavailableError);
  const nf = new NotFoundError("x");
  assert.is(toStoreError(nf, "Write"), nf);
  const odd = toStoreError(new TypeError(`Failed query: insert\nparams: ${SECRET}`), "Write");
  assert.instance(odd, DatabaseError);
  assert.is(odd.message, "Write: unexpected TypeError");
  assert.is(odd.cause, undefined);
});

test("a sync that could not open its file for want of descriptors names them and the limit, never 'unexpected EMFILE'", () => {
  const emfile = Object.assign(new Error("EMFILE: too many open files, open '/secret/path/db'"), {
    code: "EMFILE",
  });
  const err = toSyncError(emfile, "Sync the database");
  assert.is(err.code, "E_FD_LIMIT");
  assert.is(err.status, 503);
  assert.match(
    err.message,
    /^Sync the database: the member is out of file descriptors( \(limit \d+\))?: raise its limit of open files/,
  );
  assert.not.match(err.message, /secret/);
  const enfile = toSyncError(Object.assign(new Error("ENFILE"), { code: "ENFILE" }), "Sync x");
  assert.match(enfile.message, /^Sync x: the machine of the member is out of file descriptors/);
});

test.run();
