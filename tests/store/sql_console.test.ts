// deno-lint-ignore-file no-explicit-any
/**
 * The SQL console's contract (`executeSql`, `dumpSql`): cohort's own tables may be read and
 * never changed, whatever the trick; statement kinds that act outside a transaction or past SQL
 * are refused. Shared by its two ways of checking: with a second connection that compiles each
 * statement (a file database: what the console's child process runs, here in this process) and
 * without (an in-memory database). Then the child process itself: the same answers across the
 * process boundary, and cancellation by time limit or signal.
 */
import { createClient } from "@libsql/client";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { ConflictError, ForbiddenError, InvalidInputError } from "../../lib/errors.ts";
import { isBusy } from "../../lib/store/busy.ts";
import { insertMember } from "../../lib/store/members.ts";
import { openStore, type Store } from "../../lib/store/open.ts";
import { dumpSql, executeSql } from "../../lib/store/sql.ts";
import { fileUrl, rejection, tempDir } from "./helpers.ts";

/** Refused with 403 naming the table (the child also refuses writes that change no row). */
const PROTECTED: [string, RegExp][] = [
  ["DROP TABLE core_records", /it would change (table )?"core_records"/],
  ["DROP TABLE main.core_records", /it would change (table )?"core_records"/],
  ['drop table MAIN."core_records"', /it would change (table )?"core_records"/],
  ["ALTER TABLE core_records RENAME TO gone", /it would change table "core_records"/],
  ["ALTER TABLE core_cluster_members ADD COLUMN z", /table "core_cluster_members"/],
  ["ALTER TABLE core_cluster_members DROP COLUMN app_version", /core_cluster_members/],
  ["DELETE FROM core_cluster_members", /it would change "core_cluster_members"/],
  ["UPDATE core_cluster_members SET role = 'voter'", /core_cluster_members/],
  ["INSERT INTO core_records VALUES ('k', 'k', NULL, 1, 'o', NULL)", /"core_records"/],
  [
    "REPLACE INTO core_cluster_members (id, name, address, certificate) VALUES (1, 'x', 'y', 'z')",
    /"core_cluster_members"/,
  ],
  ["WITH doomed AS (SELECT 1) DELETE FROM core_cluster_members", /core_cluster_members/],
  ["INSERT INTO app SELECT 1", /"core_cluster_members"/], // through the app table's trigger below
  ["DELETE FROM __cohort_migrations", /"__cohort_migrations"/],
  ["CREATE INDEX i ON core_records(value)", /index "i"/],
  ["DROP INDEX core_cluster_members_name_unique", /core_cluster_members/],
  ["CREATE TABLE core_new (a)", /table "core_new"/],
  ["ALTER TABLE other RENAME TO core_other", /table "core_other"/],
  ["CREATE TRIGGER t1 AFTER INSERT ON other BEGIN DELETE FROM core_records; END", /trigger "t1"/],
  ["CREATE TRIGGER t2 BEFORE DELETE ON core_records BEGIN SELECT 1; END", /trigger "t2"/],
  ["DELETE FROM sqlite_sequence WHERE name = 'core_cluster_members'", /AUTOINCREMENT counter/],
  ["DROP TRIGGER app_writes_core", /trigger "app_writes_core"/],
];

/** Refused with 400 before anything runs. */
const REFUSED: [string, RegExp][] = [
  ["BEGIN", /BEGIN is not available in the SQL console: each statement runs in its own/],
  ["BEGIN; DROP TABLE core_records; COMMIT", /^Execute statement 1: BEGIN is not available/],
  ["SAVEPOINT s", /SAVEPOINT is not available/],
  ["ATTACH 'other.db' AS other", /ATTACH is not available/],
  ["VACUUM", /VACUUM is not available/],
  ["PRAGMA writable_schema = 1", /runs only pragmas that read/],
  ["PRAGMA writable_schema=ON; UPDATE sqlite_master SET sql = ''", /^Execute statement 1: /],
  ["EXPLAIN PRAGMA writable_schema = 1", /runs only pragmas that read/],
  ["PRAGMA /* hidden */ writable_schema = 1", /runs only pragmas that read/],
  ["PRAGMA schema_version = 1", /runs only pragmas that read/],
  ["PRAGMA journal_mode = OFF", /runs only pragmas that read/],
  ["PRAGMA locking_mode = EXCLUSIVE", /runs only pragmas that read/],
  ["PRAGMA hard_heap_limit = 0", /runs only pragmas that read/],
  ["SELECT writefile('/tmp/cohort-console-probe', 'x')", /file and raw page access/],
  ["SELECT readfile('/etc/hostname')", /file and raw page access/],
  ["SELECT * FROM fsdir('/')", /file and raw page access/],
  ["UPDATE sqlite_dbpage SET data = zeroblob(4096) WHERE pgno = 2", /raw page access/],
  ["SELECT load_extension('x')", /file and raw page access/],
];

/** Allowed: reads of everything, and anything on the app's own tables. */
const ALLOWED = [
  "SELECT count(*) FROM core_cluster_members",
  "SELECT * FROM core_records",
  "PRAGMA table_info(core_records)",
  "PRAGMA integrity_check",
  "PRAGMA foreign_keys = ON",
  "CREATE VIEW member_names AS SELECT name FROM core_cluster_members",
  "SELECT * FROM member_names",
  "CREATE TABLE widgets (id INTEGER PRIMARY KEY, name TEXT)",
  "INSERT INTO widgets (name) VALUES ('a'), ('b')",
  "UPDATE widgets SET name = 'c' WHERE id = 1",
  "ANALYZE",
  "DELETE FROM widgets",
  "DROP TABLE widgets",
];

const FILE = "file, second connection";
for (const where of [FILE, "in memory"] as const) {
  const test = suite<{ store: Store; remove: () => void }>(`SQL console, ${where}`);

  test.before.each(async (ctx) => {
    const { dir, remove } = tempDir();
    ctx.remove = remove;
    ctx.store = await openStore({ url: where === FILE ? fileUrl(dir) : ":memory:" });
    await insertMember(ctx.store, { name: "m1", address: "10.0.0.1:9000", certificate: "c" });
    // An app table with a trigger that writes a protected table (as an app migration could).
    await ctx.store.client.executeMultiple(`
      INSERT INTO core_records VALUES ('member', 'm1', NULL, 1, 'm1', NULL);
      CREATE TABLE app (a);
      CREATE TABLE other (a);
      CREATE TRIGGER app_writes_core AFTER INSERT ON app BEGIN DELETE FROM core_cluster_members; END;
    `);
  });
  test.after.each((ctx) => {
    ctx.store.close();
    ctx.remove();
  });

  // In this process: the child process is tested below.
  const run = (store: Store, sql: string) => executeSql(store, sql, { isolate: false });
  const dump = (store: Store) => dumpSql(store, { isolate: false });

  test("cohort's own tables can be read, never changed, whatever the statement", async ({ store }) => {
    const before = await dump(store);
    for (const [sql, message] of PROTECTED) {
      const err = await rejection(run(store, sql));
      assert.instance(err, ForbiddenError, sql);
      assert.match(
        err.message,
        /^Execute SQL: cohort's own tables \(core_\* and __cohort_\*\) are read-only in the SQL console/,
        sql,
      );
      assert.match(err.message, message, sql);
    }
    assert.is(await dump(store), before, "nothing changed");
  });

  test("statement kinds that act outside a transaction or past SQL are refused unrun", async ({ store }) => {
    const before = await dump(store);
    for (const [sql, message] of REFUSED) {
      const err = await rejection(run(store, sql));
      assert.instance(err, InvalidInputError, sql);
      assert.match(err.message, message, sql);
    }
    assert.is(await dump(store), before, "nothing changed");
  });

  test("EXPLAIN runs on the second connection (none in memory: refused there)", async ({ store }) => {
    const sql = "EXPLAIN QUERY PLAN SELECT * FROM core_records; DELETE FROM other";
    if (where === FILE) {
      const out = await run(store, sql);
      assert.is(out.results[0].type, "select");
      assert.equal(out.results[1], { type: "exec", rows_affected: 0 });
    } else {
      const err = await rejection(run(store, sql));
      assert.match(err.message, /EXPLAIN is not available in the SQL console of an in-memory/);
    }
  });

  test("reads, and anything on the app's own tables, are allowed", async ({ store }) => {
    for (const sql of ALLOWED) {
      const out = await run(store, sql).catch((e) => assert.unreachable(`${sql}: ${e}`));
      assert.ok(out!.results.length === 1, sql);
    }
    const rows = await run(store, "SELECT name FROM core_cluster_members");
    assert.equal(rows.results[0], { type: "select", columns: ["name"], rows: [["m1"]] });
  });

  test("a script that changes the schema between writes runs whole", async ({ store }) => {
    const script = "CREATE TABLE a1 (x); INSERT INTO a1 VALUES (1); CREATE TABLE a2 (x); " +
      "INSERT INTO a2 VALUES (1); " + (where === FILE ? "EXPLAIN SELECT 1; " : "") +
      "DROP TABLE a1; INSERT INTO a2 VALUES (2); SELECT count(*) FROM a2";
    const out = await run(store, script);
    assert.equal(out.results.at(-1), { type: "select", columns: ["count(*)"], rows: [[2]] });
  });

  test("a script stops at a refused statement; the ones before it stay applied", async ({ store }) => {
    const err = await rejection(run(store, "CREATE TABLE kept (a); DROP TABLE core_records"));
    assert.instance(err, ForbiddenError);
    assert.match(err.message, /^Execute statement 2: /);
    const kept = await run(store, "SELECT name FROM sqlite_schema WHERE name = 'kept'");
    assert.equal((kept.results[0] as any).rows, [["kept"]]);
  });

  if (where === FILE) {
    test("a write that would change no row is refused too (SQLite's compilation shows it)", async ({ store }) => {
      for (
        const sql of [
          "DELETE FROM core_records WHERE 0",
          "UPDATE __cohort_migrations SET id = id WHERE 0",
        ]
      ) {
        const err = await rejection(run(store, sql));
        assert.instance(err, ForbiddenError, sql);
      }
    });
  }

  test.run();
}

const child = suite<{ store: Store; remove: () => void }>("SQL console, child process");

child.before.each(async (ctx) => {
  const { dir, remove } = tempDir();
  ctx.remove = remove;
  ctx.store = await openStore({ url: fileUrl(dir) });
  await insertMember(ctx.store, { name: "m1", address: "10.0.0.1:9000", certificate: "c" });
});
child.after.each((ctx) => {
  ctx.store.close();
  ctx.remove();
});

child("answers, refusals and errors cross the process boundary as they are", async ({ store }) => {
  const out = await executeSql(
    store,
    "CREATE TABLE t (k UNIQUE); INSERT INTO t VALUES (1); SELECT name FROM core_cluster_members; EXPLAIN SELECT 1",
  );
  assert.equal(out.results.slice(0, 3), [
    { type: "exec", rows_affected: 0 },
    { type: "exec", rows_affected: 1 },
    { type: "select", columns: ["name"], rows: [["m1"]] },
  ]);
  assert.is(out.results[3].type, "select");
  const forbidden = await rejection(executeSql(store, "DELETE FROM core_records WHERE 0"));
  assert.instance(forbidden, ForbiddenError);
  assert.match(forbidden.message, /^Execute SQL: cohort's own tables .* "core_records"$/);
  const conflict = await rejection(executeSql(store, "INSERT INTO t VALUES (1)"));
  assert.instance(conflict, ConflictError);
  const invalid = await rejection(executeSql(store, "SELECT * FROM nowhere"));
  assert.instance(invalid, InvalidInputError);
  assert.is(invalid.message, "Execute SQL: no such table: nowhere");
  assert.match(await dumpSql(store, { schemaOnly: true }), /^CREATE TABLE t \(k UNIQUE\);$/m);
});

child(
  "a statement over its time limit, or whose signal aborts, is cancelled",
  async ({ store }) => {
    const cte = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c " +
      "LIMIT 150000000) SELECT count(*) FROM c";
    const slow = await rejection(executeSql(store, cte, { timeoutMs: 1000 }));
    assert.instance(slow, InvalidInputError);
    assert.is(slow.message, "Execute SQL: cancelled after 1 s, the SQL console's time limit");
    const controller = new AbortController();
    const running = executeSql(store, cte, { signal: controller.signal });
    setTimeout(() => controller.abort(), 200);
    const aborted = await rejection(running);
    assert.match(aborted.message, /^Execute SQL: cancelled: the caller went away/);
    const after = await executeSql(store, "SELECT 1");
    assert.equal(after.results[0], { type: "select", columns: ["1"], rows: [[1]] });
  },
);

child(
  "the member's own writes go through while a console statement runs (WAL)",
  async ({ store }) => {
    const cte = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c " +
      "LIMIT 150000000) SELECT count(*) FROM c";
    const running = rejection(executeSql(store, cte, { timeoutMs: 8000 }));
    await new Promise((r) => setTimeout(r, 1500)); // the child has begun its transaction
    // Without write-ahead logging this write waits for the console's read lock, then fails busy.
    await insertMember(store, { name: "m2", address: "10.0.0.2:9000", certificate: "c2" });
    const mode = await store.client.execute("PRAGMA journal_mode");
    assert.equal(mode.rows[0][0], "wal");
    assert.match((await running).message, /cancelled after 8 s/);
  },
);

/** Resolves once another connection holds the write lock of the database at `url`. */
async function writeLockHeld(url: string): Promise<void> {
  const probe = createClient({ url, timeout: 1 });
  try {
    for (let tries = 0; tries < 600; tries++) {
      try {
        await (await probe.transaction("write")).rollback(); // BEGIN IMMEDIATE: the write lock
      } catch (err) {
        if (isBusy(err)) return;
        throw err;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error("the console never took the write lock");
  } finally {
    probe.close();
  }
}

child(
  "a console write holding the lock: the member's write waits with its event loop free, then lands",
  async ({ store }) => {
    await executeSql(store, "CREATE TABLE t (x)");
    const insert = "INSERT INTO t WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 " +
      "FROM c LIMIT 150000000) SELECT x FROM c";
    // No time limit of its own: on a loaded machine the child may need seconds to begin. It is
    // cancelled below, once the member's write has waited on its lock.
    const cancel = new AbortController();
    const running = rejection(executeSql(store, insert, { signal: cancel.signal }));
    await writeLockHeld(store.location.url);
    const order: string[] = [];
    // libSQL's own busy wait held the thread for its whole timeout, then failed "busy".
    const write = insertMember(store, { name: "m2", address: "10.0.0.2:9000", certificate: "c2" })
      .then(() => order.push("member's write"), (err) => order.push(String(err)));
    await new Promise((r) => setTimeout(r, 100));
    order.push("a timer meanwhile");
    cancel.abort();
    await write;
    assert.equal(order, ["a timer meanwhile", "member's write"]);
    assert.match((await running).message, /cancelled: the caller went away/);
    const rows = await store.client.execute("SELECT count(*) AS n FROM t");
    assert.is(Number(rows.rows[0].n), 0, "the cancelled statement left nothing");
  },
);

child("a result larger than the console sends is refused", async ({ store }) => {
  const big = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 200000) " +
    "SELECT x, printf('%0100d', x) FROM c";
  const err = await rejection(executeSql(store, big));
  assert.instance(err, InvalidInputError);
  assert.match(err.message, /^Execute SQL: the results are larger than the console's 16 MiB/);
});

child.run();
