import { createClient } from "@libsql/client";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { ConflictError, InvalidInputError } from "../../lib/errors.ts";
import { insertMember } from "../../lib/store/members.ts";
import { openStore, type Store } from "../../lib/store/open.ts";
import { dumpSql, executeSql } from "../../lib/store/sql.ts";
import { splitSqlStatements } from "../../lib/store/split_sql.ts";
import { rejection } from "./helpers.ts";

const test = suite<{ store: Store }>("store/sql", { store: undefined as unknown as Store });

test.before.each(async (ctx) => {
  ctx.store = await openStore({ url: ":memory:" });
});
test.after.each((ctx) => {
  ctx.store.close();
});

test("split respects quotes, comments and trigger bodies", () => {
  const script = `
    SELECT 'a;b', "c;d", \`e;f\`, [g;h]; -- trailing; comment
    /* block; comment */ INSERT INTO t VALUES ('it''s;');
    CREATE TRIGGER tr AFTER INSERT ON t BEGIN
      UPDATE t SET x = CASE WHEN 1 THEN 2 END; DELETE FROM u;
    END;
    ;; -- only a comment
    SELECT 1`;
  const got = splitSqlStatements(script);
  assert.equal(got.map((s) => s.keyword), ["SELECT", "INSERT", "CREATE", "SELECT"]);
  assert.is(got[0].text, "SELECT 'a;b', \"c;d\", `e;f`, [g;h]");
  assert.is(got[1].text, "INSERT INTO t VALUES ('it''s;')");
  assert.match(got[2].text, /^CREATE TRIGGER tr .*DELETE FROM u;\n\s+END$/s);
  assert.is(got[3].text, "SELECT 1");
  assert.equal(splitSqlStatements("  -- nothing\n /* here */ ;"), []);
});

test("execute returns select and exec results in order", async ({ store }) => {
  const out = await executeSql(
    store,
    `CREATE TABLE kv (k TEXT PRIMARY KEY, v);
     INSERT INTO kv VALUES ('a', 1), ('b', x'00ff'), ('c;', NULL);
     SELECT k, v FROM kv ORDER BY k;
     SELECT k FROM kv WHERE k = 'zzz';
     UPDATE kv SET v = 2 WHERE k <> 'b';
     PRAGMA foreign_keys = ON;
     DELETE FROM kv WHERE k = 'a' RETURNING k`,
  );
  assert.equal(out.results, [
    { type: "exec", rows_affected: 0 },
    { type: "exec", rows_affected: 3 },
    { type: "select", columns: ["k", "v"], rows: [["a", 1], ["b", "00ff"], ["c;", null]] },
    { type: "select", columns: ["k"], rows: [] },
    { type: "exec", rows_affected: 2 },
    { type: "select", columns: [], rows: [] },
    { type: "select", columns: ["k"], rows: [["a"]] },
  ]);
});

test("bad SQL is an InvalidInputError with SQLite's message; earlier statements stay", async ({ store }) => {
  const err = await rejection(
    executeSql(store, "CREATE TABLE ok (a); SELECT * FROM foo; CREATE TABLE never (a)"),
  );
  assert.instance(err, InvalidInputError);
  assert.is(err.message, "Execute statement 2: no such table: foo");
  const tables = await executeSql(
    store,
    "SELECT name FROM sqlite_master WHERE name IN ('ok', 'never')",
  );
  assert.equal(tables.results[0], { type: "select", columns: ["name"], rows: [["ok"]] });

  const syntax = await rejection(executeSql(store, "SELEC 1"));
  assert.instance(syntax, InvalidInputError);
  assert.match(syntax.message, /^Execute SQL: near "SELEC": syntax error/);
  assert.instance(await rejection(executeSql(store, "-- nothing")), InvalidInputError);
});

test("a UNIQUE violation in user SQL is a conflict", async ({ store }) => {
  await executeSql(store, "CREATE TABLE app (k TEXT UNIQUE); INSERT INTO app VALUES ('a')");
  const err = await rejection(executeSql(store, "INSERT INTO app VALUES ('a')"));
  assert.instance(err, ConflictError);
  assert.match(err.message, /^Execute SQL: another record already has the same "k" \(app\.k\)/);
});

test("schema-only dump lists the CREATE statements", async ({ store }) => {
  const text = await dumpSql(store, { schemaOnly: true });
  const lines = text.trim().split("\n").filter((l) => l.startsWith("CREATE"));
  assert.equal(lines, [
    'CREATE TABLE "__cohort_migrations" (',
    "CREATE TABLE `core_cluster_members` (",
    "CREATE TABLE `core_former_certificates` (",
    "CREATE TABLE `core_records` (",
    "CREATE TABLE `core_token_records` (",
    "CREATE UNIQUE INDEX `core_cluster_members_certificate_unique` ON `core_cluster_members` (`certificate`);",
    "CREATE UNIQUE INDEX `core_cluster_members_name_unique` ON `core_cluster_members` (`name`);",
    "CREATE INDEX `core_former_certificates_name_seq` ON `core_former_certificates` (`name`,`seq`);",
    "CREATE UNIQUE INDEX `core_token_records_name_unique` ON `core_token_records` (`name`);",
    "CREATE UNIQUE INDEX `core_token_records_secret_hash_unique` ON `core_token_records` (`secret_hash`);",
  ]);
  assert.not.match(text, /INSERT|sqlite_sequence/);
});

test("full dump: creates then inserts, deterministic, and it restores the database", async ({ store }) => {
  await insertMember(store, { name: "b", address: "x:2", certificate: "it's", extensions: ["e"] });
  await insertMember(store, { name: "a", address: "x:1", certificate: "c", heartbeat: 42 });
  await executeSql(
    store,
    "CREATE TABLE odd (k INTEGER PRIMARY KEY, r REAL, b BLOB, g AS (k * 2)) ;" +
      "INSERT INTO odd (k, r, b) VALUES (2, 0.1, x'01'), (1, 1e999, NULL);" +
      "CREATE VIEW names AS SELECT name FROM core_cluster_members",
  );
  const text = await dumpSql(store);
  assert.is(text, await dumpSql(store));
  const lines = text.split("\n");
  assert.is(lines[0], "PRAGMA foreign_keys=OFF;");
  assert.is(lines[1], "BEGIN TRANSACTION;");
  assert.is(lines.at(-2), "COMMIT;");
  assert.ok(text.indexOf("CREATE VIEW names") < text.indexOf("INSERT INTO"));
  assert.ok(
    lines.includes(
      `INSERT INTO "core_cluster_members"("id","name","address","certificate","schema_internal","schema_external","heartbeat","role","api_extensions","app_version") VALUES(1,'b','x:2','it''s',0,0,0,'PENDING','["e"]','');`,
    ),
  );
  assert.ok(lines.includes(`INSERT INTO "odd"("k","r","b") VALUES(1,1e999,NULL);`));
  assert.ok(lines.includes(`INSERT INTO "odd"("k","r","b") VALUES(2,0.1,X'01');`));
  assert.ok(text.indexOf("VALUES(1,1e999") < text.indexOf("VALUES(2,0.1"));
  assert.match(text, /INSERT INTO "__cohort_migrations"/);

  const copy = createClient({ url: ":memory:" });
  try {
    await copy.executeMultiple(text);
    assert.is(await dumpSql({ client: copy }), text);
  } finally {
    copy.close();
  }
});

test.run();
