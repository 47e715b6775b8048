/**
 * The durable mark of a membership change under way (`transition.json`) and the reset of a
 * member's store: what a restart reads back after a crash, and what a reset leaves.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { statePaths } from "../../lib/daemon/state_dir.ts";
import { databaseFile, recreateStore } from "../../lib/daemon/store_reset.ts";
import {
  clearTransition,
  readTransition,
  type Transition,
  writeTransition,
} from "../../lib/daemon/transition.ts";
import { silentLogger } from "../../lib/log.ts";
import { openStore } from "../../lib/store/open.ts";
import { APP_MIGRATIONS, count, hasTable } from "../store/helpers.ts";
import { removeDir, tempDir } from "../helpers/process.ts";

const test = suite("transition mark and store reset");

const JOIN: Transition = {
  step: "join",
  name: "m2",
  peers: ["127.0.0.1:1", "127.0.0.1:2"],
  fingerprint: "ab".repeat(32),
  at: 1,
};

test("a written mark reads back as written, and is gone once cleared", async () => {
  const dir = tempDir();
  try {
    const paths = statePaths(dir);
    assert.is(readTransition(paths), undefined);
    await writeTransition(paths, JOIN);
    assert.equal(readTransition(paths), JOIN);
    await clearTransition(paths);
    assert.is(readTransition(paths), undefined);
  } finally {
    removeDir(dir);
  }
});

test("a torn or edited mark counts as a leave: the safe way out of any change is a reset", () => {
  const dir = tempDir();
  try {
    const paths = statePaths(dir);
    writeFileSync(join(dir, "transition.json"), '{"step":"jo');
    assert.is(readTransition(paths)?.step, "leave");
    writeFileSync(join(dir, "transition.json"), JSON.stringify({ ...JOIN, peers: "x" }));
    assert.is(readTransition(paths)?.step, "leave");
  } finally {
    removeDir(dir);
  }
});

test("databaseFile() finds the file of a file: URL only", () => {
  assert.is(databaseFile("file:/var/lib/x/cohort.db"), "/var/lib/x/cohort.db");
  assert.is(databaseFile("file:///var/lib/x/cohort.db"), "/var/lib/x/cohort.db");
  assert.is(databaseFile("file:/a.db?mode=rwc"), "/a.db");
  assert.is(databaseFile(":memory:"), undefined);
  assert.is(databaseFile("libsql://db.example"), undefined);
});

test("a file store is recreated: app tables back to fresh, no byte of the old rows left", async () => {
  const dir = tempDir();
  try {
    const url = `file:${join(dir, "cohort.db")}`;
    const store = await openStore({ url, appMigrations: APP_MIGRATIONS });
    const secret = "f".repeat(40) + "secret-row";
    await store.client.execute({ sql: "INSERT INTO widgets (name) VALUES (?)", args: [secret] });
    const fresh = await recreateStore(store, {
      url,
      appMigrations: APP_MIGRATIONS,
      logger: silentLogger,
    });
    try {
      assert.ok(await hasTable(fresh.client, "widgets"), "the app's tables are migrated again");
      assert.is(await count(fresh.client, "widgets"), 0);
      assert.is(await count(fresh.client, "__cohort_app_migrations"), 2);
      for (const f of ["cohort.db", "cohort.db-wal"]) {
        const path = join(dir, f);
        if (existsSync(path)) assert.is(readFileSync(path).indexOf(secret), -1, f);
      }
    } finally {
      fresh.close();
    }
  } finally {
    removeDir(dir);
  }
});

test("a :memory: store is recreated empty and migrated", async () => {
  const store = await openStore({ url: ":memory:", appMigrations: APP_MIGRATIONS });
  await store.client.execute("INSERT INTO widgets (name) VALUES ('w')");
  const fresh = await recreateStore(store, {
    url: ":memory:",
    appMigrations: APP_MIGRATIONS,
    logger: silentLogger,
  });
  try {
    assert.is(await count(fresh.client, "widgets"), 0);
    assert.is(await count(fresh.client, "__cohort_app_migrations"), 2);
  } finally {
    fresh.close();
  }
});

test.run();
