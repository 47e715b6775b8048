import { statSync } from "node:fs";
import { createClient } from "@libsql/client";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { IncompatibleError, InvalidInputError, isCohortError } from "../../lib/errors.ts";
import { createLogger } from "../../lib/log.ts";
import {
  appliedVersions,
  applyMigrations,
  MIGRATIONS_TABLES,
  openStore,
} from "../../lib/store/open.ts";
import { readJournal } from "../../lib/store/migrate.ts";
import { INTERNAL_MIGRATIONS as OURS } from "../../lib/store/migrate.ts";
import {
  APP_MIGRATIONS,
  appFolder,
  count,
  fileUrl,
  hasTable,
  rejection,
  tempDir,
} from "./helpers.ts";

/** How many migrations cohort ships: every version below is relative to it. */
const N = readJournal(OURS).length;

const test = suite("store/open");

test("in memory: cohort migrations applied once, versions reported, idempotent", async () => {
  const lines: string[] = [];
  const logger = createLogger({ level: "info", write: (l) => lines.push(l) });
  const store = await openStore({ url: ":memory:", logger });
  try {
    assert.equal(store.versions, { internal: N, external: 0 });
    assert.equal(await appliedVersions(store), { internal: N, external: 0 });
    assert.ok(await hasTable(store.client, "core_cluster_members"));
    assert.ok(await hasTable(store.client, "core_token_records"));
    assert.is(await count(store.client, "__cohort_migrations"), N);
    assert.is(lines.length, 1);
    assert.match(lines[0], /"msg":"Applied schema migrations"/);
    assert.match(lines[0], new RegExp(`"kind":"internal","from":0,"to":${N}`));

    const again = await applyMigrations(store, { logger });
    assert.equal(again, { internal: 0, external: 0 });
    assert.is(await count(store.client, "__cohort_migrations"), N);
    assert.is(lines.length, 1);
  } finally {
    store.close();
  }
});

test("file database: reopening re-applies nothing and keeps data", async () => {
  const tmp = tempDir();
  try {
    const url = fileUrl(tmp.dir);
    const first = await openStore({ url });
    await first.client.execute(
      "INSERT INTO core_cluster_members (name, address, certificate) VALUES ('m1', 'a:1', 'c1')",
    );
    const before = await first.client.execute("SELECT hash, created_at FROM __cohort_migrations");
    first.close();

    const second = await openStore({ url });
    try {
      const after = await second.client.execute(
        "SELECT hash, created_at FROM __cohort_migrations",
      );
      assert.is(after.rows.length, N);
      assert.equal(after.rows.map((r) => Array.from(r)), before.rows.map((r) => Array.from(r)));
      assert.is(await count(second.client, "core_cluster_members"), 1);
      assert.equal(await appliedVersions(second), { internal: N, external: 0 });
    } finally {
      second.close();
    }
  } finally {
    tmp.remove();
  }
});

test("file database: flush stores the log's commits in the database file", async () => {
  const tmp = tempDir();
  try {
    const url = fileUrl(tmp.dir);
    const store = await openStore({ url });
    try {
      await store.client.execute(
        "INSERT INTO core_cluster_members (name, address, certificate) VALUES ('m1', 'a:1', 'c1')",
      );
      const log = `${url.slice("file:".length)}-wal`;
      assert.ok(statSync(log).size > 0, "the commit is in the log");
      await store.flush();
      assert.is(statSync(log).size, 0, "checkpointed: the log is emptied");
      assert.is(await count(store.client, "core_cluster_members"), 1);
    } finally {
      store.close();
    }
  } finally {
    tmp.remove();
  }
});

test("file database: a commit does not wait for the disk (WAL, synchronous NORMAL)", async () => {
  // An fsync per commit held the event loop 100-200 ms on a busy disk (issue 15); in WAL mode
  // with synchronous NORMAL a commit survives kill -9 and waits for no disk.
  const tmp = tempDir();
  try {
    const store = await openStore({ url: fileUrl(tmp.dir) });
    try {
      const mode = await store.client.execute("PRAGMA journal_mode");
      assert.is(String(mode.rows[0][0]).toLowerCase(), "wal");
      const sync = await store.client.execute("PRAGMA synchronous");
      assert.is(Number(sync.rows[0][0]), 1, "synchronous = NORMAL (1)");
      await store.client.execute(
        "INSERT INTO core_cluster_members (name, address, certificate) VALUES ('m1', 'a:1', 'c1')",
      );
    } finally {
      store.close();
    }
    const reopened = await openStore({ url: fileUrl(tmp.dir) });
    try {
      assert.is(await count(reopened.client, "core_cluster_members"), 1, "the commit is kept");
    } finally {
      reopened.close();
    }
  } finally {
    tmp.remove();
  }
});

test("file database: an operation that meets an open transaction runs with the same settings", async () => {
  // libSQL's pool opened a second connection for an operation that met an open transaction, with
  // SQLite's defaults (synchronous FULL: an fsync per commit, on the event loop), and later
  // operations ran there: a real member fsynced the WAL once per record it wrote (issue 15).
  const tmp = tempDir();
  try {
    const store = await openStore({ url: fileUrl(tmp.dir) });
    try {
      const tx = await store.client.transaction("read");
      const meanwhile = store.client.execute("PRAGMA synchronous");
      await tx.execute("SELECT 1");
      await tx.commit();
      tx.close();
      assert.is(Number((await meanwhile).rows[0][0]), 1, "synchronous = NORMAL (1)");
      const after = await store.client.execute("PRAGMA synchronous");
      assert.is(Number(after.rows[0][0]), 1, "and on every later operation");
    } finally {
      store.close();
    }
  } finally {
    tmp.remove();
  }
});

test("app migrations: applied after cohort's, in their own table, idempotent", async () => {
  const tmp = tempDir();
  try {
    const url = fileUrl(tmp.dir);
    const store = await openStore({ url, appMigrations: APP_MIGRATIONS });
    assert.equal(store.versions, { internal: N, external: 2 });
    assert.equal(await appliedVersions(store), { internal: N, external: 2 });
    assert.is(await count(store.client, MIGRATIONS_TABLES.external), 2);
    await store.client.execute("INSERT INTO widgets (name) VALUES ('w')");
    const rs = await store.client.execute("SELECT name, colour FROM widgets");
    assert.equal(Array.from(rs.rows[0]), ["w", "grey"]);
    store.close();

    const again = await openStore({ url, appMigrations: APP_MIGRATIONS });
    try {
      assert.is(await count(again.client, MIGRATIONS_TABLES.internal), N);
      assert.is(await count(again.client, MIGRATIONS_TABLES.external), 2);
      assert.is(await count(again.client, "widgets"), 1);
    } finally {
      again.close();
    }
  } finally {
    tmp.remove();
  }
});

test("app migrations: an upgrade applies only the new ones", async () => {
  const tmp = tempDir();
  try {
    const url = fileUrl(tmp.dir);
    const old = await openStore({ url, appMigrations: appFolder(tmp.dir, { keep: 1 }) });
    assert.equal(old.versions, { internal: N, external: 1 });
    const cols = await old.client.execute("SELECT name FROM pragma_table_info('widgets')");
    assert.equal(cols.rows.map((r) => r[0]), ["id", "name"]);
    old.close();

    const upgraded = await openStore({ url, appMigrations: APP_MIGRATIONS });
    try {
      assert.equal(await appliedVersions(upgraded), { internal: N, external: 2 });
      const cols2 = await upgraded.client.execute(
        "SELECT name FROM pragma_table_info('widgets')",
      );
      assert.equal(cols2.rows.map((r) => r[0]), ["id", "name", "colour"]);
    } finally {
      upgraded.close();
    }
  } finally {
    tmp.remove();
  }
});

test("downgrade: a database ahead of the code is refused, per kind", async () => {
  const tmp = tempDir();
  try {
    const url = fileUrl(tmp.dir);
    (await openStore({ url, appMigrations: APP_MIGRATIONS })).close();

    const older = appFolder(tmp.dir, { keep: 1 });
    const err = await rejection(openStore({ url, appMigrations: older }));
    assert.instance(err, IncompatibleError);
    assert.is(
      err.message,
      "Schema version 2 of external migrations is more recent than this member's 1: please upgrade",
    );

    const raw = createClient({ url });
    await raw.execute(
      "INSERT INTO __cohort_migrations (hash, created_at) VALUES ('future', 99999999999999)",
    );
    raw.close();
    const err2 = await rejection(openStore({ url }));
    assert.instance(err2, IncompatibleError);
    assert.is(
      err2.message,
      `Schema version ${
        N + 1
      } of internal migrations is more recent than this member's ${N}: please upgrade`,
    );
  } finally {
    tmp.remove();
  }
});

test("diverged history (a migration stamped before an applied one) is refused", async () => {
  const tmp = tempDir();
  try {
    const url = fileUrl(tmp.dir);
    (await openStore({ url, appMigrations: appFolder(tmp.dir, { keep: 1 }) })).close();
    const other = tempDir();
    try {
      const branch = appFolder(other.dir, { shiftFirst: -1 });
      const err = await rejection(openStore({ url, appMigrations: branch }));
      assert.instance(err, IncompatibleError);
      assert.match(err.message, /external migrations: applied migration 0 .* diverged/);
    } finally {
      other.remove();
    }
  } finally {
    tmp.remove();
  }
});

const BROKEN = "CREATE TABLE `gadgets` (`id` integer);\n--> statement-breakpoint\n" +
  "INSERT INTO `no_such_table` VALUES (1);";

test("a failing migration leaves nothing of its kind applied (fresh database)", async () => {
  const tmp = tempDir();
  try {
    const url = fileUrl(tmp.dir);
    const folder = appFolder(tmp.dir, { extra: { "0002_broken": BROKEN } });
    const err = await rejection(openStore({ url, appMigrations: folder }));
    assert.ok(isCohortError(err));
    assert.match(err.message, /^Apply external migrations: .*no such table: no_such_table/);

    const raw = createClient({ url });
    try {
      // cohort's own migrations are a separate transaction and did commit
      assert.is(await count(raw, MIGRATIONS_TABLES.internal), N);
      assert.is(await count(raw, MIGRATIONS_TABLES.external), 0);
      assert.not.ok(await hasTable(raw, "widgets"));
      assert.not.ok(await hasTable(raw, "gadgets"));
    } finally {
      raw.close();
    }
  } finally {
    tmp.remove();
  }
});

test("a failing migration rolls back its statements on an up-to-date database", async () => {
  const tmp = tempDir();
  try {
    const url = fileUrl(tmp.dir);
    (await openStore({ url, appMigrations: APP_MIGRATIONS })).close();
    const folder = appFolder(tmp.dir, { extra: { "0002_broken": BROKEN } });
    await rejection(openStore({ url, appMigrations: folder }));
    const raw = createClient({ url });
    try {
      assert.is(await count(raw, MIGRATIONS_TABLES.external), 2);
      assert.not.ok(await hasTable(raw, "gadgets"));
      assert.ok(await hasTable(raw, "widgets"));
    } finally {
      raw.close();
    }
  } finally {
    tmp.remove();
  }
});

test("bad inputs: unreadable app folder, invalid URL", async () => {
  const err = await rejection(openStore({ url: ":memory:", appMigrations: "/nonexistent/x" }));
  assert.instance(err, InvalidInputError);
  assert.match(err.message, /Read migrations journal "\/nonexistent\/x\/meta\/_journal.json"/);

  const err2 = await rejection(openStore({ url: "ftp://user:s3cret@host/db" }));
  assert.instance(err2, InvalidInputError);
  assert.not.match(err2.message, /s3cret/);
});

test("readJournal counts the generated fixture's entries in order", () => {
  const times = readJournal(APP_MIGRATIONS);
  assert.is(times.length, 2);
  assert.ok(times[0] < times[1]);
});

test.run();
