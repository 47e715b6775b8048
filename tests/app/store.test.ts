/**
 * The app's way into the member's store (lib/app/store.ts): one statement with bound
 * parameters, rows by column name, errors that never carry a bound value, and a client that
 * follows the member's store when it is replaced (a reset).
 */
// deno-lint-ignore-file no-explicit-any
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { drizzle } from "drizzle-orm/libsql";
import { sqliteTable, text } from "drizzle-orm/sqlite-core";
import { followingClient, runSql } from "../../lib/app/store.ts";
import { openStore } from "../../lib/store/open.ts";
import { ConflictError, InvalidInputError } from "../../lib/errors.ts";

const test = suite("app store");

const notes = sqliteTable("notes", { key: text("key").primaryKey(), text: text("text").notNull() });

async function store() {
  const s = await openStore({ url: ":memory:" });
  await s.client.execute("CREATE TABLE notes (key TEXT PRIMARY KEY, text TEXT NOT NULL)");
  return s;
}

test("values are bound, positional or named, and come back as written", async () => {
  const s = await store();
  const hostile = "'); DROP TABLE notes; --";
  const put = await runSql(s.client, "INSERT INTO notes (key, text) VALUES (?, ?)", ["k", hostile]);
  assert.is(put.rowsAffected, 1);
  assert.is(typeof put.lastInsertRowid, "number");
  const got = await runSql(s.client, "SELECT key, text FROM notes WHERE key = :key", { key: "k" });
  assert.equal(got.columns, ["key", "text"]);
  assert.equal(got.rows, [{ key: "k", text: hostile }]);
  s.close();
});

test("a UNIQUE violation names the column, never the value; bad input is an InvalidInputError", async () => {
  const s = await store();
  await runSql(s.client, "INSERT INTO notes VALUES (?, ?)", ["secret-key-123", "a"]);
  try {
    await runSql(s.client, "INSERT INTO notes VALUES (?, ?)", ["secret-key-123", "b"]);
    assert.unreachable();
  } catch (err) {
    assert.instance(err, ConflictError);
    assert.not.match((err as Error).message, /secret-key-123/);
    assert.match((err as Error).message, /notes\.key/);
  }
  for (const bad of [[{ nested: 1 }], "text", [undefined]] as any[]) {
    try {
      await runSql(s.client, "SELECT ?", bad);
      assert.unreachable(JSON.stringify(bad));
    } catch (err) {
      assert.instance(err, InvalidInputError);
    }
  }
  try {
    await runSql(s.client, "  ");
    assert.unreachable();
  } catch (err) {
    assert.instance(err, InvalidInputError);
  }
  s.close();
});

test("a Drizzle database on the following client reaches the current store after a replacement", async () => {
  let current = await store();
  const db = drizzle(followingClient(() => current.client), { schema: { notes } });
  await db.insert(notes).values({ key: "a", text: "first" });
  assert.equal(await db.select().from(notes), [{ key: "a", text: "first" }]);
  const old = current;
  current = await store(); // a reset recreated the store
  old.close();
  assert.equal(await db.select().from(notes), []);
  await db.insert(notes).values({ key: "b", text: "second" });
  assert.equal(await db.select().from(notes), [{ key: "b", text: "second" }]);
  current.close();
});

test.run();
